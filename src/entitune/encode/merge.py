"""Window scores -> one score row per word of each sentence: every word takes its row from the
window where it has the most context on both sides. numpy, no torch."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .windows import Window


def merge_windows(windows: Sequence[Window], window_scores: Sequence[np.ndarray], n_words: Sequence[int]) -> list[np.ndarray]:
    """Merge per-window word scores into one array per sentence.

    Args:
        windows: the windows, any order.
        window_scores: for each window, a (window.n_words, num_labels) array.
        n_words: words in each sentence.

    Returns:
        per sentence a (n_words, num_labels) array; each word's row comes from the window where
        its context (``Window.context``) is largest, the earlier window on ties.
    """
    best_context: list[list[int]] = [[-1] * n for n in n_words]
    rows: list[list[np.ndarray | None]] = [[None] * n for n in n_words]
    order = sorted(range(len(windows)), key=lambda k: (windows[k].sentence, windows[k].first_word))
    for k in order:
        w = windows[k]
        for j, ctx in enumerate(w.context):
            word = w.first_word + j
            if ctx > best_context[w.sentence][word]:
                best_context[w.sentence][word] = ctx
                rows[w.sentence][word] = window_scores[k][j]
    merged: list[np.ndarray] = []
    for s, sentence_rows in enumerate(rows):
        missing = [i for i, r in enumerate(sentence_rows) if r is None]
        if missing:  # a bug, not a user error: windows must cover every word
            raise RuntimeError(f"sentence {s}: words {missing[:5]} are in no window")
        merged.append(np.stack([np.asarray(r) for r in sentence_rows]) if sentence_rows else np.zeros((0, 0), np.float32))
    return merged
