"""Mention replacement: each copy keeps its source's words outside entities and its entities' types
in order, every swapped-in mention comes from the pool of its type, tags stay valid IOB2, and the
draw is seeded."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune.data import mention_pool, replace_mentions
from entitune.tags import is_valid_sequence, spans_from_tags
from entitune.types import Sentence

TYPES = ("PER", "LOC", "ORG")
WORDS = ("a", "b", "c", "d", "e", "f")


@st.composite
def sentences(draw):
    """A sentence as a run of pieces: an O word, or a mention of 1-3 words of one type."""
    words: list[str] = []
    tags: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            words.append(draw(st.sampled_from(WORDS)))
            tags.append("O")
        else:
            kind = draw(st.sampled_from(TYPES))
            n = draw(st.integers(1, 3))
            words += [draw(st.sampled_from(WORDS)).upper() for _ in range(n)]
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (n - 1)
    return Sentence(tuple(words), tuple(tags), line=draw(st.integers(1, 100)))


def _outside(s: Sentence) -> list[tuple[int, str]]:
    """The words outside entities, each with how many mentions precede it."""
    spans = spans_from_tags(s.tags)
    out = []
    for i, w in enumerate(s.words):
        if not any(sp.start <= i < sp.end for sp in spans):
            out.append((sum(sp.end <= i for sp in spans), w))
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(sentences(), min_size=1, max_size=12), st.integers(0, 3), st.integers(0, 10**6))
def test_copies_keep_context_and_types(data, copies, seed):
    pool = mention_pool(data)
    out = replace_mentions(data, copies, seed, first_doc=50)
    sources = [s for s in data if spans_from_tags(s.tags)]
    assert len(out) == copies * len(sources)
    for i, (copy, source) in enumerate(zip(out, [s for s in sources for _ in range(copies)])):
        assert is_valid_sequence(copy.tags)
        got, want = spans_from_tags(copy.tags), spans_from_tags(source.tags)
        assert [sp.label for sp in got] == [sp.label for sp in want]
        assert all(copy.words[sp.start:sp.end] in pool[sp.label] for sp in got)
        assert _outside(copy) == _outside(source)  # the context, word for word, between the same mentions
        assert copy.line == source.line and copy.doc == 50 + i
    assert replace_mentions(data, copies, seed, first_doc=50) == out  # seeded


def test_swaps_happen_and_seeds_differ():
    data = [Sentence(("with", f"N{i}", "today"), ("O", "B-PER", "O")) for i in range(30)]
    a, b = replace_mentions(data, 1, seed=1), replace_mentions(data, 1, seed=2)
    assert sum(c.words != s.words for c, s in zip(a, data)) > 20  # 30 names: most draws pick another one
    assert a != b


def test_nothing_to_swap_and_bad_counts():
    data = [Sentence(("hello", "there"), ("O", "O"))]
    assert replace_mentions(data, 3, seed=0) == []
    assert replace_mentions([Sentence(("x",), ("B-PER",))], 0, seed=0) == []
    with pytest.raises(ValueError, match="copies must be >= 0"):
        replace_mentions(data, -1, seed=0)
