"""Words -> model inputs: sub-word alignment, windows for long sentences, length-grouped batches.

Each word's sub-tokens come from the fast tokenizer (``is_split_into_words=True`` and
``word_ids``). The first sub-token of a word carries the word's label; the others and the special
tokens carry -100. A word that the tokenizer turns into no sub-token at all (zero-width or control
characters) is given the ``[UNK]`` id, so that labels never shift.

A sentence longer than ``max_length`` sub-tokens (special tokens included) becomes several
overlapping windows cut at word boundaries, ``stride`` sub-tokens of overlap between neighbours.
Nothing is ever dropped: the model reads every word in at least one window; at prediction time each
word takes its scores from the window where it has the most context on both sides
(``merge_windows``).
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch

IGNORE = -100


@dataclass(frozen=True)
class Window:
    """One model input: a run of whole words ``[first_word, first_word + n_words)`` of a sentence.

    ``word_starts[k]`` is the position (in ``input_ids``) of the first sub-token of word
    ``first_word + k``; ``context[k]`` is the smaller of the sub-token counts to its left and to its
    right inside the window (the word's context); ``labels`` are sub-token labels (-100 except at
    word starts), or None when the sentence has no tags.
    """

    sentence: int
    first_word: int
    input_ids: tuple[int, ...]
    word_starts: tuple[int, ...]
    context: tuple[int, ...]
    labels: tuple[int, ...] | None

    @property
    def n_words(self) -> int:
        return len(self.word_starts)


def special_tokens_around(tokenizer) -> tuple[list[int], list[int]]:
    """The special token ids a tokenizer puts before and after one sequence (e.g. [CLS], [SEP])."""
    bare = tokenizer("x", add_special_tokens=False)["input_ids"]
    full = tokenizer("x", add_special_tokens=True)["input_ids"]
    for k in range(len(full) - len(bare) + 1):
        if full[k : k + len(bare)] == bare:
            return list(full[:k]), list(full[k + len(bare) :])
    raise ValueError("cannot locate the special tokens this tokenizer adds")


class WordEncoder:
    """Turns word sequences into ``Window`` objects for one tokenizer and length budget.

    Args:
        tokenizer: a Hugging Face *fast* tokenizer.
        max_length: most sub-tokens per window, special tokens included.
        stride: sub-tokens shared by neighbouring windows of a long sentence.
    """

    def __init__(self, tokenizer, max_length: int = 128, stride: int = 32) -> None:
        self.prefix, self.suffix = special_tokens_around(tokenizer)
        self.budget = max_length - len(self.prefix) - len(self.suffix)
        if self.budget < 2:
            raise ValueError(f"max_length {max_length} leaves no room for words after special tokens")
        if not 0 <= stride < self.budget:
            raise ValueError(f"stride must be in [0, {self.budget}) for max_length {max_length}, got {stride}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.stride = stride
        self.unk_id = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else tokenizer.pad_token_id

    def raw_word_pieces(self, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """Sub-token ids of every word as the tokenizer gives them: ``[sentence][word] -> ids``
        (empty for a word with no sub-token, never cut)."""
        out: list[list[list[int]]] = []
        step = 1024  # tokenizer calls in chunks keep memory flat on large files
        for lo in range(0, len(sentences), step):
            chunk = [list(s) for s in sentences[lo : lo + step]]
            nonempty = [s if s else ["x"] for s in chunk]
            enc = self.tokenizer(nonempty, is_split_into_words=True, add_special_tokens=False)
            for i, words in enumerate(chunk):
                pieces: list[list[int]] = [[] for _ in words]
                ids = enc["input_ids"][i]
                for pos, wid in enumerate(enc.word_ids(i)):
                    if wid is not None and wid < len(words):
                        pieces[wid].append(ids[pos])
                out.append(pieces)
        return out

    def word_pieces(self, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """Sub-token ids of every word: ``[sentence][word] -> ids`` (never empty)."""
        out = self.raw_word_pieces(sentences)
        for pieces in out:
            for p in pieces:
                if not p:
                    p.append(self.unk_id)
                del p[self.budget :]  # a single word never outgrows a window
        return out

    def windows(self, pieces: list[list[int]]) -> list[tuple[int, int]]:
        """Word ranges ``[start, end)`` of the windows covering one sentence's pieces."""
        n = len(pieces)
        spans: list[tuple[int, int]] = []
        start = 0
        while True:
            end, used = start, 0
            while end < n and used + len(pieces[end]) <= self.budget:
                used += len(pieces[end])
                end += 1
            spans.append((start, end))
            if end >= n:
                return spans
            nxt, overlap = end, 0
            while nxt > start + 1 and overlap + len(pieces[nxt - 1]) <= self.stride:
                overlap += len(pieces[nxt - 1])
                nxt -= 1
            start = nxt

    def encode(self, sentences: Sequence[Sequence[str]], tag_ids: Sequence[Sequence[int]] | None = None) -> list[Window]:
        """Encode sentences (and optional label ids, one per word) into windows, in sentence order."""
        out: list[Window] = []
        for s, pieces in enumerate(self.word_pieces(sentences)):
            for start, end in self.windows(pieces):
                ids = list(self.prefix)
                starts: list[int] = []
                labels: list[int] = [IGNORE] * len(self.prefix)
                for w in range(start, end):
                    starts.append(len(ids))
                    ids.extend(pieces[w])
                    if tag_ids is not None:
                        labels.append(tag_ids[s][w])
                        labels.extend([IGNORE] * (len(pieces[w]) - 1))
                body_end = len(ids)
                ids.extend(self.suffix)
                labels.extend([IGNORE] * len(self.suffix))
                context = tuple(
                    min(st - len(self.prefix), body_end - st - len(pieces[start + k]))
                    for k, st in enumerate(starts)
                )
                out.append(
                    Window(s, start, tuple(ids), tuple(starts), context, tuple(labels) if tag_ids is not None else None)
                )
        return out


