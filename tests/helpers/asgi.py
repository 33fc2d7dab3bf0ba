"""The app a middleware test wraps: it reads the whole request body through ``receive`` (not for
a GET) and answers 200, keeping each body and counting its calls."""
from __future__ import annotations


class Inner:
    """The wrapped app: reads the whole body through ``receive`` and answers 200."""

    def __init__(self):
        self.bodies: list[bytes] = []
        self.calls = 0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        body = b""
        if scope["type"] == "http" and scope["method"] != "GET":
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
