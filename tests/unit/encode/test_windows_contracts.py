"""Contracts of ``encode.windows`` that the layout tests leave open:

- the special tokens around a sequence are found for cased and uncased tokenizers alike, and a
  tokenizer whose special tokens cannot be located is one clear ``ValueError``;
- ``WordEncoder``'s defaults (128 sub-tokens, stride 32, no document context) and the smallest
  window it accepts (two sub-tokens for words beside the special tokens);
- a word with no sub-token reads [UNK], or [PAD] where the tokenizer has no [UNK];
- the word features of a sentence travel with its words into every window, sliced to the words
  of that window; labels exist only where tags were given;
- the document context takes only the room the sentence leaves, split evenly (the odd sub-token to
  the left) when both sides have enough, and the rest to the side that has more;
- ``build_word_encoder`` makes the encoder a saved model's settings describe (tagger or classifier).
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformers import BertTokenizerFast

from entitune.artifact.settings import ClassifierSettings, TaggerSettings
from entitune.encode import (
    WordEncoder,
    WordFeaturizer,
    build_word_encoder,
    special_tokens_around,
)
from entitune.encode.word_features import CharVocabulary, sentence_shape_ids
from entitune.errors import ConfigError
from tests.helpers.vocab import tiny_vocab

PREFIX, SUFFIX = [101], [102]


def _tokenizer(vocab: list[str] | None = None, lower: bool = True) -> BertTokenizerFast:
    vocab = vocab or tiny_vocab(0)
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=lower)


@pytest.fixture(scope="module")
def tokenizer() -> BertTokenizerFast:
    return _tokenizer()


class _FakeTokenizer:
    """A tokenizer that gives ``bare`` for "x" alone and ``full`` with its special tokens."""

    unk_token_id = 1
    pad_token_id = 0

    def __init__(self, bare: list[int], full: list[int]) -> None:
        self.bare, self.full = bare, full

    def __call__(self, text, add_special_tokens=True, **_):
        return {"input_ids": list(self.full if add_special_tokens else self.bare)}


def _encoder(max_length: int, context: int = 0, stride: int = 0) -> WordEncoder:
    """An encoder with one-id special tokens ([101] ... [102]), for ``encode_pieces`` on made-up ids."""
    return WordEncoder(_FakeTokenizer([7], [*PREFIX, 7, *SUFFIX]), max_length=max_length, stride=stride,
                       context=context)


# -- special tokens ----------------------------------------------------------------------------------

@pytest.mark.parametrize("lower", [True, False])
def test_special_tokens_are_found_for_cased_and_uncased_tokenizers(lower):
    """[CLS] before and [SEP] after, whether or not the tokenizer lowercases: a cased vocabulary
    with "x" but not "X" still gives them. Broken: probing with a letter whose case the tokenizer
    keeps apart (its sub-token then differs with and without the special tokens)."""
    tok = _tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "x"], lower=lower)
    assert special_tokens_around(tok) == ([2], [3])


@given(prefix=st.lists(st.integers(0, 9), max_size=3), suffix=st.lists(st.integers(0, 9), max_size=3),
       bare=st.lists(st.integers(10, 99), min_size=1, max_size=3))
def test_special_tokens_are_what_surrounds_the_bare_sequence(prefix, suffix, bare):
    """Whatever a tokenizer puts before and after a sequence (nothing included) is returned as
    ``(before, after)``."""
    assert special_tokens_around(_FakeTokenizer(bare, [*prefix, *bare, *suffix])) == (prefix, suffix)


@pytest.mark.parametrize("full", [[2, 8, 3], [2, 3], [7]])
def test_special_tokens_that_cannot_be_located_are_one_clear_error(full):
    """A tokenizer whose full sequence does not hold the bare one raises, saying so."""
    with pytest.raises(ValueError, match=r"^cannot locate the special tokens this tokenizer adds$"):
        special_tokens_around(_FakeTokenizer([5, 6], full))


# -- the encoder's settings --------------------------------------------------------------------------

def test_encoder_defaults_are_128_sub_tokens_stride_32_and_no_context(tokenizer):
    enc = WordEncoder(tokenizer)
    assert (enc.max_length, enc.stride, enc.context, enc.budget, enc.features) == (128, 32, 0, 126, None)
    windows = enc.encode([["show", "me"], ["films"]], documents=[0, 0])
    assert [len(w.input_ids) for w in windows] == [4, 3]  # no context read by default


def test_the_smallest_window_holds_two_sub_tokens_beside_the_special_tokens(tokenizer):
    """max_length = specials + 2 is accepted (stride 0 or 1); one less is a ``ConfigError``."""
    for stride in (0, 1):
        enc = WordEncoder(tokenizer, max_length=4, stride=stride)
        assert enc.budget == 2 and enc.max_length == 4
        assert all(len(w.input_ids) <= 4 for w in enc.encode([["show", "me", "films", "with"]]))
    with pytest.raises(ConfigError, match="max_length 3 leaves no room"):
        WordEncoder(tokenizer, max_length=3, stride=0)


def test_a_word_without_sub_tokens_reads_unk_or_pad_without_unk():
    """A zero-width word keeps its place: [UNK] where the tokenizer has one, else [PAD]."""
    tok = _tokenizer()
    assert WordEncoder(tok, max_length=16, stride=0).word_pieces([["\u200b", "me"]])[0][0] == [tok.unk_token_id]
    tok.unk_token = None
    assert tok.unk_token_id is None
    enc = WordEncoder(tok, max_length=16, stride=0)
    assert enc.unk_id == tok.pad_token_id == 0
    assert enc.word_pieces([["\u200b", "me"]])[0][0] == [0]


# -- word features and labels in windows ------------------------------------------------------------

LONG = [["Show", "ME", "films", "with", "Drew", "Barrymore", "from", "the", "1980s", "x9", "Paris", "of"],
        ["In", "paris"]]


@pytest.mark.parametrize("mode", ["shape", "chars", "shape+chars"])
def test_word_features_follow_the_words_into_every_window(tokenizer, mode):
    """Each window carries the features of exactly its words (a long sentence in several
    overlapping windows included); features not asked for are None. Broken: features dropped,
    swapped between the shape and character slots, or not sliced to the window's words."""
    featurizer = WordFeaturizer(mode, "aeiou")
    enc = WordEncoder(tokenizer, max_length=6, stride=1, features=featurizer)
    windows = enc.encode(LONG)
    assert len(windows) > len(LONG)
    vocabulary = CharVocabulary("aeiou")
    for w in windows:
        words = LONG[w.sentence][w.first_word : w.first_word + w.n_words]
        shapes = sentence_shape_ids(LONG[w.sentence])[w.first_word : w.first_word + w.n_words]
        assert w.shape_ids == (shapes if "shape" in mode else None)
        assert w.char_ids == (tuple(vocabulary.word_ids(x) for x in words) if "chars" in mode else None)


