"""Window scores -> one score row per word of each sentence: every word takes its row from the
window where it has the most context on both sides."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .windows import Window


def merge_windows(windows: Sequence[Window], window_scores: Sequence[torch.Tensor], n_words: Sequence[int]) -> list[torch.Tensor]:
    """Merge per-window word scores into one tensor per sentence.

    Args:
        windows: the windows, any order.
        window_scores: for each window, a (window.n_words, num_labels) tensor.
        n_words: words in each sentence.

    Returns:
        per sentence a (n_words, num_labels) tensor; each word's row comes from the window where
        its context (``Window.context``) is largest, the earlier window on ties.
    """
    best_context: list[list[int]] = [[-1] * n for n in n_words]
    rows: list[list[torch.Tensor | None]] = [[None] * n for n in n_words]
    order = sorted(range(len(windows)), key=lambda k: (windows[k].sentence, windows[k].first_word))
    for k in order:
        w = windows[k]
        for j, ctx in enumerate(w.context):
            word = w.first_word + j
            if ctx > best_context[w.sentence][word]:
                best_context[w.sentence][word] = ctx
                rows[w.sentence][word] = window_scores[k][j]
    merged: list[torch.Tensor] = []
    for s, sentence_rows in enumerate(rows):
        missing = [i for i, r in enumerate(sentence_rows) if r is None]
        if missing:  # a bug, not a user error: windows must cover every word
            raise RuntimeError(f"sentence {s}: words {missing[:5]} are in no window")
        merged.append(torch.stack(sentence_rows) if sentence_rows else torch.zeros((0, 0)))
    return merged
