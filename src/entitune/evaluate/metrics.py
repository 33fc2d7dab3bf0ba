"""Entity-level precision/recall/F1 (strict or conlleval spans, micro-averaged, per type) and
token-level micro F1 over words. Pure Python.

``token_micro_f1`` is micro-averaged F1 over every word's tag, ``O`` included, which equals
word-level accuracy; it is the figure often quoted as "F1" for token classification and is much
higher than entity F1, so entitune always reports the two under their own names.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ..tags import SpanMode, spans_from_tags


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f}


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: SpanMode = "strict") -> dict:
    """Micro-averaged entity P/R/F1 and the same per type (with ``support``, the gold count).

    An entity counts as correct only if its type and both boundaries match exactly.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
        gs = {(s.start, s.end, s.label) for s in spans_from_tags(g, mode)}
        ps = {(s.start, s.end, s.label) for s in spans_from_tags(p, mode)}
        n_gold.update(label for *_, label in gs)
        n_pred.update(label for *_, label in ps)
        tp.update(label for *_, label in gs & ps)
    per_type = {
        t: {**_prf(tp[t], n_pred[t], n_gold[t]), "support": n_gold[t]}
        for t in sorted(set(n_gold) | set(n_pred))
    }
    return {"entity": _prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values())), "per_type": per_type}


def token_micro_f1(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """Micro F1 over all words' tags, ``O`` included (equal to word accuracy)."""
    total = sum(len(g) for g in gold)
    correct = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
    return correct / total if total else 0.0


def format_report(report: dict) -> str:
    """A plain-text table of an evaluation report (per type, then overall)."""
    lines = [f"{'type':<20} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for t, m in report["per_type"].items():
        lines.append(f"{t:<20} {m['precision']:>9.4f} {m['recall']:>9.4f} {m['f1']:>9.4f} {m['support']:>8}")
    e = report["entity"]
    support = sum(m["support"] for m in report["per_type"].values())
    lines.append(f"{'entity (micro)':<20} {e['precision']:>9.4f} {e['recall']:>9.4f} {e['f1']:>9.4f} {support:>8}")
    lines.append(
        f"token micro F1 (word accuracy) {report['token_micro_f1']:.4f} | words {report['words']} | "
        f"untagged {report['words_untagged']} | invalid sequences {report['invalid_sequences']}"
    )
    return "\n".join(lines)
