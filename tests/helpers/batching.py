"""Running a ``MicroBatcher`` scenario in a test: started, the scenario awaited (failing if it is
stuck), and the batcher stopped whatever happens."""
from __future__ import annotations

import asyncio


async def with_batcher(batcher, scenario, stuck_s: float):
    """``await scenario()`` between ``batcher.start()`` and ``batcher.stop()``; a scenario that takes
    more than ``stuck_s`` seconds fails with ``TimeoutError`` instead of hanging the test."""
    await batcher.start()
    try:
        return await asyncio.wait_for(scenario(), stuck_s)
    finally:
        await batcher.stop()
