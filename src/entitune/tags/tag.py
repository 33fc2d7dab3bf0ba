"""One tag: its shape (``O`` or ``PREFIX-TYPE``) and its parts; the names of the schemes. Pure Python.

>>> split_tag("B-PER"), split_tag("O"), split_tag("L-LOC")
(('B', 'PER'), ('O', ''), ('E', 'LOC'))
"""
from __future__ import annotations

import re
from typing import Literal

from ..errors import TagSchemeError

Scheme = Literal["IOB1", "IOB2", "BIOES", "BILOU", "IO"]
#: Every scheme entitune reads and writes.
SCHEMES: tuple[str, ...] = ("IOB1", "IOB2", "BIOES", "BILOU", "IO")

#: The shape every tag must have: ``O`` or a prefix, a dash and a non-empty type.
TAG_PATTERN = re.compile(r"^(O|[BIESLU]-\S.*)\Z")
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
