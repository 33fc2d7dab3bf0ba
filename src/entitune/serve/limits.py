"""The service's limits: ``ServeLimits`` (per request, micro-batching and connection timeouts), the
check of a request's inputs against them (and against what the tokenizer cannot take), the body guard
that runs before anything parses a body (size, UTF-8, time to arrive), the idle-connection timeout,
and the one-line JSON errors for all of it.

Why the timeouts are written here by hand: uvicorn has no header or idle timeout. Its only timeout,
``timeout_keep_alive``, is armed after a response and disarmed by any byte received, so a client that
connects and sends nothing (or a partial request head, or a body shorter than its Content-Length)
holds a connection and its buffers for as long as it likes (65 s and more was measured; 100 idle
sockets stayed open 30 s). Two small pieces close that gap without a proxy in front:

* ``idle_timeout_protocol``: uvicorn's own h11 protocol with one timer, armed when a connection opens
  and after each response, disarmed only when a complete request head has arrived; when it fires the
  connection is closed (``ServeLimits.idle_timeout_s``).
* ``BodyLimitMiddleware`` reads the body against a deadline; a body not complete within
  ``ServeLimits.body_timeout_s`` of the request head gets a 408 JSON error and the connection closed.

What the tokenizer cannot take was probed (fast WordPiece tokenizer of the bundled encoder): only
strings that cannot be encoded as UTF-8, i.e. lone surrogates (a JSON ``\\ud800`` escape without its
pair), which raise a TypeError inside ``predict``. NUL and other control characters, noncharacters,
private-use and zero-width characters and single words of 20,000 characters are all tagged, so they
are accepted; ``check_limits`` refuses lone surrogates with a 422 naming the field and index, before
the request joins a micro-batch.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..options import ServeLimits, parse_allowed_hosts  # declared with the other options: the flags of serve

_log = logging.getLogger("entitune.serve")


class RequestLimitError(Exception):
    """A request over one of the ``ServeLimits``; answered with ``status`` and a JSON error."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """``{"error": message}``; characters UTF-8 cannot encode (lone surrogates, say from an echoed
    JSON key) are written as escapes, so building the error can never fail."""
    safe = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"error": safe}, status_code=status, headers=headers)


def validation_message(exc: RequestValidationError) -> tuple[int, str]:
    """A one-line message (and status) for pydantic's errors: 400 for unreadable JSON, else 422."""
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":
            return 400, f"malformed JSON: {err.get('ctx', {}).get('error', err.get('msg'))}"
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "missing" and not loc:
            parts.append("request body is empty (or null); expected JSON {\"texts\": [...]} or {\"tokens\": [[...]]}")
        else:
            parts.append(f"{loc}: {msg}" if loc else msg)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "invalid request: " + "; ".join(parts) + more


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` (by Content-Length and by streamed size) with 413,
    bodies that are not UTF-8 with 400, and bodies not complete within ``timeout_s`` of the request
    head with 408 (and the connection closed), before anything parses them."""

    def __init__(self, app: Any, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await error_response(400, f"bad Content-Length header: {declared[:40]!r}")(scope, receive, send)
                return
            if size > self.max_bytes:
                await self._too_large(size, scope, receive, send)
                return
        chunks, size = [], 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.001))
            except asyncio.TimeoutError:
                expected = f" of {int(declared)}" if declared is not None else ""
                message = (f"request body not received within {self.timeout_s:g} s ({size}{expected} bytes arrived; "
                           f"--body-timeout-s)")
                await error_response(408, message, {"connection": "close"})(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(size, scope, receive, send, streamed=True)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            await error_response(400, f"request body is not valid UTF-8 (byte {exc.start})")(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, size: int, scope: dict, receive: Callable, send: Callable, streamed: bool = False) -> None:
        what = f"at least {size}" if streamed else str(size)
        message = f"request body too large: {what} bytes, the maximum is {self.max_bytes} (--max-body-bytes)"
        await error_response(413, message)(scope, receive, send)


#: the Host names of a server bound to a loopback address
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def allowed_host_patterns(allowed_hosts: str | None, host: str) -> list[str]:
    """The Host patterns a server bound to ``host`` answers: ``allowed_hosts`` (``--allowed-hosts``)
    when given; else ``LOOPBACK_HOSTS`` for a loopback address (``127.0.0.1``, ``localhost``,
    ``::1``), any (``*``) for the wildcard addresses (``0.0.0.0``, ``::``: which names reach the
    machine is not known here), and ``host`` itself for any other."""
    import ipaddress

    if allowed_hosts is not None:
        return parse_allowed_hosts(allowed_hosts)
    bare = host.strip("[]").lower()
    if bare in ("", "0.0.0.0", "::"):
        return ["*"]
    if bare == "localhost":
        return list(LOOPBACK_HOSTS)
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return [bare]  # a name
    if address.is_loopback:
        return list(LOOPBACK_HOSTS)
    return [f"[{bare}]" if address.version == 6 else bare]


class HostAllowListMiddleware:
    """Answers only requests whose Host header matches one of ``allowed_hosts`` (any port); others
    get a 400 JSON error. Against DNS rebinding: a web page on a name its author controls, once that
    name resolves to 127.0.0.1, could otherwise read this server's answers from a visitor's browser;
    its requests carry the attacker's name as Host.

    The Host parsing and matching (ports, IPv6 literals, ``*.domain``) are starlette's
    ``TrustedHostMiddleware``'s, asked whether it would let a request through (it marks the scope);
    only the refusal is written here, in the service's JSON error shape (starlette answers in plain
    text)."""

    _MARK = "entitune.host_allowed"

    def __init__(self, app: Any, allowed_hosts: Sequence[str]) -> None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        async def mark(scope: dict, receive: Callable, send: Callable) -> None:
            scope[self._MARK] = True

        self.app = app
        self.allowed_hosts = list(allowed_hosts)
        self.allow_any = "*" in self.allowed_hosts
        self._check = TrustedHostMiddleware(mark, allowed_hosts=self.allowed_hosts, www_redirect=False)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if self.allow_any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def discard(message: dict) -> None:  # starlette's plain-text refusal, replaced below
            return None

        await self._check(scope, receive, discard)
        if scope.pop(self._MARK, False):
            await self.app(scope, receive, send)
            return
        host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")[:100]
        message = (f"Host header {host!r} is not one this server answers ({', '.join(self.allowed_hosts)}; "
                   "--allowed-hosts)" if host else "request has no Host header")
        await error_response(400, message)(scope, receive, send)


class FramingGuardMiddleware:
    """Refuses a request that carries both Content-Length and Transfer-Encoding with a 400 JSON error
    and the connection closed (RFC 9112, section 6.3: such a message "might indicate an attempt to
    perform request smuggling" and a server that refuses it must close the connection). uvicorn's h11
    protocol accepts such a request and lets Transfer-Encoding win, as the RFC allows; a proxy in
    front that trusted Content-Length instead would see another request boundary than this server.
    Checked on the parsed head, before anything reads the body."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            names = {name.lower() for name, _ in scope.get("headers", [])}
            if b"content-length" in names and b"transfer-encoding" in names:
                message = "request has both Content-Length and Transfer-Encoding headers; send one of them"
                await error_response(400, message, {"connection": "close"})(scope, receive, send)
                return
        await self.app(scope, receive, send)


def idle_timeout_protocol(seconds: float) -> type:
    """uvicorn's h11 protocol class, closing a connection that has no complete request head within
    ``seconds`` of opening or of its previous response; pass it as ``http=`` to ``uvicorn.Config``.

    The timer is not reset by partial data (a request head sent a byte at a time is cut off too),
    and is disarmed while a request is under way: the body has its own deadline
    (``BodyLimitMiddleware``) and a slow prediction is no reason to drop the client.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class IdleTimeoutH11Protocol(H11Protocol):
        idle_timeout_s = seconds

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # uvicorn's own keep-alive timer (5 s by default) would close a kept-alive connection
            # before ``seconds``; given the same time, it never fires before this one's
            self.timeout_keep_alive = seconds
            self._idle_timer: asyncio.TimerHandle | None = None
            self._idle_cycle: Any = None  # the request cycle that was current when the timer was armed

        def _arm_idle_timer(self) -> None:
            self._disarm_idle_timer()
            self._idle_cycle = self.cycle
            self._idle_timer = self.loop.call_later(self.idle_timeout_s, self._idle_timed_out)

        def _disarm_idle_timer(self) -> None:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None

        def _idle_timed_out(self) -> None:
            self._idle_timer = None
            if not self.transport.is_closing():
                _log.debug("closing a connection with no request head in %g s", self.idle_timeout_s)
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_idle_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._idle_timer is not None and self.cycle is not self._idle_cycle:
                self._disarm_idle_timer()  # a new request's head is complete: it is being served

        def on_response_complete(self) -> None:
            finished = self.cycle
            super().on_response_complete()  # may start a pipelined request (a new cycle)
            if not self.transport.is_closing() and self.cycle is finished:
                self._arm_idle_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_idle_timer()
            super().connection_lost(exc)

    return IdleTimeoutH11Protocol


def _replay(body: bytes, receive: Callable) -> Callable:
    """A ``receive`` that gives the already-read body once, then defers to the real one."""
    sent = False

    async def replayed() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def unencodable(text: str) -> str | None:
    """Why the tokenizer cannot take ``text`` (a lone surrogate, and where), or None when it can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate (U+{ord(text[exc.start]):04X}) at character {exc.start}"
    return None


def input_chars(item: str | Sequence[str]) -> int:
    """The characters of an input (a word list's words joined by spaces)."""
    return len(item) if isinstance(item, str) else sum(len(w) for w in item) + max(len(item) - 1, 0)


def check_limits(inputs: Sequence[str | Sequence[str]], limits: ServeLimits) -> None:
    """Raises ``RequestLimitError`` for the first input over a limit, saying which and by how much,
    and for the first string the tokenizer cannot take (``texts[3]``, ``tokens[0][2]``: see
    ``unencodable``), so that it never reaches a micro-batch."""
    if len(inputs) > limits.max_texts:
        raise RequestLimitError(f"too many inputs: {len(inputs)}, the maximum is {limits.max_texts} per request (--max-texts)")
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            problem = unencodable(item)
            if problem:
                raise RequestLimitError(f"texts[{i}] {problem}")
        else:
            for j, word in enumerate(item):
                problem = unencodable(word)
                if problem:
                    raise RequestLimitError(f"tokens[{i}][{j}] {problem}")
            if len(item) > limits.max_words:
                raise RequestLimitError(f"input {i} has {len(item)} words, the maximum is {limits.max_words} (--max-words)")
        chars = input_chars(item)
        if chars > limits.max_chars:
            raise RequestLimitError(f"input {i} has {chars} characters, the maximum is {limits.max_chars} (--max-chars)")
