"""Contracts of the numpy algorithms (``entitune.decoding.viterbi``) beyond agreeing with torch:

- ``viterbi`` decides in float32, as its torch twin: the path of float64 emissions or tables is the
  path of their float32 rounding (two labels that tie once rounded go to the first);
- a mask that does not fit the emissions is refused with a message naming both shapes;
- ``logsumexp`` and ``log_softmax`` shift each slice by its own maximum: slices far apart in
  magnitude (a few hundred, as ``FORBIDDEN`` makes them) and large scores give the exact, finite
  answer of each slice alone;
- ``marginals`` answers float32 (also for float64 tables), and (batch, 0, labels) for no words;
- ``path_allowed`` is True exactly where the path uses only 0 entries of the tables within its
  row's length (start of the first word, each transition between real words, end of the last real
  word), row by row; a row of no words, and a batch of no words, is allowed.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitune.decoding import (
    FORBIDDEN,
    log_softmax,
    logsumexp,
    marginals,
    path_allowed,
    viterbi,
)


def _tables(c: int, dtype=np.float32):
    return np.zeros(c, dtype), np.zeros((c, c), dtype), np.zeros(c, dtype)


def test_viterbi_ties_float64_emissions_as_their_float32_rounding():
    """1 and 1 + 1e-12 are one float32: the first label wins, as in float32 emissions."""
    emissions = np.array([[[1.0, 1.0 + 1e-12], [2.0, 2.0 + 1e-12]]], dtype=np.float64)
    mask = np.ones((1, 2), bool)
    assert viterbi(emissions, mask, *_tables(2)).tolist() == [[0, 0]]


def test_viterbi_ties_float64_tables_as_their_float32_rounding():
    start, trans, end = _tables(2, np.float64)
    start[1] = 1e-12  # 0 and 1e-12 differ in float32 too, but 1 + 1e-12 does not
    start += 1.0
    trans[0, 1] = trans[1, 1] = 1e-12
    end[1] = 1e-12
    emissions = np.zeros((1, 3, 2), np.float32)
    assert viterbi(emissions, np.ones((1, 3), bool), start, trans, end).tolist() == [
        [0, 0, 0]
    ]


@given(st.integers(0, 2**31 - 1))
def test_viterbi_of_float64_inputs_is_viterbi_of_their_float32_rounding(seed):
    """Small whole numbers (ties once rounded) plus offsets below float32's resolution there."""
    rng = np.random.default_rng(seed)
    batch, words, c = 3, 4, 3

    def values(*shape):
        whole = rng.choice([-2.0, -1.0, 1.0, 2.0], size=shape)
        return whole + rng.uniform(-1e-9, 1e-9, size=shape)

    emissions, start, trans, end = (
        values(batch, words, c),
        values(c),
        values(c, c),
        values(c),
    )
    mask = np.arange(words)[None, :] < rng.integers(0, words + 1, size=batch)[:, None]
    rounded = [a.astype(np.float32) for a in (emissions, start, trans, end)]
    np.testing.assert_array_equal(
        viterbi(emissions, mask, start, trans, end),
        viterbi(rounded[0], mask, *rounded[1:]),
    )


def test_a_mask_that_does_not_fit_is_refused_naming_both_shapes():
    with pytest.raises(
        ValueError,
        match=re.escape("mask shape (2, 2) does not match emissions (2, 3)") + "$",
    ):
        viterbi(np.zeros((2, 3, 4)), np.ones((2, 2), bool), *_tables(4))


def _reference_logsumexp(x: np.ndarray) -> float:
    x = x.astype(np.float64)
    return float(x.max() + np.log(np.exp(x - x.max()).sum()))


@given(st.integers(0, 2**31 - 1), st.sampled_from([0, 1]))
def test_logsumexp_of_each_slice_is_that_slice_alone(seed, axis):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    # slices far apart: whole rows (axis 1) or whole columns (axis 0) offset by hundreds
    offsets = rng.choice(
        [0.0, -300.0, 300.0, float(FORBIDDEN)], size=4 if axis == 1 else 3
    )
    x = (x + (offsets[:, None] if axis == 1 else offsets[None, :])).astype(np.float32)
    got = logsumexp(x, axis=axis)
    want = [_reference_logsumexp(s) for s in (x if axis == 1 else x.T)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-4)


def test_logsumexp_of_rows_far_apart():
    x = np.array([[0.0, 0.0], [-200.0, -200.0]], np.float32)
    np.testing.assert_allclose(
        logsumexp(x, axis=1), [np.log(2), -200 + np.log(2)], rtol=1e-6
    )


