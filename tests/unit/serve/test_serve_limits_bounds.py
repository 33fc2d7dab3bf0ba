"""``ServeLimits``: every limit's allowed range, at each bound from both sides, with the exact one-line
message a value outside it gets. The expected ranges are written out here, not read from the
declarations, so a bound moved by one (``low=1`` to ``low=2`` or ``0``, a closed bound made open, a
maximum cut) fails a row. The service depends on these: a limit of 0 where 1 is the least (no input
per request, no worker) would refuse everything or hang, and a timeout of 0 would close every
connection at once; 0 is allowed only where it means something (``max_batch_wait_ms``: no wait;
``quick_lane_subwords``: no quick lane)."""

from __future__ import annotations

import pytest

from entitune.errors import ConfigError
from entitune.serve import ServeLimits

TB = 1 << 40

#: (field, least allowed, greatest allowed, most below the least refused, least above the greatest refused,
#: the range as the message writes it)
BOUNDS = [
    ("max_texts", 1, 1_000_000, 0, 1_000_001, "in [1, 1000000]"),
    ("max_chars", 1, 100_000_000, 0, 100_000_001, "in [1, 100000000]"),
    ("max_words", 1, 10_000_000, 0, 10_000_001, "in [1, 10000000]"),
    ("max_body_bytes", 1, 1 << 34, 0, (1 << 34) + 1, "in [1, 17179869184]"),
    ("max_batch_texts", 1, 1_000_000, 0, 1_000_001, "in [1, 1000000]"),
    ("max_batch_wait_ms", 0.0, 60_000.0, -0.001, 60_000.001, "in [0, 60000]"),
    ("workers", 1, 1024, 0, 1025, "in [1, 1024]"),
    ("idle_timeout_s", 0.001, 86_400.0, 0.0, 86_400.001, "in (0, 86400]"),
    ("body_timeout_s", 0.001, 86_400.0, 0.0, 86_400.001, "in (0, 86400]"),
    ("max_request_subwords", 1, TB, 0, TB + 1, "in [1, 1099511627776]"),
    ("max_queued_subwords", 1, TB, 0, TB + 1, "in [1, 1099511627776]"),
    ("request_timeout_s", 0.001, 86_400.0, 0.0, 86_400.001, "in (0, 86400]"),
    ("max_batch_subwords", 1, TB, 0, TB + 1, "in [1, 1099511627776]"),
    ("quick_lane_subwords", 0, TB, -1, TB + 1, "in [0, 1099511627776]"),
]


def _written(value: float) -> str:
    return (
        str(int(value))
        if isinstance(value, float) and value.is_integer()
        else str(value)
    )


def test_every_numeric_limit_has_a_row():
    """A new numeric limit gets its bounds pinned here too. Broken (a limit added without a row), its
    range is unchecked."""
    numeric = [
        name
        for name, f in ServeLimits.__dataclass_fields__.items()
        if f.type in ("int", "float")
    ]
    assert sorted(numeric) == sorted(row[0] for row in BOUNDS)


@pytest.mark.parametrize(
    "name,least,greatest,below,above,range_text", BOUNDS, ids=[row[0] for row in BOUNDS]
)
def test_each_limit_takes_its_bounds_and_refuses_one_step_past_them(
    name, least, greatest, below, above, range_text
):
    """The least and greatest allowed values are kept as given; one step past either is a
    ``ConfigError`` of one line: "NAME must be RANGE, got VALUE". Broken (a bound off by one, open
    where it should be closed or the other way, a maximum cut), a row fails on one side or the
    other."""
    assert getattr(ServeLimits(**{name: least}), name) == least
    assert getattr(ServeLimits(**{name: greatest}), name) == greatest
    for refused in (below, above):
        with pytest.raises(ConfigError) as info:
            ServeLimits(**{name: refused})
        assert (
            str(info.value) == f"{name} must be {range_text}, got {_written(refused)}"
        )


@pytest.mark.parametrize("name", ["max_batch_wait_ms", "idle_timeout_s"])
def test_a_float_limit_refuses_what_is_not_a_finite_number(name):
    """NaN and infinity are refused by name (a comparison with NaN is always false, so a range check
    alone would let it through: a wait of NaN ms)."""
    for value in (float("nan"), float("inf")):
        with pytest.raises(
            ConfigError, match=f"^{name} must be a finite number, got {value}$"
        ):
            ServeLimits(**{name: value})
