"""Classification metrics against scikit-learn, single- and multi-label."""
from __future__ import annotations

import random

import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from entitune.evaluate import classification_scores, format_classification_report

LABELS = ["a", "b", "c", "d"]


@pytest.mark.parametrize("seed", range(5))
def test_single_label_matches_sklearn(seed):
    rng = random.Random(seed)
    gold = [rng.choice(LABELS[:3]) for _ in range(200)]  # "d" never gold: its F1 is 0 with support 0
    pred = [g if rng.random() < 0.7 else rng.choice(LABELS) for g in gold]
    report = classification_scores([[g] for g in gold], [[p] for p in pred], LABELS)
    assert report["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    assert report["macro_f1"] == pytest.approx(f1_score(gold, pred, labels=LABELS, average="macro", zero_division=0))
    assert report["micro_f1"] == pytest.approx(f1_score(gold, pred, labels=LABELS, average="micro", zero_division=0))
    assert report["confusion_matrix"] == confusion_matrix(gold, pred, labels=LABELS).tolist()
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=LABELS, zero_division=0)
    for i, label in enumerate(LABELS):
        m = report["per_class"][label]
        assert (m["precision"], m["recall"], m["f1"], m["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    assert set(report) >= {"accuracy", "macro_f1", "micro_f1", "per_class", "confusion_matrix", "labels"}
    assert "confusion matrix" in format_classification_report(report)


def test_multi_label_matches_sklearn():
    from sklearn.preprocessing import MultiLabelBinarizer

    rng = random.Random(3)
    gold = [[x for x in LABELS if rng.random() < 0.3] for _ in range(150)]
    pred = [[x for x in LABELS if (x in g) != (rng.random() < 0.2)] for g in gold]
    binarize = MultiLabelBinarizer(classes=LABELS).fit([LABELS])
    y, z = binarize.transform(gold), binarize.transform(pred)
    report = classification_scores(gold, pred, LABELS, multi_label=True)
    assert report["micro_f1"] == pytest.approx(f1_score(y, z, average="micro", zero_division=0))
    assert report["macro_f1"] == pytest.approx(f1_score(y, z, average="macro", zero_division=0))
    assert report["subset_accuracy"] == pytest.approx(accuracy_score(y, z))
    assert "subset accuracy" in format_classification_report(report)
