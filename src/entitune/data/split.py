"""Seeded splits: a dev share of a training set, train/dev/test of a set that ships as one file,
and the dev share of a corpus streamed once (``hash_share``), where each text's side follows from
the text alone."""
from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from ..errors import ConfigError, check_choice
from ..types import Sentence


def split_dev(sentences: Sequence[Sentence], fraction: float, seed: int) -> tuple[list[Sentence], list[Sentence]]:
    """Seeded random split into (train, dev) with ``round(fraction * n)`` dev sentences (at least 1)."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"dev_fraction must be between 0 and 1, got {fraction}")
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
    check_choice("by", by, ("sentence", "document"))
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


def hash_share(words: Sequence[str], seed: int) -> float:
    """Where a text falls in [0, 1): the first 8 bytes of a BLAKE2b hash of its words (joined by
    single spaces, UTF-8) keyed by ``seed``, as a fraction. The same on every platform and Python,
    whatever the order or the files the texts come in; a text given twice falls on the same side.

    >>> hash_share(("a", "text"), 42) == hash_share(["a", "text"], 42), hash_share(("a", "text"), 42) == hash_share(("a", "text"), 7)
    (True, False)
    """
    digest = hashlib.blake2b(" ".join(words).encode("utf-8", "surrogatepass"), digest_size=8,
                             key=int(seed).to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def held_out(words: Sequence[str], fraction: float, seed: int) -> bool:
    """Whether a text of a streamed corpus goes to dev: its ``hash_share`` is below ``fraction``
    (about that share of the texts, decided without reading the others)."""
    return fraction > 0.0 and hash_share(words, seed) < fraction
