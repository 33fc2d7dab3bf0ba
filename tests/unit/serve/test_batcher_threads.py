"""``MicroBatcher``'s worker threads, with real threads and a ``predict`` that waits on events (no
timing): ``thread_init`` runs once in each worker thread before it predicts (serve/app.py sets
torch's thread count per worker with it: a thread without it would use every core), the threads are
named, two workers predict at once (``running`` and ``most_running`` say 2), and ``stop`` returns
only once the prediction under way has finished."""

from __future__ import annotations

import asyncio
import threading
import time

from entitune.serve import MicroBatcher

#: most seconds a test waits for a thread before calling it stuck (reached only when broken)
STUCK_S = 10.0


def test_thread_init_runs_once_in_each_worker_thread_before_it_predicts():
    """Two workers, two single-input batches whose ``predict`` calls wait for each other (so both
    threads are needed at once): each call finds ``thread_init`` already run in its own thread, once
    per thread; the threads are named ``entitune-predict``; ``running`` is 2 during the calls and
    ``most_running`` 2 after, ``running`` 0. Broken (the initializer not handed to the pool, run in
    the loop's thread, the counters not counting), a row fails."""
    local = threading.local()
    inits: list[str] = []
    seen: list[tuple[str, bool, int]] = []
    both_in = threading.Barrier(2, timeout=STUCK_S)

    def thread_init() -> None:
        inits.append(threading.current_thread().name)
        local.ready = True

    def predict(inputs: list) -> list[dict]:
        both_in.wait()
        seen.append(
            (
                threading.current_thread().name,
                getattr(local, "ready", False),
                batcher.running,
            )
        )
        return [{"echo": x} for x in inputs]

    batcher = MicroBatcher(
        predict, max_batch_texts=1, max_wait_s=0.0, thread_init=thread_init, workers=2
    )

    async def scenario():
        await batcher.start()
        try:
            return await asyncio.wait_for(
                asyncio.gather(batcher.submit(["a"]), batcher.submit(["b"])), STUCK_S
            )
        finally:
            await batcher.stop()

    assert asyncio.run(scenario()) == [[{"echo": "a"}], [{"echo": "b"}]]
    names = {name for name, _, _ in seen}
    assert len(names) == 2 and sorted(inits) == sorted(names)
    assert all(name.startswith("entitune-predict") for name in names)
    assert all(ready for _, ready, _ in seen)
    assert [running for _, _, running in seen] == [2, 2]
    assert (batcher.running, batcher.most_running) == (0, 2)


def test_stop_returns_only_when_the_prediction_under_way_has_finished():
    """``stop`` while a ``predict`` call is running waits for it to finish (the service then frees the
    model under no running batch). The call is let go by another thread 0.2 s after ``stop`` begins:
    the rule holds whatever the delay; broken (the pool shut down without waiting), ``stop`` returns
    at once, with the call still running."""
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def predict(inputs: list) -> list[dict]:
        started.set()
        release.wait(STUCK_S)
        finished.set()
        return [{"echo": x} for x in inputs]

    batcher = MicroBatcher(predict, max_batch_texts=1, max_wait_s=0.0)
    stopping = threading.Event()
    letter = threading.Thread(
        target=lambda: (stopping.wait(STUCK_S), time.sleep(0.2), release.set())
    )

    async def scenario():
        await batcher.start()
        request = asyncio.ensure_future(batcher.submit(["a"]))
        while not started.is_set():
            await asyncio.sleep(0.001)
        letter.start()
        stopping.set()
        await batcher.stop()
        done = finished.is_set()
        request.cancel()
        return done

    assert asyncio.run(scenario()) is True
    letter.join()
