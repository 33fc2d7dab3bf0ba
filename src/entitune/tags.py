"""Tag schemes (IOB1, IOB2/BIO, BIOES/BILOU), their detection and conversion, tags <-> spans,
and the transitions each scheme allows. Pure Python, no torch.

Written here rather than taken from seqeval because entitune needs the pieces seqeval keeps
private: scheme detection, conversion both ways, and the allowed-transition table that the
constrained decoder uses. seqeval is still used in the tests as an independent check.

>>> spans_from_tags(["B-PER", "I-PER", "O", "B-LOC"])
[Span(start=0, end=2, label='PER'), Span(start=3, end=4, label='LOC')]
>>> iob1_to_iob2(["I-PER", "I-PER", "B-PER", "O"])
['B-PER', 'I-PER', 'B-PER', 'O']
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from .errors import TagSchemeError
from .types import Span

Scheme = Literal["IOB1", "IOB2", "BIOES", "BILOU", "IO"]
#: Every scheme entitune reads and writes.
SCHEMES: tuple[str, ...] = ("IOB1", "IOB2", "BIOES", "BILOU", "IO")
SpanMode = Literal["strict", "conlleval"]

#: The shape every tag must have: ``O`` or a prefix, a dash and a non-empty type.
TAG_PATTERN = re.compile(r"^(O|[BIESLU]-\S.*)$")
_BILOU_TO_BIOES = {"L": "E", "U": "S"}


def split_tag(tag: str) -> tuple[str, str]:
    """Split a tag into (prefix, type): ``"B-PER" -> ("B", "PER")``, ``"O" -> ("O", "")``.

    BILOU prefixes are read as their BIOES equivalents (L -> E, U -> S).
    """
    if tag == "O":
        return "O", ""
    if not TAG_PATTERN.match(tag):
        raise TagSchemeError(f"tag {tag!r} is neither 'O' nor PREFIX-TYPE with PREFIX in B, I, E, S")
    prefix, typ = tag[0], tag[2:]
    return _BILOU_TO_BIOES.get(prefix, prefix), typ


def detect_scheme(sequences: Iterable[Sequence[str]]) -> tuple[Scheme, int]:
    """Guess the scheme of tag sequences; returns (scheme, evidence count).

    - ``BILOU`` if an ``L-``/``U-`` prefix occurs, ``BIOES`` if an ``E-``/``S-`` one does (count
      of such tags);
    - ``IOB1`` if ``I-X`` starts an entity (after ``O``, after another type, or first in a
      sentence) more often than ``B-`` occurs at all: in IOB1, ``B-`` only separates two adjacent
      entities of one type, so starts by ``I-`` dominate (count of such starts). IO data (no
      ``B-`` at all) is read as IOB1 too: the conversion to IOB2 is the same;
    - ``IOB2`` otherwise. Its count is the number of ``I-X`` that start an entity anyway: invalid
      IOB2, which ``to_iob2`` reads leniently (as conlleval does) as entity starts.

    >>> detect_scheme([["I-PER", "O"], ["B-LOC", "I-LOC"], ["I-ORG"]])
    ('IOB1', 2)
    >>> detect_scheme([["B-PER", "I-PER", "O", "I-PER"], ["B-LOC"], ["B-ORG"]])
    ('IOB2', 1)
    """
    bioes = bilou = b_tags = i_starts = 0
    for tags in sequences:
        prev_prefix, prev_type = "O", ""
        for tag in tags:
            prefix, typ = split_tag(tag)
            if tag[0] in ("L", "U"):
                bilou += 1
            elif prefix in ("E", "S"):
                bioes += 1
            elif prefix == "B":
                b_tags += 1
            elif prefix == "I" and (prev_prefix == "O" or prev_type != typ):
                i_starts += 1
            prev_prefix, prev_type = prefix, typ
    if bilou:
        return "BILOU", bilou + bioes
    if bioes:
        return "BIOES", bioes
    if i_starts > b_tags:
        return "IOB1", i_starts
    return "IOB2", i_starts


def invalid_starts(tags: Sequence[str]) -> list[int]:
    """Positions where ``I-X`` starts an entity in IOB2 (after ``O``, after another type, or first).

    >>> invalid_starts(["O", "I-PER", "B-LOC", "I-ORG"])
    [1, 3]
    """
    out: list[int] = []
    prev_prefix, prev_type = "O", ""
    for i, tag in enumerate(tags):
        prefix, typ = split_tag(tag)
        if prefix == "I" and (prev_prefix == "O" or prev_type != typ):
            out.append(i)
        prev_prefix, prev_type = prefix, typ
    return out


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 -> IOB2: an ``I-X`` that starts an entity becomes ``B-X``."""
    out: list[str] = []
    prev_prefix, prev_type = "O", ""
    for tag in tags:
        prefix, typ = split_tag(tag)
        if prefix == "I" and (prev_prefix == "O" or prev_type != typ):
            out.append(f"B-{typ}")
        else:
            out.append(tag)
        prev_prefix, prev_type = prefix, typ
    return out