def test_windows_without_features_or_tags_carry_none(tokenizer):
    windows = WordEncoder(tokenizer, max_length=6, stride=1).encode(LONG)
    assert all(w.shape_ids is None and w.char_ids is None and w.labels is None for w in windows)
    tagged = WordEncoder(tokenizer, max_length=6, stride=1).encode(LONG, [[1] * len(s) for s in LONG])
    assert all(w.labels is not None and len(w.labels) == len(w.input_ids) for w in tagged)


# -- document context --------------------------------------------------------------------------------

def _sides(window, n_own: int) -> tuple[list[int], list[int]]:
    ids = list(window.input_ids)[len(PREFIX) : len(window.input_ids) - len(SUFFIX)]
    start = window.word_starts[0] - len(PREFIX)
    return ids[:start], ids[start + n_own :]


def _only(windows, sentence: int):
    """The one window of ``sentence``."""
    (window,) = [w for w in windows if w.sentence == sentence]
    return window


def _document(sizes: list[int]) -> list[list[list[int]]]:
    """Sentences of one-id words; sentence k's ids are 1000 * (k + 1) + j."""
    return [[[1000 * (k + 1) + j] for j in range(n)] for k, n in enumerate(sizes)]


@pytest.mark.parametrize(("own", "left", "right"), [(4, 3, 3), (3, 4, 3), (9, 1, 0), (10, 0, 0)])
def test_context_splits_the_free_room_evenly_the_odd_one_to_the_left(own, left, right):
    """Budget 10, a sentence of ``own`` sub-tokens between two long ones: the free room is split
    evenly, the odd sub-token to the left; the left side is the end of the sentence before, the
    right side the start of the one after."""
    pieces = _document([20, own, 20])
    window = _only(_encoder(12, context=20).encode_pieces(pieces, documents=["d"] * 3), 1)
    got_left, got_right = _sides(window, own)
    assert got_left == [1000 + j for j in range(20 - left, 20)]
    assert got_right == [3000 + j for j in range(right)]
    assert len(window.input_ids) == 12 - (10 - own - left - right)


