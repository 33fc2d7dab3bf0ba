"""Texts -> windows for classification. A text is split into words (``data.split_words``) and cut
into the same overlapping windows as tagged sentences (``WordEncoder``), so a long text is read
whole. Each window gathers the positions its head pools: [CLS] alone (``cls``) or every sub-token,
the special ones included, as sentence-transformers' mean pooling does (``mean``). No torch here."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..data.text import split_words
from .windows import Window, WordEncoder


def text_windows(encoder: WordEncoder, texts: Sequence[str], pooling: str) -> list[Window]:
    """The windows of each text, in text order (``Window.sentence`` is the text's index)."""
    words = [[w for w, _, _ in split_words(text)] or [text.strip() or "."] for text in texts]
    out = []
    for window in encoder.encode(words):
        positions = (0,) if pooling == "cls" else tuple(range(len(window.input_ids)))
        out.append(replace(window, word_starts=positions, context=(0,) * len(positions)))
    return out
