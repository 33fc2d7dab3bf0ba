"""Contracts of the decoder's tables (``Transitions``) and of building a ``TagDecoder``:

- ``Transitions.of`` accepts exactly three tables shaped (C,), (C, C), (C,) for one C (0 included:
  it checks that the shapes agree, nothing else) and refuses any other shapes with a message that
  names the three shapes it got; a 2-D or 0-D start table is refused, not read as C;
- adding two ``Transitions`` adds each table to its counterpart (start, transitions and end alike);
- a ``TagDecoder`` of an unknown kind, a CRF decoder without learned scores and a softmax decoder
  with them are refused, each with its own message.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitune.decoding import FORBIDDEN, TagDecoder, Transitions


def _zeros(*shape):
    return np.zeros(shape, dtype=np.float32)


@given(st.integers(0, 4))
def test_tables_of_any_one_size_are_accepted(c):
    tables = Transitions.of(_zeros(c), _zeros(c, c), _zeros(c))
    assert [t.shape for t in tables] == [(c,), (c, c), (c,)]
    assert all(t.dtype == np.float32 for t in tables)


@pytest.mark.parametrize(
    "shapes",
    [
        ((3,), (3, 2), (3,)),  # transitions not square
        ((3,), (2, 2), (3,)),  # transitions of another size, end right
        ((3,), (3, 3), (2,)),  # end of another size, transitions right
        ((3,), (2, 2), (2,)),  # start alone of another size
        ((3, 3), (3, 3), (3,)),  # a 2-D start table is not read as its first axis
        ((1, 1), (1, 1), (1,)),  # nor as one label
        ((), (1, 1), (1,)),  # a 0-D start table
    ],
)
def test_tables_whose_shapes_disagree_are_refused_naming_the_shapes(shapes):
    start, trans, end = (_zeros(*s) for s in shapes)
    expected = (
        f"transition tables must be (C,), (C, C), (C,), got {start.shape}, {trans.shape}, "
        f"{end.shape}"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        Transitions.of(start, trans, end)


def test_adding_tables_adds_each_to_its_counterpart():
    a = Transitions.of([1.0, 2.0], [[1.0, 2.0], [3.0, 4.0]], [5.0, 6.0])
    b = Transitions.of([10.0, 20.0], [[30.0, 40.0], [50.0, 60.0]], [70.0, 80.0])
    total = a + b
    for got, x, y in zip(total, a, b):
        np.testing.assert_array_equal(got, x + y)
    assert total.end.tolist() == [75.0, 86.0]


def test_an_unknown_kind_is_refused_naming_the_kinds():
    with pytest.raises(
        ValueError, match=r"^decoder kind must be one of softmax, crf, got 'beam'$"
    ):
        TagDecoder("beam")


def test_learned_scores_go_with_a_crf_decoder_only():
    message = r"^a crf decoder needs its learned transitions, and only a crf decoder has them$"
    learned = Transitions.of(_zeros(2), _zeros(2, 2), _zeros(2))
    with pytest.raises(ValueError, match=message):
        TagDecoder("crf")
    with pytest.raises(ValueError, match=message):
        TagDecoder("softmax", learned=learned)
    constraints = Transitions.of(_zeros(2), np.full((2, 2), FORBIDDEN), _zeros(2))
    assert TagDecoder("crf", constraints, learned).num_labels == 2
