"""Classification metrics and evaluation through the same predictor as prediction.

Single-label: accuracy, macro and micro F1, per-class precision/recall/F1 with support, and the
confusion matrix (rows gold, columns predicted, in ``labels`` order). Micro F1 over single labels
equals accuracy; both are reported under their own names. Multi-label: micro and macro F1 over
every (text, label) decision, per-label scores, and subset accuracy (every label of a text right).
Pure Python apart from the predictor.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..backends import as_scorer, predictor_for
from ..errors import DataFormatError
from ..types import Classification, TextExample


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def classification_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], labels: Sequence[str],
                          multi_label: bool = False) -> dict:
    """The report of ``entitune evaluate --json`` for classification (see the module docstring).

    ``gold`` and ``pred`` hold each text's labels (one each for single-label data).

    >>> r = classification_scores([["a"], ["b"], ["b"]], [["a"], ["a"], ["b"]], ["a", "b"])
    >>> r["accuracy"], r["confusion_matrix"], round(r["macro_f1"], 4)
    (0.6666666666666666, [[1, 0], [1, 1]], 0.6667)
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold texts but {len(pred)} predicted")
    labels = list(labels)
    per_class = {}
    tp_all = fp_all = fn_all = 0
    for label in labels:
        tp = sum(label in g and label in p for g, p in zip(gold, pred))
        fp = sum(label not in g and label in p for g, p in zip(gold, pred))
        fn = sum(label in g and label not in p for g, p in zip(gold, pred))
        per_class[label] = {**_prf(tp, fp, fn), "support": sum(label in g for g in gold)}
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
    n = len(gold)
    report: dict = {
        "labels": labels,
        "texts": n,
        "macro_f1": sum(m["f1"] for m in per_class.values()) / len(labels) if labels else 0.0,
        "micro_f1": _prf(tp_all, fp_all, fn_all)["f1"],
        "per_class": per_class,
    }
    if multi_label:
        report["subset_accuracy"] = sum(set(g) == set(p) for g, p in zip(gold, pred)) / n if n else 0.0
        report["accuracy"] = report["subset_accuracy"]
    else:
        index = {label: i for i, label in enumerate(labels)}
        matrix = [[0] * len(labels) for _ in labels]
        for g, p in zip(gold, pred):
            matrix[index[g[0]]][index[p[0]]] += 1
        report["accuracy"] = sum(g[0] == p[0] for g, p in zip(gold, pred)) / n if n else 0.0
        report["confusion_matrix"] = matrix
    return report


def check_labels(examples: Sequence[TextExample], labels: Sequence[str], path: str = "data") -> None:
    """A text whose gold label the model does not know is an error at its line."""
    known = set(labels)
    for e in examples:
        unknown = [label for label in e.labels or () if label not in known]
        if unknown:
            raise DataFormatError(path, e.line or None, f"label {unknown[0]!r} is not one of the model's labels "
                                                        f"({', '.join(labels)})")


def evaluate_classifier(model, examples: Sequence[TextExample], batch_size: int = 64, path: str = "data") -> dict:
    """Classify ``examples`` with ``model`` (a ``Classifier`` or a scorer of one) and score them."""
    scorer = as_scorer(model)
    check_labels(examples, scorer.labels, path)
    predicted = predictor_for(scorer, batch_size).classify([e.text for e in examples])
    return classification_report(examples, predicted, scorer.labels, scorer.settings.multi_label)


def classification_report(examples: Sequence[TextExample], predicted: Sequence[Classification], labels: Sequence[str],
                          multi_label: bool) -> dict:
    """``classification_scores`` of predictions against the examples' gold labels."""
    return classification_scores([list(e.labels or ()) for e in examples], [list(p.labels) for p in predicted],
                                 labels, multi_label)


def format_classification_report(report: dict) -> str:
    """A plain-text table of a classification report: per class, overall, and the confusion matrix."""
    width = max([len("label"), *(len(label) for label in report["labels"])]) + 2
    lines = [f"{'label':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for label, m in report["per_class"].items():
        lines.append(f"{label:<{width}} {m['precision']:>9.4f} {m['recall']:>9.4f} {m['f1']:>9.4f} {m['support']:>8}")
    if "subset_accuracy" in report:
        lines.append(f"micro F1 {report['micro_f1']:.4f} | macro F1 {report['macro_f1']:.4f} | "
                     f"subset accuracy {report['subset_accuracy']:.4f} | texts {report['texts']}")
        return "\n".join(lines)
    lines.append(f"accuracy {report['accuracy']:.4f} | macro F1 {report['macro_f1']:.4f} | "
                 f"micro F1 {report['micro_f1']:.4f} | texts {report['texts']}")
    lines.append("confusion matrix (rows: gold, columns: predicted)")
    cell = max(6, *(len(label) for label in report["labels"]))
    lines.append(" " * width + " ".join(f"{label[:cell]:>{cell}}" for label in report["labels"]))
    for label, row in zip(report["labels"], report["confusion_matrix"]):
        lines.append(f"{label:<{width}}" + " ".join(f"{n:>{cell}}" for n in row))
    return "\n".join(lines)
