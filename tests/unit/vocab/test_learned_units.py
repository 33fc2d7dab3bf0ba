"""Learned units (``--unit learned``): what the ``tokenizers`` WordPiece trainer adds on a tiny corpus
(only tokens the base lacks, in the trainer's order, within ``size`` entries, merges seen at least
``min_count`` times however large a word's count, words longer than ``max_input_chars_per_word``
left out, the base's own continuation prefix), and how ``plan_vocabulary`` credits them: a word's
saving (pieces before minus pieces with every learned unit) shared among the fresh units of its
new split, nothing for a split no shorter, the ``[UNK]`` share and sub-words per word measured
before and after."""

from __future__ import annotations

from collections import Counter

import pytest

from entitune.vocab import wordpiece
from entitune.vocab.wordpiece import (
    UNK_COST,
    WordPiece,
    analyse,
    learned_units,
    plan_vocabulary,
)
from tests.helpers.vocab import LETTERS, toy_wordpiece


def _learn(wp: WordPiece, words: dict, size: int = 40, **kw) -> list[str]:
    return learned_units(wp, analyse(wp, Counter(words)), size, **kw)


# ---------------------------------------------------------------------------------- learned_units


def test_learned_units_are_multi_character_tokens_the_base_lacks():
    got = _learn(toy_wordpiece(), {"abab": 5, "cd": 2})
    assert set(got) == {"ab", "##ab", "abab", "cd"}
    assert "[UNK]" not in got and not set(got) & set(LETTERS)


def test_a_merge_seen_min_count_times_is_learned_and_one_seen_fewer_is_not():
    """``cd`` occurs twice: learned at the default ``min_count`` (2), not at 3."""
    wp = toy_wordpiece()
    assert "cd" in _learn(wp, {"abab": 5, "cd": 2})
    assert "cd" in _learn(wp, {"abab": 5, "cd": 2}, min_count=2)
    assert "cd" not in _learn(wp, {"abab": 5, "cd": 2}, min_count=3)


@pytest.mark.parametrize(
    "min_count, learned", [(1024, ["cd"]), (1025, ["cd"]), (1026, [])]
)
def test_a_word_seen_more_than_512_times_is_fed_exactly_as_often_as_it_occurs(
    min_count, learned
):
    """1,025 occurrences go to the trainer as lines of at most 512 copies: 1,025 in all, so the
    merge ``c d`` reaches a minimum of 1,025 and not 1,026."""
    assert _learn(toy_wordpiece(), {"cd": 1025}, min_count=min_count) == learned


def test_the_vocabulary_size_bounds_what_is_learned():
    """The trained vocabulary holds ``size`` entries in all: ``[UNK]`` and the corpus's 8 characters
    (a..e, ##a ##b ##e) take 9 of 12, leaving room for 3 merges."""
    small = _learn(toy_wordpiece(), {"abab": 5, "cab": 3, "de": 1}, size=12)
    large = _learn(toy_wordpiece(), {"abab": 5, "cab": 3, "de": 1}, size=40, min_count=1)
    assert len(small) == 3 and set(small) < set(large)
    assert set(large) == {"ab", "##ab", "abab", "cab", "de"}


def test_learned_units_come_in_the_trainers_order_alphabet_first():
    """Characters the base lacks (``e``, ``##e``) are the trainer's alphabet, ahead of every merge,
    whatever their spelling sorts as."""
    wp = toy_wordpiece(["[UNK]", *"abcd", *(f"##{c}" for c in "abcd")])
    got = _learn(wp, {"abab": 5, "ed": 3, "be": 2})
    assert got[:2] == ["e", "##e"]
    assert set(got[2:]) == {"ab", "##ab", "abab", "ed", "be"}


def test_words_longer_than_max_input_chars_are_left_out_of_training():
    """With ``max_input_chars_per_word`` 4, ``abcde`` (5 characters, an ``[UNK]`` word) teaches
    nothing; ``abcd`` (exactly 4) is learned from."""
    wp = toy_wordpiece(max_input_chars_per_word=4)
    assert set(_learn(wp, {"abcd": 3, "abcde": 5})) == {"ab", "##cd", "abcd"}
    assert _learn(wp, {"abcde": 5}) == []


def test_learned_units_use_the_bases_continuation_prefix_and_unknown_token():
    vocab = ["<unk>", *"abcde", *(f"@@{c}" for c in "abcde")]
    wp = toy_wordpiece(vocab, continuing_subword_prefix="@@", unk_token="<unk>")
    got = _learn(wp, {"abab": 5, "cab": 3})
    assert set(got) == {"@@ab", "ab", "abab", "cab"}
    assert not any(t.startswith("##") or t in ("<unk>", "[UNK]") for t in got)


def test_training_writes_no_progress_bar(capfd):
    _learn(toy_wordpiece(), {"abab": 5, "cd": 2})
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


# ---------------------------------------------------------------------------------- plan_vocabulary(unit="learned")


