"""The model: its saved directory (the artifact format), reloading, transformers compatibility,
every head and feature mode, and refusals of directories that are not models."""
import json

import pytest
import torch

from entitune import ConfigError, Predictor, Sentence, Tagger, TorchScorer, TrainConfig, fit
from entitune.evaluate import evaluate
from entitune.tags import label_set
from tests.helpers.data import TINY_SENTENCES


@pytest.fixture(scope="module")
def tagger(tiny_tagger_dir):
    return Tagger.load(tiny_tagger_dir)


def _tag(model, words, **kwargs):
    return Predictor(TorchScorer(model), **kwargs).tag(words)


def test_saved_directory_layout(tiny_tagger_dir):
    config = json.loads((tiny_tagger_dir / "config.json").read_text())
    settings = json.loads((tiny_tagger_dir / "entitune.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert [config["id2label"][str(i)] for i in range(len(config["id2label"]))] == settings["labels"]
    assert settings["head"] == "linear" and settings["scheme"] == "IOB2" and settings["max_length"] == 16
    assert not list(tiny_tagger_dir.glob("*.bin")) and not list(tiny_tagger_dir.glob("*.pt"))


def test_reload_gives_identical_predictions(tiny_tagger_dir, tagger):
    again = Tagger.load(tiny_tagger_dir)
    words = [w for w, _ in TINY_SENTENCES]
    assert _tag(tagger, words) == _tag(again, words)


def test_directories_without_a_task_key_still_load(tiny_tagger_dir, tmp_path):
    """Models saved before the settings had a ``task`` key load as NER models."""
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(tiny_tagger_dir, copy)
    settings = json.loads((copy / "entitune.json").read_text())
    assert settings.pop("task") == "ner"
    (copy / "entitune.json").write_text(json.dumps(settings))
    words = [w for w, _ in TINY_SENTENCES]
    assert _tag(Tagger.load(copy), words) == _tag(Tagger.load(tiny_tagger_dir), words)


def test_transformers_pipeline_loads_the_model(tiny_tagger_dir, tagger):
    from transformers import pipeline

    pipe = pipeline("token-classification", model=str(tiny_tagger_dir), device="cpu")
    out = pipe("drew barrymore movies")
    assert isinstance(out, list)
    # same weights: the pipeline's logits on the first sub-tokens equal ours
    from transformers import AutoModelForTokenClassification

    hf = AutoModelForTokenClassification.from_pretrained(str(tiny_tagger_dir)).eval()
    enc = tagger.tokenizer([["drew", "barrymore", "movies"]], is_split_into_words=True, return_tensors="pt")
    with torch.inference_mode():
        theirs = hf(**enc).logits[0, 1:4]
        ours = tagger(enc["input_ids"], enc["attention_mask"], torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.bool),
                      enc["token_type_ids"])[0]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_load_rejects_non_models(tmp_path, tiny_bert):
    with pytest.raises(ConfigError, match="no entitune.json"):
        Tagger.load(tiny_bert)
    with pytest.raises(ConfigError, match="no config.json"):
        Tagger.from_encoder(tmp_path, ["O"])


def test_load_rejects_reordered_labels(tiny_tagger_dir, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(tiny_tagger_dir, copy)
    settings = json.loads((copy / "entitune.json").read_text())
    settings["labels"] = list(reversed(settings["labels"]))
    (copy / "entitune.json").write_text(json.dumps(settings))
    with pytest.raises(ConfigError, match="labels in config.json"):
        Tagger.load(copy)


@pytest.mark.parametrize("head", ["linear", "crf", "bilstm-crf"])
@pytest.mark.parametrize("features", ["finetune", "frozen-sum4", "frozen-concat4"])
def test_every_head_and_feature_mode_trains_saves_and_reloads(tiny_bert, tmp_path, head, features):
    sentences = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    labels = label_set([t for s in sentences for t in s.tags])
    tagger = Tagger.from_encoder(tiny_bert, labels, head=head, features=features, max_length=16, stride=4)
    before = {k: v.clone() for k, v in tagger.encoder.state_dict().items()}
    result = fit(tagger, sentences * 3, sentences, TrainConfig(epochs=2, lr=1e-3, head_lr=1e-2, batch_size=4))
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss or result.epochs[0].train_loss < 1.0
    encoder_changed = any(not torch.equal(before[k], v) for k, v in tagger.encoder.state_dict().items())
    assert encoder_changed == (features == "finetune")
    tagger.save(tmp_path)
    again = Tagger.load(tmp_path)
    assert again.settings.head == head and again.settings.features == features
    words = [w for w, _ in TINY_SENTENCES] + [["films"] * 30]
    assert _tag(again, words) == _tag(tagger, words)
    report = evaluate(again, sentences)
    assert report["invalid_sequences"] == 0 and report["words_untagged"] == 0
    if head != "linear":
        assert "transitions" in dict(again.head.named_parameters())
        torch.testing.assert_close(again.head.transitions, tagger.head.transitions)


@pytest.mark.parametrize("head", ["linear", "crf"])
def test_bioes_training_predicts_iob2_and_decodes_valid_bioes(tiny_bert, tmp_path, head):
    from entitune.tags import from_iob2, to_iob2

    gold = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    train = [Sentence(s.words, tuple(from_iob2(s.tags, "BIOES"))) for s in gold]
    labels = label_set([t for s in train for t in s.tags], "BIOES")
    assert "E-ACTOR" in labels and "S-YEAR" in labels
    tagger = Tagger.from_encoder(tiny_bert, labels, head=head, max_length=16, stride=4, scheme="BIOES")
    fit(tagger, train * 4, gold, TrainConfig(epochs=10, lr=1e-3, head_lr=1e-2, batch_size=4))
    tagger.save(tmp_path)
    again = Tagger.load(tmp_path)
    assert again.settings.scheme == "BIOES"
    tagged = _tag(again, [s.words for s in gold] + [["films"] * 30])
    assert all(t.startswith(("B-", "I-")) or t == "O" for x in tagged for t in x.tags)  # IOB2 out
    assert all(x.tags == tuple(to_iob2(x.native, "BIOES")) for x in tagged)
    assert any(t.startswith(("E-", "S-")) for x in tagged for t in x.native)  # BIOES inside
    report = evaluate(again, gold)
    assert report["invalid_sequences"] == 0 and report["words_untagged"] == 0


def test_unknown_training_scheme_is_refused(tiny_bert):
    with pytest.raises(ConfigError, match="scheme must be one of IOB2, BIOES"):
        Tagger.from_encoder(tiny_bert, ["O", "I-A"], scheme="IO")
