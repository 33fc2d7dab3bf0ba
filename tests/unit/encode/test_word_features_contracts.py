"""Contracts of the word features (``encode.word_features`` ids, ``model.word_features`` network),
checked at their boundaries: shape classes for empty words, digits with and without separators,
one versus two cased letters, scripts without case and cased non-Latin ones; ids for every class
and the sentence's first word inside the embedding; words clipped exactly past the limit (odd
limits too); characters kept exactly at the count and vocabulary-size bounds, ties by code point;
unknown characters always in the hashed range, never padding; ``auto`` both ways at both
case-share bounds and for cased and lowercasing tokenizers; and the character CNN against a
hand-written convolution (zero padding at the word's edges, max over its real characters)."""
from __future__ import annotations

import types

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune.encode.word_features import (
    AUTO_WORD_FEATURES,
    CASE_VARIES,
    CHAR_BUCKETS,
    MAX_CHAR_VOCAB,
    MAX_WORD_CHARS,
    MIN_CHAR_COUNT,
    SHAPE_IDS,
    SHAPES,
    CharVocabulary,
    WordFeaturizer,
    char_vocabulary,
    choose_word_features,
    clip_word,
    sentence_shape_ids,
    shape_id,
    tokenizer_lowercases,
    uppercase_share,
    word_shape,
)
from entitune.model.word_features import (
    CHAR_KERNEL,
    WordFeatureNet,
    build_word_feature_net,
)
from tests.helpers.data import WORDS

# ---------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("word, shape", [
    # nothing alphanumeric
    ("", "punct"), (" ", "punct"), ("_", "punct"), ("...", "punct"), ("«»", "punct"),
    # digits: with only the separators . , : / - a number, with anything else a word with digits
    ("0", "number"), ("1.5", "number"), ("1,5", "number"), ("12:30", "number"), ("1/2", "number"), ("1-2", "number"),
    ("-5", "number"), ("١٢٣", "number"), ("1+2", "has-digit"), ("1 000", "has-digit"), ("$5", "has-digit"),
    ("5%", "has-digit"), ("1e5", "has-digit"), ("北京2008", "has-digit"), ("a1", "has-digit"),
    # case: one capital letter is capitalized, two or more are upper
    ("a", "lower"), ("A", "capitalized"), ("A.", "capitalized"), ("AB", "upper"), ("A.B", "upper"),
    ("Ab", "capitalized"), ("aB", "mixed"), ("ABc", "mixed"), ("--a", "lower"),
    # other scripts: with case like Latin, without case "other"
    ("Москва", "capitalized"), ("МОСКВА", "upper"), ("москва", "lower"), ("ΑΘΗΝΑ", "upper"), ("Σ", "capitalized"),
    ("ß", "lower"), ("مرحبا", "other"), ("北京", "other"), ("ソウル", "other"), ("서울", "other"),
])
def test_shape_classes_at_their_boundaries(word, shape):
    assert word_shape(word) == shape


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=8))
def test_every_word_has_one_known_shape_and_ids_fit_the_embedding(word):
    shape = word_shape(word)
    assert shape in SHAPES
    assert 1 <= shape_id(word, False) < shape_id(word, True) <= SHAPE_IDS - 1
    if any(c.isdigit() for c in word):
        assert shape in ("number", "has-digit")


def test_shape_ids_are_one_plus_twice_the_class_plus_the_first_word_flag():
    examples = {"lower": "paris", "capitalized": "Paris", "upper": "USA", "mixed": "iPhone", "number": "1980",
                "has-digit": "1980s", "punct": ",", "other": "北京"}
    assert set(examples) == set(SHAPES)
    for k, name in enumerate(SHAPES):
        assert word_shape(examples[name]) == name
        assert shape_id(examples[name], False) == 1 + 2 * k and shape_id(examples[name], True) == 2 + 2 * k
    assert SHAPE_IDS == 1 + 2 * len(SHAPES) == shape_id("北京", True) + 1
    # only the sentence's first word carries the flag, whatever the others look like
    assert sentence_shape_ids(["Paris", "Paris", "paris"]) == (4, 3, 1)
    assert sentence_shape_ids([]) == ()


# ---------------------------------------------------------------------------------- characters


def test_a_word_is_clipped_only_past_the_limit_keeping_its_first_and_last_halves():
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    assert MAX_WORD_CHARS == 20
    assert clip_word(alphabet[:19]) == alphabet[:19] and clip_word(alphabet[:20]) == alphabet[:20]
    assert clip_word("") == "" and clip_word("a") == "a"
    assert clip_word(alphabet[:21]) == alphabet[:10] + alphabet[11:21]
    assert clip_word(alphabet) == alphabet[:10] + alphabet[16:]
    # an odd limit gives the extra character to the first half
    assert clip_word("abcdefg", 5) == "abcfg" and clip_word("abcde", 5) == "abcde" and clip_word("abcd", 5) == "abcd" and clip_word("abcdef", 5) == "abcef"
    vocab = CharVocabulary("abc")
    assert len(vocab.word_ids("a" * 21)) == 20 and len(vocab.word_ids("a" * 20)) == 20
    assert vocab.word_ids("b" * 10 + "x" + "c" * 10) == (vocab.char_id("b"),) * 10 + (vocab.char_id("c"),) * 10
    assert vocab.word_ids("") == ()


