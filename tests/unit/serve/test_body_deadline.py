"""``BodyLimitMiddleware``'s deadline, on an event loop whose clock moves only when the test says
(``VirtualClockLoop``): a body complete just before ``timeout_s`` after the request head is handed
on, one still incomplete just after gets 408 then and not before, the deadline counts from the head
(not from each chunk), and a chunk at the last moment does not buy the body more time. And the cut
of a bad Content-Length quoted in its 400. tests/unit/serve/test_body_limit.py checks the other
refusals; a stalled body there waits real time, so it cannot tell a deadline off by a little."""

from __future__ import annotations

import asyncio
import json

import pytest

from entitune.serve.limits import BodyLimitMiddleware
from tests.helpers.asgi import Inner
from tests.helpers.clock import VirtualClockLoop

TIMEOUT_S = 10.0
EPS = 0.001


class Request:
    """One POST through the middleware on ``loop``: ``chunk`` delivers a piece of the body now;
    ``status``/``error`` are the answer so far (None before any)."""

    def __init__(self, loop: VirtualClockLoop, length: int | None = None) -> None:
        self.loop = loop
        self.inner = Inner()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.sent: list[dict] = []
        headers = [] if length is None else [(b"content-length", str(length).encode())]
        scope = {"type": "http", "method": "POST", "headers": headers}
        middleware = BodyLimitMiddleware(
            self.inner, max_bytes=1000, timeout_s=TIMEOUT_S
        )
        loop.create_task(middleware(scope, self.queue.get, self._send))
        loop.settle()

    async def _send(self, message: dict) -> None:
        self.sent.append(message)

    def chunk(self, body: bytes, more: bool = True) -> None:
        self.queue.put_nowait({"type": "http.request", "body": body, "more_body": more})
        self.loop.settle()

    @property
    def status(self) -> int | None:
        return self.sent[0]["status"] if self.sent else None

    @property
    def error(self) -> str:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))["error"]


@pytest.fixture
def loop():
    loop = VirtualClockLoop()
    yield loop
    for task in asyncio.all_tasks(loop):
        task.cancel()
    loop.settle()
    loop.close()


def test_a_body_complete_just_before_the_deadline_is_handed_on_whole(loop):
    """First chunk at once, the last 1 ms before ``timeout_s``: 200, the body intact. Broken (the
    deadline set in the past, ``now - timeout_s``, or each wait cut to its floor), the body is
    refused with 408 as soon as it pauses."""
    request = Request(loop, length=6)
    request.chunk(b"abc")
    loop.advance(TIMEOUT_S - EPS)
    assert request.status is None
    request.chunk(b"def", more=False)
    assert request.status == 200 and request.inner.bodies == [b"abcdef"]


def test_a_body_still_incomplete_at_the_deadline_is_408_then_and_not_before(loop):
    """3 of 8 bytes, then nothing: no answer 1 ms before ``timeout_s``, a 408 (connection closed,
    the bytes counted) 1 ms after. Broken (the deadline pushed out, ``now + now``, or longer), a
    client holds the connection and its buffers past the timeout."""
    request = Request(loop, length=8)
    request.chunk(b"abc")
    loop.advance(TIMEOUT_S - EPS)
    assert request.status is None
    loop.advance(2 * EPS)
    assert request.status == 408 and request.inner.bodies == []
    assert dict(request.sent[0]["headers"]).get(b"connection") == b"close"
    assert (
        request.error
        == "request body not received within 10 s (3 of 8 bytes arrived; --body-timeout-s)"
    )


def test_the_deadline_counts_from_the_request_head_not_from_each_chunk(loop):
    """A body (no Content-Length) trickled 3 bytes every 4 s, never finished, gets its 408 at
    ``timeout_s`` after the head, though no gap between chunks is that long. Broken (the deadline
    restarted by each chunk), a slow trickle is never cut off."""
    request = Request(loop)
    for _ in range(3):
        request.chunk(b"abc")
        loop.advance(4.0)  # 0, 4, 8: the last wait runs into the deadline at 10
    assert request.status == 408
    assert (
        request.error
        == "request body not received within 10 s (9 bytes arrived; --body-timeout-s)"
    )


def test_a_chunk_at_the_last_moment_buys_the_body_no_more_than_a_millisecond(loop):
    """A chunk 0.5 ms before the deadline, then nothing: the 408 comes within 2 ms of the deadline
    (the next wait is at least 1 ms, so a chunk already on its way is still read). Broken (a longer
    floor on each wait), the last chunk extends the deadline by that much."""
    request = Request(loop, length=8)
    loop.advance(TIMEOUT_S - EPS / 2)
    request.chunk(b"abc")
    assert request.status is None
    loop.advance(2 * EPS)
    assert request.status == 408


def test_a_bad_content_length_is_quoted_to_its_first_40_bytes(loop):
    """A Content-Length that is not a number is echoed in the 400, cut to 40 bytes (a client's header
    can be kilobytes). Broken (cut elsewhere, or not at all), the message changes."""
    value = b"1" * 38 + b"xy" + b"z" * 500
    inner = Inner()
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": [(b"content-length", value)]}
    loop.run_until_complete(
        BodyLimitMiddleware(inner, 1000, TIMEOUT_S)(scope, None, send)
    )
    assert sent[0]["status"] == 400 and inner.bodies == []
    assert (
        json.loads(sent[1]["body"])["error"]
        == "bad Content-Length header: b'" + "1" * 38 + "xy'"
    )
