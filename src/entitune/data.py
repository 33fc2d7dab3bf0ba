"""Annotated files -> IOB2 sentences: read, detect the tag scheme, convert, report what was done.
Also the seeded dev split used when no dev file is given."""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import ConfigError, DataFormatError
from .io import read_sentences
from .tags import detect_scheme, invalid_starts, to_iob2
from .types import Sentence


@dataclass(frozen=True)
class Dataset:
    """Sentences of one file in IOB2, the scheme the file used, and notices for the user."""

    path: str
    sentences: list[Sentence]
    scheme: str
    notices: tuple[str, ...] = ()


def load_annotated(path: str | Path, format: str = "auto", word_column: int = 0, tag_column: int = -1) -> Dataset:
    """Read an annotated file and convert its tags to IOB2 (IOB1 and BIOES are detected)."""
    raw = read_sentences(path, format, word_column, tag_column)
    if not raw:
        raise DataFormatError(str(path), None, "no sentences found")
    scheme, evidence = detect_scheme(s.tags for s in raw)
    notices: list[str] = []
    if scheme == "IOB2":
        if not evidence:
            return Dataset(str(path), raw, scheme)
        first = next(s for s in raw if invalid_starts(s.tags))
        notices.append(
            f"{path}: {evidence} entities start with I- instead of B- (invalid IOB2; the first in the sentence "
            f"at line {first.line}); read as entity starts, as conlleval does"
        )
    elif scheme == "IOB1":
        notices.append(f"{path}: I- starts an entity at {evidence} places, so the tags were read as IOB1 (or IO) and converted to IOB2")
    else:
        notices.append(f"{path}: tags use {'L-/U-' if scheme == 'BILOU' else 'E-/S-'} ({scheme}) prefixes; converted to IOB2")
    sentences = [replace(s, tags=tuple(to_iob2(s.tags, scheme))) for s in raw]
    return Dataset(str(path), sentences, scheme, tuple(notices))


def split_dev(sentences: Sequence[Sentence], fraction: float, seed: int) -> tuple[list[Sentence], list[Sentence]]:
    """Seeded random split into (train, dev) with ``round(fraction * n)`` dev sentences (at least 1)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"dev fraction must be between 0 and 1, got {fraction}")
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    n_dev = max(1, round(fraction * len(sentences)))
    dev_idx = set(order[:n_dev])
    train = [s for i, s in enumerate(sentences) if i not in dev_idx]
    dev = [s for i, s in enumerate(sentences) if i in dev_idx]
    return train, dev


def split_three(
    sentences: Sequence[Sentence], ratios: Sequence[float], seed: int, by: str = "sentence"
) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    """Seeded train/dev/test split for data that ships as one file (GMB).

    ``by="sentence"`` shuffles sentences; ``by="document"`` shuffles whole documents
    (``Sentence.doc``) so no document straddles two parts. Ratios are normalised; each part gets
    ``round(ratio * n)`` units (the train part takes the rounding rest), and order inside a part
    follows the file.

    >>> from entitune.types import Sentence
    >>> parts = split_three([Sentence((str(i),)) for i in range(10)], (0.8, 0.1, 0.1), seed=1)
    >>> [len(p) for p in parts]
    [8, 1, 1]
    """
    if by not in ("sentence", "document"):
        raise ConfigError(f"split by 'sentence' or 'document', not {by!r}")
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ConfigError(f"give three non-negative ratios for train, dev and test, got {list(ratios)}")
    keys = [s.doc if by == "document" else i for i, s in enumerate(sentences)]
    units = sorted(set(keys))
    if by == "document" and len(units) < 3:
        raise ConfigError(f"only {len(units)} document(s) found; split by sentence instead")
    random.Random(seed).shuffle(units)
    total = sum(ratios)
    n_dev = round(ratios[1] / total * len(units))
    n_test = round(ratios[2] / total * len(units))
    part_of = {u: 1 for u in units[:n_dev]}
    part_of.update({u: 2 for u in units[n_dev : n_dev + n_test]})
    parts: tuple[list[Sentence], list[Sentence], list[Sentence]] = ([], [], [])
    for key, s in zip(keys, sentences):
        parts[part_of.get(key, 0)].append(s)
    return parts
