"""Contracts of classification training (``train/classifying.py``) and of the metrics it selects on
(``evaluate/classification.py``): each text's target in the model's label order (never re-sorted),
every window of a long text trained with its text's labels, balanced class weights exactly
``n / (classes * count)``, the multi-label threshold rule on dev (best micro F1, ``>=``, nearest 0.5
on ties, the grid's ends), what the linear probe and the fine-tuning hand the loop, which number
selects the best epoch, and accuracy / macro / micro F1 / per class / confusion matrix computed by
hand, with classes absent from the predictions or from the gold labels."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune import Classifier, TrainConfig
from entitune.errors import DataFormatError
from entitune.evaluate import classification_scores, format_classification_report
from entitune.evaluate.classification import check_labels
from entitune.train import balanced_class_weights, choose_threshold, classifying
from entitune.train.classifying import (FeatureData, HeadOnFeatures, TextWindowData, classifier_dev_evaluation,
                                        targets_of)
from entitune.types import TextExample

LONG = "show me films " * 12  # several windows at max_length 16


def _examples(*labels) -> list[TextExample]:
    return [TextExample(f"text {i}", tuple(ls) if isinstance(ls, (tuple, list)) else (ls,), i + 1)
            for i, ls in enumerate(labels)]


# ---------------------------------------------------------------- targets and weights


def test_targets_are_indices_into_the_labels_as_given_not_sorted():
    labels = ["zeta", "alpha", "mid"]
    assert targets_of(_examples("zeta", "mid", "alpha", "mid"), labels, False) == [0, 2, 1, 2]
    multi = _examples(("mid", "zeta"), (), ("alpha",))
    assert targets_of(multi, labels, True) == [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def test_balanced_class_weights_are_n_over_classes_times_count_and_1_for_an_absent_class():
    """4 texts, 3 classes: b seen 3 times -> 4/9, a once -> 4/3, c never -> 1.0; in the labels'
    order (b, a, c as given), not sorted."""
    weights = balanced_class_weights(_examples("b", "a", "b", "b"), ["b", "a", "c"])
    assert weights == pytest.approx((4 / 9, 4 / 3, 1.0), rel=1e-12)
    assert balanced_class_weights(_examples("x", "y"), ["x", "y"]) == (1.0, 1.0)


@pytest.fixture(scope="module")
def small(tiny_bert):
    return Classifier.from_encoder(tiny_bert, ["zeta", "alpha", "mid"], max_length=16, stride=4)


def test_every_window_of_a_long_text_is_trained_with_its_texts_label(small):
    from entitune.encode import text_windows

    texts = ["drew barrymore", LONG, "from the 1980s"]
    windows = text_windows(small.word_encoder, texts, "cls")
    assert len(windows) >= 5 and [w.sentence for w in windows].count(1) >= 3
    data = TextWindowData(windows, [2, 0, 1], small.pad_id, multi_label=False)
    order = list(reversed(range(len(windows))))  # any order of windows: each gets its own text's target
    batch = data.collate(order)
    assert batch["labels"].dtype == torch.long
    assert batch["labels"].tolist() == [[2, 0, 1][windows[i].sentence] for i in order]
    multi = TextWindowData(windows, [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]], small.pad_id, multi_label=True)
    rows = multi.collate(order)["labels"]
    assert rows.dtype == torch.float32 and rows.tolist() == [multi.targets[windows[i].sentence] for i in order]
    assert data.lengths == [len(w.input_ids) for w in windows]


def test_fit_classifier_hands_the_loop_each_windows_text_target_and_the_classify_head_lr(small, monkeypatch):
    seen = {}
    monkeypatch.setattr(classifying, "train_loop", lambda *args: seen.setdefault("args", args))
    train = [TextExample("drew barrymore", ("mid",), 1), TextExample(LONG, ("zeta",), 2)]
    classifying.fit_classifier(small, train, None, TrainConfig(epochs=1, head_lr=None))
    model, data, config, head_lr, evaluation, *_ = seen["args"]
    assert model is small and evaluation is None
    assert head_lr == classifying.head_lr_for("classify", config)
    assert data.targets == [2, 0]
    assert [data.targets[w.sentence] for w in data.windows] == [2] + [0] * (len(data.windows) - 1)
    assert len(data.windows) >= 3


def test_the_probe_trains_the_head_on_each_windows_vector_with_its_texts_target(small, monkeypatch):
    """``probe_head`` hands the loop the head alone, one pooled vector per window (the features of
    that window), each with its text's target, at the probe's learning rate, without warm-up, dev,
    checkpoints or mixed precision, for the probe's epochs."""
    seen = {}
    monkeypatch.setattr(classifying, "train_loop", lambda *args: seen.setdefault("args", args))
    train = [TextExample(LONG, ("alpha",), 1), TextExample("from the 1980s", ("mid",), 2)]
    config = TrainConfig(epochs=9, warmup=0.1, eval_every=5, patience=2, precision="fp32")
    classifying.probe_head(small, train, config, epochs=3, head_lr=0.25)
    trainable, data, probe, head_lr = seen["args"]
    assert isinstance(trainable, HeadOnFeatures) and trainable.head is small.head and head_lr == 0.25
    assert (probe.epochs, probe.head_lr, probe.warmup, probe.eval_every, probe.patience) == (3, 0.25, 0.0, 0, 0)
    assert probe.precision == "fp32" and not probe.compact_embeddings and probe.time_budget_s is None
    n = len(data.lengths)
    assert n >= 3 and data.targets.tolist() == [1] * (n - 1) + [2]
    assert data.features.shape == (n, small.encoder.config.hidden_size)
    assert data.targets.dtype == torch.long


