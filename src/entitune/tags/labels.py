"""Label sets of a model: the closed list of tags it predicts, and the schemes it can be trained in.
Pure Python.

>>> label_set(["B-PER", "I-PER", "O", "B-LOC"])
('O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER')
>>> entity_types(["O", "B-LOC", "I-LOC", "B-PER"])
['LOC', 'PER']
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from .tag import split_tag

#: Schemes a model can be trained in; its predictions are always given back in IOB2.
TRAIN_SCHEMES: tuple[str, ...] = ("IOB2", "BIOES")


def label_set(tags: Iterable[str], scheme: str = "IOB2") -> tuple[str, ...]:
    """Closed label list: ``O``, then ``B-X``, ``I-X`` (and for BIOES ``E-X``, ``S-X``) for every
    type seen, types sorted."""
    types = sorted({t[2:] for t in tags if t != "O"})
    prefixes = ("B", "I", "E", "S") if scheme == "BIOES" else ("B", "I")
    return ("O", *[f"{p}-{t}" for t in types for p in prefixes])


def entity_types(labels: Sequence[str]) -> list[str]:
    """The entity types of a label list, in first-seen order (``B-ACTOR``, ``I-ACTOR`` -> ``ACTOR``)."""
    return list(dict.fromkeys(split_tag(label)[1] for label in labels if label != "O"))