def iob2_to_bioes(tags: Sequence[str]) -> list[str]:
    """IOB2 -> BIOES: single-word entities become ``S-``, last words ``E-``.

    >>> iob2_to_bioes(["B-PER", "I-PER", "B-LOC", "O"])
    ['B-PER', 'E-PER', 'S-LOC', 'O']
    """
    return tags_from_spans(spans_from_tags(tags, "conlleval"), len(tags), "BIOES")


def bioes_to_iob2(tags: Sequence[str]) -> list[str]:
    """BIOES/BILOU -> IOB2: ``S-`` becomes ``B-``, ``E-`` becomes ``I-`` (or ``B-`` if it starts)."""
    return tags_from_spans(spans_from_tags(tags, "conlleval"), len(tags), "IOB2")


def to_iob2(tags: Sequence[str], scheme: Scheme) -> list[str]:
    """Convert tags in ``scheme`` to IOB2. IOB2 input is made valid: an ``I-X`` that starts an
    entity becomes ``B-X`` (the lenient, conlleval reading)."""
    if scheme in ("IOB1", "IO", "IOB2"):
        return iob1_to_iob2(tags)
    if scheme in ("BIOES", "BILOU"):
        return bioes_to_iob2(tags)
    raise TagSchemeError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")


def from_iob2(tags: Sequence[str], scheme: Scheme) -> list[str]:
    """Convert valid IOB2 tags to ``scheme``.

    IOB1 uses ``B-`` only for an entity that directly follows one of the same type; IO drops
    ``B-`` altogether (two adjacent entities of one type merge: IO cannot tell them apart);
    BILOU writes BIOES's ``E-``/``S-`` as ``L-``/``U-``.

    >>> from_iob2(["B-PER", "I-PER", "B-PER", "O", "B-LOC"], "IOB1")
    ['I-PER', 'I-PER', 'B-PER', 'O', 'I-LOC']
    >>> from_iob2(["B-PER", "I-PER", "B-LOC"], "BILOU")
    ['B-PER', 'L-PER', 'U-LOC']
    """
    if scheme == "IOB2":
        return list(tags)
    if scheme in ("BIOES", "BILOU"):
        out = iob2_to_bioes(tags)
        if scheme == "BILOU":
            out = [{"E": "L", "S": "U"}.get(t[0], t[0]) + t[1:] if t != "O" else t for t in out]
        return out
    if scheme == "IO":
        return [t if t == "O" else "I-" + t[2:] for t in tags]
    if scheme == "IOB1":
        out = []
        prev_type = ""
        for tag in tags:
            prefix, typ = split_tag(tag)
            if prefix == "B" and typ != prev_type:
                out.append("I-" + typ)
            else:
                out.append(tag)
            prev_type = typ
        return out
    raise TagSchemeError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")


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


def allowed_transitions(labels: Sequence[str]) -> tuple[list[bool], list[list[bool]], list[bool]]:
    """Which tag may start a sequence, follow another, or end it, for IOB2 or BIOES labels.

    Returns ``(start[j], trans[i][j], end[i])``: ``trans[i][j]`` says label ``j`` may follow ``i``.
    IOB2: ``I-X`` only after ``B-X`` or ``I-X`` and never first. BIOES adds: after ``B-X``/``I-X``
    only ``I-X``/``E-X``; a sequence ends only on ``O``, ``E-`` or ``S-``.
    """
    parsed = [split_tag(label) for label in labels]
    bioes = any(p in ("E", "S") for p, _ in parsed)
    n = len(labels)

    def ok(i: int | None, j: int | None) -> bool:
        pi, ti = parsed[i] if i is not None else ("O", "")
        pj, tj = parsed[j] if j is not None else ("O", "")
        inside_i = pi in ("B", "I") and bioes  # an open BIOES entity must continue
        if inside_i:
            return j is not None and pj in ("I", "E") and tj == ti
        if pj in ("I", "E"):
            return pi in ("B", "I") and ti == tj
        return True

    start = [ok(None, j) for j in range(n)]
    trans = [[ok(i, j) for j in range(n)] for i in range(n)]
    end = [ok(i, None) for i in range(n)]
    return start, trans, end


def is_valid_sequence(tags: Sequence[str], labels: Sequence[str] | None = None) -> bool:
    """True if the sequence obeys the transitions of its scheme (see ``allowed_transitions``)."""
    labels = list(labels) if labels is not None else sorted(set(tags) | {"O"})
    index = {label: i for i, label in enumerate(labels)}
    start, trans, end = allowed_transitions(labels)
    if not tags:
        return True
    ids = [index[t] for t in tags]
    if not start[ids[0]] or not end[ids[-1]]:
        return False
    return all(trans[a][b] for a, b in zip(ids, ids[1:]))
