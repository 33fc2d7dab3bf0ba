"""``_code_points`` (``data/annotations.py``) on its own: offsets given as code points stay, offsets
that only the UTF-16 reading (older Label Studio versions) makes match the result's text are converted,
and anything that is not a pair of in-order non-negative integers with a text is returned as given
(for ``_trimmed`` to refuse), never raising itself."""

from __future__ import annotations

import pytest

from entitune.data.annotations import _code_points

TEXT = "😀abc"  # the emoji is one code point and two UTF-16 units


def test_code_point_offsets_stay():
    assert _code_points(TEXT, 1, 3, "ab") == (1, 3)


@pytest.mark.parametrize(
    ("start", "end", "shown", "converted"),
    [(3, 5, "bc", (2, 4)), (0, 3, "😀a", (0, 2))],
)
def test_utf16_offsets_are_converted_from_the_start_of_the_text_on(
    start, end, shown, converted
):
    assert _code_points(TEXT, start, end, shown) == converted


@pytest.mark.parametrize(
    ("start", "end", "shown"),
    [
        (-6, 3, "😀a"),  # negative: its UTF-16 reading would match
        (4, 2, "a"),  # reversed
        (1, 4.0, "a"),  # not integers: slicing with them would raise
        (1.0, 3, "a"),
        (True, 3, "😀a"),
        (1, 3, None),  # no text to compare with
        (3, 3, "b"),  # empty span
    ],
)
def test_anything_else_is_returned_as_given(start, end, shown):
    assert _code_points(TEXT, start, end, shown) == (start, end)