def test_feature_data_and_the_head_alone_give_the_heads_loss_on_the_chosen_rows():
    torch.manual_seed(0)
    features = torch.randn(5, 8)
    data = FeatureData(features, [0, 1, 2, 1, 0], [7, 7, 7, 7, 3], multi_label=False)
    batch = data.collate([3, 0])
    assert torch.equal(batch["features"], features[[3, 0]]) and batch["labels"].tolist() == [1, 0]
    assert batch["attention_mask"].shape == (2, 1)
    from entitune.model.heads.classify import ClassificationHead

    head = ClassificationHead(8, 3, dropout=0.0, pooler=True).eval()
    trainable = HeadOnFeatures(head)
    expected = torch.nn.functional.cross_entropy(head.classifier(torch.tanh(head.pooler(features[[3, 0]]))), torch.tensor([1, 0]))
    assert trainable.batch_loss(batch).item() == pytest.approx(expected.item(), rel=1e-6)
    assert trainable.loss_weight(batch) == 2.0


# ---------------------------------------------------------------- the threshold chosen on dev


def _choose(monkeypatch, labels, probs, golds) -> float:
    """``choose_threshold`` on dev texts whose probabilities are ``probs`` exactly (float64, so a
    probability of 0.3 equals the grid's 0.3): the predictor is replaced, the rule is not."""
    texts = [f"t{i}" for i in range(len(probs))]

    class Fixed:
        def __init__(self, scorer, batch_size):
            pass

        def probabilities(self, given):
            assert list(given) == texts
            return torch.tensor(probs, dtype=torch.float64)

    monkeypatch.setattr(classifying, "ClassPredictor", Fixed)
    monkeypatch.setattr(classifying, "TorchScorer", lambda model: model)
    return choose_threshold(SimpleNamespace(labels=tuple(labels)), [TextExample(t, tuple(g), i + 1)
                                                                    for i, (t, g) in enumerate(zip(texts, golds))])


def test_a_probability_equal_to_the_threshold_counts_as_predicted(monkeypatch):
    """b's 0.3 on text 0 is gold, b's 0.1 on text 1 is not: every threshold in (0.1, 0.3] is right on
    both texts (micro F1 1); with >= that is 0.15..0.3 and 0.3 is nearest 0.5. With > it would
    be 0.1..0.25 and 0.25."""
    assert _choose(monkeypatch, "ab", [[0.7, 0.3], [0.7, 0.1]], [["a", "b"], ["a"]]) == 0.3


@pytest.mark.parametrize("probs, golds, expected", [
    ([[0.95], [0.5]], [["a"], []], 0.55),    # best on 0.55..0.95: the lowest is nearest 0.5
    ([[0.42], [0.08]], [["a"], []], 0.4),    # best on 0.1..0.4: the highest is nearest 0.5
    ([[0.62], [0.38]], [["a"], []], 0.5),    # best on 0.4..0.6: 0.5 itself
])
def test_among_thresholds_with_the_same_micro_f1_the_one_nearest_half_wins(monkeypatch, probs, golds, expected):
    assert _choose(monkeypatch, "a", probs, golds) == expected


@pytest.mark.parametrize("probs, expected", [([[0.97], [0.93]], 0.95), ([[0.06], [0.04]], 0.05)])
def test_the_grid_reaches_both_ends(monkeypatch, probs, expected):
    """Only 0.95 (or only 0.05) separates the gold text from the other: the grid holds it."""
    assert _choose(monkeypatch, "a", probs, [["a"], []]) == expected


