"""Error analysis of entity predictions: every wrong span classified, a type confusion matrix with
a ``none`` row and column, and the most frequent confusions. Pure Python, over word spans
(``tags.spans_from_tags``).

Within one sentence, a predicted span *matches* a gold span when start, end and type are all equal
(a true positive, as in entity F1). Every other gold span gets exactly one class, from the
predicted spans that overlap it (share at least one word):

- ``missed``: no predicted span overlaps it;
- ``wrong_type``: a predicted span has its boundaries but another type;
- ``wrong_boundary``: else, an overlapping predicted span has its type (boundaries differ);
- ``both``: else, overlapping predicted spans differ in type and boundaries.

A predicted span that matches no gold span is ``spurious`` when it overlaps no gold span, else it
is *overlapping*: the partner of a gold span's error (or, where one gold span is split into several
predictions or several are merged into one, a second prediction over the same gold words). Counts
add up exactly::

    gold = correct + missed + wrong_type + wrong_boundary + both
    pred = correct + spurious + overlapping

and where each overlap is one to one (no split or merge), ``overlapping = wrong_type +
wrong_boundary + both``.

>>> from entitune.types import Span
>>> c = compare_spans([Span(0, 2, "PER"), Span(3, 4, "LOC")], [Span(0, 2, "PER"), Span(3, 5, "LOC")])
>>> [e.kind for e in c.errors], len(c.correct)
(['wrong_boundary'], 1)
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..types import Span

ErrorKind = Literal["missed", "spurious", "wrong_type", "wrong_boundary", "both"]
#: the error classes, in the order reports list them
ERROR_KINDS: tuple[ErrorKind, ...] = ("missed", "spurious", "wrong_type", "wrong_boundary", "both")
#: the confusion matrix's row and column for "no span": a missed gold span is (type, none), a
#: spurious predicted span (none, type)
NONE = "none"


@dataclass(frozen=True)
class SpanError:
    """One wrong span: its class, the gold span (None when ``spurious``) and the predicted span it
    is compared with (None when ``missed``)."""

    kind: ErrorKind
    gold: Span | None
    pred: Span | None


@dataclass(frozen=True)
class SpanComparison:
    """Gold against predicted spans of one sentence: the gold spans predicted exactly (``correct``),
    one ``SpanError`` per other gold span and per spurious prediction (``errors``, in word order),
    and the predicted spans that overlap gold without matching it (``overlapping``)."""

    correct: tuple[Span, ...]
    errors: tuple[SpanError, ...]
    overlapping: tuple[Span, ...]


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def _overlap(a: Span, b: Span) -> int:
    return min(a.end, b.end) - max(a.start, b.start)


def _check_disjoint(spans: Sequence[Span], side: str) -> None:
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    for s in ordered:
        if s.start >= s.end:
            raise ValueError(f"{side} span {s} is empty; expected start < end")
    for a, b in zip(ordered, ordered[1:]):
        if _overlaps(a, b):
            raise ValueError(f"{side} spans {a} and {b} overlap; expected the disjoint spans of one tag sequence")


def compare_spans(gold: Sequence[Span], pred: Sequence[Span]) -> SpanComparison:
    """Classify the spans of one sentence (see the module docstring). Each side must hold disjoint
    spans, as ``spans_from_tags`` gives; otherwise ``ValueError``.

    When several predictions overlap a wrong gold span, its partner is the one with the same
    boundaries, else the largest overlap with the same type, else the largest overlap (the leftmost
    on ties).

    >>> [e.kind for e in compare_spans([Span(0, 1, "PER")], [Span(2, 3, "LOC")]).errors]
    ['missed', 'spurious']
    """
    _check_disjoint(gold, "gold")
    _check_disjoint(pred, "predicted")
    exact = set(gold) & set(pred)
    errors: list[SpanError] = []
    for g in gold:
        if g in exact:
            continue
        near = sorted((p for p in pred if _overlaps(g, p)), key=lambda p: (-_overlap(g, p), p.start))
        same_bounds = [p for p in near if (p.start, p.end) == (g.start, g.end)]
        same_type = [p for p in near if p.label == g.label]
        if not near:
            errors.append(SpanError("missed", g, None))
        elif same_bounds:
            errors.append(SpanError("wrong_type", g, same_bounds[0]))
        elif same_type:
            errors.append(SpanError("wrong_boundary", g, same_type[0]))
        else:
            errors.append(SpanError("both", g, near[0]))
    overlapping = []
    for p in pred:
        if p in exact:
            continue
        if any(_overlaps(g, p) for g in gold):
            overlapping.append(p)
        else:
            errors.append(SpanError("spurious", None, p))
    errors.sort(key=lambda e: ((e.gold or e.pred).start, e.gold is None))
    return SpanComparison(tuple(s for s in gold if s in exact), tuple(errors), tuple(overlapping))


def _span_dict(span: Span | None, words: Sequence[str] | None) -> dict | None:
    if span is None:
        return None
    out: dict = {"start": span.start, "end": span.end, "label": span.label}
    if words is not None:
        out["text"] = " ".join(words[span.start:span.end])
    return out


def confusion_counts(comparisons: Sequence[SpanComparison]) -> Counter[tuple[str, str]]:
    """(gold type, predicted type) counts over every gold span and every spurious prediction:
    a correct span and a ``wrong_boundary`` add to (T, T), ``wrong_type`` and ``both`` to (T, U),
    ``missed`` to (T, none), ``spurious`` to (none, U). So the row of a type sums to its gold count,
    the ``none`` row to the spurious predictions, and (none, none) stays 0."""
    counts: Counter[tuple[str, str]] = Counter()
    for c in comparisons:
        counts.update((s.label, s.label) for s in c.correct)
        for e in c.errors:
            counts[(e.gold.label if e.gold else NONE, e.pred.label if e.pred else NONE)] += 1
    return counts


def error_analysis(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]],
                   words: Sequence[Sequence[str]] | None = None, lines: Sequence[int] | None = None,
                   top: int = 10) -> dict:
    """The error report of ``entitune evaluate --errors`` over sentences' gold and predicted spans.

    Returns ``counts`` (``gold``, ``pred``, ``correct``, ``overlapping`` and one per error class,
    adding up as the module docstring says), ``confusion`` (``labels``: the types sorted, then
    ``none``; ``matrix``: rows gold, columns predicted, see ``confusion_counts``),
    ``top_confusions`` (the ``top`` largest off-diagonal cells: ``gold``, ``pred``, ``count``) and
    ``sentences``: one entry per sentence with an error, holding its index (``sentence``, from 0),
    its ``line`` when ``lines`` is given, its ``words`` when given, every ``gold`` and ``pred``
    span (with its ``text`` when words are given) and its ``errors`` (``kind``, ``gold``, ``pred``).

    >>> r = error_analysis([[Span(0, 1, "PER")]], [[Span(0, 1, "ORG")]])
    >>> r["counts"]["wrong_type"], r["top_confusions"]
    (1, [{'gold': 'PER', 'pred': 'ORG', 'count': 1}])
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    comparisons = [compare_spans(g, p) for g, p in zip(gold, pred)]
    counts = {"gold": sum(map(len, gold)), "pred": sum(map(len, pred)),
              "correct": sum(len(c.correct) for c in comparisons),
              "overlapping": sum(len(c.overlapping) for c in comparisons),
              **{kind: 0 for kind in ERROR_KINDS}}
    for c in comparisons:
        for e in c.errors:
            counts[e.kind] += 1
    cells = confusion_counts(comparisons)
    types = sorted({s.label for spans in (*gold, *pred) for s in spans})
    labels = [*types, NONE]
    matrix = [[cells[(g, p)] for p in labels] for g in labels]
    off_diagonal = sorted(((n, g, p) for (g, p), n in cells.items() if g != p), key=lambda x: (-x[0], x[1], x[2]))
    sentences = []
    for i, c in enumerate(comparisons):
        if not c.errors:
            continue
        ws = words[i] if words is not None else None
        entry: dict = {"sentence": i}
        if lines is not None:
            entry["line"] = lines[i]
        if ws is not None:
            entry["words"] = list(ws)
        entry["gold"] = [_span_dict(s, ws) for s in gold[i]]
        entry["pred"] = [_span_dict(s, ws) for s in pred[i]]
        entry["errors"] = [{"kind": e.kind, "gold": _span_dict(e.gold, ws), "pred": _span_dict(e.pred, ws)}
                           for e in c.errors]
        sentences.append(entry)
    return {
        "counts": counts,
        "confusion": {"labels": labels, "matrix": matrix},
        "top_confusions": [{"gold": g, "pred": p, "count": n} for n, g, p in off_diagonal[:top]],
        "sentences": sentences,
    }


def format_errors(analysis: dict) -> str:
    """A few lines for the console: the count per error class and the most frequent confusions."""
    c = analysis["counts"]
    lines = [
        "errors: " + " | ".join(f"{kind.replace('_', ' ')} {c[kind]}" for kind in ERROR_KINDS)
        + f" | in {len(analysis['sentences'])} sentences",
        f"gold spans {c['gold']} = correct {c['correct']} + missed {c['missed']} + wrong type {c['wrong_type']} + "
        f"wrong boundary {c['wrong_boundary']} + both {c['both']}",
    ]
    if analysis["top_confusions"]:
        lines.append("most frequent confusions (gold -> predicted): " + ", ".join(
            f"{x['gold']} -> {x['pred']} {x['count']}" for x in analysis["top_confusions"][:5]))
    return "\n".join(lines)
