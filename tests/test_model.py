import json

import pytest
import torch

from entitune import ConfigError, Predictor, Sentence, Tagger, TrainConfig, evaluate, fit
from entitune.model import label_set

from .conftest import TINY_SENTENCES


@pytest.fixture(scope="module")
def tagger(tiny_tagger_dir):
    return Tagger.load(tiny_tagger_dir)


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
    a = Predictor(tagger).tag(words)
    b = Predictor(again).tag(words)
    assert a == b


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


def test_batched_equals_one_by_one(tagger):
    words = [w for w, _ in TINY_SENTENCES] + [["films"] * 40, [], ["a"]]
    batched = Predictor(tagger, batch_size=4).tag(words)
    single = [Predictor(tagger, batch_size=1).tag([w])[0] for w in words]
    assert [b.tags for b in batched] == [s.tags for s in single]
    for b, s in zip(batched, single):
        assert b.scores == pytest.approx(s.scores, abs=1e-5)


def test_3000_word_sentence_is_fully_tagged(tagger):
    words = [w for ws, _ in TINY_SENTENCES for w in ws]
    long = (words * 200)[:3000]
    [tagged] = Predictor(tagger).tag([long])
    assert len(tagged.tags) == 3000 and all(tagged.tags)
    report = evaluate(tagger, [Sentence(tuple(long), tuple(["O"] * 3000))])
    assert report["words"] == 3000 and report["words_untagged"] == 0 and report["invalid_sequences"] == 0


def test_predict_text_offsets(tagger):
    [p] = tagger.predict(["Films with Drew  Barrymore, from the 1980s!"])
    text = p["text"]
    assert len(p["words"]) == len(p["tags"])
    for e in p["entities"]:
        assert text[e["start"] : e["end"]] == e["text"] and 0 < e["score"] <= 1
    [q] = tagger.predict([["drew", "barrymore"]])
    assert q["text"] == "drew barrymore"


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


def test_training_learns_and_is_deterministic(tiny_bert):
    sentences = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    labels = label_set([t for s in sentences for t in s.tags])
    config = TrainConfig(epochs=6, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0, seed=3)
    runs = []
    for _ in range(2):
        tagger = Tagger.from_encoder(tiny_bert, labels, max_length=16, stride=4)
        result = fit(tagger, sentences * 5, sentences, config)
        runs.append((tagger, result))
    (a, ra), (b, rb) = runs
    assert ra.epochs[-1].train_loss < ra.epochs[0].train_loss
    assert ra.epochs[ra.best_epoch - 1].dev["entity"]["f1"] > 0.5
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_compact_embedding_training_equals_dense(tiny_bert):
    sentences = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    labels = label_set([t for s in sentences for t in s.tags])
    states = []
    for compact in (True, False):
        tagger = Tagger.from_encoder(tiny_bert, labels, max_length=16, stride=4)
        config = TrainConfig(epochs=2, lr=1e-3, head_lr=1e-2, batch_size=4, seed=5, compact_embeddings=compact)
        fit(tagger, sentences * 2, None, config)
        states.append(tagger.state_dict())
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k], atol=1e-6, rtol=1e-5, msg=k)
    emb = "encoder.embeddings.word_embeddings.weight"
    assert not torch.equal(states[0][emb], Tagger.from_encoder(tiny_bert, labels).state_dict()[emb])


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
    assert Predictor(again).tag(words) == Predictor(tagger).tag(words)
    report = evaluate(again, sentences)
    assert report["invalid_sequences"] == 0 and report["words_untagged"] == 0
    if head != "linear":
        assert "transitions" in dict(again.head.named_parameters())
        torch.testing.assert_close(again.head.transitions, tagger.head.transitions)


@pytest.mark.parametrize("head, expected", [("linear", 1e-3), ("crf", 1e-2), ("bilstm-crf", 1e-2)])
def test_head_learning_rate_defaults_per_head_and_can_be_set(tiny_bert, head, expected):
    from entitune.train import build_optimizer

    tagger = Tagger.from_encoder(tiny_bert, ["O", "B-A", "I-A"], head=head)
    n_head = sum(p.numel() for p in tagger.head.parameters())
    def head_lrs(config):
        opt = build_optimizer(tagger, config)
        return {g["lr"] for g in opt.param_groups if sum(p.numel() for p in g["params"]) <= n_head and
                any(p is q for p in g["params"] for q in tagger.head.parameters())}
    assert head_lrs(TrainConfig()) == {expected}
    assert head_lrs(TrainConfig(head_lr=5e-3)) == {5e-3}
    assert {g["lr"] for g in build_optimizer(tagger, TrainConfig()).param_groups} - {expected} == {TrainConfig().lr}


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
    tagged = Predictor(again).tag([s.words for s in gold] + [["films"] * 30])
    assert all(t.startswith(("B-", "I-")) or t == "O" for x in tagged for t in x.tags)  # IOB2 out
    assert all(x.tags == tuple(to_iob2(x.native, "BIOES")) for x in tagged)
    assert any(t.startswith(("E-", "S-")) for x in tagged for t in x.native)  # BIOES inside
    report = evaluate(again, gold)
    assert report["invalid_sequences"] == 0 and report["words_untagged"] == 0


def test_unknown_training_scheme_is_refused(tiny_bert):
    with pytest.raises(ConfigError, match="trained in IOB2 or BIOES"):
        Tagger.from_encoder(tiny_bert, ["O", "I-A"], scheme="IO")