def test_the_threshold_maximises_micro_f1_not_macro_f1_or_subset_accuracy(monkeypatch):
    """Golds {a,b}, {a}, {a}, {a}; probabilities (a, b) .82/.82, .42/.62, .72/.32, .32/.42. Micro F1
    is 10/13 at 0.05..0.3 (everything predicted), 8/11 at 0.35-0.4, 6/9 at 0.45-0.6, 6/8 at
    0.65-0.7, 4/7 at 0.75-0.8, 0 above: 0.3. Macro F1 would pick 0.65 (5/6), subset accuracy 0.5."""
    probs = [[0.82, 0.82], [0.42, 0.62], [0.72, 0.32], [0.32, 0.42]]
    golds = [["a", "b"], ["a"], ["a"], ["a"]]
    assert _choose(monkeypatch, "ab", probs, golds) == 0.3
    at = {t: classification_scores(golds, [[x for x, p in zip("ab", row) if p >= t] for row in probs], "ab", True)
          for t in (0.3, 0.65)}
    assert at[0.3]["micro_f1"] == pytest.approx(10 / 13) and at[0.65]["micro_f1"] == pytest.approx(6 / 8)
    assert at[0.65]["macro_f1"] == pytest.approx(5 / 6) and at[0.3]["macro_f1"] == pytest.approx(0.7)


def _micro_f1_by_sets(golds, preds) -> float:
    tp = sum(len(set(g) & set(p)) for g, p in zip(golds, preds))
    fp = sum(len(set(p) - set(g)) for g, p in zip(golds, preds))
    fn = sum(len(set(g) - set(p)) for g, p in zip(golds, preds))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(1, 99), min_size=3, max_size=3), st.sets(st.sampled_from("abc"))),
                min_size=1, max_size=6))
def test_the_chosen_threshold_has_the_best_micro_f1_and_is_nearest_half_among_those(rows):
    """For any dev set: no grid threshold scores a higher micro F1 (counted over label sets here, not
    with the library's metric), and none with the same score lies nearer 0.5."""
    probs = [[p / 100 for p in ps] for ps, _ in rows]
    golds = [sorted(g) for _, g in rows]
    with pytest.MonkeyPatch.context() as monkeypatch:
        chosen = _choose(monkeypatch, "abc", probs, golds)
    grid = [round(0.05 * k, 2) for k in range(1, 20)]
    assert chosen in grid

    def f1(t):
        return _micro_f1_by_sets(golds, [[x for x, p in zip("abc", row) if p >= t] for row in probs])

    best = max(f1(t) for t in grid)
    assert f1(chosen) == pytest.approx(best, abs=1e-12)
    assert all(abs(t - 0.5) >= abs(chosen - 0.5) - 1e-9 for t in grid if f1(t) > best - 1e-12)


# ---------------------------------------------------------------- the number that selects the best epoch


def _constant(tiny_bert, labels, biases, multi_label=False) -> Classifier:
    """A classifier that gives every text the same logits (its Linear layer's bias)."""
    model = Classifier.from_encoder(tiny_bert, labels, multi_label=multi_label, max_length=16, stride=4)
    with torch.no_grad():
        model.head.classifier.weight.zero_()
        model.head.classifier.bias.copy_(torch.tensor(biases))
    return model


def test_dev_selects_on_accuracy_for_single_label_and_micro_f1_for_multi_label(tiny_bert):
    single = _constant(tiny_bert, ["a", "b", "c"], [2.0, 0.0, 0.0])  # always a
    dev = [TextExample(t, (g,), i + 1) for i, (t, g) in enumerate([("x y", "a"), ("y", "a"), ("z", "a"), ("w", "b")])]
    evaluation = classifier_dev_evaluation(single, dev, batch_size=2)
    report = evaluation.run()
    assert evaluation.metric == "accuracy" and evaluation.score(report) == report["accuracy"] == 0.75
    assert report["macro_f1"] == pytest.approx((6 / 7 + 0 + 0) / 3)
    multi = _constant(tiny_bert, ["a", "b"], [2.0, -2.0], multi_label=True)  # always {a}
    dev = [TextExample("x", ("a",), 1), TextExample("y", ("a", "b"), 2)]
    evaluation = classifier_dev_evaluation(multi, dev, batch_size=2)
    report = evaluation.run()
    assert evaluation.metric == "micro_f1" and evaluation.score(report) == pytest.approx(0.8)  # tp 2, fn 1
    assert report["subset_accuracy"] == 0.5


# ---------------------------------------------------------------- metrics by hand

LABELS6 = ["a", "b", "c", "d", "e", "f"]
GOLD6 = ["a", "a", "b", "c", "c", "e"]
PRED6 = ["a", "b", "b", "c", "a", "d"]


