"""Windows -> padded batches of numpy arrays (``pad_batch``), what every backend scores at
inference; ``encode.collate`` (``tensors``) gives the same batch as torch tensors, for training.
No torch here."""
from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np

from .windows import IGNORE, Window


def _pad(rows: Sequence[Sequence[int]], lengths: np.ndarray, fill: int, min_width: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ints (``lengths[i]`` long) as a right-padded (rows, longest) int64 array, and its
    (rows, longest) bool mask, True on real entries: one flat copy, scattered by the mask."""
    width = max(int(lengths.max()), min_width)
    mask = np.arange(width) < lengths[:, None]
    out = np.full(mask.shape, fill, dtype=np.int64)
    out[mask] = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
    return out, mask


def pad_batch(windows: Sequence[Window], pad_id: int) -> dict[str, np.ndarray]:
    """Pad windows into a batch of numpy arrays (int64, the masks bool).

    Returns arrays: ``input_ids``, ``token_type_ids``, ``attention_mask`` and ``labels``
    (sub-token labels, -100 where ignored) of shape (batch, seq); ``word_starts`` (batch, words),
    the position of each word's first sub-token (0 on padding); ``word_mask`` (batch, words), True
    on real words; and ``word_labels`` (batch, words), -100 on padding (only when labelled).
    Windows with word features add ``word_shapes`` (batch, words), each word's shape id, and
    ``word_chars`` (batch, words, chars), each word's character ids; both 0 on padding.
    """
    lengths = np.array([len(w.input_ids) for w in windows])
    n_words = np.array([w.n_words for w in windows])
    input_ids, attention_mask = _pad([w.input_ids for w in windows], lengths, pad_id)
    word_starts, word_mask = _pad([w.word_starts for w in windows], n_words, 0, min_width=1)
    attention_mask = attention_mask.astype(np.int64)
    labelled = windows[0].labels is not None
    if labelled:
        labels, _ = _pad([w.labels for w in windows], lengths, IGNORE)
    out = {
        "input_ids": input_ids,
        "token_type_ids": np.zeros_like(input_ids),
        "attention_mask": attention_mask,
        "word_starts": word_starts,
        "word_mask": word_mask,
    }
    if windows[0].shape_ids is not None:
        out["word_shapes"], _ = _pad([w.shape_ids for w in windows], n_words, 0, min_width=1)
    if windows[0].char_ids is not None:
        out["word_chars"] = _pad_chars(windows, word_mask)
    if labelled:
        out["labels"] = labels
        # shape: (batch, words); the label at each word's first sub-token
        out["word_labels"] = np.where(word_mask, np.take_along_axis(labels, word_starts, axis=1), IGNORE)
    return out


def _pad_chars(windows: Sequence[Window], word_mask: np.ndarray) -> np.ndarray:
    """The windows' character ids as a (batch, words, chars) int64 array, 0 on padding: every word's
    ids padded to the longest word of the batch, then scattered to the real words of ``word_mask``."""
    words = [ids for w in windows for ids in w.char_ids]
    lengths = np.fromiter((len(ids) for ids in words), dtype=np.int64, count=len(words))
    if not len(words):
        return np.zeros((*word_mask.shape, 1), dtype=np.int64)
    # shape: (real words, chars)
    padded, _ = _pad(words, lengths, 0, min_width=1)
    out = np.zeros((*word_mask.shape, padded.shape[1]), dtype=np.int64)
    out[word_mask] = padded
    return out
