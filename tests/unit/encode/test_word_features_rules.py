"""Rules of ``encode.word_features`` beside test_word_features_contracts.py:

- a tokenizer counts as keeping case when it tells apart from its lowercase form any one of a
  capitalised word or an all-capitals word of everyday text (a vocabulary may hold only one);
- ``--word-features auto`` explains its choice in one sentence, for each of its three outcomes;
- a character vocabulary lists the most frequent characters first, and each character once;
- a featurizer keeps its mode, starts from an empty character vocabulary, and names the modes it
  accepts when given another.
"""
from __future__ import annotations

import pytest
from transformers import BertTokenizerFast

from entitune.encode.word_features import (
    AUTO_WORD_FEATURES,
    CHAR_BUCKETS,
    CharVocabulary,
    WordFeaturizer,
    char_vocabulary,
    choose_word_features,
    tokenizer_lowercases,
)
from tests.helpers.vocab import tiny_vocab

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _tokenizer(vocab: list[str], lower: bool) -> BertTokenizerFast:
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=lower)


@pytest.mark.parametrize("word", ["Paris", "Apple", "THE", "NASA"])
def test_a_tokenizer_cased_for_a_single_common_word_keeps_case(word):
    """A cased vocabulary that knows only ``word`` as written (every other word, and ``word``
    lowercased, is [UNK]): capitalisation reaches the encoder, so it does not lowercase."""
    assert not tokenizer_lowercases(_tokenizer([*SPECIALS, word], lower=False))
    assert tokenizer_lowercases(_tokenizer([*SPECIALS, word.lower()], lower=True))


def test_auto_explains_each_of_its_choices():
    cased = _tokenizer([*SPECIALS, "Paris", "paris"], lower=False)
    uncased = _tokenizer(tiny_vocab(0), lower=True)
    varied = [["Paris", "is", "big"], ["NASA", "is", "far"]]  # 2 of 6 words: 33%
    assert choose_word_features(varied, cased) == (
        "none", "the tokenizer keeps case, so the encoder sees capitalisation itself")
    assert choose_word_features([["paris", "is", "big"]], uncased) == (
        "none", ("0% of training words have an uppercase letter: case says little in this data, "
                "so the uncased encoder loses nothing"))
    assert choose_word_features(varied, uncased) == (
        AUTO_WORD_FEATURES, ("the tokenizer lowercases, and 33% of training words have an uppercase letter: the "
                            "word features give the tagger their case and characters back"))


def test_a_character_vocabulary_lists_the_most_frequent_first():
    """Frequency first, ties by code point: "b" (3 times) before "a" (twice), whatever their code
    points; "A" and "x" (once) are left out."""
    assert char_vocabulary([["Abba", "ab"], ["x"]]) == "ba"
    assert char_vocabulary([["zzz", "yy", "aa", "z"]]) == "zay"  # z 4 times, a and y twice


def test_a_character_vocabulary_lists_each_character_once():
    with pytest.raises(ValueError) as caught:
        CharVocabulary("aba")
    assert str(caught.value) == "a character vocabulary lists each character once"


def test_a_featurizer_keeps_its_mode_and_starts_from_no_known_character():
    """Without a vocabulary every character takes a hashed id."""
    for mode in ("shape", "chars", "shape+chars"):
        assert WordFeaturizer(mode).mode == mode
    featurizer = WordFeaturizer("chars")
    assert featurizer.vocabulary.chars == "" and featurizer.vocabulary.size == 1 + CHAR_BUCKETS
    assert all(1 <= i <= CHAR_BUCKETS for i in featurizer.sentence(["Abc"]).char_ids[0])


@pytest.mark.parametrize("mode", ["none", "case", ""])
def test_a_featurizer_names_the_modes_it_accepts(mode):
    with pytest.raises(ValueError) as caught:
        WordFeaturizer(mode)
    assert str(caught.value) == f"word features must be one of ('shape', 'chars', 'shape+chars'), got {mode!r}"