@pytest.mark.parametrize(("before", "after", "left", "right"), [(1, 20, 1, 5), (20, 2, 4, 2), (0, 20, 0, 6),
                                                                (20, 0, 6, 0)])
def test_context_gives_the_room_a_short_side_leaves_to_the_other(before, after, left, right):
    """Budget 10, a sentence of 4: when one side has less than half the free room, the other side
    takes the rest."""
    sizes = [n for n in (before, 4, after) if n]
    pieces = _document(sizes)
    s = 1 if before else 0
    window = _only(_encoder(12, context=20).encode_pieces(pieces, documents=["d"] * len(sizes)), s)
    got_left, got_right = _sides(window, 4)
    assert (len(got_left), len(got_right)) == (left, right)


@given(sizes=st.lists(st.integers(1, 14), min_size=1, max_size=5), context=st.integers(0, 12),
       budget=st.integers(2, 14), docs=st.lists(st.integers(0, 1), min_size=5, max_size=5))
def test_context_never_outgrows_the_window_and_fills_what_it_can(sizes, context, budget, docs):
    """For any sentences, context and budget: a window never exceeds ``max_length``; a sentence in
    one window reads ``min(free room, context available on both sides)`` sub-tokens of context, the
    tail of its document's sentences before it and the head of those after it, at most ``context``
    per side; a sentence cut into windows reads none."""
    documents = sorted(docs[: len(sizes)])
    pieces = _document(sizes)
    enc = _encoder(budget + 2, context=context)
    windows = enc.encode_pieces(pieces, documents=documents)
    flat = [[i for p in s for i in p] for s in pieces]
    for w in windows:
        assert len(w.input_ids) <= budget + 2
        s = w.sentence
        own = sum(len(p) for p in pieces[s][w.first_word : w.first_word + w.n_words])
        left, right = _sides(w, own)
        if own < len(flat[s]):
            assert left == right == []
            continue
        before = [i for k in range(s) if documents[k] == documents[s] for i in flat[k]][-context:] if context else []
        after = [i for k in range(s + 1, len(flat)) if documents[k] == documents[s] for i in flat[k]][:context]
        assert len(left) + len(right) == min(budget - own, len(before) + len(after))
        assert left == (before[len(before) - len(left):] if left else [])
        assert right == after[: len(right)]


# -- build_word_encoder ------------------------------------------------------------------------------

def test_build_word_encoder_follows_a_tagger_s_settings(tokenizer):
    """Window length, stride, context and word features (mode and character vocabulary) all come
    from the settings."""
    settings = TaggerSettings(labels=("O",), max_length=40, stride=8, word_features="shape+chars",
                              char_vocab="xyz", context=5)
    enc = build_word_encoder(settings, tokenizer)
    assert enc.tokenizer is tokenizer
    assert (enc.max_length, enc.stride, enc.context) == (40, 8, 5)
    assert enc.features.mode == "shape+chars" and enc.features.vocabulary.chars == "xyz"
    assert enc.features.shapes


@pytest.mark.parametrize("mode", ["shape", "chars"])
def test_build_word_encoder_uses_the_one_feature_named(tokenizer, mode):
    enc = build_word_encoder(TaggerSettings(labels=("O",), word_features=mode, char_vocab="ab"), tokenizer)
    assert enc.features.mode == mode
    assert enc.features.shapes == (mode == "shape")
    assert (enc.features.vocabulary is not None) == (mode == "chars")


def test_build_word_encoder_without_word_features_or_context(tokenizer):
    """A tagger with ``word_features`` none gets no featurizer; a classifier's settings, which name
    neither word features nor context, give an encoder with none of either."""
    tagger = build_word_encoder(TaggerSettings(labels=("O",), max_length=24, stride=4), tokenizer)
    assert (tagger.features, tagger.context, tagger.max_length, tagger.stride) == (None, 0, 24, 4)
    classifier = build_word_encoder(ClassifierSettings(labels=("a", "b"), max_length=20, stride=3), tokenizer)
    assert (classifier.features, classifier.context, classifier.max_length, classifier.stride) == (None, 0, 20, 3)
