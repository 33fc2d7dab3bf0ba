"""``WindowScoring``: the batching engine every predictor shares. Items (word lists or texts) become
windows, windows are batched by length and scored by a ``Scorer``, one batch after another or, for
a scorer with ``streams`` > 1 (an ONNX export, which runs each batch on one thread), on that many
worker threads chunk by chunk, so that this thread's Python work (encoding one chunk, finishing
another) overlaps their scoring. Which windows share a batch depends on the input, the batch size
and the number of streams, never on thread timing: answers are repeatable. A task's predictor says
how its items become windows (``_windows``) and how window scores become answers (``_finish``).

Batches are numpy arrays (``encode.pad_batch``) and scores come back as numpy: no torch here, so
the same engine runs a PyTorch model and an ONNX export under onnxruntime alone.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

import numpy as np

from ..encode import Window, length_grouped_batches, pad_batch
from .scorer import Scorer


class WindowScoring:
    """Batched, windowed scoring with any backend's ``Scorer`` (``backends.load_scorer``,
    ``backends.TorchScorer``, ``backends.OnnxScorer``).

    Args:
        scorer: the model as a ``Scorer``. One with ``streams`` > 1 (an ONNX export, which runs
            each batch on one thread) has that many batches scored at once on worker threads.
        batch_size: windows per forward pass.
        chunk_size: with ``streams`` > 1, items are split, encoded, scored and finished this
            many at a time, so that the Python work on one chunk overlaps the scoring of the next.
    """

    def __init__(self, scorer: Scorer, batch_size: int = 32, chunk_size: int = 512) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if not isinstance(scorer, Scorer):
            raise TypeError(f"{type(self).__name__} needs a Scorer (see entitune.backends), got {type(scorer).__name__}")
        self.scorer = scorer
        self.batch_size = batch_size
        self.chunk_size = chunk_size

    def stream(self, inputs: Iterable, **options) -> Iterator:
        """The lazy form of ``predict``: answers for any iterable of inputs (a generator, a file's
        lines...), yielded in input order as each chunk of ``chunk_size`` inputs is answered, so
        memory holds one chunk (two with worker streams) however many inputs come. ``options`` go
        to ``predict`` (``documents`` for a tagger: an iterable of ids beside the inputs; a chunk
        then ends only where the id changes). A single string is one input."""
        if isinstance(inputs, str):
            inputs = [inputs]
        documents = options.pop("documents", None)
        if documents is None:
            items = iter(inputs)
            while chunk := list(islice(items, self.chunk_size)):
                yield from self.predict(chunk, **options)
            return
        chunk: list = []
        for pair in zip(inputs, documents, strict=True):
            if len(chunk) >= self.chunk_size and pair[1] != chunk[-1][1]:
                yield from self.predict([item for item, _ in chunk], documents=[doc for _, doc in chunk], **options)
                chunk = []
            chunk.append(pair)
        if chunk:
            yield from self.predict([item for item, _ in chunk], documents=[doc for _, doc in chunk], **options)

    def _chunks(self, items: Sequence) -> Iterator[Sequence]:
        """``items`` in chunks of ``chunk_size`` (the streamed path's unit of work)."""
        for lo in range(0, len(items), self.chunk_size):
            yield items[lo : lo + self.chunk_size]

    def _run(self, chunks: Iterable[Sequence]) -> Iterator:
        """The answers for chunks of items, in order. With ``streams`` > 1 the next chunk is drawn
        (so it may be made lazily) and the answers are handed on while the workers score."""
        streams = getattr(self.scorer, "streams", 1)
        if streams > 1:
            yield from self._run_streamed(chunks, streams)
        else:  # all at once: the best length grouping
            items = [s for chunk in chunks for s in chunk]
            windows, batches = self._plan(items, 1)
            yield from self._finish(items, windows, batches, [self._score(windows, idx) for idx in batches])

    def _run_streamed(self, chunks: Iterable[Sequence], streams: int) -> Iterator:
        """``_run`` with batches scored on ``streams`` worker threads: while the workers score
        chunk k, this thread draws and encodes chunk k+1 and finishes chunk k-1."""
        pending: deque = deque()

        def finish(chunk, windows, batches, futures) -> list:
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

    def _plan(self, items: Sequence, streams: int) -> tuple[list[Window], list[list[int]]]:
        """The windows of ``items`` and batches of window indices grouped by length (smaller
        batches when there are too few windows to keep ``streams`` workers busy)."""
        windows = self._windows(items)
        size = min(self.batch_size, math.ceil(len(windows) / streams)) if windows else 1
        batches = list(length_grouped_batches([len(w.input_ids) for w in windows], size, seed=0, shuffle=False))
        return windows, batches

    def _score(self, windows: Sequence[Window], idx: list[int]) -> np.ndarray:
        """Scores of one batch of windows. A PyTorch scorer's ``score_windows`` enters inference
        mode itself, which matters on worker threads (the mode is per thread)."""
        return self.scorer.score_windows(pad_batch([windows[i] for i in idx], self.scorer.pad_id))

    def _windows(self, items: Sequence) -> list[Window]:
        """The windows of ``items`` (``Window.sentence`` indexes ``items``)."""
        raise NotImplementedError

    def _finish(self, items: Sequence, windows: list[Window], batches: list[list[int]],
                scores: list[np.ndarray]) -> list:
        """The answers for ``items`` from their windows' batch scores."""
        raise NotImplementedError


def as_sequence(inputs: Iterable) -> Sequence:
    """``inputs`` as a sequence: a list or tuple as it is, a single string as one input, any other
    iterable (a generator...) read into a list."""
    if isinstance(inputs, str):
        return [inputs]
    return inputs if isinstance(inputs, Sequence) else list(inputs)
