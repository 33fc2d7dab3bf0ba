"""Tags <-> entity spans over word positions, strict or conlleval-style. Pure Python.

>>> spans_from_tags(["B-PER", "I-PER", "O", "B-LOC"])
[Span(start=0, end=2, label='PER'), Span(start=3, end=4, label='LOC')]
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from ..errors import TagSchemeError
from ..types import Span
from .tag import Scheme, split_tag

SpanMode = Literal["strict", "conlleval"]


def _chunk_ends(prev: str, prev_type: str, cur: str, cur_type: str) -> bool:
    # conlleval's endOfChunk, on BIOES prefixes.
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and cur in ("B", "S", "O"):
        return True
    return prev != "O" and prev_type != cur_type


def _chunk_starts(prev: str, prev_type: str, cur: str, cur_type: str) -> bool:
    # conlleval's startOfChunk, on BIOES prefixes.
    if cur in ("B", "S"):
        return True
    if prev in ("E", "S", "O") and cur in ("E", "I"):
        return True
    return cur != "O" and prev_type != cur_type


def spans_from_tags(tags: Sequence[str], mode: SpanMode = "strict") -> list[Span]:
    """Entities of a tag sequence as word spans ``[start, end)``.

    ``conlleval``: lenient chunking as in conlleval.pl (an ``I-X`` after ``O`` starts an entity).
    ``strict``: only well-formed entities count: ``B-X (I-X)*`` and, for BIOES, ``B-X (I-X)* E-X``
    or ``S-X``; an entity is dropped if it starts with I-/E- or a BIOES ``B-`` is never closed.
    For valid sequences both modes give the same spans.

    >>> spans_from_tags(["O", "I-PER", "I-PER"], "conlleval")
    [Span(start=1, end=3, label='PER')]
    >>> spans_from_tags(["O", "I-PER", "I-PER"], "strict")
    []
    """
    parsed = [split_tag(t) for t in tags]
    uses_bioes = any(p in ("E", "S") for p, _ in parsed)
    spans: list[Span] = []
    start: int | None = None
    prev, prev_type = "O", ""
    for i, (cur, cur_type) in enumerate([*parsed, ("O", "")]):
        if start is not None and _chunk_ends(prev, prev_type, cur, cur_type):
            spans.append(Span(start, i, prev_type))
            start = None
        if _chunk_starts(prev, prev_type, cur, cur_type) and i < len(parsed):
            start = i
        prev, prev_type = cur, cur_type
    if mode == "conlleval":
        return spans
    if mode != "strict":
        raise ValueError(f"mode must be 'strict' or 'conlleval', got {mode!r}")
    strict: list[Span] = []
    for span in spans:
        prefixes = [parsed[j][0] for j in range(span.start, span.end)]
        if uses_bioes:
            ok = prefixes == ["S"] or (
                len(prefixes) >= 2 and prefixes[0] == "B" and prefixes[-1] == "E"
                and all(p == "I" for p in prefixes[1:-1])
            )
        else:
            ok = prefixes[0] == "B" and all(p == "I" for p in prefixes[1:])
        if ok:
            strict.append(span)
    return strict


def tags_from_spans(spans: Iterable[Span], length: int, scheme: Scheme = "IOB2") -> list[str]:
    """Tag sequence of ``length`` words for non-overlapping spans, in IOB2 or BIOES.

    >>> tags_from_spans([Span(1, 3, "PER")], 4, "BIOES")
    ['O', 'B-PER', 'E-PER', 'O']
    """
    tags = ["O"] * length
    for span in spans:
        if not 0 <= span.start < span.end <= length:
            raise TagSchemeError(f"span {span} does not fit in {length} words")
        if any(t != "O" for t in tags[span.start : span.end]):
            raise TagSchemeError(f"span {span} overlaps another span")
        for j in range(span.start, span.end):
            tags[j] = f"I-{span.label}"
        tags[span.start] = f"B-{span.label}"
        if scheme == "BIOES":
            if span.end - span.start == 1:
                tags[span.start] = f"S-{span.label}"
            else:
                tags[span.end - 1] = f"E-{span.label}"
    return tags
