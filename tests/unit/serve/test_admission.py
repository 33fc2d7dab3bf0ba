"""``MicroBatcher`` under expensive requests, with ``predict`` doubles that take a set time per call
(no model): cheap work passes expensive work queued before it, an expensive request is split into
micro-batches and still finishes while cheap requests keep coming, the budget refuses what it
cannot take (``Busy`` with a Retry-After estimate), a deadline or a cancelled caller drops the work
not yet started, and with two workers one is kept for small requests. And ``request_costs``: a
request over the per-request maximum is refused once its count passes it, without counting the
rest. Orders of events are checked, never durations."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from entitune.serve import Busy, MicroBatcher, Overdue, SubwordCounter
from entitune.serve.costs import GROUP_CHARS, request_costs
from entitune.serve.limits import RequestLimitError
from tests.helpers.batching import with_batcher

#: most seconds any of these tests waits on the batcher before calling it stuck
STUCK_S = 20.0


class _Timed:
    """``predict``: answers each input with itself after ``seconds(inputs)``; notes each call's
    inputs, and when each call ended (in ``events``, shared with the test's own notes)."""

    def __init__(self, seconds, events: list | None = None) -> None:
        self.seconds = seconds
        self.calls: list[list] = []
        self.events = events if events is not None else []
        self.lock = threading.Lock()

    def __call__(self, inputs: list) -> list[dict]:
        with self.lock:
            self.calls.append(list(inputs))
        time.sleep(self.seconds(inputs))
        with self.lock:
            self.events.append(("predicted", tuple(inputs)))
        return [{"echo": x} for x in inputs]


async def _with(batcher: MicroBatcher, scenario):
    return await with_batcher(batcher, scenario, STUCK_S)


async def _ask(batcher: MicroBatcher, inputs: list, costs: list[int], events: list, name: str, delay: float = 0.0,
               timeout: float | None = None):
    await asyncio.sleep(delay)
    answer = await batcher.submit(inputs, costs, timeout=timeout)
    events.append(("answered", name))
    return answer


def test_a_cheap_request_is_answered_before_an_expensive_one_queued_earlier_and_the_expensive_one_is_split():
    """One worker; an expensive request of 12 inputs (100 sub-words each, 400 per micro-batch) is
    queued, then a one-input request of 5 sub-words: the cheap one is predicted right after the
    expensive one's first micro-batch, and answered before the expensive one; the expensive one is
    three calls of four inputs, answered whole and in order. Broken: first come first served (the
    cheap one waits for all twelve), or the expensive request predicted in one call (it holds the
    worker unbroken)."""
    events: list = []
    predict = _Timed(lambda inputs: 0.02 * len(inputs), events)
    batcher = MicroBatcher(predict, max_batch_texts=64, max_wait_s=0.0, workers=1, max_batch_subwords=400)
    big = [f"long {i}" for i in range(12)]

    async def scenario():
        return await asyncio.gather(_ask(batcher, big, [100] * 12, events, "expensive"),
                                    _ask(batcher, ["short"], [5], events, "cheap", delay=0.01))

    expensive, cheap = asyncio.run(_with(batcher, scenario))
    assert expensive == [{"echo": x} for x in big] and cheap == [{"echo": "short"}]
    assert predict.calls == [big[:4], ["short"], big[4:8], big[8:]]
    answered = [name for kind, name in events if kind == "answered"]
    assert answered == ["cheap", "expensive"]
    assert batcher.load == 0 and batcher.queued == 0


def test_an_expensive_request_finishes_while_cheap_requests_keep_coming():
    """One input per micro-batch (20 ms each) and a one-input request every 5 ms for 1.5 s, more
    than the worker can answer, with an expensive request of three inputs (20 sub-words each) queued
    at the start: the expensive one is answered before the stream of cheap ones ends (its
    micro-batches fall due and go before newer cheap work). Broken (cheapest first with no regard
    to age), it waits until the cheap requests stop and their backlog is done."""
    events: list = []
    predict = _Timed(lambda inputs: 0.02, events)
    batcher = MicroBatcher(predict, max_batch_texts=1, max_wait_s=0.0, workers=1)

    async def stream():
        for i in range(300):
            asyncio.ensure_future(_ask(batcher, [f"cheap {i}"], [1], events, f"cheap {i}"))
            await asyncio.sleep(0.005)
        events.append(("stream", "over"))

    async def scenario():
        await asyncio.gather(_ask(batcher, ["a", "b", "c"], [20, 20, 20], events, "expensive"), stream())

    asyncio.run(_with(batcher, scenario))
    order = [name for _, name in events if name in ("expensive", "over")]
    assert order == ["expensive", "over"]


def test_the_budget_refuses_what_it_cannot_take_with_a_retry_estimate_and_never_queues_it():
    """Budget 100 sub-words: a request of 80 is admitted; one of 30 more is refused at once with
    ``Busy`` naming the load and the maximum, a Retry-After estimate of at least a second, and
    nothing of it queued; one of 20 fits and is answered; once all is done, a request larger than
    the whole budget is admitted (nothing else queued). Broken: the budget not checked (the 30 is
    queued), or the load never released (the last request refused)."""
    predict = _Timed(lambda inputs: 0.2)
    batcher = MicroBatcher(predict, max_batch_texts=64, max_wait_s=0.0, workers=1, max_queued_subwords=100)

    async def scenario():
        first = asyncio.ensure_future(batcher.submit(["a"], [80]))
        await asyncio.sleep(0.01)
        assert batcher.load == 80
        with pytest.raises(Busy) as refused:
            await batcher.submit(["b"], [30])
        assert batcher.queued == 0 and batcher.load == 80
        third = await batcher.submit(["c"], [20])
        await first
        assert batcher.load == 0
        return refused.value, third, await batcher.submit(["d"], [500])

    refused, third, last = asyncio.run(_with(batcher, scenario))
    assert third == [{"echo": "c"}] and last == [{"echo": "d"}]
    assert "80 sub-words" in str(refused) and "100" in str(refused) and "--max-queued-subwords" in str(refused)
    assert isinstance(refused.retry_after, int) and refused.retry_after >= 1
    assert ["b"] not in predict.calls


def test_a_deadline_drops_the_work_not_yet_started():
    """One input per micro-batch, 0.3 s each, a request of four inputs with a 0.45 s deadline: it
    raises ``Overdue`` while its second input is predicted; the third and fourth are never predicted,
    and once the running one is done nothing is queued or counted. Broken: the deadline not kept
    (all four predicted and answered), or the dropped work left in the queue or the load."""
    predict = _Timed(lambda inputs: 0.3)
    batcher = MicroBatcher(predict, max_batch_texts=1, max_wait_s=0.0, workers=1)

    async def scenario():
        with pytest.raises(Overdue):
            await batcher.submit(["a", "b", "c", "d"], [1, 1, 1, 1], timeout=0.45)
        await asyncio.sleep(0.6)  # the running micro-batch finishes; nothing else may start
        return batcher.queued, batcher.load

    assert asyncio.run(_with(batcher, scenario)) == (0, 0)
    assert predict.calls == [["a"], ["b"]]


def test_a_cancelled_request_drops_its_work_not_yet_started():
    """A request of three micro-batches whose caller is cancelled (its client went away) during the
    first: the other two are never predicted and the load goes back to 0."""
    predict = _Timed(lambda inputs: 0.2)
    batcher = MicroBatcher(predict, max_batch_texts=1, max_wait_s=0.0, workers=1)

    async def scenario():
        task = asyncio.ensure_future(batcher.submit(["a", "b", "c"], [1, 1, 1]))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.4)
        return batcher.queued, batcher.load

    assert asyncio.run(_with(batcher, scenario)) == (0, 0)
    assert predict.calls == [["a"]]


