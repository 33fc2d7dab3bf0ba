"""Exact classification scores on cases small enough to count by hand (``evaluate.classification``):
per-class P/R/F1 with ties (tp = fp, tp = fn) and zero divisions (a label never predicted, a label
never seen) scored 0, macro and micro averages, support, the confusion matrix, multi-label subset
accuracy (also reported as ``accuracy``), empty inputs, the length refusal word for word, and the
plain-text table line by line."""

from __future__ import annotations

import pytest

from entitune.evaluate import classification_scores, format_classification_report

# five texts, four labels: "a" is right once, predicted once wrongly (tp = fp = 1) and missed once
# (tp = fn = 1); "b" is right once, predicted twice wrongly, missed once; "c" is never predicted
# (tp + fp = 0); "d" is neither gold nor predicted (tp + fp = tp + fn = 0)
GOLD = [["a"], ["a"], ["b"], ["b"], ["c"]]
PRED = [["a"], ["b"], ["b"], ["a"], ["b"]]
LABELS = ["a", "b", "c", "d"]


def test_single_label_scores_counted_by_hand():
    """Broken: a tie tp = fp or tp = fn scored 0 (``tp - fp`` as the guard), a never-predicted label
    given precision 1.0 or dividing by zero."""
    report = classification_scores(GOLD, PRED, LABELS)
    assert report["per_class"] == {
        "a": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
        "b": {
            "precision": pytest.approx(1 / 3),
            "recall": 0.5,
            "f1": pytest.approx(0.4),
            "support": 2,
        },
        "c": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "d": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
    }
    assert report["macro_f1"] == pytest.approx((0.5 + 0.4 + 0 + 0) / 4)
    assert report["micro_f1"] == pytest.approx(2 / 5) and report[
        "accuracy"
    ] == pytest.approx(2 / 5)
    assert report["confusion_matrix"] == [
        [1, 1, 0, 0],
        [1, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 0, 0],
    ]
    assert report["labels"] == LABELS and report["texts"] == 5
    assert set(report) == {
        "labels",
        "texts",
        "macro_f1",
        "micro_f1",
        "per_class",
        "accuracy",
        "confusion_matrix",
    }


def test_recall_of_a_tie_tp_equal_fn_is_one_half():
    """One right, one missed, nothing predicted wrongly: P 1, R 1/2 (``tp - fn`` as the guard gives 0)."""
    report = classification_scores([["a"], ["a"]], [["a"], ["b"]], ["a", "b"])
    assert report["per_class"]["a"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert report["per_class"]["b"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }


def test_multi_label_scores_counted_by_hand():
    """Every (text, label) decision counts; ``accuracy`` is the subset accuracy (every label of a text
    right, no label for no label included); no confusion matrix."""
    gold = [["x", "y"], ["x"], [], ["z"]]
    pred = [["x"], ["x", "y"], [], ["y"]]
    report = classification_scores(gold, pred, ["x", "y", "z"], multi_label=True)
    assert report["per_class"] == {
        "x": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2},
        "y": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "z": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    }
    assert report["micro_f1"] == 0.5 and report["macro_f1"] == pytest.approx(1 / 3)
    assert report["subset_accuracy"] == 0.25 and report["accuracy"] == 0.25
    assert set(report) == {
        "labels",
        "texts",
        "macro_f1",
        "micro_f1",
        "per_class",
        "subset_accuracy",
        "accuracy",
    }


@pytest.mark.parametrize("multi_label", [False, True])
def test_no_texts_and_no_labels_score_zero(multi_label):
    """Nothing to score is 0 everywhere, never a division by zero nor a perfect 1."""
    report = classification_scores([], [], [], multi_label=multi_label)
    assert (
        report["macro_f1"] == 0.0
        and report["micro_f1"] == 0.0
        and report["accuracy"] == 0.0
    )
    assert report["texts"] == 0 and report["per_class"] == {}
    if multi_label:
        assert report["subset_accuracy"] == 0.0
    else:
        assert report["confusion_matrix"] == []
    labelled = classification_scores([], [], ["a"], multi_label=multi_label)
    assert labelled["accuracy"] == 0.0 and labelled["per_class"]["a"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }


def test_texts_counts_must_agree_word_for_word():
    with pytest.raises(ValueError, match=r"^2 gold texts but 1 predicted$"):
        classification_scores([["a"], ["a"]], [["a"]], ["a"])


def test_single_label_table_line_by_line():
    """Columns 2 wider than the longest label (at least ``label``), numbers to 4 places, then the
    confusion matrix with cells at least 6 wide."""
    text = format_classification_report(classification_scores(GOLD, PRED, LABELS))
    assert text.split("\n") == [
        "label   precision    recall        f1  support",
        "a          0.5000    0.5000    0.5000        2",
        "b          0.3333    0.5000    0.4000        2",
        "c          0.0000    0.0000    0.0000        1",
        "d          0.0000    0.0000    0.0000        0",
        "accuracy 0.4000 | macro F1 0.2250 | micro F1 0.4000 | texts 5",
        "confusion matrix (rows: gold, columns: predicted)",
        "            a      b      c      d",
        "a           1      1      0      0",
        "b           1      1      0      0",
        "c           0      1      0      0",
        "d           0      0      0      0",
    ]


def test_table_of_labels_longer_than_the_header_and_the_cells():
    """A label longer than ``label`` and than 6 widens the first column and the matrix's cells."""
    report = classification_scores(
        [["actor"], ["director"]], [["actor"], ["actor"]], ["actor", "director"]
    )
    assert format_classification_report(report).split("\n") == [
        "label      precision    recall        f1  support",
        "actor         0.5000    1.0000    0.6667        1",
        "director      0.0000    0.0000    0.0000        1",
        "accuracy 0.5000 | macro F1 0.3333 | micro F1 0.5000 | texts 2",
        "confusion matrix (rows: gold, columns: predicted)",
        "             actor director",
        "actor            1        0",
        "director         1        0",
    ]


def test_multi_label_table_line_by_line():
    """Multi-label: the subset accuracy line and no confusion matrix."""
    report = classification_scores(
        [["x", "y"], ["x"], [], ["z"]],
        [["x"], ["x", "y"], [], ["y"]],
        ["x", "y", "z"],
        multi_label=True,
    )
    assert format_classification_report(report).split("\n") == [
        "label   precision    recall        f1  support",
        "x          1.0000    1.0000    1.0000        2",
        "y          0.0000    0.0000    0.0000        1",
        "z          0.0000    0.0000    0.0000        1",
        "micro F1 0.5000 | macro F1 0.3333 | subset accuracy 0.2500 | texts 4",
    ]
