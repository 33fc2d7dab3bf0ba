"""Contracts of ``engine.WindowScoring``, the batching engine every predictor shares, on a stand-in
predictor whose inputs are integers (one window each, ``1 + k % 4`` sub-tokens of id ``k``) and a
stand-in ``Scorer`` that answers each window's id and records every batch it scores (ids, thread):

- answers come back one per input, in input order, on both paths, whatever the batching;
- one stream: every input is planned at once into batches of ``batch_size`` windows, longest
  first, scored on the calling thread; ``streams`` > 1: each chunk is split into batches of at
  most ``batch_size`` and at least ``streams`` of them (when it has the windows), scored on at most
  ``streams`` worker threads, the next chunk drawn before the previous one is answered (two chunks
  in memory, not three), queued batches dropped when the consumer stops;
- ``stream`` hands ``predict`` chunks of ``chunk_size`` inputs (with document ids: cut only where
  the id changes, never before ``chunk_size``), its options, and their own ids;
- the defaults and the messages of bad arguments.
"""
from __future__ import annotations

import math
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune.encode import Window
from entitune.predict.engine import WindowScoring, as_sequence


class EchoScorer:
    """A ``Scorer`` without a model: a window's score is its first id. Records each batch's ids
    (in scoring order) and thread; with ``delay``, each batch takes that long and the most batches
    scored at once is kept."""

    def __init__(self, streams: int = 1, delay: float = 0.0) -> None:
        self.settings = SimpleNamespace(labels=("x",))
        self.labels = ("x",)
        self.pad_id = 0
        self.word_encoder = None
        self.streams = streams
        self.delay = delay
        self.batches: list[tuple[int, ...]] = []
        self.threads: set[int] = set()
        self.active = self.most_active = 0
        self._lock = threading.Lock()

    def score_windows(self, batch: dict) -> np.ndarray:
        ids = batch["input_ids"][:, 0]
        with self._lock:
            self.batches.append(tuple(ids.tolist()))
            self.threads.add(threading.get_ident())
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.active -= 1
        return ids.astype(np.float32)

    def decode(self, scores, mask):  # pragma: no cover - a classifier-like stand-in
        raise TypeError("no decoder")


def _length(k: int) -> int:
    return 1 + k % 4


class Echo(WindowScoring):
    """Inputs are integers; each answer is the input's window score (its id). ``predict`` records
    the items, document ids and options of each call."""

    def __init__(self, scorer, **kwargs) -> None:
        super().__init__(scorer, **kwargs)
        self.calls: list[tuple[list, object, dict]] = []

    def predict(self, inputs, documents=None, **options) -> list:
        inputs = as_sequence(inputs)
        self.calls.append((list(inputs), documents, options))
        return list(self._run(self._chunks(inputs)))

    def _windows(self, items):
        return [Window(i, 0, (k,) * _length(k), (0,), (0,), None) for i, k in enumerate(items)]

    def _finish(self, items, windows, batches, scores):
        out: list = [None] * len(items)
        for idx, batch_scores in zip(batches, scores):
            for row, i in enumerate(idx):
                out[windows[i].sentence] = int(batch_scores[row])
        return out


items_st = st.lists(st.integers(1, 99), max_size=40)


# ------------------------------------------------------------------------- one stream


@settings(max_examples=30, deadline=None)
@given(items=items_st, batch_size=st.integers(1, 9), chunk_size=st.integers(1, 9))
def test_one_stream_plans_every_input_at_once_in_full_batches_longest_first(items, batch_size, chunk_size):
    """With one stream (``streams`` == 1), answers are the inputs' own, in input order, and the
    batches are the windows sorted longest first (ties in input order) cut into runs of
    ``batch_size``, whatever ``chunk_size``, all scored on the calling thread. Broken: batches
    planned per chunk or for two streams (half size), batches of one, a shuffled order, an empty
    input that fails (a batch size of 0), the worker-thread path taken for one stream."""
    scorer = EchoScorer(streams=1)
    assert Echo(scorer, batch_size=batch_size, chunk_size=chunk_size).predict(items) == items
    order = sorted(range(len(items)), key=lambda i: -_length(items[i]))
    want = [tuple(items[i] for i in order[lo : lo + batch_size]) for lo in range(0, len(order), batch_size)]
    assert scorer.batches == want
    assert scorer.threads <= {threading.get_ident()}