def _pad(rows: Sequence[Sequence[int]], lengths: np.ndarray, fill: int, min_width: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ints (``lengths[i]`` long) as a right-padded (rows, longest) long tensor, and its
    (rows, longest) bool mask, True on real entries: one flat copy, scattered by the mask."""
    width = max(int(lengths.max()), min_width)
    mask = np.arange(width) < lengths[:, None]
    out = np.full(mask.shape, fill, dtype=np.int64)
    out[mask] = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(out), torch.from_numpy(mask)


def collate(windows: Sequence[Window], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad windows into a batch.

    Returns tensors: ``input_ids``, ``token_type_ids``, ``attention_mask`` and ``labels``
    (sub-token labels, -100 where ignored) of shape (batch, seq); ``word_starts`` (batch, words),
    the position of each word's first sub-token (0 on padding); ``word_mask`` (batch, words), True
    on real words; and ``word_labels`` (batch, words), -100 on padding (only when labelled).
    """
    lengths = np.array([len(w.input_ids) for w in windows])
    n_words = np.array([w.n_words for w in windows])
    input_ids, attention_mask = _pad([w.input_ids for w in windows], lengths, pad_id)
    word_starts, word_mask = _pad([w.word_starts for w in windows], n_words, 0, min_width=1)
    attention_mask = attention_mask.long()
    labelled = windows[0].labels is not None
    if labelled:
        labels, _ = _pad([w.labels for w in windows], lengths, IGNORE)
    out = {
        "input_ids": input_ids,
        "token_type_ids": torch.zeros_like(input_ids),
        "attention_mask": attention_mask,
        "word_starts": word_starts,
        "word_mask": word_mask,
    }
    if labelled:
        out["labels"] = labels
        # shape: (batch, words); the label at each word's first sub-token
        out["word_labels"] = labels.gather(1, word_starts).masked_fill(~word_mask, IGNORE)
    return out


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int, shuffle: bool = True, pool: int = 64
) -> list[list[int]]:
    """Index batches of similar length, so that little of each batch is padding.

    With ``shuffle``: indices are shuffled (seeded), cut into pools of ``pool * batch_size``, each
    pool sorted by length and cut into batches, and the batch order shuffled again. Without: one
    pass sorted by length (longest first), for evaluation and prediction.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = list(range(len(lengths)))
    if not shuffle:
        order.sort(key=lambda i: -lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = random.Random(seed)
    rng.shuffle(order)
    batches: list[list[int]] = []
    span = pool * batch_size
    for lo in range(0, len(order), span):
        chunk = sorted(order[lo : lo + span], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def token_budget_batches(lengths: Sequence[int], max_tokens: int, seed: int, pool: int = 2048) -> list[list[int]]:
    """Shuffled index batches whose padded size (longest length x count) stays within ``max_tokens``.

    As ``length_grouped_batches``: shuffle (seeded), sort within pools of ``pool`` items, cut,
    shuffle the batches. A single item longer than the budget gets a batch of its own.

    >>> token_budget_batches([4, 4, 4, 8], max_tokens=8, seed=0, pool=4)
    [[2, 0], [3], [1]]
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for lo in range(0, len(order), pool):
        chunk = sorted(order[lo : lo + pool], key=lambda i: lengths[i])
        batch: list[int] = []
        for i in chunk:
            if batch and lengths[i] * (len(batch) + 1) > max_tokens:
                batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            batches.append(batch)
    rng.shuffle(batches)
    return batches


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
