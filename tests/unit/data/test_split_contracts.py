"""Contracts of the seeded splits (``data/split.py``): the open interval of ``dev_fraction`` and the
one-sentence minimum of a dev share; ``split_three``'s part sizes for ratios that do not sum to 1,
zero ratios, the sentence/document choice and its refusals (word for word); and ``hash_share``, the
stable hash whose formula is its contract (a corpus's dev side must not change with the platform,
the Python version or the order texts come in)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune.data.split import hash_share, held_out, split_dev, split_three
from entitune.errors import ConfigError
from entitune.types import Sentence


def _sentences(n: int, docs: int = 0) -> list[Sentence]:
    return [
        Sentence((f"w{i}",), None, i + 1, i % docs if docs else 0) for i in range(n)
    ]


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, -0.1])
def test_dev_fraction_must_lie_strictly_between_0_and_1(fraction):
    with pytest.raises(ConfigError) as info:
        split_dev(_sentences(10), fraction, seed=1)
    assert str(info.value) == f"dev_fraction must be between 0 and 1, got {fraction}"


def test_a_dev_share_is_rounded_with_at_least_one_sentence_and_keeps_file_order():
    sentences = _sentences(10)
    for fraction, n_dev in [(0.01, 1), (0.14, 1), (0.16, 2), (0.5, 5), (0.99, 10)]:
        train, dev = split_dev(sentences, fraction, seed=3)
        assert (
            len(dev) == n_dev and sorted(train + dev, key=lambda s: s.line) == sentences
        )
        assert dev == sorted(dev, key=lambda s: s.line) and train == sorted(
            train, key=lambda s: s.line
        )


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    ratios=st.tuples(*[st.sampled_from([0, 0.5, 1, 2, 3, 7]) for _ in range(3)]).filter(
        lambda r: sum(r) > 0
    ),
    seed=st.integers(0, 2**31),
)
def test_split_three_gives_each_part_its_rounded_share_in_file_order(n, ratios, seed):
    """dev gets ``round(r1 / sum * n)``, test ``round(r2 / sum * n)``, train the rest; every
    sentence is in exactly one part, in file order, whatever the ratios' scale (they are normalised)."""
    sentences = _sentences(n)
    train, dev, test = split_three(sentences, ratios, seed)
    total = sum(ratios)
    n_dev, n_test = round(ratios[1] / total * n), round(ratios[2] / total * n)
    assert (len(dev), len(test)) == (n_dev, n_test) and len(train) == n - n_dev - n_test
    for part in (train, dev, test):
        assert part == sorted(part, key=lambda s: s.line)
    assert sorted(train + dev + test, key=lambda s: s.line) == sentences


def test_split_three_by_sentence_is_the_default_and_ignores_documents():
    """By sentence (the default), sentences of one document may land in different parts, and even
    two sentences can be split."""
    sentences = _sentences(10)  # all in document 0
    assert [len(p) for p in split_three(sentences, (7, 1, 2), seed=5)] == [7, 1, 2]
    assert [len(p) for p in split_three(_sentences(2), (1, 1, 0), seed=5)] == [1, 1, 0]


def test_split_three_by_document_keeps_documents_whole_from_three_documents_up():
    sentences = _sentences(12, docs=3)
    parts = split_three(sentences, (1, 1, 1), seed=2, by="document")
    assert [len(p) for p in parts] == [4, 4, 4]
    assert all(len({s.doc for s in p}) == 1 for p in parts)
    with pytest.raises(ConfigError) as info:
        split_three(_sentences(12, docs=2), (1, 1, 1), seed=2, by="document")
    assert str(info.value) == "only 2 document(s) found; split by sentence instead"


@pytest.mark.parametrize("ratios", [(0.5, 0.5), (1, -0.5, 1), (0, 0, 0), (1, 1, 1, 1)])
def test_split_three_refuses_anything_but_three_non_negative_ratios_with_a_positive_sum(
    ratios,
):
    with pytest.raises(ConfigError) as info:
        split_three(_sentences(10), ratios, seed=1)
    assert (
        str(info.value)
        == f"give three non-negative ratios for train, dev and test, got {list(ratios)}"
    )


def test_split_three_names_a_bad_by_choice():
    with pytest.raises(ConfigError) as info:
        split_three(_sentences(10), (1, 1, 1), seed=1, by="doc")
    assert str(info.value) == "by must be one of sentence, document, got 'doc'"


def _documented_share(words, seed: int) -> float:
    """``hash_share`` as its docstring states it."""
    key = seed.to_bytes(8, "little")
    digest = hashlib.blake2b(
        " ".join(words).encode("utf-8", "surrogatepass"), digest_size=8, key=key
    ).digest()
    return int.from_bytes(digest, "big") / 2**64


@pytest.mark.parametrize("words", [("a", "text"), ("één",), ("lone", "\ud800"), ()])
@pytest.mark.parametrize("seed", [0, 42, 7_000, 2**40 + 3])
def test_hash_share_is_the_documented_keyed_blake2b_fraction(words, seed):
    assert hash_share(words, seed) == _documented_share(words, seed)
    assert hash_share(list(words), seed) == hash_share(words, seed)


def test_held_out_is_a_share_strictly_below_the_fraction():
    words = ("some", "text")
    share = hash_share(words, 9)
    assert not held_out(words, share, 9) and held_out(words, share + 1e-12, 9)
    assert not held_out(words, 0.0, 9) and held_out(words, 1.0, 9)
