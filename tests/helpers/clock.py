"""``VirtualClockLoop``: an asyncio event loop whose clock moves only when the test says, so timers
(``call_later``, ``asyncio.wait_for``'s timeouts, ``loop.time()`` deadlines) are checked to the
millisecond without waiting for them."""

from __future__ import annotations

import asyncio


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` stands still until ``advance``; ``settle`` runs what is ready
    (callbacks, tasks, timers now due) without moving the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    def settle(self) -> None:
        for _ in range(10):
            self.run_until_complete(asyncio.sleep(0))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.settle()
