"""Contracts of ``text_windows`` (texts -> classification windows): a text is split into words by
``split_words`` and cut into exactly the windows the ``WordEncoder`` makes of those words, in text
order (``sentence`` = the text's index), so a long text is read whole; a blank text reads as "."; a
window pools [CLS] alone (``cls``: position 0) or every position, special tokens included
(``mean``), and the pooled positions carry no context (0 each)."""
from __future__ import annotations

import pytest
from transformers import BertTokenizerFast

from entitune.data.text import split_words
from entitune.encode import WordEncoder, text_windows
from tests.helpers.vocab import tiny_vocab

LONG = "Show me films with Drew Barrymore, from the 1980s: what movies star Bruce Willis? " * 2
TEXTS = ["films in paris", LONG, "what movies"]


@pytest.fixture(scope="module")
def encoder() -> WordEncoder:
    vocab = tiny_vocab()
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    return WordEncoder(tokenizer, max_length=12, stride=3)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_texts_are_cut_into_the_encoders_windows_of_their_words_in_text_order(encoder, pooling):
    windows = text_windows(encoder, TEXTS, pooling)
    expected = encoder.encode([[w for w, _, _ in split_words(t)] for t in TEXTS])
    assert len(expected) > len(TEXTS) + 1  # the long text takes several windows
    assert [(w.sentence, w.first_word, w.input_ids) for w in windows] == \
        [(w.sentence, w.first_word, w.input_ids) for w in expected]
    assert [w.sentence for w in windows] == sorted(w.sentence for w in windows)
    assert {w.sentence for w in windows} == {0, 1, 2}
    assert all(w.labels is None for w in windows)


def test_cls_pooling_reads_position_zero_alone(encoder):
    for w in text_windows(encoder, TEXTS, "cls"):
        assert w.word_starts == (0,) and w.context == (0,)
        assert w.input_ids[0] == encoder.prefix[0]


def test_mean_pooling_reads_every_position_special_tokens_included(encoder):
    for w in text_windows(encoder, TEXTS, "mean"):
        assert w.word_starts == tuple(range(len(w.input_ids)))
        assert w.context == (0,) * len(w.input_ids)
        assert w.n_words == len(w.input_ids)


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_a_blank_text_reads_as_a_full_stop(encoder, blank):
    [window] = text_windows(encoder, [blank], "cls")
    [stop] = text_windows(encoder, ["."], "cls")
    assert window.input_ids == stop.input_ids == (*encoder.prefix, encoder.tokenizer.convert_tokens_to_ids("."),
                                                  *encoder.suffix)
    windows = text_windows(encoder, ["films", blank, "paris"], "mean")
    assert [w.sentence for w in windows] == [0, 1, 2]
    assert windows[1].input_ids == stop.input_ids