@given(st.integers(0, 2**31 - 1))
def test_log_softmax_of_each_row_is_that_row_alone(seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(2, 3, 4)) + rng.choice(
        [0.0, -300.0, 300.0, 1000.0], size=(2, 3, 1)
    )
    scores = scores.astype(np.float32)
    got = log_softmax(scores)
    assert got.dtype == np.float32 and np.isfinite(got).all()
    for row, out in zip(scores.reshape(-1, 4), got.reshape(-1, 4)):
        np.testing.assert_allclose(
            out, row.astype(np.float64) - _reference_logsumexp(row), atol=1e-4
        )


def test_log_softmax_of_large_scores_is_finite():
    np.testing.assert_allclose(
        log_softmax(np.array([[1000.0, 0.0]], np.float32)), [[0.0, -1000.0]]
    )
    got = log_softmax(np.array([[0.0, 0.0], [-200.0, -200.0]], np.float32))
    np.testing.assert_allclose(got, np.full((2, 2), -np.log(2)), rtol=1e-6)


def test_marginals_are_float32_whatever_the_tables_dtype():
    rng = np.random.default_rng(0)
    emissions = rng.normal(size=(2, 3, 4)).astype(np.float32)
    mask = np.array([[True, True, True], [True, False, False]])
    tables64 = [rng.normal(size=s) for s in ((4,), (4, 4), (4,))]
    got = marginals(emissions, mask, *tables64)
    assert got.dtype == np.float32
    np.testing.assert_allclose(
        got,
        marginals(emissions, mask, *(t.astype(np.float32) for t in tables64)),
        rtol=1e-6,
    )


def test_marginals_of_no_words_are_an_empty_float32_array():
    got = marginals(
        np.zeros((2, 0, 3), np.float32), np.zeros((2, 0), bool), *_tables(3)
    )
    assert got.shape == (2, 0, 3) and got.dtype == np.float32


# ------------------------------------------------------------------ path_allowed


def _allowed_by_hand(path, n, start, trans, end) -> bool:
    if n == 0:
        return True
    path = [int(p) for p in path[:n]]
    return (
        start[path[0]] == 0
        and all(trans[a, b] == 0 for a, b in itertools.pairwise(path))
        and end[path[-1]] == 0
    )


@st.composite
def constrained_paths(draw):
    """(tags, mask, start, trans, end): tables of 0 and FORBIDDEN, any tags, prefix masks."""
    seed = draw(st.integers(0, 2**31 - 1))
    batch, words, c = (
        draw(st.integers(1, 5)),
        draw(st.integers(0, 5)),
        draw(st.integers(1, 4)),
    )
    rng = np.random.default_rng(seed)
    share = draw(st.sampled_from([0.1, 0.3]))  # how many entries are forbidden

    def table(*shape):
        return np.where(rng.random(shape) < share, FORBIDDEN, np.float32(0)).astype(
            np.float32
        )

    tags = rng.integers(0, c, size=(batch, words))
    mask = np.arange(words)[None, :] < rng.integers(0, words + 1, size=batch)[:, None]
    return tags, mask, table(c), table(c, c), table(c)


@given(constrained_paths())
def test_path_allowed_is_the_check_by_hand_row_by_row(problem):
    tags, mask, start, trans, end = problem
    got = path_allowed(tags, mask, start, trans, end)
    assert got.dtype == bool and got.shape == (tags.shape[0],)
    want = [
        _allowed_by_hand(t, int(n), start, trans, end)
        for t, n in zip(tags, mask.sum(1))
    ]
    assert got.tolist() == want


def test_path_allowed_reads_each_table_where_the_path_uses_it():
    """Labels 0, 1, 2: 2 may not start, 1 may not follow 0, 1 may not end. Each row breaks at most
    one rule; past a row's length nothing counts."""
    start = np.array([0, 0, FORBIDDEN], np.float32)
    trans = np.zeros((3, 3), np.float32)
    trans[0, 1] = FORBIDDEN
    end = np.array([0, FORBIDDEN, 0], np.float32)
    rows = {
        (0, 2, 0): (3, True),
        (2, 0, 0): (3, False),  # forbidden start
        (0, 1, 0): (3, False),  # forbidden transition
        (2, 1, 0): (2, False),  # forbidden end at the last real word
        (0, 2, 1): (2, True),  # 1 would be a forbidden end, past the length
        (0, 0, 1): (2, True),  # 0 -> 1 forbidden, past the length
        (0, 1, 2): (1, True),  # one word that may start and end; 0 -> 1 past the length
        (1, 1, 1): (1, False),  # one word that may not end
        (2, 0, 1): (0, True),  # no words
    }
    tags = np.array(list(rows), np.int64)
    mask = np.arange(3)[None, :] < np.array([n for n, _ in rows.values()])[:, None]
    assert path_allowed(tags, mask, start, trans, end).tolist() == [
        ok for _, ok in rows.values()
    ]


def test_a_batch_of_no_words_is_allowed_row_by_row():
    got = path_allowed(np.zeros((3, 0), np.int64), np.zeros((3, 0), bool), *_tables(2))
    assert got.dtype == bool and got.tolist() == [True, True, True]
