"""``Predictor``: words or raw text -> tags and entities with character offsets and scores.

The one decode path of entitune: evaluation, the CLI and the server all call ``Predictor.tag`` or
``Predictor.predict``. Windows are batched by length under ``torch.inference_mode``, scored by a
``Scorer`` (any backend), merged back per sentence (``encode.merge_windows``), then decoded over
whole sentences by the model's head.

A PyTorch model scores its batches one after another, each over torch's threads. An ONNX export
runs each batch on one onnxruntime thread and says how many may run at once (``streams``); then
batches go to that many worker threads, chunk by chunk, and this thread's Python work (encoding
one chunk, decoding another) overlaps their scoring. Which windows share a batch depends on the
input, the batch size and the number of streams, never on thread timing: answers are repeatable,
and for an fp32 export the same as with one stream (tested). An int8 export scales activations
per batch, so its scores can move in the last digits with the batching.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
from torch.nn.utils.rnn import pad_sequence

from ..data.text import join_words, split_words
from ..encode import Window, collate, length_grouped_batches, merge_windows
from ..tags import spans_from_tags, to_iob2
from ..types import Entity, Prediction, Tagged
from .scorer import Scorer


class Predictor:
    """Batched, windowed tagging with any backend's ``Scorer`` (``backends.load_scorer``,
    ``backends.TorchScorer``, ``backends.OnnxScorer``).

    Args:
        scorer: the model as a ``Scorer``. One with ``streams`` > 1 (an ONNX export, which runs
            each batch on one thread) has that many batches scored at once on worker threads.
        batch_size: windows per forward pass.
        chunk_size: with ``streams`` > 1, sentences are split, encoded, scored and decoded this
            many at a time, so that the Python work on one chunk overlaps the scoring of the next.
    """

    #: sentences decoded together (at least ``batch_size``)
    decode_group = 128

    def __init__(self, scorer: Scorer, batch_size: int = 32, chunk_size: int = 512) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if not isinstance(scorer, Scorer):
            raise TypeError(f"Predictor needs a Scorer (see entitune.backends), got {type(scorer).__name__}")
        self.scorer = scorer
        self.batch_size = batch_size
        self.chunk_size = chunk_size

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[Tagged]:
        """Tag word sequences; every word gets a tag, however long the sentence."""
        return list(self._tag_chunks(self._chunks(sentences)))

    def _chunks(self, items: Sequence) -> Iterator[Sequence]:
        """``items`` in chunks of ``chunk_size`` (the streamed path's unit of work)."""
        for lo in range(0, len(items), self.chunk_size):
            yield items[lo : lo + self.chunk_size]

    @torch.inference_mode()
    def _tag_chunks(self, chunks: Iterable[Sequence[Sequence[str]]]) -> Iterator[Tagged]:
        """The tags of chunks of word sequences, in order. With ``streams`` > 1 the next chunk is
        drawn (so it may be made lazily) and the results are handed on while the workers score."""
        streams = getattr(self.scorer, "streams", 1)
        if streams > 1:
            yield from self._tag_streamed(chunks, streams)
        else:  # all at once: the best length grouping
            sentences = [s for chunk in chunks for s in chunk]
            windows, batches = self._plan(sentences, 1)
            yield from self._finish(sentences, windows, batches, [self._score(windows, idx) for idx in batches])

    def _tag_streamed(self, chunks: Iterable[Sequence[Sequence[str]]], streams: int) -> Iterator[Tagged]:
        """``_tag_chunks`` with batches scored on ``streams`` worker threads: while the workers
        score chunk k, this thread draws and encodes chunk k+1 and decodes chunk k-1."""
        pending: deque = deque()

        def finish(chunk, windows, batches, futures) -> list[Tagged]:
            return self._finish(chunk, windows, batches, [f.result() for f in futures])

        # no torch.set_num_threads in the workers: it would change the setting for the process
        with ThreadPoolExecutor(streams) as pool:
            try:
                for chunk in chunks:
                    windows, batches = self._plan(chunk, streams)
                    pending.append((chunk, windows, batches, [pool.submit(self._score, windows, idx) for idx in batches]))
                    if len(pending) > 1:
                        yield from finish(*pending.popleft())
                while pending:
                    yield from finish(*pending.popleft())
            except BaseException:  # an error, Ctrl-C, or a consumer that stopped early: drop the queued batches
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def _plan(self, sentences: Sequence[Sequence[str]], streams: int) -> tuple[list[Window], list[list[int]]]:
        """The windows of ``sentences`` and batches of window indices grouped by length (smaller
        batches when there are too few windows to keep ``streams`` workers busy)."""
        windows = self.scorer.word_encoder.encode(sentences)
        size = min(self.batch_size, math.ceil(len(windows) / streams)) if windows else 1
        batches = list(length_grouped_batches([len(w.input_ids) for w in windows], size, seed=0, shuffle=False))
        return windows, batches

    def _score(self, windows: Sequence[Window], idx: list[int]) -> torch.Tensor:
        """Scores of one batch of windows: (batch, words, labels). ``score_windows`` enters
        inference mode itself, which matters on worker threads (the mode is per thread)."""
        return self.scorer.score_windows(collate([windows[i] for i in idx], self.scorer.pad_id))

    def _finish(self, sentences: Sequence[Sequence[str]], windows: list[Window], batches: list[list[int]],
                scores: list[torch.Tensor]) -> list[Tagged]:
        """Merge the batches' scores per sentence and decode them."""
        return self._decode(sentences, self._merge(sentences, windows, batches, scores))

    @staticmethod
    def _merge(sentences: Sequence[Sequence[str]], windows: list[Window], batches: list[list[int]],
               scores: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per sentence, a (words, labels) score tensor merged from its windows' batch scores."""
        window_scores: list[torch.Tensor | None] = [None] * len(windows)
        for idx, batch_scores in zip(batches, scores):
            for row, i in enumerate(idx):
                window_scores[i] = batch_scores[row, : windows[i].n_words]
        if all(w.first_word == 0 and w.n_words == len(sentences[w.sentence]) for w in windows):
            return window_scores  # type: ignore[return-value]  # one window per sentence, in order
        return merge_windows(windows, window_scores, [len(s) for s in sentences])

    def _decode(self, sentences: Sequence[Sequence[str]], merged: list[torch.Tensor]) -> list[Tagged]:
        """Decode whole sentences with the head, batched by length."""
        scheme = self.scorer.settings.scheme
        labels = self.scorer.labels
        out: list[Tagged | None] = [None] * len(sentences)
        lengths = [len(s) for s in sentences]
        none = torch.zeros((0, len(labels)))  # the scores of an empty sentence
        # decoding never depends on the grouping: large groups mean few (vectorised) torch calls
        for idx in length_grouped_batches(lengths, max(self.batch_size, self.decode_group), seed=0, shuffle=False):
            if lengths[idx[0]] == 0:  # longest first: the whole group is empty sentences
                for i in idx:
                    out[i] = Tagged((), (), (), ())
                continue
            # shape: (batch, words, labels) and (batch, words)
            padded = pad_sequence([merged[i] if lengths[i] else none for i in idx], batch_first=True)
            mask = torch.arange(padded.shape[1]) < torch.tensor([lengths[i] for i in idx]).unsqueeze(1)
            tag_ids, probs = self.scorer.decode(padded, mask)
            tag_ids, probs = tag_ids.tolist(), probs.tolist()
            for row, i in enumerate(idx):
                n = lengths[i]
                native = tuple(labels[t] for t in tag_ids[row][:n])
                tags = native if scheme == "IOB2" else tuple(to_iob2(native, scheme))
                out[i] = Tagged(tuple(sentences[i]), tags, tuple(probs[row][:n]), native)
        return out  # type: ignore[return-value]

    def predict(self, inputs: Sequence[str | Sequence[str]]) -> list[Prediction]:
        """Tag raw texts (split into words here) or pre-split word lists.

        Entity offsets index the raw text; for pre-split words they index the words joined by
        single spaces (the ``text`` of the result). An entity's score is the mean probability of
        its words' tags.
        """
        parsed: list[tuple[str, list[str], list[tuple[int, int]]]] = []

        def word_chunks() -> Iterator[list[list[str]]]:
            # split chunk by chunk, when the scorer's turn draws the chunk: overlapped with scoring
            for chunk in self._chunks(inputs):
                split = [_split_input(item) for item in chunk]
                parsed.extend(split)
                yield [words for _, words, _ in split]

        results: list[Prediction] = []
        for tagged in self._tag_chunks(word_chunks()):
            text, _, offs = parsed[len(results)]
            entities = []
            for span in spans_from_tags(tagged.tags):
                start, end = offs[span.start][0], offs[span.end - 1][1]
                score = sum(tagged.scores[span.start : span.end]) / (span.end - span.start)
                entities.append(Entity(text[start:end], span.label, start, end, score, span.start, span.end))
            results.append(Prediction(text, tagged.words, tuple(offs), tagged.tags, tuple(entities)))
        return results


def _split_input(item: str | Sequence[str]) -> tuple[str, list[str], list[tuple[int, int]]]:
    """A raw text split into words, or pre-split words joined by single spaces: (text, words,
    character offsets of the words in the text)."""
    if isinstance(item, str):
        split = split_words(item)
        return item, [w for w, _, _ in split], [(s, e) for _, s, e in split]
    words = [str(w) for w in item]
    text, offsets = join_words(words)
    return text, words, offsets
