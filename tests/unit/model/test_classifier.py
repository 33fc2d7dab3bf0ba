"""The text classifier: it learns, saves as a Hugging Face sequence-classification checkpoint that
``transformers.pipeline`` runs with the same answer, reloads identically, reads long texts whole,
and its multi-label and class-weight options do what they say."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

import entitune
from entitune import Classifier, TorchScorer, TrainConfig
from entitune.encode import collate
from entitune.evaluate import evaluate_classifier
from entitune.predict import ClassPredictor
from entitune.train import balanced_class_weights, choose_threshold, fit_classifier
from entitune.types import TextExample
from tests.helpers.data import TINY_TEXTS, tiny_texts


@pytest.fixture(scope="module")
def classifier(tiny_classifier_dir):
    return Classifier.load(tiny_classifier_dir)


def test_it_learns_the_tiny_texts(classifier):
    report = evaluate_classifier(classifier, tiny_texts())
    assert report["accuracy"] == 1.0, report


def test_saved_directory_is_a_sequence_classification_checkpoint(tiny_classifier_dir):
    config = json.loads((tiny_classifier_dir / "config.json").read_text())
    settings = json.loads((tiny_classifier_dir / "entitune.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["problem_type"] == "single_label_classification"
    assert [config["id2label"][str(i)] for i in range(3)] == settings["labels"] == ["actor", "director", "year"]
    assert settings["task"] == "classify" and settings["pooling"] == "cls" and settings["pooler"]


def test_transformers_pipeline_gives_the_same_answer(tiny_classifier_dir):
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(tiny_classifier_dir), device="cpu", top_k=None)
    ours = entitune.load(str(tiny_classifier_dir)).predict([t for t, _ in TINY_TEXTS])
    for (text, _), answer in zip(TINY_TEXTS, ours):
        theirs = {d["label"]: d["score"] for d in pipe([text])[0]}
        assert max(theirs, key=theirs.get) == answer.label
        assert theirs == pytest.approx(answer.scores, abs=1e-5)


def test_reload_and_batching_give_identical_answers(classifier, tiny_classifier_dir):
    texts = [t for t, _ in TINY_TEXTS] + ["films " * 60]
    a = ClassPredictor(TorchScorer(classifier), batch_size=4).classify(texts)
    b = [ClassPredictor(TorchScorer(Classifier.load(tiny_classifier_dir)), batch_size=1).classify([t])[0] for t in texts]
    assert [x.label for x in a] == [x.label for x in b]
    for x, y in zip(a, b):
        assert x.scores == pytest.approx(y.scores, abs=1e-5)


def test_a_long_document_is_read_through_its_last_window(classifier):
    """A 5,000-word text of filler whose class evidence is only at its end. Reading every window,
    the two endings give different answers, and by exactly what the mean of the windows'
    log-probabilities says: between two labels, the log-odds differ by the end windows' differences
    over the number of windows. Reading only the first window (what truncation gives), the endings
    cannot be told apart. Dropping the last window, or keeping the first only, fails this test."""
    filler = " ".join(["the", "a", "of", "me", "show"] * 1000)
    endings = {"actor": "drew barrymore", "director": "steven spielberg"}  # two sub-words each
    docs = {label: f"{filler} {ending}" for label, ending in endings.items()}
    assert all(len(d.split()) >= 5000 for d in docs.values())
    scorer = TorchScorer(classifier)
    predictor = ClassPredictor(scorer)
    windows = {label: predictor._windows([d]) for label, d in docs.items()}
    n = len(windows["actor"])
    assert n == len(windows["director"]) > 100  # the tiny model's windows hold a dozen sub-words
    i, j = classifier.labels.index("director"), classifier.labels.index("actor")
    odds = {}
    for label, ws in windows.items():
        log_probs = torch.cat([torch.as_tensor(scorer.score_windows(collate(ws[k : k + 64], scorer.pad_id))) for k in range(0, n, 64)]).log_softmax(-1)
        odds[label] = log_probs[:, i] - log_probs[:, j]  # per window: log p(director) - log p(actor)
    differs = (odds["director"] - odds["actor"]).abs() > 1e-6
    assert differs[-1] and not differs[:-2].any()  # only the windows that hold the ending differ
    expected = (odds["director"] - odds["actor"]).sum().item() / n
    assert expected > 0.002  # the endings are evidence for their classes
    whole = {label: predictor.classify([d])[0].scores for label, d in docs.items()}

    def log_odds(scores):
        return math.log(scores["director"]) - math.log(scores["actor"])

    assert log_odds(whole["director"]) - log_odds(whole["actor"]) == pytest.approx(expected, rel=1e-3)
    first_only = TorchScorer(classifier)
    first_only.settings = replace(first_only.settings, windows="first")
    firsts = {label: ClassPredictor(first_only).classify([d])[0].scores for label, d in docs.items()}
    assert firsts["actor"] == pytest.approx(firsts["director"])  # the first window is the same filler


def test_multi_label_threshold_and_outputs(tiny_bert):
    """``choose_threshold`` picks, on dev, the grid threshold (0.05, 0.10, ..., 0.95) with the best
    micro F1, a label holding when its probability is >= the threshold, the one nearest 0.5 among
    ties; the predictor then answers with exactly the labels at or over it.

    The model's Linear layer is zeroed and its bias set, so every text gets the same probabilities:
    a 0.82, b exactly 0.5 (logit 0), c 0.12. Dev golds {a,b}, {a,b}, {a}, {b}. Predicting {a,b}
    (thresholds 0.15 to 0.5) scores micro F1 12/14; {a} (0.55 to 0.8) 6/10; {a,b,c} (0.05, 0.1)
    12/18; nothing 0. So 0.15 to 0.5 tie and 0.5 is chosen because b's 0.5 counts at 0.5: with a
    strict ``>`` 0.5 would predict {a} and 0.45 would win; taking the first (lowest) of the ties
    would give 0.15. (Ties on both sides of 0.5 are in tests/unit/train/test_classifying_contracts.py.)"""
    labels = ["a", "b", "c"]
    model = Classifier.from_encoder(tiny_bert, labels, multi_label=True, max_length=16, stride=4)
    with torch.no_grad():
        model.head.classifier.weight.zero_()
        model.head.classifier.bias.copy_(torch.tensor([math.log(0.82 / 0.18), 0.0, math.log(0.12 / 0.88)]))
    texts = [t for t, _ in TINY_TEXTS[:4]]
    dev = [TextExample(t, g, i + 1) for i, (t, g) in enumerate(zip(texts, [("a", "b"), ("b", "a"), ("a",), ("b",)]))]
    threshold = choose_threshold(model.with_threshold(0.9), dev)
    assert threshold == 0.5
    model.with_threshold(threshold)
    answers = ClassPredictor(TorchScorer(model), batch_size=3).classify(texts + ["films " * 40])  # and a long one
    for answer in answers:
        assert answer.scores == pytest.approx({"a": 0.82, "b": 0.5, "c": 0.12}, abs=1e-6)
        assert answer.scores["b"] == 0.5  # exactly the threshold: inclusive
        assert answer.labels == ("a", "b") and answer.label == "a" and answer.score == pytest.approx(0.82, abs=1e-6)
        assert answer.to_dict()["labels"] == ["a", "b"]
    report = evaluate_classifier(model, dev)
    assert report["micro_f1"] == pytest.approx(12 / 14, abs=1e-12) and report["subset_accuracy"] == 0.5
    assert report["accuracy"] == report["subset_accuracy"]
    [over] = ClassPredictor(TorchScorer(model.with_threshold(0.83))).classify(texts[:1])
    assert over.labels == () and over.label is None and over.score == pytest.approx(0.82, abs=1e-6)


def test_class_weights_weight_the_loss(tiny_bert):
    examples = tiny_texts()[:5]  # 4 actor, 1 director
    labels = ["actor", "director"]
    weights = balanced_class_weights(examples, labels)
    assert weights == pytest.approx((5 / 8, 5 / 2))
    model = Classifier.from_encoder(tiny_bert, labels, max_length=16, stride=4, class_weights=weights)
    targets = torch.tensor([0, 0, 1])
    assert model.head.loss_weight(targets) == pytest.approx(2 * 5 / 8 + 5 / 2)
    logits = torch.tensor([[2.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
    plain = torch.nn.functional.cross_entropy(logits, targets)
    assert model.head.loss(logits, targets) > plain  # the rare class's error weighs more


def test_bad_settings(tiny_bert):
    from entitune.errors import ConfigError

    with pytest.raises(ConfigError, match="at least two labels"):
        Classifier.from_encoder(tiny_bert, ["only"])
    with pytest.raises(ConfigError, match="pooling must be one of cls, mean"):
        Classifier.from_encoder(tiny_bert, ["a", "b"], pooling="max")
    mean = Classifier.from_encoder(tiny_bert, ["a", "b"], pooling="mean")
    assert mean.hf_architecture() is None and not mean.settings.pooler  # no transformers class computes it


def test_transformers_refuses_a_mean_pooling_classifier(tiny_bert, tmp_path):
    """transformers' sequence classifiers read [CLS]: a mean-pooling classifier is refused with the
    reason, not loaded under a pooler it never had."""
    from transformers import pipeline

    model = Classifier.from_encoder(tiny_bert, ["a", "b"], pooling="mean")
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match="NOT LOADABLE BY TRANSFORMERS.*mean pooling"):
        pipeline("text-classification", model=str(tmp_path / "m"), device="cpu")
    assert Classifier.load(tmp_path / "m").settings.pooling == "mean"


def test_probe_head_trains_the_head_alone_and_leaves_the_encoder_as_it_was(tiny_bert):
    from entitune.train import probe_head

    examples = tiny_texts()
    labels = sorted({label for e in examples for label in e.labels})
    model = Classifier.from_encoder(tiny_bert, labels, max_length=16, stride=4)
    model.train()
    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    config = TrainConfig(epochs=1, lr=1e-3, batch_size=8, warmup=0.0)
    result = probe_head(model, examples * 4, config, epochs=3)
    assert len(result.epochs) == 3
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, encoder_before[k]), k  # frozen: not a single weight moved
    assert all(not torch.equal(v, head_before[k]) for k, v in model.head.state_dict().items())  # pooler and Linear
    assert all(p.requires_grad for p in model.parameters())  # everything trains in the fine-tuning that follows
    fit_classifier(model, examples * 4, None, config)
    assert any(not torch.equal(v, encoder_before[k]) for k, v in model.encoder.state_dict().items())


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_window_features_are_what_the_head_reads_in_eval_mode_in_the_windows_order(tiny_bert, pooling):
    from entitune.encode import text_windows
    from entitune.train.classifying import window_features

    model = Classifier.from_encoder(tiny_bert, ["a", "b"], pooling=pooling, max_length=16, stride=4)
    texts = [e.text for e in tiny_texts()] + ["word " * 40]  # the last one gives several windows
    windows = text_windows(model.word_encoder, texts, pooling)
    assert len(windows) > len(texts)
    model.train()
    features = window_features(model, windows, batch_size=3, precision="fp32")
    assert model.training  # given back as it was
    model.eval()
    with torch.no_grad():
        for i, window in enumerate(windows):  # one at a time: no padding, the window's own order
            expected = model.features(collate([window], model.pad_id))[0]
            torch.testing.assert_close(features[i], expected, atol=1e-5, rtol=1e-4)
        # and the head's logits on them are the model's own, pooler included
        batch = collate(windows[:2], model.pad_id)
        torch.testing.assert_close(model.head.score(features[:2]), model(**{k: batch[k] for k in (
            "input_ids", "attention_mask", "word_starts", "word_mask", "token_type_ids")}), atol=1e-5, rtol=1e-4)


def test_probe_head_trains_a_multi_label_head(tiny_bert):
    from entitune.train import probe_head

    examples = [TextExample("good fun film", ("fun", "film")), TextExample("bad dull book", ("book",)),
                TextExample("fun book", ("fun", "book"))] * 4
    model = Classifier.from_encoder(tiny_bert, ["book", "film", "fun"], multi_label=True, max_length=16, stride=4)
    before = model.head.classifier.weight.clone()
    result = probe_head(model, examples, TrainConfig(epochs=1, batch_size=4), epochs=6)
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss  # binary cross-entropy per label goes down
    assert not torch.equal(model.head.classifier.weight, before)
