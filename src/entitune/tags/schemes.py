"""Tag schemes (IOB1, IOB2/BIO, BIOES/BILOU, IO): detection and conversion. Pure Python.

Written here rather than taken from seqeval because entitune needs the pieces seqeval keeps
private: scheme detection, conversion both ways, and the allowed-transition table that the
constrained decoder uses (``transitions``). seqeval is still used in the tests as an independent check.

>>> iob1_to_iob2(["I-PER", "I-PER", "B-PER", "O"])
['B-PER', 'I-PER', 'B-PER', 'O']
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import TagSchemeError
from .spans import spans_from_tags, tags_from_spans
from .tag import SCHEMES, Scheme, split_tag


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
