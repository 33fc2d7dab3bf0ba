"""What ``vocab plan`` reports: every field of ``CorpusStats.as_dict``, ``Candidate.as_dict`` and
``VocabPlan.as_dict`` (names, values, the documented rounding), the defaults of ``plan_vocabulary``,
and the corner cases of the numbers behind them: a word whose first pre-token is one token
already, zero-sub-word words, a one-word corpus's CJK share, a ``##`` token's current pieces."""

from __future__ import annotations

from collections import Counter

from entitune.vocab.wordpiece import (
    UNK_COST,
    Candidate,
    CorpusStats,
    WordPiece,
    _toy_state,
    analyse,
    choose_unit,
    corpus_stats,
    init_pieces,
    plan_vocabulary,
)
from tests.helpers.vocab import LETTERS, toy_wordpiece


def test_corpus_stats_as_dict_names_every_number_and_rounds_rates():
    """unk_share to 6 decimals, subwords_per_word to 4 (1/7 and 10/7 have more)."""
    stats = CorpusStats(words=8, unk_words=1, subwords=10, zero_words=1)
    assert stats.as_dict() == {
        "words": 8,
        "unk_words": 1,
        "unk_share": 0.125,
        "subwords": 10,
        "subwords_per_word": 1.4286,
        "zero_subword_words": 1,
    }
    assert CorpusStats(7, 1, 10, 0).as_dict()["unk_share"] == 0.142857


def test_candidate_as_dict_rounds_saved_to_two_decimals_and_lists_pieces():
    c = Candidate("##ab", 3, 10 / 3, ("##a", "##b"), "learned")
    assert c.as_dict() == {
        "token": "##ab",
        "kind": "learned",
        "count": 3,
        "saved": 3.33,
        "pieces": ["##a", "##b"],
    }
    assert isinstance(c.as_dict()["pieces"], list)
    assert (
        Candidate("我", 1, 19.0, None, "word").as_dict()["pieces"] is None
    )  # [UNK] now
    assert (
        Candidate("x", 1, 1.0, (), "char").as_dict()["pieces"] == []
    )  # no piece (not [UNK])


def test_plan_as_dict_reports_every_field():
    """我 x1 (CJK, [UNK]) and ab x2: a CJK share of 1/3, ``auto`` picks words. 我 saves
    1 x (10 - 1) as a word plus UNK_COST as its missing character (counted once), ab 2 x 1.
    ``max_new`` 1 chooses 我 only: after it, the same 1 + 2 x 2 sub-words for 3 words, no [UNK]."""
    wp = toy_wordpiece()
    plan = plan_vocabulary(wp, Counter({"我": 1, "ab": 2}), max_new=1, min_count=1)
    assert plan.as_dict() == {
        "unit": "word",
        "unit_reason": "auto: 33% of the words are CJK",
        "cjk_share": 0.3333,
        "distinct_words": 2,
        "min_count": 1,
        "max_new": 1,
        "unk_cost": UNK_COST,
        "before": {
            "words": 3,
            "unk_words": 1,
            "unk_share": 0.333333,
            "subwords": 1 + 2 * 2,  # an [UNK] pre-token is one sub-word here
            "subwords_per_word": 1.6667,
            "zero_subword_words": 0,
        },
        "after": {
            "words": 3,
            "unk_words": 0,
            "unk_share": 0.0,
            "subwords": 1 + 2 * 2,
            "subwords_per_word": 1.6667,
            "zero_subword_words": 0,
        },
        "chosen": 1,
        "candidates": [
            {
                "token": "我",
                "kind": "word",
                "count": 1,
                "saved": 9.0 + UNK_COST,
                "pieces": None,
            },
            {
                "token": "ab",
                "kind": "word",
                "count": 2,
                "saved": 2.0,
                "pieces": ["a", "##b"],
            },
        ],
    }
    assert (plan.unit, plan.cjk_share, plan.distinct_words, plan.max_new) == (
        "word",
        1 / 3,
        2,
        1,
    )


def test_plan_defaults_are_auto_units_min_count_2_and_3000_new_tokens():
    plan = plan_vocabulary(toy_wordpiece(), Counter({"ab": 2, "abc": 1}))
    assert (plan.unit, plan.unit_reason, plan.min_count, plan.max_new) == (
        "word",
        "auto: 0% of the words are CJK",
        2,
        3000,
    )
    assert [c.token for c in plan.candidates] == [
        "ab"
    ]  # abc (seen once) is under min_count 2


def test_a_word_whose_first_pre_token_is_one_token_still_credits_the_rest():
    """``a,bcd``: pre-tokens a , bcd; a and , cost one sub-word each, bcd is still a candidate."""
    wp = toy_wordpiece([*LETTERS, ","])
    plan = plan_vocabulary(
        wp, Counter({"a,bcd": 2}), max_new=5, min_count=1, unit="word"
    )
    assert [(c.token, c.count, c.saved) for c in plan.candidates] == [("bcd", 2, 2 * 2)]


def test_zero_sub_word_words_add_up_wherever_they_come():
    """Two distinct words of nothing but characters the normalizer drops, before and after others."""
    wp = toy_wordpiece()
    words = Counter({"\u200b": 2, "ab": 3, "\x00": 4, "c": 1})
    stats = corpus_stats(wp, analyse(wp, words))
    assert (stats.words, stats.zero_words, stats.subwords, stats.unk_words) == (
        10,
        6,
        3 * 2 + 1,
        0,
    )


def test_a_one_word_cjk_corpus_has_a_cjk_share_of_one():
    wp = toy_wordpiece()
    assert choose_unit(analyse(wp, Counter({"我": 1})), "auto") == (
        "char",
        "auto: 100% of the words are CJK",
        1.0,
    )


def test_a_continuation_candidate_shows_its_pieces_inside_a_word():
    """A missing ``##f`` (f is known at the start) is ``[UNK]`` inside a word: its pieces are None,
    not those of ``f``."""
    wp = toy_wordpiece(["[UNK]", *"abcdef", *(f"##{c}" for c in "abcde")])
    plan = plan_vocabulary(wp, Counter({"af": 2}), max_new=5, min_count=1, unit="char")
    assert [(c.token, c.pieces) for c in plan.candidates] == [("##f", None)]


def test_the_bare_prefix_is_a_token_of_its_own_not_an_empty_continuation():
    """With a whitespace pre-tokenizer ``##`` can be a word: it is split as a word start (``#``
    then ``###``), for its candidate's pieces and its embedding's."""
    state = _toy_state(["[UNK]", "#", "###", "a", "##a"])
    state["pre_tokenizer"] = {"type": "WhitespaceSplit"}
    wp = WordPiece.from_state(state)
    plan = plan_vocabulary(wp, Counter({"##": 3}), max_new=5, min_count=1, unit="word")
    assert [(c.token, c.pieces) for c in plan.candidates] == [("##", ("#", "###"))]
    assert init_pieces(wp, "##") == [wp.vocab["#"], wp.vocab["###"]]
