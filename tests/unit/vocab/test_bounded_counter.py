"""``BoundedCounter`` (Misra-Gries word counts): exact below capacity, at most ``capacity`` words
kept, each prune lowering every count by the table's median (at least 1) and dropping the words at
zero, and the module's guarantee (every kept count at most ``error`` below the true one, every word
seen more than ``error`` times kept) for any corpus in any order."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune.vocab.counting import BoundedCounter

#: corpora over a small alphabet of words, so that the table overflows often
WORDS = st.lists(st.sampled_from([f"w{i}" for i in range(12)]), max_size=200)


def test_a_new_counter_is_empty_exact_and_holds_a_million_words_by_default():
    c = BoundedCounter()
    assert (c.capacity, c.counts, c.error, c.total, c.exact) == (
        1_000_000,
        Counter(),
        0,
        0,
        True,
    )


@pytest.mark.parametrize("capacity", [1, 0, -3])
def test_a_capacity_below_two_is_refused_with_the_capacity_named(capacity):
    with pytest.raises(ValueError) as err:
        BoundedCounter(capacity)
    assert str(err.value) == f"capacity must be at least 2 words, got {capacity}"


def test_capacity_two_is_the_smallest_accepted():
    c = BoundedCounter(2)
    c.update("aba")
    assert (c.capacity, c.counts, c.exact) == (2, Counter(a=2, b=1), True)


@settings(max_examples=60, deadline=None)
@given(words=WORDS, capacity=st.integers(2, 12))
def test_below_or_at_capacity_the_counts_are_the_corpus_own_in_any_split(
    words, capacity
):
    """Exactly ``capacity`` distinct words never prune; the counts do not depend on how the words
    are fed (one call, one word per call) and equal ``collections.Counter``'s."""
    distinct = list(dict.fromkeys(words))[:capacity]
    words = [w for w in words if w in distinct]
    whole, one_by_one = BoundedCounter(capacity), BoundedCounter(capacity)
    whole.update(words)
    for w in reversed(words):
        one_by_one.update([w])
    for c in (whole, one_by_one):
        assert c.counts == Counter(words)
        assert (c.error, c.exact, c.total) == (0, True, len(words))


def test_exactly_capacity_distinct_words_keep_every_count():
    """A string is fed as its characters: each letter is a word here."""
    c = BoundedCounter(3)
    c.update("abca")
    assert (c.counts, c.error) == (Counter(a=2, b=1, c=1), 0)


def test_one_word_past_capacity_prunes_by_the_median_and_drops_the_words_at_zero():
    """a4 b2 c1 d1 e1 overflow capacity 4: the median count (1) comes off every word, c d e reach
    zero and are dropped; a word whose count equals the cut is dropped, not kept at 0."""
    c = BoundedCounter(capacity=4)
    c.update("aaaabbcde")
    assert (dict(c.counts), c.error, c.total, c.exact) == (
        {"a": 3, "b": 1},
        1,
        9,
        False,
    )


def test_the_median_is_the_upper_middle_of_an_even_table():
    """a5 b3 c2 d1 (4 words, capacity 3): the cut is the 3rd smallest count (3), not the 2nd."""
    c = BoundedCounter(capacity=3)
    c.update(["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"])
    assert (dict(c.counts), c.error) == ({"a": 2}, 3)


def test_the_errors_of_successive_prunes_add_up_and_words_after_a_prune_are_counted():
    c = BoundedCounter(capacity=2)
    c.update("aaabc")  # a3 b1 c1 -> cut 1 -> a2
    assert (dict(c.counts), c.error) == ({"a": 2}, 1)
    c.update("dea")  # a2 d1 e1 -> cut 1 -> a1; then a -> a2
    assert (dict(c.counts), c.error, c.total) == ({"a": 2}, 2, 8)


def test_words_after_a_prune_in_the_same_call_go_into_the_new_table():
    c = BoundedCounter(capacity=2)
    c.update("aaabcaaf")  # prune at c: a2; then a4, f1
    assert (dict(c.counts), c.error) == ({"a": 4, "f": 1}, 1)


@settings(max_examples=80, deadline=None)
@given(words=WORDS, capacity=st.integers(2, 6))
def test_the_misra_gries_guarantee_holds_for_any_corpus(words, capacity):
    c = BoundedCounter(capacity)
    true = Counter()
    for start in range(0, len(words), 7):  # several calls, as one per text
        chunk = words[start : start + 7]
        c.update(chunk)
        true.update(chunk)
        assert len(c.counts) <= capacity
    assert c.total == len(words)
    assert c.exact == (c.error == 0)
    for word, n in true.items():
        kept = c.counts.get(word, 0)
        assert n - c.error <= kept <= n
        if n > c.error:
            assert word in c.counts
    assert all(n > 0 for n in c.counts.values())
