"""``MicroBatcher``'s batch boundaries, window and counters, checked without timing: the batcher runs
on an event loop whose clock moves only when the test says (``VirtualClockLoop``) and whose
``run_in_executor`` calls ``predict`` at once on the loop's thread, so which inputs share a
``predict`` call, and when the window closes, are exact. A batch filled exactly to
``max_batch_texts`` (or ``max_batch_subwords``) goes at once, with all of it; a request one over the
room left waits for the next batch; a lone request is predicted when ``max_wait_s`` is over, to the
millisecond; ``batches``, ``running`` and ``most_running`` count what happened, failures included.
tests/unit/serve/test_batching_contracts.py checks the same kind of rules on a real clock, with
margins too wide to tell a bound off by one."""

from __future__ import annotations

import asyncio

import pytest

from entitune.serve import MicroBatcher
from tests.helpers.clock import VirtualClockLoop

EPS = 0.001
POISON = "poison"


class InlineLoop(VirtualClockLoop):
    """A ``VirtualClockLoop`` whose ``run_in_executor`` runs the function at once, on the loop's
    thread: a batch is predicted the moment a worker hands it over."""

    def run_in_executor(self, executor, func, *args):
        future = self.create_future()
        try:
            future.set_result(func(*args))
        except Exception as exc:  # noqa: BLE001 - as an executor does: the exception goes to the future
            future.set_exception(exc)
        return future


class Echo:
    """``predict``: each input answered with itself; raises on ``POISON``; notes each call's inputs
    and the batcher's ``running`` during it."""

    def __init__(self) -> None:
        self.calls: list[list] = []
        self.running_seen: list[int] = []
        self.batcher: MicroBatcher | None = None

    def __call__(self, inputs: list) -> list[dict]:
        self.calls.append(list(inputs))
        self.running_seen.append(self.batcher.running)
        if POISON in inputs:
            raise ValueError("poisoned")
        return [{"echo": x} for x in inputs]


@pytest.fixture
def loop():
    loop = InlineLoop()
    yield loop
    for task in asyncio.all_tasks(loop):
        task.cancel()
    loop.settle()
    loop.close()


@pytest.fixture
def batcher(loop):
    """``batcher(**kwargs)``: a started ``MicroBatcher`` on ``loop`` with an ``Echo`` as ``predict``
    (``batcher.predict``), stopped after the test."""
    made: list[MicroBatcher] = []

    def make(**kwargs) -> MicroBatcher:
        predict = Echo()
        kwargs.setdefault("max_batch_texts", 64)
        kwargs.setdefault("max_wait_s", 30.0)
        b = MicroBatcher(predict, **kwargs)
        predict.batcher = b
        b.predict = predict
        loop.run_until_complete(b.start())
        made.append(b)
        return b

    yield make
    for b in made:
        loop.run_until_complete(b.stop())


def submit(
    loop: InlineLoop,
    batcher: MicroBatcher,
    inputs: list,
    costs: list[int] | None = None,
) -> asyncio.Task:
    task = loop.create_task(batcher.submit(inputs, costs))
    loop.settle()
    return task


def test_requests_that_fill_the_batch_exactly_are_predicted_together_at_once(
    loop, batcher
):
    """Room for 3: [a] and [b, c] queued together are one call, made without waiting out the 30 s
    window. Broken (``>=`` for ``>`` when adding a request: the batch counted full one early), [a]
    goes alone; broken (the batch counted full only past its size), the full batch waits."""
    b = batcher(max_batch_texts=3)
    first, second = (
        loop.create_task(b.submit(["a"])),
        loop.create_task(b.submit(["b", "c"])),
    )
    loop.settle()
    assert b.predict.calls == [["a", "b", "c"]]
    assert first.result() == [{"echo": "a"}] and second.result() == [
        {"echo": "b"},
        {"echo": "c"},
    ]


def test_a_request_one_over_the_room_left_goes_in_the_next_batch(loop, batcher):
    """Room for 3: [a] and [b, c, d] queued together are two calls, [a] at once (the batch cannot
    take [b, c, d], so waiting for more is pointless) and then [b, c, d] (full). Broken (a request
    added past the batch's size), one call of four."""
    b = batcher(max_batch_texts=3)
    tasks = [
        loop.create_task(b.submit(["a"])),
        loop.create_task(b.submit(["b", "c", "d"])),
    ]
    loop.settle()
    assert b.predict.calls == [["a"], ["b", "c", "d"]]
    assert all(t.done() for t in tasks)


