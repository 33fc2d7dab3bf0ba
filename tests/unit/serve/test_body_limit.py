"""The request-body limits at the ASGI level, without a server (fast): 413 over ``max_bytes`` by
Content-Length and by streamed size, 400 for a bad Content-Length or a body that is not UTF-8, 408
when the body does not arrive in time, the body handed on intact otherwise; and the one-line
messages for pydantic's validation errors. Found unpinned by mutation testing (scripts/mutation.sh):
tests/e2e/test_serve.py checks the same through a real server, which is too slow to run per mutant."""
from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.exceptions import RequestValidationError

from entitune.serve.limits import BodyLimitMiddleware, validation_message
from tests.helpers.asgi import Inner


def call(chunks, *, method="POST", length=None, max_bytes=10, timeout_s=5.0, scope_type="http", stall=False):
    """Run the middleware on a request whose body arrives as ``chunks``; returns (status, headers,
    error message or None, the inner app)."""
    inner = Inner()
    headers = [] if length is None else [(b"content-length", str(length).encode() if isinstance(length, int) else length)]
    scope = {"type": scope_type, "method": method, "headers": headers}
    # a stalled body: even the last chunk says more is coming, and the rest never arrives
    messages = [{"type": "http.request", "body": c, "more_body": stall or i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive():
        if messages:
            return messages.pop(0)
        if stall:
            await asyncio.sleep(60)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(BodyLimitMiddleware(inner, max_bytes, timeout_s)(scope, receive, send))
    if not sent:
        return None, {}, None, inner
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    error = json.loads(body)["error"] if start["status"] != 200 else None
    return start["status"], dict(start["headers"]), error, inner


def test_a_body_of_exactly_max_bytes_is_handed_on_intact_in_one_piece():
    status, _, _, inner = call([b"hello", b"world"], max_bytes=10)
    assert status == 200 and inner.bodies == [b"helloworld"]
    status, _, _, inner = call([b"hello", b"world"], length=10, max_bytes=10)
    assert status == 200 and inner.bodies == [b"helloworld"]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_put_and_patch_bodies_are_limited_too(method):
    status, _, error, inner = call([b"x" * 11], method=method, max_bytes=10)
    assert status == 413 and inner.calls == 0


def test_a_declared_length_over_the_limit_is_413_before_reading():
    status, _, error, inner = call([b"x" * 11], length=11, max_bytes=10)
    assert status == 413 and inner.calls == 0
    assert error == "request body too large: 11 bytes, the maximum is 10 (--max-body-bytes)"


def test_a_streamed_body_over_the_limit_is_413_at_the_chunk_that_crosses_it():
    status, _, error, inner = call([b"x" * 6, b"y" * 6, b"z"], max_bytes=10)
    assert status == 413 and inner.calls == 0
    assert error == "request body too large: at least 12 bytes, the maximum is 10 (--max-body-bytes)"


def test_a_bad_content_length_is_400():
    status, _, error, inner = call([b"{}"], length=b"12abc", max_bytes=10)
    assert status == 400 and inner.calls == 0
    assert error == "bad Content-Length header: b'12abc'"


def test_a_body_that_is_not_utf8_is_400_naming_the_byte():
    status, _, error, inner = call([b"ab\xffcd"])
    assert status == 400 and inner.calls == 0
    assert error == "request body is not valid UTF-8 (byte 2)"


def test_a_body_that_does_not_arrive_in_time_is_408_and_closes_the_connection():
    status, headers, error, inner = call([b"abc"], length=8, timeout_s=0.2, stall=True)
    assert status == 408 and inner.calls == 0
    assert headers.get(b"connection") == b"close"
    assert error == "request body not received within 0.2 s (3 of 8 bytes arrived; --body-timeout-s)"


def test_a_client_that_disconnects_gets_nothing_and_the_app_is_not_called():
    status, _, _, inner = call([], max_bytes=10)
    assert status is None and inner.calls == 0


@pytest.mark.parametrize("method, scope_type", [("GET", "http"), ("POST", "websocket")])
def test_other_requests_pass_straight_through(method, scope_type):
    status, _, _, inner = call([b"x" * 50], method=method, scope_type=scope_type, max_bytes=10)
    assert status == 200 and inner.calls == 1


def _errors(*errors):
    return RequestValidationError(list(errors))


def test_malformed_json_is_400_with_the_parsers_message():
    exc = _errors({"type": "json_invalid", "loc": ("body", 7), "msg": "JSON decode error",
                   "ctx": {"error": "Expecting value"}})
    assert validation_message(exc) == (400, "malformed JSON: Expecting value")
    no_ctx = _errors({"type": "json_invalid", "loc": ("body", 7), "msg": "JSON decode error"})
    assert validation_message(no_ctx) == (400, "malformed JSON: JSON decode error")


def test_validation_errors_are_one_line_with_their_places():
    exc = _errors({"type": "value_error", "loc": ("body", "texts", 0), "msg": "Value error, too long"},
                  {"type": "string_type", "loc": ("body", "tokens"), "msg": "Input should be a valid string"})
    assert validation_message(exc) == (422, "invalid request: texts.0: too long; tokens: Input should be a valid string")


def test_a_missing_body_says_what_is_expected():
    exc = _errors({"type": "missing", "loc": ("body",), "msg": "Field required"})
    assert validation_message(exc) == (
        422, 'invalid request: request body is empty (or null); expected JSON {"texts": [...]} or {"tokens": [[...]]}')


def test_only_the_first_five_errors_are_spelled_out():
    exc = _errors(*[{"type": "int_type", "loc": ("body", "x", i), "msg": "bad"} for i in range(7)])
    status, message = validation_message(exc)
    assert status == 422
    assert message == "invalid request: " + "; ".join(f"x.{i}: bad" for i in range(5)) + " (and 2 more)"
    assert validation_message(_errors({"type": "int_type", "loc": (), "msg": "bad"})) == (422, "invalid request: bad")