# ------------------------------------------------------------------------- worker streams


@settings(max_examples=20, deadline=None)
@given(items=st.lists(st.integers(1, 99), max_size=40, unique=True), batch_size=st.integers(1, 9),
       chunk_size=st.integers(1, 12), streams=st.integers(2, 3))
def test_worker_streams_answer_in_input_order_with_each_chunk_split_for_the_workers(items, batch_size, chunk_size,
                                                                                    streams):
    """With ``streams`` > 1, answers are the inputs' own in input order; each chunk of
    ``chunk_size`` inputs is batched on its own into batches of at most ``min(batch_size,
    ceil(windows / streams))`` windows (so a small chunk still keeps every worker busy), the
    batches of a chunk holding exactly its inputs; scoring happens off the calling thread. Broken:
    one batch per chunk (``windows * streams``), batches over ``batch_size``, the one-stream path
    taken for two streams."""
    scorer = EchoScorer(streams=streams)
    assert Echo(scorer, batch_size=batch_size, chunk_size=chunk_size).predict(items) == items
    chunks = [items[lo : lo + chunk_size] for lo in range(0, len(items), chunk_size)]
    owner = {k: c for c, chunk in enumerate(chunks) for k in chunk}
    assert all(len({owner[k] for k in b}) == 1 for b in scorer.batches)  # a batch never spans chunks
    for c, chunk in enumerate(chunks):
        size = min(batch_size, math.ceil(len(chunk) / streams))
        mine = [b for b in scorer.batches if owner[b[0]] == c]
        assert sorted(k for b in mine for k in b) == sorted(chunk)
        assert all(1 <= len(b) <= size for b in mine)
        assert len(mine) >= min(streams, len(chunk))
    if items:
        assert threading.get_ident() not in scorer.threads


def test_at_most_streams_batches_are_scored_at_once():
    """Two streams: two worker threads, never more, even with many batches queued at once. Broken:
    a pool of the default size (several threads for two streams)."""
    scorer = EchoScorer(streams=2, delay=0.01)
    items = list(range(1, 17))
    assert Echo(scorer, batch_size=1, chunk_size=16).predict(items) == items
    assert len(scorer.batches) == 16
    assert len(scorer.threads) <= 2 and scorer.most_active <= 2


def test_the_next_chunk_is_drawn_before_the_previous_one_is_answered_and_no_sooner():
    """While the workers score chunk k, the engine draws chunk k+1 (so its Python work overlaps
    their scoring), then hands on chunk k's answers: when the first answer comes, exactly chunks 0
    and 1 have been drawn (memory holds two chunks, not one and not three). Broken: each chunk
    answered before the next is drawn (no overlap), or three chunks held."""
    engine = Echo(EchoScorer(streams=2), batch_size=2)
    drawn: list[int] = []

    def chunks():
        for k in range(4):
            drawn.append(k)
            yield [10 * k + 1, 10 * k + 2]

    answers = engine._run(chunks())
    assert next(answers) == 1
    assert drawn == [0, 1]
    assert list(answers) == [2, 11, 12, 21, 22, 31, 32]


def test_a_consumer_that_stops_early_drops_the_queued_batches():
    """Closing the answers' generator after the first answer cancels the batches still queued for
    the workers (only those already running finish). Broken: the pool shut down without
    ``cancel_futures`` (every queued batch scored for nobody)."""
    scorer = EchoScorer(streams=2, delay=0.01)
    engine = Echo(scorer, batch_size=1)
    first, second = list(range(1, 3)), list(range(100, 160))
    answers = engine._run(iter([first, second, [7]]))
    assert next(answers) == 1
    answers.close()
    queued = [b for b in scorer.batches if b[0] >= 100]
    assert len(queued) < len(second) // 2


# ------------------------------------------------------------------------- stream


