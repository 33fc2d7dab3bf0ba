"""Batches of example indices: grouped by length (so little of a batch is padding), by a padded
token budget, seeded for training and sorted for inference. Pure Python.
"""
from __future__ import annotations

import random
from collections.abc import Sequence


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int, shuffle: bool = True, pool: int = 64
) -> list[list[int]]:
    """Index batches of similar length, so that little of each batch is padding.

    With ``shuffle``: indices are shuffled (seeded), cut into pools of ``pool * batch_size``, each
    pool sorted by length and cut into batches, and the batch order shuffled again. Without: one
    pass sorted by length (longest first), for evaluation and prediction.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = list(range(len(lengths)))
    if not shuffle:
        order.sort(key=lambda i: -lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = random.Random(seed)
    rng.shuffle(order)
    batches: list[list[int]] = []
    span = pool * batch_size
    for lo in range(0, len(order), span):
        chunk = sorted(order[lo : lo + span], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def token_budget_batches(lengths: Sequence[int], max_tokens: int, seed: int, pool: int = 2048) -> list[list[int]]:
    """Shuffled index batches whose padded size (longest length x count) stays within ``max_tokens``.

    As ``length_grouped_batches``: shuffle (seeded), sort within pools of ``pool`` items, cut,
    shuffle the batches. A single item longer than the budget gets a batch of its own.

    >>> token_budget_batches([4, 4, 4, 8], max_tokens=8, seed=0, pool=4)
    [[2, 0], [3], [1]]
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for lo in range(0, len(order), pool):
        chunk = sorted(order[lo : lo + pool], key=lambda i: lengths[i])
        batch: list[int] = []
        for i in chunk:
            if batch and lengths[i] * (len(batch) + 1) > max_tokens:
                batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            batches.append(batch)
    rng.shuffle(batches)
    return batches
