"""``idle_timeout_protocol``: uvicorn's h11 protocol closing a connection that has no complete request
head within ``seconds`` of opening or of its previous response, driven directly (no server, no
socket): the protocol on a fake transport, on an event loop whose clock moves only when the test
says, with an app that answers when the test lets it. So the timer's rules are checked to the
millisecond without waiting: closed just after ``seconds``, open just before; partial data does not
reset it; a request being served disarms it; a response re-arms it; pipelined requests are served
before it is armed again. tests/e2e/test_serve.py checks the same on real sockets, too slowly to run
per mutant.

uvicorn's own keep-alive timer is set to a million seconds here, so every close seen is this one's
(but in the last test, which checks the two together)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from entitune.serve.limits import idle_timeout_protocol
from tests.helpers.clock import VirtualClockLoop

SECONDS = 2.0
#: how far either side of the deadline the tests look (the virtual clock is exact)
EPS = 0.001
GET = b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n"


class FakeTransport:
    """What the protocol writes, and whether it closed the connection: as a real transport does, the
    first ``close`` makes the loop call the protocol's ``connection_lost`` soon after; ``close_calls``
    counts every call."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.protocol: asyncio.Protocol | None = None
        self.written = b""
        self.closing = False
        self.close_calls = 0

    def get_extra_info(self, name: str, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.close_calls += 1
        if not self.closing:
            self.closing = True
            self.loop.call_soon(self.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    @property
    def responses(self) -> int:
        return self.written.count(b"HTTP/1.1 200 ")


class HeldApp:
    """Answers each request with 200 once the test releases it (``release``); notes the paths."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.gates: list[asyncio.Event] = []

    async def __call__(self, scope, receive, send) -> None:
        self.paths.append(scope["path"])
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"2")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})

    def release(self, index: int) -> None:
        self.gates[index].set()


@pytest.fixture
def loop():
    """A ``VirtualClockLoop``; an exception in any of its callbacks (a timer's, say) fails the test."""
    loop = VirtualClockLoop()
    errors: list[dict] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    yield loop
    for task in asyncio.all_tasks(loop):
        task.cancel()
    loop.settle()
    loop.close()
    assert not errors, errors


@pytest.fixture
def connect(loop):
    """``connect()``: a new connection to a protocol of ``idle_timeout_protocol(SECONDS)`` serving a
    ``HeldApp``: (protocol, transport, app)."""

    def connect(seconds: float = SECONDS):
        app = HeldApp()
        config = Config(
            app=app, lifespan="off", log_config=None, timeout_keep_alive=1_000_000
        )
        protocol = idle_timeout_protocol(seconds)(
            config=config, server_state=ServerState(), app_state={}, _loop=loop
        )
        transport = FakeTransport(loop)
        transport.protocol = protocol
        protocol.connection_made(transport)
        return protocol, transport, app

    return connect


@pytest.mark.parametrize("seconds", [SECONDS, 0.25])
def test_a_connection_that_sends_nothing_is_closed_just_after_the_timeout_and_not_before(
    loop, connect, caplog, seconds
):
    """Nothing sent: open at ``seconds`` - 1 ms, closed (once, with one debug line) at ``seconds`` + 1 ms.
    Broken: the timer not armed when the connection opens, armed for another time, or its handler
    not closing an open connection (the socket stays for as long as the client likes)."""
    with caplog.at_level(logging.DEBUG, logger="entitune.serve"):
        _, transport, _ = connect(seconds)
        loop.advance(seconds - EPS)
        assert not transport.closing
        loop.advance(2 * EPS)
        assert transport.closing
        loop.advance(10 * seconds)
    assert transport.closing
    lines = [r.getMessage() for r in caplog.records if r.name == "entitune.serve"]
    assert lines == [f"closing a connection with no request head in {seconds:g} s"]


def test_a_request_head_trickled_a_byte_at_a_time_is_cut_off_at_the_timeout(
    loop, connect
):
    """A head sent one byte every 1/64 s is cut off ``SECONDS`` after connecting, however many bytes
    came: partial data does not reset the timer, and the app never sees the request. Broken (any data
    resets or disarms it, as uvicorn's keep-alive timer does), a slow client holds the connection
    forever."""
    protocol, transport, app = connect()
    head = (
        b"GET /slow HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 400 + b"\r\n\r\n"
    )
    step = 1 / 64  # exact in binary: the clock reaches SECONDS exactly
    sent = 0
    while not transport.closing and sent < len(head):
        protocol.data_received(head[sent : sent + 1])
        sent += 1
        loop.advance(step)
    assert transport.closing and app.paths == []
    assert (
        sent == SECONDS / step < len(head)
    )  # cut off at SECONDS, the head still incomplete


def test_a_request_being_served_is_not_cut_off_however_long_it_takes(loop, connect):
    """A complete head 1 s after connecting disarms the timer: a prediction that takes ten timeouts
    is answered on the open connection. Broken (the timer left armed once the head is complete), a
    slow prediction loses its client."""
    protocol, transport, app = connect()
    loop.advance(SECONDS / 2)
    protocol.data_received(GET)
    loop.settle()
    assert app.paths == ["/x"]
    loop.advance(10 * SECONDS)
    assert not transport.closing
    app.release(0)
    loop.settle()
    assert transport.responses == 1 and not transport.closing


def test_after_a_response_the_timer_is_armed_again_for_the_next_head(loop, connect):
    """After a response, the kept-alive connection has ``SECONDS`` for its next complete head: open
    at ``SECONDS`` - 1 ms, closed at ``SECONDS`` + 1 ms. Broken (not re-armed after a response), an
    idle keep-alive connection is never closed."""
    protocol, transport, app = connect()
    protocol.data_received(GET)
    loop.advance(5 * SECONDS)
    app.release(0)
    loop.settle()
    assert transport.responses == 1
    loop.advance(SECONDS - EPS)
    assert not transport.closing
    loop.advance(2 * EPS)
    assert transport.closing


def test_a_partial_head_after_a_response_does_not_reset_the_timer(loop, connect):
    """After a response, half a head sent at ``SECONDS`` / 2 neither disarms nor restarts the timer:
    the connection is closed ``SECONDS`` after the response. Broken (the timer remembers no request,
    so any byte after a response looks like a new request's head), the half-sent head holds the
    connection forever."""
    protocol, transport, app = connect()
    protocol.data_received(GET)
    loop.settle()
    app.release(0)
    loop.settle()
    loop.advance(SECONDS / 2)
    protocol.data_received(GET[:10])
    loop.advance(SECONDS / 2 - EPS)
    assert not transport.closing
    loop.advance(2 * EPS)
    assert transport.closing and app.paths == ["/x"]


def test_the_next_request_on_a_kept_alive_connection_is_served_however_long_it_takes(
    loop, connect
):
    """A second complete head arriving before the re-armed timer fires disarms it again: its slow
    answer goes out on the open connection. Broken, the second request is cut off mid-prediction."""
    protocol, transport, app = connect()
    protocol.data_received(GET)
    loop.settle()
    app.release(0)
    loop.advance(SECONDS - 10 * EPS)
    protocol.data_received(GET.replace(b"/x", b"/y"))
    loop.advance(10 * SECONDS)
    assert not transport.closing and app.paths == ["/x", "/y"]
    app.release(1)
    loop.settle()
    assert transport.responses == 2 and not transport.closing


def test_pipelined_requests_are_all_served_before_the_timer_is_armed_again(
    loop, connect
):
    """Two requests in one packet: the second starts when the first is answered, and is served
    however long it takes (the first response does not re-arm the timer while the second is under
    way); after the second response the timer runs again. Broken (re-armed by any response), the
    pipelined request is cut off mid-prediction."""
    protocol, transport, app = connect()
    protocol.data_received(GET + GET.replace(b"/x", b"/y"))
    loop.settle()
    assert app.paths == ["/x"]
    app.release(0)
    loop.settle()
    assert app.paths == ["/x", "/y"] and transport.responses == 1
    loop.advance(10 * SECONDS)
    assert not transport.closing
    app.release(1)
    loop.settle()
    assert transport.responses == 2
    loop.advance(SECONDS - EPS)
    assert not transport.closing
    loop.advance(2 * EPS)
    assert transport.closing


def test_a_connection_lost_leaves_no_timer_behind(loop, connect, caplog):
    """A client that resets the connection before sending a head: the timer is cancelled with it, so
    nothing acts on the lost connection later (nor keeps it alive until then). Broken, the timer fires
    on a dead connection and closes it again."""
    with caplog.at_level(logging.DEBUG, logger="entitune.serve"):
        protocol, transport, _ = connect()
        loop.advance(SECONDS / 2)
        protocol.connection_lost(ConnectionResetError())
        loop.advance(10 * SECONDS)
    assert transport.close_calls == 0
    assert not [r for r in caplog.records if r.name == "entitune.serve"]


def test_a_connection_already_closing_is_left_alone(loop, connect, caplog):
    """When the timer fires on a connection already closing (its ``connection_lost`` not yet
    delivered), it does nothing: no second close, no log line. Broken, it closes it again and logs
    an idle connection that was not."""
    with caplog.at_level(logging.DEBUG, logger="entitune.serve"):
        _, transport, _ = connect()
        transport.closing = True
        loop.advance(2 * SECONDS)
    assert transport.close_calls == 0
    assert not [r for r in caplog.records if r.name == "entitune.serve"]


@pytest.mark.parametrize("seconds", [60.0, 2.0])
def test_uvicorns_keep_alive_timer_does_not_close_a_kept_alive_connection_before_the_idle_timeout(
    loop, seconds
):
    """With uvicorn's own keep-alive timer left at its default (5 s, as ``entitune serve`` leaves it),
    a kept-alive connection still has ``seconds`` after a response, longer or shorter than 5 s.
    Broken (uvicorn's timer left at 5 s), ``--idle-timeout-s 60`` closes it 5 s after each response."""
    app = HeldApp()
    config = Config(app=app, lifespan="off", log_config=None)
    protocol = idle_timeout_protocol(seconds)(
        config=config, server_state=ServerState(), app_state={}, _loop=loop
    )
    transport = FakeTransport(loop)
    transport.protocol = protocol
    protocol.connection_made(transport)
    protocol.data_received(GET)
    loop.settle()
    app.release(0)
    loop.settle()
    assert transport.responses == 1
    loop.advance(seconds - EPS)
    assert not transport.closing
    loop.advance(2 * EPS)
    assert transport.closing
