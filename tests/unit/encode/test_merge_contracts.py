"""Contracts of the window merge: each word takes its row from the window where it has the most
context on *both* sides (the smaller of its left and right sub-token counts), the earlier window on
ties. Checked by ``tests/mutations/inject.py``."""
from __future__ import annotations

import torch
from transformers import BertTokenizerFast

from entitune.encode import Window, WordEncoder, merge_windows


def _oracle_context(w: Window, n_prefix: int, n_suffix: int) -> list[int]:
    """min(left, right) sub-tokens of each word inside its window, from the ids alone."""
    body_end = len(w.input_ids) - n_suffix
    ends = list(w.word_starts[1:]) + [body_end]
    return [min(st - n_prefix, body_end - end) for st, end in zip(w.word_starts, ends)]


def test_each_word_takes_the_window_with_most_context_on_both_sides(tiny_bert):
    """A 30-word sentence cut into overlapping windows: every word's merged row is the one of the
    window maximising min(left, right) context (recomputed here from the ids).

    Broken (context counted on the left side only), words near the end of an overlap keep the
    earlier window's row, where they sit at the window's right edge with no right context."""
    tokenizer = BertTokenizerFast.from_pretrained(str(tiny_bert))
    encoder = WordEncoder(tokenizer, max_length=16, stride=6)
    words = ["show", "me", "films", "barrymore", "with", "drew", "spielberg", "1980s"] * 4
    windows = encoder.encode([words[:30]])
    assert len(windows) >= 3
    n_prefix, n_suffix = len(encoder.prefix), len(encoder.suffix)
    for w in windows:
        assert list(w.context) == _oracle_context(w, n_prefix, n_suffix)
    scores = [torch.full((w.n_words, 1), float(k)) for k, w in enumerate(windows)]
    [merged] = merge_windows(windows, scores, [30])
    from_later = 0
    for i in range(30):
        holders = [(k, _oracle_context(w, n_prefix, n_suffix)[i - w.first_word]) for k, w in enumerate(windows)
                   if w.first_word <= i < w.first_word + w.n_words]
        best = max(ctx for _, ctx in holders)
        want = min(k for k, ctx in holders if ctx == best)  # windows are in sentence order
        assert merged[i, 0].item() == want, f"word {i}: row of window {merged[i, 0].item():.0f}, expected {want}"
        from_later += len(holders) > 1 and want != holders[0][0]
    assert from_later > 0  # the case that tells both-sides from left-only context is exercised


def test_merge_ties_go_to_the_earlier_window():
    """Words with equal context in two windows take the earlier window's row, whatever the order
    the windows are given in.

    Broken (``>=`` instead of ``>``), the later window wins ties."""
    early = Window(0, 0, (1, 5, 6, 7, 2), (1, 2, 3), (0, 1, 0), None)
    late = Window(0, 1, (1, 6, 7, 8, 2), (1, 2, 3), (0, 0, 0), None)
    # word 1: context 1 in early, 0 in late -> early; word 2: 0 in both (a tie) -> early; word 3: only late
    for order in ([0, 1], [1, 0]):
        pair = [(early, torch.zeros(3, 1)), (late, torch.ones(3, 1))]
        ws = [pair[k][0] for k in order]
        ss = [pair[k][1] for k in order]
        [merged] = merge_windows(ws, ss, [4])
        assert merged[:, 0].tolist() == [0.0, 0.0, 0.0, 1.0]