def test_single_label_metrics_by_hand_with_classes_never_predicted_or_never_gold():
    """a: tp 1 fp 1 fn 1; b: tp 1 fp 1; c: tp 1 fn 1; d predicted once, never gold; e gold once,
    never predicted; f neither. Precision with nothing predicted, recall with nothing gold and F1
    with both zero are 0; macro F1 averages all six labels; micro F1 = accuracy = 3/6."""
    r = classification_scores([[g] for g in GOLD6], [[p] for p in PRED6], LABELS6)
    expected = {"a": (0.5, 0.5, 0.5, 2), "b": (0.5, 1.0, 2 / 3, 1), "c": (1.0, 0.5, 2 / 3, 2),
                "d": (0.0, 0.0, 0.0, 0), "e": (0.0, 0.0, 0.0, 1), "f": (0.0, 0.0, 0.0, 0)}
    for label, (p, rec, f1, support) in expected.items():
        m = r["per_class"][label]
        assert (m["precision"], m["recall"], m["f1"], m["support"]) == pytest.approx((p, rec, f1, support)), label
    assert r["macro_f1"] == pytest.approx(11 / 36) and r["micro_f1"] == pytest.approx(0.5) and r["accuracy"] == 0.5
    assert r["labels"] == LABELS6 and r["texts"] == 6 and "subset_accuracy" not in r
    assert r["confusion_matrix"] == [  # rows gold, columns predicted
        [1, 1, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]]


def test_single_label_micro_f1_equals_accuracy_and_macro_differs_when_classes_are_unequal():
    gold = [["a"]] * 8 + [["b"]] * 2
    pred = [["a"]] * 8 + [["a"]] * 2
    r = classification_scores(gold, pred, ["a", "b"])
    assert r["accuracy"] == pytest.approx(0.8) and r["micro_f1"] == pytest.approx(0.8)
    assert r["macro_f1"] == pytest.approx((2 * 0.8 * 1.0 / 1.8 + 0.0) / 2)


def test_multi_label_metrics_by_hand():
    """Golds {a,b}, {b}, {}, {c}, {a,b}; predictions {a}, {b,c}, {}, {}, {b,a}. a: tp 2; b: tp 2 fn 1;
    c: fp 1 fn 1. Micro F1 = 2*4 / (2*4 + 1 + 2) = 8/11, macro (1 + 0.8 + 0) / 3, subset accuracy
    2/5 (the empty text and the one whose labels come in another order)."""
    gold = [["a", "b"], ["b"], [], ["c"], ["a", "b"]]
    pred = [["a"], ["b", "c"], [], [], ["b", "a"]]
    r = classification_scores(gold, pred, ["a", "b", "c"], multi_label=True)
    assert r["micro_f1"] == pytest.approx(8 / 11) and r["macro_f1"] == pytest.approx(0.6)
    assert r["subset_accuracy"] == r["accuracy"] == pytest.approx(0.4) and "confusion_matrix" not in r
    assert [r["per_class"][x]["support"] for x in "abc"] == [2, 3, 1]
    assert (r["per_class"]["b"]["precision"], r["per_class"]["b"]["recall"]) == pytest.approx((1.0, 2 / 3))
    assert r["per_class"]["c"]["f1"] == 0.0


def test_empty_inputs_and_mismatched_lengths():
    r = classification_scores([], [], ["a", "b"])
    assert r["accuracy"] == 0.0 and r["micro_f1"] == 0.0 and r["confusion_matrix"] == [[0, 0], [0, 0]]
    assert classification_scores([], [], ["a"], multi_label=True)["subset_accuracy"] == 0.0
    assert classification_scores([["a"]], [["a"]], [], multi_label=True)["macro_f1"] == 0.0
    with pytest.raises(ValueError, match="2 gold texts but 1 predicted"):
        classification_scores([["a"], ["b"]], [["a"]], ["a", "b"])


def test_the_report_table_shows_each_class_and_the_matrix_rows():
    r = classification_scores([[g] for g in GOLD6], [[p] for p in PRED6], LABELS6)
    text = format_classification_report(r)
    lines = text.splitlines()
    assert lines[1].split() == ["a", "0.5000", "0.5000", "0.5000", "2"]
    assert "accuracy 0.5000 | macro F1 0.3056 | micro F1 0.5000 | texts 6" in text
    assert lines[-2].split() == ["e", "0", "0", "0", "1", "0", "0"]


def test_an_unknown_gold_label_is_an_error_at_its_line():
    check_labels([TextExample("x", ("a", "b"), 3)], ["a", "b"])
    with pytest.raises(DataFormatError) as err:
        check_labels([TextExample("x", ("a",), 2), TextExample("y", ("a", "zz"), 7)], ["a", "b"], "dev.jsonl")
    assert err.value.line == 7 and err.value.why == "label 'zz' is not one of the model's labels (a, b)"