def test_known_characters_follow_the_hashed_ids_and_unknown_ones_never_pad():
    vocab = CharVocabulary("zaé北")
    assert [vocab.char_id(c) for c in "zaé北"] == [33, 34, 35, 36] and vocab.size == 1 + CHAR_BUCKETS + 4
    unknown = [chr(cp) for cp in range(0x100, 0x100 + 2000)]
    ids = {vocab.char_id(c) for c in unknown}
    assert ids == set(range(1, CHAR_BUCKETS + 1))  # every hashed id used, 0 (padding) never
    assert 1 <= vocab.char_id("\ud800") <= CHAR_BUCKETS  # a lone surrogate (from a broken file) too
    # saved models hold these ids: the hash is fixed (crc32), not Python's per-process hash
    assert [vocab.char_id(c) for c in "xyQ€ü"] == [4, 22, 16, 23, 22]
    assert CharVocabulary("").size == 1 + CHAR_BUCKETS and CharVocabulary("").word_ids("ab")[0] <= CHAR_BUCKETS


def test_character_vocabulary_count_and_size_bounds():
    """A character seen exactly ``MIN_CHAR_COUNT`` times (across or within words) is kept, once
    less is not; of more than ``MAX_CHAR_VOCAB`` the most frequent stay, ties by code point."""
    assert MIN_CHAR_COUNT == 2
    assert char_vocabulary([["ab", "a"], ["c"]]) == "a"
    assert char_vocabulary([["xx"]]) == "x"  # twice in one word counts twice
    chars = [chr(0x4E00 + i) for i in range(MAX_CHAR_VOCAB + 2)]
    # the first char 4 times; the rest 3 times but two of them only twice: 1002 candidates
    sentences = [[chars[0]]] + [[c * 3] for c in chars[:-2]] + [[chars[-2] * 2, chars[-1] * 2]]
    got = char_vocabulary(sentences)
    assert len(got) == MAX_CHAR_VOCAB and got[0] == chars[0] and got[1:] == "".join(chars[1:MAX_CHAR_VOCAB])
    assert char_vocabulary([["ba", "ab", "c"]]) == "ab"  # ties by code point, not by first sight


def test_uppercase_share_counts_words_with_any_uppercase_letter():
    assert uppercase_share([]) == (0.0, 0) and uppercase_share([[]]) == (0.0, 0)
    assert uppercase_share([["iPhone", "1980", "北京", "Москва"], ["a"]]) == (0.4, 5)


# ---------------------------------------------------------------------------------- auto


@pytest.fixture(scope="module")
def tokenizers(tiny_bert):
    from transformers import AutoTokenizer, BertTokenizerFast

    uncased = AutoTokenizer.from_pretrained(str(tiny_bert))
    vocab = uncased.get_vocab()
    vocab.update({w.title(): len(vocab) + i for i, w in enumerate(WORDS)})
    vocab.update({c: len(vocab) + i for i, c in enumerate("PTHEANSA")})
    cased = BertTokenizerFast(vocab=vocab, do_lower_case=False)
    lower_only = BertTokenizerFast(vocab=uncased.get_vocab(), do_lower_case=False)  # keeps case, knows no capitals
    return uncased, cased, lower_only


def test_tokenizer_lowercases_only_when_case_never_reaches_the_ids(tokenizers):
    uncased, cased, lower_only = tokenizers
    assert tokenizer_lowercases(uncased)
    assert not tokenizer_lowercases(cased) and not tokenizer_lowercases(lower_only)


@pytest.mark.parametrize("upper, lower, on", [
    (1, 19, True), (1, 20, False),  # 5% exactly is inside, below is not
    (19, 1, True), (20, 1, False),  # 95% exactly is inside, above is not
    (10, 10, True), (0, 5, False), (5, 0, False), (0, 0, False),
])
def test_auto_turns_features_on_for_a_lowercasing_tokenizer_exactly_inside_the_case_bounds(tokenizers, upper, lower, on):
    uncased, cased, lower_only = tokenizers
    assert CASE_VARIES == (0.05, 0.95)
    sentences = [["Paris"] * upper + ["paris"] * lower]
    mode, reason = choose_word_features(sentences, uncased)
    assert mode == (AUTO_WORD_FEATURES if on else "none")
    assert ("lowercases" in reason) == on and ("case says little" in reason) != on
    for keeps_case in (cased, lower_only):
        mode, reason = choose_word_features(sentences, keeps_case)
        assert mode == "none" and "keeps case" in reason


# ---------------------------------------------------------------------------------- featurizer and network


