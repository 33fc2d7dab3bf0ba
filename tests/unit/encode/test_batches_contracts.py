"""Contracts of ``pad_batch``'s word-feature arrays, checked entry by entry on windows of different
word counts and word lengths: ``word_shapes`` (batch, words) and ``word_chars`` (batch, words,
chars) are int64, hold each real word's ids in place and 0 on every padded word or character; the
word axis is as wide as the most words in a window and the character axis as the longest word (at
least one column each, even when no window has a word); neither key is there when the windows carry
no features."""
from __future__ import annotations

import numpy as np

from entitune.encode import IGNORE, Window, pad_batch

PAD = 9


def _window(n_ids: int, starts, shapes=None, chars=None, labelled=False) -> Window:
    ids = tuple(range(2, 2 + n_ids))
    labels = tuple(IGNORE for _ in ids) if labelled else None
    return Window(0, 0, ids, tuple(starts), tuple(0 for _ in starts), labels,
                  None if shapes is None else tuple(shapes),
                  None if chars is None else tuple(tuple(c) for c in chars))


def _featured_batch() -> list[Window]:
    return [
        _window(5, [1, 2], shapes=[5, 6], chars=[[11, 12, 13], [14]]),
        _window(3, [1], shapes=[7], chars=[[15]]),
        _window(2, [], shapes=[], chars=[]),
    ]


def test_word_shapes_are_each_words_id_and_zero_on_padded_words():
    batch = pad_batch(_featured_batch(), PAD)
    assert batch["word_shapes"].tolist() == [[5, 6], [7, 0], [0, 0]]
    assert batch["word_shapes"].dtype == np.int64


def test_word_chars_are_each_words_ids_right_padded_with_zero():
    batch = pad_batch(_featured_batch(), PAD)
    assert batch["word_chars"].tolist() == [
        [[11, 12, 13], [14, 0, 0]],
        [[15, 0, 0], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 0]],
    ]
    assert batch["word_chars"].dtype == np.int64
    # the word axis is the one of word_starts and word_mask
    assert batch["word_chars"].shape[:2] == batch["word_mask"].shape == batch["word_shapes"].shape


def test_one_word_and_one_character_give_one_column_not_more():
    """At most one word per window and one character per word: one word column and one character
    column, nothing padded beyond them."""
    windows = [_window(3, [1], shapes=[4], chars=[[8]]), _window(2, [], shapes=[], chars=[])]
    batch = pad_batch(windows, PAD)
    assert batch["word_shapes"].tolist() == [[4], [0]]
    assert batch["word_chars"].tolist() == [[[8]], [[0]]]


def test_a_batch_without_any_word_still_has_one_word_and_one_character_column():
    windows = [_window(2, [], shapes=[], chars=[]), _window(2, [], shapes=[], chars=[])]
    batch = pad_batch(windows, PAD)
    assert batch["word_shapes"].shape == (2, 1) and not batch["word_shapes"].any()
    assert batch["word_chars"].shape == (2, 1, 1) and not batch["word_chars"].any()
    assert batch["word_chars"].dtype == np.int64 and batch["word_shapes"].dtype == np.int64


def test_feature_arrays_only_for_windows_that_carry_features():
    plain = pad_batch([_window(3, [1]), _window(2, [])], PAD)
    assert "word_shapes" not in plain and "word_chars" not in plain
    shapes_only = pad_batch([_window(3, [1], shapes=[3])], PAD)
    assert "word_shapes" in shapes_only and "word_chars" not in shapes_only


def test_word_labels_are_the_labels_at_word_starts_with_features_too():
    windows = [Window(0, 0, (2, 11, 12, 3), (1, 2), (0, 0), (IGNORE, 4, 5, IGNORE), (1, 2), ((3,), (4, 5))),
               Window(0, 2, (2, 13, 3), (1,), (0,), (IGNORE, 6, IGNORE), (1,), ((6,),))]
    batch = pad_batch(windows, PAD)
    assert batch["word_labels"].tolist() == [[4, 5], [6, IGNORE]]
    assert batch["word_chars"].tolist() == [[[3, 0], [4, 5]], [[6, 0], [0, 0]]]


def test_words_without_characters_still_get_one_character_column():
    """A word with no character ids (an empty word) among words that have none either: one zero
    character column, so the character encoder always has a width to read."""
    windows = [_window(4, [1, 2], shapes=[1, 1], chars=[[], []]), _window(3, [1], shapes=[1], chars=[[]])]
    batch = pad_batch(windows, PAD)
    assert batch["word_chars"].shape == (2, 2, 1) and not batch["word_chars"].any()
