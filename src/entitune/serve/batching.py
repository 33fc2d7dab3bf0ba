"""``MicroBatcher``: combines the inputs of concurrent requests into few ``predict`` calls, splits
large requests into several, takes cheap work first, and holds no more than a budget.

Each request arrives with its inputs' costs (sub-words, counted by ``costs.SubwordCounter``) and
becomes one or more pieces: runs of consecutive inputs of at most ``max_batch_texts`` inputs and
``max_batch_subwords`` sub-words (one input at least), so a request of a megabyte is several
micro-batches rather than one that holds a worker for minutes. Each piece is due when it would be
done had its request run alone from its arrival (its own and its request's earlier pieces'
sub-words at the recently measured sub-words per second, ``rate``); a worker takes the piece due
first, then whatever else of the same lane is waiting or arrives within ``max_wait_s``, up to the
batch's size, runs ``predict`` once on the combined list on a worker thread, and hands each request
its share of the results. A one-line request is due almost at once, so it passes a large request
queued before it; a large request's pieces fall due in turn and go before newer work, so it is never
starved.

Lanes: with ``workers`` >= 2 and ``quick_lane_subwords`` > 0, one worker takes only requests of at
most that many sub-words (small), and small and large pieces never share a batch; a one-line request
then waits for at most one batch of small requests, however many large ones are queued or running.

Budget: ``load`` counts the sub-words of admitted requests not yet answered (queued or running).
``submit`` refuses a request that would take it past ``max_queued_subwords`` (``Busy``, with an
estimate of the seconds until there is room, for a Retry-After header); a request is always admitted
when nothing is queued or running. A request whose deadline (``timeout``) passes, or whose caller
is cancelled (its client went away), has its pieces not yet started dropped from the queue and their
sub-words released; a piece already running finishes and its answer is thrown away.

``workers`` batches may be predicted at once (one collects while another predicts): with one, the
model waited while the answers of a batch went out and the next requests came in; with two, 50
clients on 2 cores were served about 1.15x faster. Written here by hand because nothing well-kept
does it for this case: model servers (Triton, TorchServe, Ray Serve) batch tensors and need their
own runtime, and the small asyncio batching packages are thin and unmaintained, without costs,
deadlines or lanes.

A failure is kept to the request that causes it: when ``predict`` raises on a combined batch, each
piece of the batch is predicted again on its own, so only the offending request gets the exception
(the others their answers), and each failed request is logged as one warning line (the exception's
type and message, no traceback) on the ``entitune.serve`` logger. ``after_batch`` (when given) runs
on the worker thread after each batch of at least ``max_batch_subwords`` / 2 sub-words: the service
hands freed memory back to the operating system there (``memory.release_freed_memory``).
"""
from __future__ import annotations

import asyncio
import heapq
import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import one_line

_log = logging.getLogger("entitune.serve")

#: sub-words per second assumed until a batch has been measured
FIRST_RATE = 1_000.0
#: weight of the newest batch in the measured rate (an exponential moving average)
RATE_WEIGHT = 0.2