def test_featurizer_modes_give_exactly_their_features():
    words = ["Paris", "is", "X"]
    shapes_only = WordFeaturizer("shape").sentence(words)
    assert shapes_only.shape_ids == (4, 1, 3) and shapes_only.char_ids is None
    chars_only = WordFeaturizer("chars", "aiPs").sentence(words)
    r, x = CharVocabulary("aiPs").char_id("r"), CharVocabulary("aiPs").char_id("X")  # hashed: 1..32
    assert chars_only.shape_ids is None and chars_only.char_ids == ((35, 33, r, 34, 36), (34, 36), (x,))
    both = WordFeaturizer("shape+chars", "aiPs").sentence(words)
    assert both.shape_ids == shapes_only.shape_ids and both.char_ids == chars_only.char_ids
    for bad in ("none", "auto", "shapes", ""):
        with pytest.raises(ValueError, match="word features must be one of"):
            WordFeaturizer(bad)


def _reference_chars(net: WordFeatureNet, ids: list[int]) -> torch.Tensor:
    """The character CNN of one word by hand: each character's window of ``CHAR_KERNEL`` embeddings
    (zeros past the word's ends), weights times window plus bias, the max over the word's characters."""
    emb = net.char_embedding.weight.detach()
    weight, bias = net.char_conv.weight.detach(), net.char_conv.bias.detach()  # (filters, dim, kernel), (filters,)
    half = CHAR_KERNEL // 2
    outs = []
    for pos in range(len(ids)):
        total = bias.clone()
        for j in range(CHAR_KERNEL):
            at = pos + j - half
            if 0 <= at < len(ids):
                total += weight[:, :, j] @ emb[ids[at]]
        outs.append(total)
    return torch.stack(outs).max(0).values


def test_character_cnn_is_the_max_over_real_characters_of_a_zero_padded_convolution():
    torch.manual_seed(3)
    vocab = CharVocabulary("abcdefgh")
    net = WordFeatureNet(True, vocab.size, shape_dim=5, char_dim=6, char_filters=7).eval()
    with torch.no_grad():
        net.char_embedding.weight.normal_()  # the padding row stays zero (padding_idx)
        net.char_embedding.weight[0] = 0.0
        net.char_conv.bias.normal_()
    words = ["a", "Abc", "hgfedcbah", ""]
    width = 12
    chars = torch.tensor([[list(vocab.word_ids(w)) + [0] * (width - len(w)) for w in words]])
    shapes = torch.tensor([[shape_id(w, k == 0) for k, w in enumerate(words)]])
    with torch.no_grad():
        out = net(shapes, chars)[0]  # shape: (words, 5 + 7)
    assert out.shape == (4, net.size) and net.size == 5 + 7
    for k, w in enumerate(words[:3]):
        torch.testing.assert_close(out[k, :5], net.shape_embedding.weight[shapes[0, k]].detach())
        torch.testing.assert_close(out[k, 5:], _reference_chars(net, list(vocab.word_ids(w))), rtol=0, atol=1e-5)
    assert torch.equal(out[3, 5:], torch.zeros(7))  # a word without characters: zeros


def test_network_parts_sizes_inputs_and_refusals():
    shapes = WordFeatureNet(True, 0, shape_dim=4)
    chars = WordFeatureNet(False, 40, char_filters=9)
    both = WordFeatureNet(True, 40, shape_dim=4, char_filters=9)
    assert (shapes.size, chars.size, both.size) == (4, 9, 13)
    assert (shapes.inputs, chars.inputs, both.inputs) == (("word_shapes",), ("word_chars",), ("word_shapes", "word_chars"))
    assert shapes.char_embedding is None and chars.shape_embedding is None
    assert shapes.shape_embedding.num_embeddings == SHAPE_IDS and chars.char_embedding.num_embeddings == 40
    word_shapes, word_chars = torch.tensor([[1, 16]]), torch.tensor([[[1, 39], [0, 0]]])
    assert shapes(word_shapes=word_shapes).shape == (1, 2, 4)
    assert chars(word_chars=word_chars).shape == (1, 2, 9)
    assert both(word_shapes, word_chars).shape == (1, 2, 13)
    with pytest.raises(ValueError, match="needs shapes, characters or both"):
        WordFeatureNet(False, 0)
    with pytest.raises(ValueError, match="no word_shapes"):
        both(word_chars=word_chars)
    with pytest.raises(ValueError, match="no word_chars"):
        both(word_shapes=word_shapes)


@pytest.mark.parametrize("mode, shapes, chars", [("shape", True, False), ("chars", False, True),
                                                  ("shape+chars", True, True)])
def test_build_word_feature_net_follows_the_settings(mode, shapes, chars):
    settings_ = types.SimpleNamespace(word_features=mode, char_vocab="abc", shape_dim=3, char_dim=5, char_filters=6)
    net = build_word_feature_net(settings_)
    assert (net.shape_embedding is not None) == shapes and (net.char_embedding is not None) == chars
    if chars:
        assert net.char_embedding.num_embeddings == CharVocabulary("abc").size == 1 + CHAR_BUCKETS + 3
        assert net.char_embedding.embedding_dim == 5 and net.char_conv.out_channels == 6
    if shapes:
        assert net.shape_embedding.embedding_dim == 3
    assert net.size == (3 if shapes else 0) + (6 if chars else 0)


def test_no_network_without_word_features():
    assert build_word_feature_net(types.SimpleNamespace(word_features="none")) is None
    assert build_word_feature_net(types.SimpleNamespace()) is None  # a classifier's settings
