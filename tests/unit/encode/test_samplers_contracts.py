"""Contracts of the batch samplers (``encode.samplers``): every index exactly once; the token budget
holds for every batch of two or more (longest length x count <= ``max_tokens``, the bound itself
allowed) and a batch is cut only when the next item would break it; items are sorted by length
within pools (the default pool sizes are part of every seeded order); the same seed gives the same
batches; inference order is longest first; and the bounds on ``batch_size`` / ``max_tokens``."""
from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitune.encode import length_grouped_batches, token_budget_batches


def _flat(batches: list[list[int]]) -> list[int]:
    return sorted(i for b in batches for i in b)


def _padded(batch: list[int], lengths: list[int]) -> int:
    return max(lengths[i] for i in batch) * len(batch)


# --------------------------------------------------------------------------------- token budget

@given(lengths=st.lists(st.integers(1, 20), max_size=40), max_tokens=st.integers(1, 60),
       seed=st.integers(0, 3), pool=st.integers(1, 50))
def test_token_budget_batches_cover_every_index_once_and_keep_the_budget(lengths, max_tokens, seed, pool):
    batches = token_budget_batches(lengths, max_tokens, seed, pool=pool)
    assert _flat(batches) == list(range(len(lengths)))
    assert all(batches)
    for b in batches:
        assert len(b) == 1 or _padded(b, lengths) <= max_tokens


@given(lengths=st.permutations(list(range(1, 31))), max_tokens=st.integers(1, 90), seed=st.integers(0, 3))
def test_token_budget_batches_are_runs_of_the_length_order_cut_only_when_full(lengths, max_tokens, seed):
    """One pool holding everything: sorted by length, the batches are consecutive runs of that order
    (no two batches interleave), and each run stops only where the next item would break the budget."""
    batches = token_budget_batches(lengths, max_tokens, seed, pool=len(lengths))
    runs = sorted((sorted(lengths[i] for i in b) for b in batches), key=lambda r: r[0])
    by_length = sorted(lengths)
    assert [x for r in runs for x in r] == by_length
    for run, following in pairwise(runs):
        assert following[0] * (len(run) + 1) > max_tokens  # the next item did not fit


def test_token_budget_allows_a_batch_of_exactly_the_budget():
    assert [sorted(b) for b in token_budget_batches([4, 4], max_tokens=8, seed=0)] == [[0, 1]]
    assert sorted(map(len, token_budget_batches([4, 4, 4], max_tokens=8, seed=0))) == [1, 2]
    assert sorted(map(len, token_budget_batches([4, 4], max_tokens=7, seed=0))) == [1, 1]


def test_token_budget_puts_an_item_longer_than_the_budget_alone():
    batches = token_budget_batches([2, 9, 2], max_tokens=4, seed=0)
    assert sorted(map(sorted, batches)) == [[0, 2], [1]]


def test_token_budget_of_one_token_is_allowed_and_below_is_refused():
    assert sorted(token_budget_batches([1, 1], max_tokens=1, seed=0)) == [[0], [1]]
    with pytest.raises(ValueError, match=r"^max_tokens must be >= 1, got 0$"):
        token_budget_batches([1], max_tokens=0, seed=0)


def test_token_budget_batches_are_seeded():
    lengths = [(i * 7) % 13 + 1 for i in range(60)]
    first = token_budget_batches(lengths, 40, seed=5)
    assert first == token_budget_batches(lengths, 40, seed=5)
    assert first != token_budget_batches(lengths, 40, seed=6)


def test_token_budget_default_pool_is_2048_items():
    """2049 one-token items, budget 2049: the first pool's 2048 items fill one batch, and the 2049th,
    in a pool of its own, another (one pool of 2049 would make a single batch)."""
    batches = token_budget_batches([1] * 2049, max_tokens=2049, seed=0)
    assert sorted(map(len, batches)) == [1, 2048]


# --------------------------------------------------------------------------------- length grouped

@given(lengths=st.lists(st.integers(1, 20), max_size=40), batch_size=st.integers(1, 9), shuffle=st.booleans(),
       pool=st.integers(1, 5))
def test_length_grouped_batches_cover_every_index_once_in_batches_of_batch_size(lengths, batch_size, shuffle, pool):
    batches = length_grouped_batches(lengths, batch_size, seed=0, shuffle=shuffle, pool=pool)
    assert _flat(batches) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)
    # only the last batch of a pool (or of the whole pass) may be short
    assert sum(len(b) < batch_size for b in batches) <= (-(-len(lengths) // (pool * batch_size)) if shuffle else 1)


def test_length_grouped_without_shuffle_is_longest_first_in_index_order_on_ties():
    lengths = [1, 3, 2, 3, 5]
    assert length_grouped_batches(lengths, 2, seed=0, shuffle=False) == [[4, 1], [3, 2], [0]]
    assert length_grouped_batches(lengths, 1, seed=0, shuffle=False) == [[4], [1], [3], [2], [0]]
    assert length_grouped_batches([2], 3, seed=0, shuffle=False) == [[0]]


def test_length_grouped_batch_size_one_is_allowed_and_below_is_refused():
    assert sorted(length_grouped_batches([3, 1, 2], 1, seed=0)) == [[0], [1], [2]]
    with pytest.raises(ValueError, match=r"^batch_size must be >= 1, got 0$"):
        length_grouped_batches([1], 0, seed=0)


def test_length_grouped_default_pool_is_64_batches():
    """More items than one default pool (64 x batch_size): the default gives the batches of
    ``pool=64``, which here differ from those of a pool one batch larger."""
    lengths = [(i * 37) % 101 + 1 for i in range(300)]
    batches = length_grouped_batches(lengths, 2, seed=3)
    assert batches == length_grouped_batches(lengths, 2, seed=3, pool=64)
    assert batches != length_grouped_batches(lengths, 2, seed=3, pool=65)
