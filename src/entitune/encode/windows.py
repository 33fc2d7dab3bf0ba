"""Words -> windows: sub-word alignment and overlapping windows for long sentences. No torch here.

Each word's sub-tokens come from the fast tokenizer (``is_split_into_words=True`` and
``word_ids``). The first sub-token of a word carries the word's label; the others and the special
tokens carry -100. A word that the tokenizer turns into no sub-token at all (zero-width or control
characters) is given the ``[UNK]`` id, so that labels never shift.

A sentence longer than ``max_length`` sub-tokens (special tokens included) becomes several
overlapping windows cut at word boundaries, ``stride`` sub-tokens of overlap between neighbours.
Nothing is ever dropped: the model reads every word in at least one window; at prediction time each
word takes its scores from the window where it has the most context on both sides
(``merge_windows``).

Document context (FLERT, Schweter & Akbik 2020): with ``context`` N > 0 and the sentences'
``documents`` given, a sentence that fits in one window also reads up to N sub-tokens of the
sentences before it (left) and after it (right) in the same document (a run of consecutive
sentences with equal document ids): ``[CLS] left words right [SEP]``. As in FLERT there is no
marker between context and sentence (no [SEP], token type 0 throughout), so the context costs no
extra positions. Only the sentence's words have ``word_starts`` and labels; context sub-tokens are
labelled -100. The context takes only the room the sentence leaves (split evenly, the rest to the
side that has more); a sentence that needs several windows gets none. ``context`` 0 (or no
``documents``) gives exactly the windows of plain sentence-level encoding.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from .word_features import WordFeatures, WordFeaturizer

IGNORE = -100


@dataclass(frozen=True)
class Window:
    """One model input: a run of whole words ``[first_word, first_word + n_words)`` of a sentence.

    ``word_starts[k]`` is the position (in ``input_ids``) of the first sub-token of word
    ``first_word + k``; ``context[k]`` is the smaller of the sub-token counts to its left and to its
    right inside the window (the word's context); ``labels`` are sub-token labels (-100 except at
    word starts), or None when the sentence has no tags. ``shape_ids`` (one per word) and
    ``char_ids`` (one tuple per word) are the words' features (``word_features``) where the encoder
    computes them, else None.
    """

    sentence: int
    first_word: int
    input_ids: tuple[int, ...]
    word_starts: tuple[int, ...]
    context: tuple[int, ...]
    labels: tuple[int, ...] | None
    shape_ids: tuple[int, ...] | None = None
    char_ids: tuple[tuple[int, ...], ...] | None = None

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
        features: word features (shape ids, character ids) computed from each word as written and
            carried in the windows beside the sub-tokens; None for none.
        context: most sub-tokens of neighbouring sentences of the same document read on each side
            of a sentence (see the module docstring); 0 for none.
    """

    def __init__(self, tokenizer, max_length: int = 128, stride: int = 32,
                 features: WordFeaturizer | None = None, context: int = 0) -> None:
        self.prefix, self.suffix = special_tokens_around(tokenizer)
        self.budget = max_length - len(self.prefix) - len(self.suffix)
        if self.budget < 2:
            raise ConfigError(f"max_length {max_length} leaves no room for words after the special tokens")
        if not 0 <= stride < self.budget:
            raise ConfigError(f"stride must be in [0, {self.budget}) for max_length {max_length}, got {stride}")
        if context < 0:
            raise ConfigError(f"context must be >= 0 sub-tokens per side, got {context}")
        self.context = context
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.stride = stride
        self.features = features
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

    def unbroken_word_pieces(self, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """``word_pieces`` that drop nothing: a word longer than a window is split into window-sized
        parts, each then a word of its own (for pretraining, which has no word labels to keep aligned)."""
        out: list[list[list[int]]] = []
        for pieces in self.raw_word_pieces(sentences):
            whole: list[list[int]] = []
            for p in pieces:
                p = p or [self.unk_id]
                whole.extend(p[k : k + self.budget] for k in range(0, len(p), self.budget))
            out.append(whole)
        return out

    def encode(self, sentences: Sequence[Sequence[str]], tag_ids: Sequence[Sequence[int]] | None = None,
               documents: Sequence[Hashable] | None = None) -> list[Window]:
        """Encode sentences (and optional label ids, one per word) into windows, in sentence order;
        with ``features``, each window carries its words' features. ``documents`` (one id per
        sentence) turns on the document context of ``context`` > 0."""
        features = [self.features.sentence(words) for words in sentences] if self.features is not None else None
        return self.encode_pieces(self.word_pieces(sentences), tag_ids, features, documents)

    def context_pieces(self, sentence_pieces: Sequence[list[list[int]]],
                       documents: Sequence[Hashable]) -> list[tuple[list[int], list[int]]]:
        """Per sentence, the last ``context`` sub-token ids of the sentences before it and the first
        ``context`` of the sentences after it, in its document (consecutive equal ids) only."""
        if len(documents) != len(sentence_pieces):
            raise ValueError(f"{len(sentence_pieces)} sentences but {len(documents)} document ids")
        flat = [[i for p in pieces for i in p] for pieces in sentence_pieces]
        out: list[tuple[list[int], list[int]]] = []
        for s in range(len(flat)):
            left: list[int] = []
            j = s - 1
            while j >= 0 and documents[j] == documents[s] and len(left) < self.context:
                left[:0] = flat[j]
                j -= 1
            right: list[int] = []
            j = s + 1
            while j < len(flat) and documents[j] == documents[s] and len(right) < self.context:
                right.extend(flat[j])
                j += 1
            out.append((left[max(0, len(left) - self.context):], right[: self.context]))
        return out

    def encode_pieces(self, sentence_pieces: Sequence[list[list[int]]],
                      tag_ids: Sequence[Sequence[int]] | None = None,
                      features: Sequence[WordFeatures] | None = None,
                      documents: Sequence[Hashable] | None = None) -> list[Window]:
        """Windows of sentences given as their words' sub-token ids (``word_pieces``: no word empty
        or longer than a window), with optional label ids and word features, one per word, and
        optional document ids (one per sentence: the document context); in sentence order."""
        contexts = self.context_pieces(sentence_pieces, documents) if documents is not None and self.context else None
        out: list[Window] = []
        for s, pieces in enumerate(sentence_pieces):
            shapes = features[s].shape_ids if features is not None else None
            chars = features[s].char_ids if features is not None else None
            spans = self.windows(pieces)
            left: list[int] = []
            right: list[int] = []
            if contexts is not None and len(spans) == 1:  # a sentence cut into windows reads no context
                free = self.budget - sum(len(p) for p in pieces)
                n_right = min(len(contexts[s][1]), free // 2)
                n_left = min(len(contexts[s][0]), free - n_right)
                n_right = min(len(contexts[s][1]), free - n_left)
                left = contexts[s][0][len(contexts[s][0]) - n_left :]
                right = contexts[s][1][:n_right]
            for start, end in spans:
                ids = list(self.prefix) + left
                body_start = len(ids)
                starts: list[int] = []
                labels: list[int] = [IGNORE] * len(ids)
                for w in range(start, end):
                    starts.append(len(ids))
                    ids.extend(pieces[w])
                    if tag_ids is not None:
                        labels.append(tag_ids[s][w])
                        labels.extend([IGNORE] * (len(pieces[w]) - 1))
                body_end = len(ids)
                ids.extend(right + self.suffix)
                labels.extend([IGNORE] * (len(right) + len(self.suffix)))
                context = tuple(
                    min(st - body_start, body_end - st - len(pieces[start + k]))
                    for k, st in enumerate(starts)
                )
                out.append(
                    Window(s, start, tuple(ids), tuple(starts), context, tuple(labels) if tag_ids is not None else None,
                           shapes[start:end] if shapes is not None else None,
                           chars[start:end] if chars is not None else None)
                )
        return out


def build_word_encoder(settings, tokenizer) -> WordEncoder:
    """The ``WordEncoder`` a saved model's inputs are made with: its tokenizer and window lengths, and
    the word features its settings name (shape and character ids of each word as written).
    ``settings``: a model's ``TaggerSettings`` or ``ClassifierSettings`` (read by attribute; the
    PyTorch model and an export's runtime both build their encoder here)."""
    mode = getattr(settings, "word_features", "none")
    features = WordFeaturizer(mode, settings.char_vocab) if mode != "none" else None
    return WordEncoder(tokenizer, settings.max_length, settings.stride, features=features,
                       context=getattr(settings, "context", 0))