class Busy(Exception):
    """A request the budget cannot take now; ``retry_after``: whole seconds until it likely can."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overdue(Exception):
    """A request not answered within its ``timeout``; its pieces not yet started were dropped."""


@dataclass(eq=False)
class _Job:
    """One request: its inputs, their costs, the slots of its answers and what is left to do."""

    inputs: list
    future: asyncio.Future
    results: list
    pieces_left: int = 0
    dropped: bool = False


@dataclass(order=True)
class _Piece:
    """Consecutive inputs ``start:end`` of a job, predicted in one batch; ordered by when due."""

    due: float
    seq: int
    job: _Job = field(compare=False)
    start: int = field(compare=False)
    end: int = field(compare=False)
    cost: int = field(compare=False)
    small: bool = field(compare=False)

    @property
    def texts(self) -> int:
        return self.end - self.start


class MicroBatcher:
    """Combines the inputs of concurrent requests into few ``predict`` calls on ``workers`` threads.

    ``submit`` awaits the answers of one request; ``start``/``stop`` run inside the app's lifespan.
    ``max_batch_subwords``, ``max_queued_subwords`` and ``quick_lane_subwords`` default to no limit
    (and no lane); without ``costs`` every input costs 1.
    """

    def __init__(self, predict: Callable[[list], list[dict]], max_batch_texts: int, max_wait_s: float,
                 thread_init: Callable[[], None] | None = None, workers: int = 1, *,
                 max_batch_subwords: int | None = None, max_queued_subwords: int | None = None,
                 quick_lane_subwords: int = 0, after_batch: Callable[[], object] | None = None) -> None:
        self._predict = predict
        self._max_batch = max_batch_texts
        self._max_wait = max_wait_s
        self._max_subwords = max_batch_subwords or math.inf
        self._budget = max_queued_subwords or math.inf
        self._quick = quick_lane_subwords if workers >= 2 else 0
        self._thread_init = thread_init
        self._workers = workers
        self._after_batch = after_batch
        self._small: list[_Piece] = []  # heaps, by due time
        self._large: list[_Piece] = []
        self._seq = 0
        self._waiters: set[asyncio.Future] = set()  # workers waiting for work to arrive
        self._started = False
        self._collecting: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task] = []
        self._executor: ThreadPoolExecutor | None = None
        self.rate = FIRST_RATE  # sub-words per second, measured on the batches predicted
        self.load = 0  # sub-words of admitted requests not yet answered (queued or running)
        self.batches = 0  # predict calls made, for tests and curiosity
        self.running = self.most_running = 0  # predict calls under way now, and at most so far

    async def start(self) -> None:
        self._started = True
        self._collecting = asyncio.Lock()
        self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="entitune-predict",
                                            initializer=self._thread_init)
        self._tasks = [asyncio.create_task(self._worker(quick=bool(self._quick) and i == 0), name=f"entitune-batcher-{i}")
                       for i in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    @property
    def queued(self) -> int:
        """Pieces waiting for a worker (for tests: a dropped request leaves none behind)."""
        return len(self._small) + len(self._large)

    def seconds_until_room(self, subwords: int = 0) -> int:
        """Whole seconds (at least 1) until ``subwords`` more fit the budget, or with no budget (or
        ``subwords`` 0) until the work admitted so far is done, at the measured rate: what a
        Retry-After header says."""
        room = self._budget - subwords if subwords and self._budget != math.inf else 0
        return max(1, math.ceil(max(self.load - room, 0) / self.rate))

    def full(self) -> bool:
        """Whether the budget is spent: any request would be refused now."""
        return self.load > 0 and self.load >= self._budget

    def admit(self, cost: int) -> None:
        """Raises ``Busy`` when a request of ``cost`` sub-words would take the load past the budget."""
        if self.load > 0 and self.load + cost > self._budget:
            raise Busy(f"the server is busy: {self.load} sub-words queued or being predicted, and this request's "
                       f"{cost} would pass the maximum of {self._budget} (--max-queued-subwords)",
                       self.seconds_until_room(cost))

    async def submit(self, inputs: list, costs: Sequence[int] | None = None, timeout: float | None = None) -> list[dict]:
        """The predictions (as dicts) of ``inputs``, in order. ``costs``: each input's sub-words
        (default 1 each). Raises ``Busy`` at once when the budget cannot take the request, and
        ``Overdue`` when it is not answered within ``timeout`` seconds (its pieces not
        yet started are then dropped, as they are when the caller is cancelled)."""
        if not self._started:
            raise RuntimeError("MicroBatcher.start() was not called")
        costs = [max(int(c), 1) for c in costs] if costs is not None else [1] * len(inputs)
        if len(costs) != len(inputs):
            raise ValueError(f"{len(inputs)} inputs but {len(costs)} costs")
        self.admit(sum(costs))
        loop = asyncio.get_running_loop()
        job = _Job(list(inputs), loop.create_future(), [None] * len(inputs))
        self._enqueue(job, costs, loop.time())
        try:
            if timeout is None:
                return await job.future
            return await asyncio.wait_for(job.future, timeout)
        except asyncio.TimeoutError:
            if job.future.cancelled():  # the deadline, not a TimeoutError ``predict`` raised
                raise Overdue(f"not answered within {timeout:g} s") from None
            raise
        finally:
            if not job.future.done() or job.future.cancelled():
                self._drop(job)

    def _enqueue(self, job: _Job, costs: Sequence[int], now: float) -> None:
        """Split ``job`` into pieces, each due at its request's arrival plus the time its sub-words
        and those of the pieces before it take at the measured rate."""
        small = self._quick > 0 and sum(costs) <= self._quick
        start, done = 0, 0
        while start < len(costs):
            end, cost = start + 1, costs[start]
            while end < len(costs) and end - start < self._max_batch and cost + costs[end] <= self._max_subwords:
                cost += costs[end]
                end += 1
            done += cost
            self._seq += 1
            piece = _Piece(now + done / self.rate, self._seq, job, start, end, cost, small)
            heapq.heappush(self._small if small else self._large, piece)
            job.pieces_left += 1
            self.load += cost
            start = end
        for waiter in list(self._waiters):  # every waiting worker looks again
            if not waiter.done():
                waiter.set_result(None)

    def _drop(self, job: _Job) -> None:
        """Take ``job``'s pieces not yet started out of the queue and release their sub-words."""
        job.dropped = True
        for heap in (self._small, self._large):
            kept = [p for p in heap if p.job is not job]
            if len(kept) != len(heap):
                self.load -= sum(p.cost for p in heap if p.job is job)
                heap[:] = kept
                heapq.heapify(heap)

    def _first(self, quick: bool, small: bool | None = None) -> list[_Piece] | None:
        """The heap whose top a worker would take next: the quick lane's only the small pieces; another
        worker's the one due first (``small`` given: only pieces of that kind); None when empty."""
        if quick or small is True:
            return self._small or None
        if small is False:
            return self._large or None
        heaps = [h for h in (self._small, self._large) if h]
        return min(heaps, key=lambda h: h[0]) if heaps else None

    def _work_arrives(self) -> asyncio.Future:
        """A future done when the next request is queued; made at once (not when first awaited), so
        a request queued between a worker's look at the queue and its wait is never missed."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        waiter.add_done_callback(self._waiters.discard)
        return waiter

    async def _next_batch(self, quick: bool) -> list[_Piece]:
        """The piece due first that this worker takes, then pieces of its lane waiting or arriving
        within the window, up to the batch's texts and sub-words; a piece that would overflow the
        batch stays first in the queue."""
        assert self._collecting is not None
        while True:
            async with self._collecting:  # one collector at a time: batches stay whole
                heap = self._first(quick)
                if heap is not None:
                    return await self._fill([heapq.heappop(heap)])
            await self._work_arrives()

    async def _fill(self, batch: list[_Piece]) -> list[_Piece]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        texts, cost = batch[0].texts, batch[0].cost
        while texts < self._max_batch and cost < self._max_subwords:
            heap = self._first(quick=False, small=batch[0].small)
            if heap is None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._work_arrives(), remaining)
                except asyncio.TimeoutError:
                    break
                continue
            piece = heap[0]
            if texts + piece.texts > self._max_batch or cost + piece.cost > self._max_subwords:
                break
            batch.append(heapq.heappop(heap))
            texts, cost = texts + piece.texts, cost + piece.cost
        return sorted(batch, key=lambda p: p.seq)  # predicted in arrival order, whatever order they were taken in

    async def _worker(self, quick: bool) -> None:
        while True:
            batch = await self._next_batch(quick)
            gone = [p for p in batch if p.job.dropped]  # its request timed out while the batch was filling
            if gone:
                self.load -= sum(p.cost for p in gone)
                batch = [p for p in batch if not p.job.dropped]
                if not batch:
                    continue
            try:
                outcomes = await self._predict_batch(batch)
            finally:
                self.load -= sum(p.cost for p in batch)
            for piece, outcome in zip(batch, outcomes):
                self._deliver(piece, outcome)

    async def _predict_batch(self, batch: list[_Piece]) -> list:
        """Each piece's answers, or the exception predicting it raised."""
        loop = asyncio.get_running_loop()
        flat = [item for p in batch for item in p.job.inputs[p.start:p.end]]
        cost = sum(p.cost for p in batch)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            started = loop.time()
            try:
                results = await loop.run_in_executor(self._executor, self._predict_and_tidy, flat, cost)
            except Exception as exc:
                return await self._isolate(batch, exc)
            self.batches += 1
            self._measured(cost, loop.time() - started)
            outcomes, start = [], 0
            for p in batch:
                outcomes.append(results[start:start + p.texts])
                start += p.texts
            return outcomes
        finally:
            self.running -= 1

    def _predict_and_tidy(self, flat: list, cost: int) -> list[dict]:
        """``predict`` on the worker thread, then ``after_batch`` after a large batch."""
        try:
            return self._predict(flat)
        finally:
            if self._after_batch is not None and cost * 2 >= self._max_subwords:
                self._after_batch()

    def _measured(self, cost: int, seconds: float) -> None:
        if seconds > 0:
            self.rate = (1 - RATE_WEIGHT) * self.rate + RATE_WEIGHT * max(cost / seconds, 1.0)

    async def _isolate(self, batch: list[_Piece], exc: Exception) -> list:
        """After ``predict`` raised on a combined batch: each piece predicted alone, so only the
        offending request fails (one piece: it is the one)."""
        if len(batch) == 1:
            return [exc]
        _log.debug("predict failed on a batch of %d pieces (%s); predicting each alone", len(batch), type(exc).__name__)
        loop = asyncio.get_running_loop()
        try:
            outcomes = await loop.run_in_executor(self._executor, self._each_alone, batch)
        except Exception as again:  # the executor itself failed (shut down): all fail
            return [again] * len(batch)
        self.batches += sum(not isinstance(o, BaseException) for o in outcomes)
        return outcomes

    def _each_alone(self, batch: list[_Piece]) -> list:
        """Each piece's predictions, or the exception predicting it alone raised (on the worker thread)."""
        outcomes: list = []
        for p in batch:
            try:
                outcomes.append(self._predict(p.job.inputs[p.start:p.end]))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def _deliver(self, piece: _Piece, outcome: object) -> None:
        """A piece's answers into its request's slots (answering it when it was the last), or its
        failure to the request (dropping its other pieces)."""
        job = piece.job
        if job.future.done() or job.dropped:
            return  # timed out, cancelled or already failed: nobody waits for this answer
        if isinstance(outcome, BaseException):
            _log.warning("prediction failed for a request of %d input(s): %s: %s", len(job.inputs),
                         type(outcome).__name__, one_line(outcome))
            job.future.set_exception(outcome)
            self._drop(job)
            return
        job.results[piece.start:piece.end] = outcome
        job.pieces_left -= 1
        if job.pieces_left == 0:
            job.future.set_result(job.results)