@settings(max_examples=30, deadline=None)
@given(items=items_st, chunk_size=st.integers(1, 9))
def test_stream_answers_any_iterable_lazily_in_chunks_of_chunk_size(items, chunk_size):
    """``stream`` draws ``chunk_size`` inputs at a time from any iterable (here a generator) and
    hands each chunk to ``predict`` with the caller's options: the answers are the inputs' own in
    input order, every call but the last holds exactly ``chunk_size`` inputs, the last the rest. Broken: the whole
    input in one call, options dropped, no chunking."""
    engine = Echo(EchoScorer(), chunk_size=chunk_size)
    got = list(engine.stream((k for k in items), flag="on"))
    assert got == items
    sizes = [len(c) for c, _, _ in engine.calls]
    whole, rest = divmod(len(items), chunk_size)
    assert sizes == [chunk_size] * whole + ([rest] if rest else [])
    assert all(docs is None and options == {"flag": "on"} for _, docs, options in engine.calls)


def test_stream_reads_a_single_string_as_one_input():
    """A string is one input, not an iterable of characters. Broken: the string dropped."""
    engine = Echo(EchoScorer())
    engine._windows = lambda items: [Window(i, 0, (len(s),), (0,), (0,), None) for i, s in enumerate(items)]
    assert list(engine.stream("abc")) == [3]
    assert engine.calls[0][0] == ["abc"]


docs_st = st.lists(st.sampled_from("ab"), max_size=30)


@settings(max_examples=40, deadline=None)
@given(docs=docs_st, chunk_size=st.integers(1, 8))
def test_stream_with_documents_cuts_chunks_only_where_the_id_changes(docs, chunk_size):
    """With ``documents``, each ``predict`` call gets its inputs with their own ids (and the
    caller's options); a chunk ends only where the id changes, and there as soon as it holds
    ``chunk_size`` inputs: no inner boundary of a chunk at or past ``chunk_size`` has an id
    change, and every chunk but the last ends at one after at least ``chunk_size`` inputs.
    Broken: ids left in the options (the whole list handed to every call), cuts inside a
    document, cuts before ``chunk_size`` or one input late, ids compared with the wrong neighbour."""
    items = list(range(1, len(docs) + 1))
    engine = Echo(EchoScorer(), chunk_size=chunk_size)
    got = list(engine.stream(iter(items), documents=iter(docs), flag=1))
    assert got == items
    position = 0
    for k, (chunk, ids, options) in enumerate(engine.calls):
        assert options == {"flag": 1}
        assert chunk == items[position : position + len(chunk)]
        assert ids == docs[position : position + len(chunk)]
        for j in range(chunk_size, len(chunk)):
            assert ids[j] == ids[j - 1], (k, j)
        position += len(chunk)
        if k < len(engine.calls) - 1:
            assert len(chunk) >= chunk_size and docs[position] != docs[position - 1]
    assert position == len(items)


def test_stream_needs_one_document_id_per_input():
    """Ids and inputs of different lengths are a ValueError, not a silent cut."""
    engine = Echo(EchoScorer(), chunk_size=2)
    with pytest.raises(ValueError):
        list(engine.stream([1, 2, 3], documents=["a", "a"]))


# ------------------------------------------------------------------------- construction, as_sequence


def test_defaults_and_bad_arguments():
    """Defaults: 32 windows a batch, 512 inputs a chunk (the documented values). A size below 1 is a
    ValueError naming the option and the value; a model that is not a ``Scorer`` is a TypeError
    naming the predictor and what it got."""
    engine = Echo(EchoScorer())
    assert (engine.batch_size, engine.chunk_size) == (32, 512)
    with pytest.raises(ValueError, match=r"^batch_size must be >= 1, got 0$"):
        Echo(EchoScorer(), batch_size=0)
    with pytest.raises(ValueError, match=r"^chunk_size must be >= 1, got -1$"):
        Echo(EchoScorer(), chunk_size=-1)
    with pytest.raises(TypeError, match=r"^Echo needs a Scorer \(see entitune.backends\), got str$"):
        Echo("model")


def test_as_sequence_keeps_sequences_reads_iterables_and_wraps_a_string():
    """A list or tuple is handed on as it is (no copy), any other iterable read into a list, a
    single string is one input."""
    words, pair = ["a", "b"], ("a", "b")
    assert as_sequence(words) is words and as_sequence(pair) is pair
    assert as_sequence(k for k in (1, 2)) == [1, 2]
    assert as_sequence(iter("ab")) == ["a", "b"]
    assert as_sequence("ab") == ["ab"]