@pytest.mark.parametrize("quick", [10, 0])
def test_with_two_workers_one_is_kept_for_small_requests(quick):
    """Two workers, a large request of four micro-batches (0.4 s each) queued first, then a small
    one: with a quick lane (10 sub-words) the small one is predicted while the large one's first
    micro-batch still runs, and never in a batch with large work; without one (0) both workers take
    the large request's micro-batches and the small one waits for one of them. Broken (no lane), the
    quick case looks like the other."""
    events: list = []
    predict = _Timed(lambda inputs: 0.0 if inputs == ["small"] else 0.4, events)
    batcher = MicroBatcher(predict, max_batch_texts=1, max_wait_s=0.0, workers=2, quick_lane_subwords=quick)
    large = ["l0", "l1", "l2", "l3"]

    async def scenario():
        return await asyncio.gather(_ask(batcher, large, [50] * 4, events, "large"),
                                    _ask(batcher, ["small"], [3], events, "small", delay=0.1))

    asyncio.run(_with(batcher, scenario))
    first_done = next(i for i, e in enumerate(events) if e[0] == "predicted" and e[1] != ("small",))
    small_done = events.index(("answered", "small"))
    assert (small_done < first_done) == bool(quick)
    assert all(call == ["small"] or "small" not in call for call in predict.calls)