def test_plan_with_learned_units_credits_whole_words_and_shared_stems():
    """``max_new`` 3: a trained vocabulary of max(11, 4 x 3) = 12 entries, room for 3 merges past
    ``[UNK]`` and the 8 characters: ``##ab``, ``ab`` and ``abab``. abab (x5, 4 pieces) becomes one token: 5 x 3 saved; cab (x3,
    3 pieces) becomes ``c ##ab``: 3 x 1 saved by ``##ab`` alone (``c`` is no new token); de is
    untouched. After adding both, abab costs 1 and cab 2."""
    wp = toy_wordpiece()
    plan = plan_vocabulary(
        wp,
        Counter({"abab": 5, "cab": 3, "de": 1}),
        max_new=3,
        min_count=1,
        unit="learned",
    )
    got = [(c.token, c.count, c.saved, c.kind, c.pieces) for c in plan.candidates]
    assert got == [
        ("abab", 5, 15, "learned", ("a", "##b", "##a", "##b")),
        ("##ab", 3, 3, "learned", ("##a", "##b")),
    ]
    assert (plan.unit, plan.unit_reason) == ("learned", "as asked")
    assert (plan.before.words, plan.before.subwords, plan.before.unk_words) == (
        9,
        5 * 4 + 3 * 3 + 2,
        0,
    )
    assert (plan.after.words, plan.after.subwords, plan.after.unk_words) == (
        9,
        5 * 1 + 3 * 2 + 2,
        0,
    )
    assert (
        plan.after.subwords_per_word == 13 / 9 < plan.before.subwords_per_word == 31 / 9
    )


@pytest.mark.parametrize(
    "min_count, tokens",
    [(1, ["abab", "cab", "de"]), (2, ["abab", "cab"])],
)
def test_plan_with_learned_units_passes_min_count_to_the_trainer(min_count, tokens):
    """``max_new`` 10: room for every merge; ``de`` (seen once) is learned only at ``min_count`` 1."""
    plan = plan_vocabulary(
        toy_wordpiece(),
        Counter({"abab": 5, "cab": 3, "de": 1}),
        max_new=10,
        min_count=min_count,
        unit="learned",
    )
    assert [c.token for c in plan.candidates] == tokens
    assert [c.saved for c in plan.candidates] == [5 * 3, 3 * 2, 1 * 1][: len(tokens)]


@pytest.fixture
def given_units(monkeypatch):
    """``plan_vocabulary`` with the trainer replaced by a fixed list of learned units."""

    def use(units):
        monkeypatch.setattr(wordpiece, "learned_units", lambda *a, **k: list(units))

    return use


def test_a_words_saving_is_shared_among_the_fresh_units_of_its_new_split(given_units):
    """Base: letters and ``##bc``; learned: ``ab``, ``##cd``, ``##ab``.

    - abcd x2: ``a ##bc ##d`` (3) -> ``ab ##cd`` (2): 2 x 1 shared by ab and ##cd (1 each);
    - abc x5: ``a ##bc`` (2) -> ``ab ##c`` (2): no shorter, no credit, ab's count unchanged;
    - cab x4: ``c ##a ##b`` (3) -> ``c ##ab`` (2): 4 x 1 to ##ab alone (c is the base's);
    - abab x1: 4 -> ``ab ##ab`` (2): 1 x 2 shared, 1 each;
    - ax x1: ``[UNK]`` under both: its missing ``##x`` gets UNK_COST as a character;
    - e x7: one token already, nothing.
    """
    given_units(["ab", "##cd", "##ab"])
    wp = toy_wordpiece([*LETTERS, "##bc"])
    words = Counter({"abcd": 2, "abc": 5, "cab": 4, "abab": 1, "ax": 1, "e": 7})
    plan = plan_vocabulary(wp, words, max_new=10, min_count=1, unit="learned")
    got = [(c.token, c.count, c.saved, c.kind, c.pieces) for c in plan.candidates]
    assert got == [
        ("##x", 1, UNK_COST, "character", None),
        ("##ab", 5, 4 + 1, "learned", ("##a", "##b")),
        ("ab", 3, 1 + 1, "learned", ("a", "##b")),
        ("##cd", 2, 1, "learned", ("##c", "##d")),
    ]


def test_no_learned_unit_means_no_learned_candidate(given_units):
    given_units([])
    plan = plan_vocabulary(
        toy_wordpiece(), Counter({"abab": 5, "cab": 3}), max_new=10, min_count=1, unit="learned"
    )
    assert plan.candidates == [] and plan.after == plan.before


def test_learned_units_are_not_consulted_for_other_units(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("learned_units called")

    monkeypatch.setattr(wordpiece, "learned_units", fail)
    for unit in ("word", "char", "auto"):
        plan = plan_vocabulary(
            toy_wordpiece(), Counter({"abab": 5}), max_new=1, min_count=1, unit=unit
        )
        assert plan.unit == ("word" if unit == "auto" else unit)
