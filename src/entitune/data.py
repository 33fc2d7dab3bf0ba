"""Annotated files -> IOB2 sentences: read, detect the tag scheme, convert, report what was done.
Also the seeded dev split used when no dev file is given."""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import DataFormatError
from .io import read_sentences
from .tags import detect_scheme, to_iob2
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
        return Dataset(str(path), raw, scheme)
    if scheme == "IOB1":
        notices.append(f"{path}: I- starts an entity at {evidence} places, so the tags were read as IOB1 and converted to IOB2")
    else:
        notices.append(f"{path}: tags use E-/S- (BIOES) prefixes; converted to IOB2")
    sentences = [Sentence(s.words, tuple(to_iob2(s.tags, scheme)), s.line) for s in raw]
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