def test_costs_are_counted_by_the_models_tokenizer(tiny_bert):
    """``SubwordCounter`` counts what the model's tokenizer makes of each text and each pre-split
    input (no special tokens), at least 1 for an empty one; without a tokenizer, words."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    count = SubwordCounter(tokenizer)
    assert count.by_tokenizer
    texts = ["show me films with drew barrymore", "xqzv qqqz", ""]
    want = [max(len(tokenizer(t, add_special_tokens=False)["input_ids"]), 1) for t in texts]
    assert count(texts) == want and want[1] > 2
    assert count([t.split() for t in texts]) == want
    assert SubwordCounter(None)(["three words here", ""]) == [3, 1]


def test_a_request_over_the_maximum_is_refused_before_all_of_it_is_counted():
    """A large request (counted in groups on a thread) over ``max_subwords`` is refused with a 413
    saying "at least" how many sub-words and the maximum, once the count passes it: the groups after
    that are never counted. A request the budget cannot take stops the count the same way, with the
    budget's error. Broken: the whole request counted first (every group), or no refusal."""
    from concurrent.futures import ThreadPoolExecutor

    counted: list[int] = []

    def count(inputs):
        counted.append(len(inputs))
        return [len(t.split()) for t in inputs]

    text = "word " * (GROUP_CHARS // 5)  # about one group of characters, GROUP_CHARS / 5 words
    inputs = [text] * 6

    def refuse_over(limit):
        def admit(total):
            if total > limit:
                raise Busy("busy", 3)
        return admit

    async def main(max_subwords, admit):
        with ThreadPoolExecutor(1) as pool:
            return await request_costs(inputs, count, pool, max_subwords, admit)

    with pytest.raises(RequestLimitError) as refused:
        asyncio.run(main(GROUP_CHARS // 5 + 1, refuse_over(10**9)))
    assert refused.value.status == 413 and "at least" in str(refused.value) and "--max-request-subwords" in str(refused.value)
    assert sum(counted) == 2  # the second text passed it; four never counted
    counted.clear()
    with pytest.raises(Busy):
        asyncio.run(main(10**9, refuse_over(GROUP_CHARS // 5 * 3)))
    assert sum(counted) == 4
    counted.clear()
    assert asyncio.run(main(10**9, refuse_over(10**9))) == [GROUP_CHARS // 5] * 6 and sum(counted) == 6


def test_retry_after_is_never_longer_than_the_deadline():
    """Whatever the server holds now is answered or dropped within ``request_timeout_s``, so the
    Retry-After it sends is at most that (rounded up), and at least 1 s. Broken (the raw estimate
    sent), a client is told to wait 434 s behind work that is dropped after 20."""
    from entitune.serve import PredictService, ServeLimits

    service = PredictService(object(), ServeLimits(request_timeout_s=2.5), count_subwords=lambda inputs: [1] * len(inputs))
    assert [service._retry_after(s) for s in (434, 3, 2, 1, 0)] == [3, 3, 2, 1, 1]
