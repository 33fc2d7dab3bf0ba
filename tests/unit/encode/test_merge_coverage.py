"""``merge_windows`` at the edges of coverage: a word that no window holds is a bug that fails loudly
(naming the sentence and its first five uncovered words), never a made-up row; an empty sentence
gets an array of no rows while its neighbours keep theirs."""
from __future__ import annotations

import numpy as np
import pytest

from entitune.encode import Window, merge_windows


def _window(sentence: int, first: int, n: int) -> Window:
    return Window(sentence, first, tuple(range(n + 2)), tuple(range(1, n + 1)), (0,) * n, None)


def _scores(window: Window, value: float) -> np.ndarray:
    return np.full((window.n_words, 2), value, dtype=np.float32)


def test_words_in_no_window_fail_naming_the_sentence_and_five_of_them():
    windows = [_window(0, 0, 2), _window(1, 0, 1)]
    with pytest.raises(RuntimeError, match=r"^sentence 1: words \[1, 2, 3, 4, 5\] are in no window$"):
        merge_windows(windows, [_scores(w, 1.0) for w in windows], [2, 8])


def test_one_uncovered_word_is_enough_to_fail():
    windows = [_window(0, 0, 3)]
    with pytest.raises(RuntimeError, match=r"^sentence 0: words \[3\] are in no window$"):
        merge_windows(windows, [_scores(windows[0], 1.0)], [4])


def test_an_empty_sentence_gets_no_rows_and_its_neighbours_keep_theirs():
    windows = [_window(2, 0, 1), _window(0, 0, 2)]
    merged = merge_windows(windows, [_scores(windows[0], 3.0), _scores(windows[1], 1.0)], [2, 0, 1])
    assert len(merged) == 3
    assert merged[0].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert merged[1].shape[0] == 0
    assert merged[2].tolist() == [[3.0, 3.0]]
