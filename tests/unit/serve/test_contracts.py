"""Contracts of the server: the micro-batcher combines concurrent requests, and the per-request
limits are inclusive and count what they say. Checked by ``tests/mutations/inject.py``."""
from __future__ import annotations

import asyncio

import pytest

from entitune.serve import MicroBatcher
from entitune.serve.limits import RequestLimitError, ServeLimits, check_limits


def test_micro_batcher_combines_concurrent_requests_into_one_predict_call():
    """Three requests submitted together (within the wait window) are answered by one ``predict``
    call on their combined inputs, each getting its own share back.

    Broken (the batcher never adds a second request to a batch), each request is its own call."""
    calls: list[list] = []

    def predict(inputs: list) -> list[dict]:
        calls.append(list(inputs))
        return [{"echo": x} for x in inputs]

    async def main() -> list:
        batcher = MicroBatcher(predict, max_batch_texts=64, max_wait_s=0.5)
        await batcher.start()
        try:
            return await asyncio.wait_for(
                asyncio.gather(*(batcher.submit(r) for r in (["a"], ["b", "c"], ["d"]))), 30)
        finally:
            await batcher.stop()

    answers = asyncio.run(main())
    assert answers == [[{"echo": "a"}], [{"echo": "b"}, {"echo": "c"}], [{"echo": "d"}]]
    assert calls == [["a", "b", "c", "d"]]


def test_max_texts_is_inclusive():
    """Exactly ``max_texts`` inputs are accepted, one more is refused (422).

    Broken (``>=``), a request of exactly the maximum is refused."""
    limits = ServeLimits(max_texts=3)
    check_limits(["a", "b", "c"], limits)
    with pytest.raises(RequestLimitError, match="too many inputs: 4"):
        check_limits(["a", "b", "c", "d"], limits)


def test_max_chars_of_pre_split_words_counts_the_joining_spaces():
    """Pre-split words count as the words joined by single spaces: ["abc", "de", "f"] is 8
    characters, accepted at ``max_chars=8`` and refused at 7, like the text "abc de f".

    Broken (the spaces not counted), it counts as 6 and passes a limit of 7."""
    words = ["abc", "de", "f"]
    check_limits([words], ServeLimits(max_chars=8))
    with pytest.raises(RequestLimitError, match="has 8 characters"):
        check_limits([words], ServeLimits(max_chars=7))
    with pytest.raises(RequestLimitError, match="has 8 characters"):
        check_limits(["abc de f"], ServeLimits(max_chars=7))
