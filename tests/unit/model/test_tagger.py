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


# ---------------------------------------------------------------------- honesty with transformers
def test_transformers_pipeline_gives_a_linear_models_tags(tiny_tagger_dir, tagger):
    """A fine-tuned linear head is transformers' own token classifier: its pipeline loads the
    model and tags each word (its first sub-token) as entitune does: the gold tags, entities included."""
    from transformers import pipeline

    config = json.loads((tiny_tagger_dir / "config.json").read_text())
    assert "transformers_weights" not in config
    pipe = pipeline("token-classification", model=str(tiny_tagger_dir), device="cpu", ignore_labels=[])
    for words, tags in TINY_SENTENCES:
        by_index = {token["index"]: token["entity"] for token in pipe(" ".join(words))}
        (window,) = tagger.word_encoder.encode([words])
        assert [by_index[i] for i in window.word_starts] == list(_tag(tagger, [words])[0].tags) == tags, words


@pytest.mark.parametrize("head,features", [("crf", "finetune"), ("bilstm-crf", "finetune"), ("linear", "frozen-sum4")])
def test_transformers_refuses_what_it_cannot_compute(tiny_bert, tmp_path, head, features):
    """A head transformers has no model for (a CRF's transitions, frozen layer features) must not
    load silently wrong in ``transformers.pipeline``: it is refused with a sentence saying why and
    what loads it. Broken, a CRF model loaded with a warning and decoded without its transitions.
    entitune still loads it, and a fresh encoder can start from its weights."""
    from transformers import AutoModelForTokenClassification, pipeline

    from entitune.artifact import model_dir

    sentences = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    tagger = Tagger.from_encoder(tiny_bert, label_set([t for s in sentences for t in s.tags]), head=head,
                                 features=features, max_length=16, stride=4)
    tagger.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text()).get("architectures") is None
    expected = {"crf": "CRF head", "bilstm-crf": "BiLSTM-CRF head", "linear": "frozen encoder"}[head]
    for load in (lambda: pipeline("token-classification", model=str(tmp_path / "m"), device="cpu"),
                 lambda: AutoModelForTokenClassification.from_pretrained(str(tmp_path / "m"))):
        with pytest.raises(ValueError, match="NOT LOADABLE BY TRANSFORMERS") as caught:
            load()
        assert expected in str(caught.value) and "entitune.load(path)" in str(caught.value)
    words = [w for w, _ in TINY_SENTENCES]
    assert _tag(Tagger.load(tmp_path / "m"), words) == _tag(tagger, words)
    config = model_dir.load_hf_config(tmp_path / "m")
    assert model_dir.build_encoder(config, tmp_path / "m") is not None  # fine-tuning on from it still works


def test_the_encoder_is_recorded_by_name_and_hash(tiny_tagger_dir, tiny_bert, tmp_path):
    """``entitune.json`` names the encoder (its model card's title, a hub name, else its directory's
    name) with the SHA-256 of its weights, never an absolute path; older directories that recorded
    a path still load."""
    import hashlib
    import shutil

    from entitune.artifact.model_dir import encoder_identity

    settings = json.loads((tiny_tagger_dir / "entitune.json").read_text())
    assert settings["encoder"] == tiny_bert.name
    assert settings["encoder_sha256"] == hashlib.sha256((tiny_bert / "model.safetensors").read_bytes()).hexdigest()
    assert "/" not in json.dumps(settings)
    named = tmp_path / "model"
    shutil.copytree(tiny_bert, named)
    config = json.loads((named / "config.json").read_text())
    (named / "config.json").write_text(json.dumps({**config, "_name_or_path": "acme/tiny-bert"}))
    assert encoder_identity(named)[0] == "acme/tiny-bert"
    (named / "README.md").write_text("---\nlicense: mit\n---\n\n# Model Card for tiny-ner-base\n\ntext\n")
    assert encoder_identity(named)[0] == "tiny-ner-base"
    (named / "README.md").write_text("# Model Card for Model ID\n")  # the hub template's placeholder
    assert encoder_identity(named)[0] == "acme/tiny-bert"
    old = tmp_path / "old"
    shutil.copytree(tiny_tagger_dir, old)
    legacy = {k: v for k, v in settings.items() if k != "encoder_sha256"} | {"encoder": str(tiny_bert)}
    (old / "entitune.json").write_text(json.dumps(legacy))
    words = [w for w, _ in TINY_SENTENCES]
    assert _tag(Tagger.load(old), words) == _tag(Tagger.load(tiny_tagger_dir), words)
