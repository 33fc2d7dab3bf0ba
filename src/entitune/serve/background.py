"""``BackgroundServer``: the app on a uvicorn server on a thread, on an already-bound socket; for
notebooks, tests and benchmarks that need a real server in the same process."""
from __future__ import annotations

import threading

from fastapi import FastAPI

from .limits import idle_timeout_protocol


class BackgroundServer:
    """A uvicorn server on a thread, on an already-bound socket; for tests and benchmarks.

    ``with BackgroundServer(app) as server: httpx.get(server.url + "/health")``
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        import uvicorn

        self.app = app
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.url = f"http://{host}:{self.socket.getsockname()[1]}"
        limits = getattr(app.state, "limits", None)  # create_app's: the same idle timeout as ``entitune serve``
        http = idle_timeout_protocol(limits.idle_timeout_s) if limits is not None else "auto"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, http=http))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> "BackgroundServer":
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()
