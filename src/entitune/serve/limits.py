"""The service's limits: ``ServeLimits`` (per request and for micro-batching), the check of a
request's inputs against them, the body-size guard that runs before anything parses a body, and the
one-line JSON errors for all of it."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import ConfigError


@dataclass(frozen=True)
class ServeLimits:
    """Per-request limits and micro-batching settings of the server.

    Args:
        max_texts: inputs (texts or word lists) in one request.
        max_chars: characters in one text (for word lists: the words joined by spaces).
        max_words: words in one pre-split input.
        max_body_bytes: bytes of one request body, checked before parsing.
        max_batch_texts: inputs the worker combines into one ``predict`` call.
        max_batch_wait_ms: how long the worker waits for more requests before predicting.
        workers: micro-batches predicted at once, each on its own thread.
    """

    max_texts: int = 256
    max_chars: int = 20_000
    max_words: int = 5_000
    max_body_bytes: int = 1 << 20
    max_batch_texts: int = 128
    max_batch_wait_ms: float = 5.0
    workers: int = 2

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < (0 if name == "max_batch_wait_ms" else 1):
                raise ConfigError(f"{name} must be {'at least 0' if name == 'max_batch_wait_ms' else 'positive'}, got {value}")


class RequestLimitError(Exception):
    """A request over one of the ``ServeLimits``; answered with ``status`` and a JSON error."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


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
    and bodies that are not UTF-8 with 400, before anything parses them."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
        while True:
            message = await receive()
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


def check_limits(inputs: Sequence[str | Sequence[str]], limits: ServeLimits) -> None:
    """Raises ``RequestLimitError`` for the first input over a limit, saying which and by how much."""
    if len(inputs) > limits.max_texts:
        raise RequestLimitError(f"too many inputs: {len(inputs)}, the maximum is {limits.max_texts} per request (--max-texts)")
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            chars = len(item)
        else:
            if len(item) > limits.max_words:
                raise RequestLimitError(f"input {i} has {len(item)} words, the maximum is {limits.max_words} (--max-words)")
            chars = sum(len(w) for w in item) + max(len(item) - 1, 0)
        if chars > limits.max_chars:
            raise RequestLimitError(f"input {i} has {chars} characters, the maximum is {limits.max_chars} (--max-chars)")