def test_requests_that_fill_the_subwords_exactly_share_a_batch_and_one_more_does_not(
    loop, batcher
):
    """``max_batch_subwords`` 300: requests of 100 and 200 sub-words are one call at once; of 100 and
    201, the first goes at once alone and the second waits for its window. Broken (``>=`` for ``>``
    on sub-words, or the batch counted full only past them), the calls are cut elsewhere."""
    b = batcher(max_batch_subwords=300)
    loop.create_task(b.submit(["a"], [100]))
    loop.create_task(b.submit(["b"], [200]))
    loop.settle()
    assert b.predict.calls == [["a", "b"]]
    loop.create_task(b.submit(["c"], [100]))
    loop.create_task(b.submit(["d"], [201]))
    loop.settle()
    assert b.predict.calls == [["a", "b"], ["c"]]
    loop.advance(30.0 + EPS)
    assert b.predict.calls == [["a", "b"], ["c"], ["d"]]


def test_a_lone_request_waits_exactly_the_window_and_one_arriving_within_it_joins(
    loop, batcher
):
    """``max_wait_s`` 0.3: [a] is not predicted 1 ms before the window closes; [b], arriving then,
    joins it; both are predicted 1 ms after. [c], after that, opens a window of its own. Broken (the
    deadline in the past, or not counted from the batch's first request), [a] goes alone at once or
    late."""
    b = batcher(max_wait_s=0.3)
    submit(loop, b, ["a"])
    loop.advance(0.3 - EPS)
    assert b.predict.calls == []
    submit(loop, b, ["b"])
    assert b.predict.calls == []
    loop.advance(2 * EPS)
    assert b.predict.calls == [["a", "b"]]
    submit(loop, b, ["c"])
    loop.advance(0.3 - EPS)
    assert b.predict.calls == [["a", "b"]]
    loop.advance(2 * EPS)
    assert b.predict.calls == [["a", "b"], ["c"]]


def test_a_zero_window_predicts_a_lone_request_without_waiting(loop, batcher):
    """``max_wait_s`` 0 (``--max-batch-wait-ms 0``): a lone request is predicted with the clock
    standing still. Broken, it waits for a timer."""
    b = batcher(max_wait_s=0.0)
    task = submit(loop, b, ["a"])
    assert b.predict.calls == [["a"]] and task.result() == [{"echo": "a"}]


def test_running_counts_the_call_under_way_and_returns_to_zero_after_success_and_failure(
    loop, batcher
):
    """During a ``predict`` call ``running`` is 1 (one worker); after it, 0, whether it answered or
    raised; ``most_running`` is 1. Broken (not counted, counted twice, not given back on a failure),
    /info and the tests of concurrency read wrong numbers."""
    b = batcher(workers=1)
    ok = submit(loop, b, ["a"])
    loop.advance(30.0 + EPS)
    bad = submit(loop, b, [POISON])
    loop.advance(30.0 + EPS)
    assert ok.result() == [{"echo": "a"}] and isinstance(bad.exception(), ValueError)
    assert b.predict.running_seen == [1, 1]
    assert (b.running, b.most_running) == (0, 1)


def test_batches_counts_the_calls_that_answered_a_failed_batch_included(loop, batcher):
    """One good batch (``batches`` 1), then three requests in one batch, the middle one poisoned:
    the combined call fails, each request is predicted alone, and two of those answer: ``batches``
    is 3, the others get their answers and the poisoned one its exception. A request failing alone
    is not predicted again and counts nothing. Broken (failures counted, the count reset to the
    isolated calls' instead of added, or a lone failure retried), ``batches`` and the calls differ."""
    b = batcher(max_batch_texts=3)
    first = [loop.create_task(b.submit([x])) for x in ("x", "y", "z")]
    loop.settle()
    assert [t.result() for t in first] == [
        [{"echo": x}] for x in ("x", "y", "z")
    ] and b.batches == 1
    tasks = [loop.create_task(b.submit([x])) for x in ("a", POISON, "c")]
    loop.settle()
    assert b.predict.calls[1:] == [["a", POISON, "c"], ["a"], [POISON], ["c"]]
    assert tasks[0].result() == [{"echo": "a"}] and tasks[2].result() == [{"echo": "c"}]
    assert isinstance(tasks[1].exception(), ValueError)
    assert b.batches == 3
    alone = submit(loop, b, [POISON])
    loop.advance(30.0 + EPS)
    assert isinstance(alone.exception(), ValueError)
    assert b.predict.calls[5:] == [[POISON]] and b.batches == 3
    assert b.load == 0 and b.queued == 0
