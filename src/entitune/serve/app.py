"""The HTTP service behind ``entitune serve``: a FastAPI app over a predictor, with micro-batching
(``batching``), limits (``limits``) and a page (``static/index.html``).

Endpoints: ``POST /predict`` (raw texts or pre-split words -> words, tags, entities with character
offsets and scores), ``GET /health``, ``GET /info`` (labels, their colours, model settings, limits),
``GET /`` (one self-contained HTML page that tags what you type and highlights the entities) and the
API docs at ``/docs`` and ``/redoc``, whose scripts are served from here (no CDN: they work offline). Requests from
concurrent clients are micro-batched; the predictor is exact under batching, so every answer equals
what ``predict`` gives for that input alone.

Nothing is loaded at import time: ``create_app`` takes a ready predictor (anything with
``predict(inputs) -> list of objects with to_dict()``), so a torch or an ONNX backend serve alike.

Hostile input stays with its sender: every text and word is checked before it joins a micro-batch
(``limits.check_limits``: lone surrogates get a 422 naming the field and index), a failure inside a
batch fails only the request it came from (``batching``: a 500 ``{"error": ...}`` and one log line),
and idle or slow connections are closed (``limits``: ``idle_timeout_s``, ``body_timeout_s``). A request
whose Host header is not one the server is meant for (DNS rebinding) gets a 400, and so does one with
both Content-Length and Transfer-Encoding (request smuggling; the connection is then closed).
``/info`` names the model and encoder directories, never their absolute paths.

Expensive requests stay with their senders too (``PredictService``): a request is costed in
sub-words by the model's tokenizer before it is queued (``costs``; 413 over
``max_request_subwords``), refused with 503 and a Retry-After header when the service already holds
``max_queued_subwords`` of work, answered with 503 and Retry-After when not done within
``request_timeout_s`` (its work not yet started dropped, as is a disconnected client's), and split
into micro-batches that the batcher orders cheapest-first, one worker kept for small requests
(``batching``): a one-line request never waits behind a megabyte.
"""
from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..errors import ConfigError
from ..files import display_name, name_for_display
from ..palette import label_styles
from ..tags import entity_types
from ..memory import release_freed_memory
from .batching import Busy, MicroBatcher, Overdue
from .costs import SubwordCounter, request_costs
from .limits import (BodyLimitMiddleware, FramingGuardMiddleware, HostAllowListMiddleware, RequestLimitError, ServeLimits,
                     allowed_host_patterns, check_limits, error_response, idle_timeout_protocol, validation_message)
from .schemas import ErrorResponse, HealthResponse, InfoResponse, PredictRequest, PredictResponse


class SupportsPredict(Protocol):
    """What the server needs from a predictor: ``predict`` returning objects with ``to_dict()``."""

    def predict(self, inputs: Sequence[str | Sequence[str]]) -> list[Any]: ...


def page_html() -> str:
    """The page served at ``/``: one self-contained file, no external scripts or styles."""
    return files(__package__).joinpath("static", "index.html").read_text(encoding="utf-8")


#: settings ``/info`` reports where the model has them
INFO_SETTINGS = ("head", "features", "scheme", "pooling", "multi_label", "threshold", "max_length", "encoder",
                 "encoder_sha256")


def model_info(scorer: Any, model_path: str, backend: str = "torch") -> dict:
    """The ``/info`` description of a loaded model (its task, labels and the settings saved with it);
    the model by its directory's name (``display_name``), the encoder by the name recorded with the
    model (older models recorded a path: its directory's name), never absolute paths."""
    settings = scorer.settings
    return {
        "task": settings.task,
        "labels": list(settings.labels),
        "model": display_name(Path(model_path).resolve()),  # resolved: ``serve .`` shows the directory's name
        "backend": backend,
        **{name: getattr(settings, name) for name in INFO_SETTINGS if hasattr(settings, name)},
        **({"encoder": name_for_display(settings.encoder)} if getattr(settings, "encoder", None) else {}),
        "model_version": settings.version,
        "entitune_version": __version__,
    }


def _torch_threads(threads: int | None) -> Callable[[], None] | None:
    """A worker-thread initializer that sets torch's intra-op threads where torch runs the model
    (it is then loaded). Threads started later take the same count: in effect the setting is the
    process's. An ONNX export never loads torch, and nothing here imports it."""
    if not threads:
        return None

    def init() -> None:
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(threads)

    return init


class PredictService:
    """What ``POST /predict`` does with a request once it is parsed: the limits on its inputs
    (``check_limits``), its cost in sub-words (``costs.request_costs``: 413 over
    ``max_request_subwords``), admission against ``max_queued_subwords`` (503 with Retry-After,
    never queued), the micro-batcher, and the wait for the answer, which ends at the deadline
    (``request_timeout_s``: 503 with Retry-After, its work not yet started dropped) or when the client
    disconnects (its work dropped too)."""

    def __init__(self, predictor: SupportsPredict, limits: ServeLimits, threads: int | None = None,
                 count_subwords: Callable[[Sequence], list[int]] | None = None) -> None:
        def predict_dicts(inputs: list) -> list[dict]:
            return [p.to_dict() for p in predictor.predict(inputs)]

        self.limits = limits
        self.count = count_subwords or SubwordCounter.for_predictor(predictor)
        self.batcher = MicroBatcher(predict_dicts, limits.max_batch_texts, limits.max_batch_wait_ms / 1000.0,
                                    thread_init=_torch_threads(threads), workers=limits.workers,
                                    max_batch_subwords=limits.max_batch_subwords,
                                    max_queued_subwords=limits.max_queued_subwords,
                                    quick_lane_subwords=limits.quick_lane_subwords, after_batch=release_freed_memory)
        self._counting: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._counting = ThreadPoolExecutor(1, thread_name_prefix="entitune-count")
        await self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        if self._counting is not None:
            self._counting.shutdown(wait=True)

    async def answer(self, inputs: list, receive: Callable) -> JSONResponse:
        """The response to one request's ``inputs``; ``receive``: the request's ASGI receive, which
        says when the client disconnects."""
        check_limits(inputs, self.limits)  # before batching: a bad input must not reach other requests' batch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.request_timeout_s
        batcher = self.batcher
        try:
            if batcher.full():  # refused before it is counted: a full server spends nothing on it
                batcher.admit(1)
            costs = await request_costs(inputs, self.count, self._counting, self.limits.max_request_subwords,
                                        batcher.admit)
            predictions = await _unless_gone(batcher.submit(inputs, costs, timeout=max(deadline - loop.time(), 0.001)),
                                             receive)
        except Busy as exc:
            return error_response(503, str(exc), {"Retry-After": str(self._retry_after(exc.retry_after))})
        except Overdue:
            wait = self._retry_after(batcher.seconds_until_room())
            return error_response(503, f"not answered within {self.limits.request_timeout_s:g} s (--request-timeout-s): "
                                  "the server is busy, and the work of this request not yet started was dropped; "
                                  f"retry after {wait} s, or send less", {"Retry-After": str(wait)})
        except _ClientGone:
            return error_response(499, "the client went away")  # nobody reads it
        except RequestLimitError:
            raise
        except Exception as exc:  # logged once by the batcher; only this request fails
            return error_response(500, f"prediction failed for this request ({type(exc).__name__}; see the server log)")
        # the predictor's dicts are already the response shape: answering with a JSONResponse skips
        # re-validating them through the response model (which only documents it)
        return JSONResponse({"predictions": predictions})

    def _retry_after(self, estimate: int) -> int:
        """The batcher's estimate, at most the deadline: whatever the server holds now is answered or
        dropped by then."""
        return max(1, min(estimate, math.ceil(self.limits.request_timeout_s)))


class _ClientGone(Exception):
    """The client disconnected before its answer was ready."""


async def _unless_gone(work: Awaitable, receive: Callable) -> Any:
    """``work``'s result, unless the client disconnects first (``receive`` says
    ``http.disconnect``): then ``work`` is cancelled (the batcher drops what it had not started)
    and ``_ClientGone`` raised."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(receive))
    try:
        done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, watch):
            if not pending.done():
                pending.cancel()
    if task in done:
        return task.result()
    try:
        await task  # let the cancellation run its course (the batcher's clean-up)
    except (asyncio.CancelledError, Exception):
        pass
    raise _ClientGone


async def _disconnected(receive: Callable) -> None:
    """Returns when ``receive`` (after the body was read) says the client went away."""
    while (await receive())["type"] != "http.disconnect":
        pass


def describe(info: dict, limits: ServeLimits, allowed_hosts: Sequence[str]) -> dict:
    """What ``/info`` answers: ``info`` (see ``model_info``) with names for paths, the entity types
    (or classes), their colours, and the limits."""
    full = {"task": "ner", "backend": "torch", "entitune_version": __version__, "model": "", **info}
    for key, name in (("model", display_name), ("encoder", name_for_display)):  # names, never absolute paths
        if isinstance(full.get(key), str):
            full[key] = name(full[key])
    full["labels"] = list(full.get("labels", []))
    if full["task"] == "ner":
        full["entity_types"] = entity_types(full["labels"])
    else:
        full["classes"] = full["labels"]
    # the report's palette, by place in the sorted types (or classes): the page colours labels with it
    full["label_colours"] = label_styles(full.get("entity_types") or full.get("classes") or [])
    full["limits"] = {**asdict(limits), "allowed_hosts": ",".join(allowed_hosts)}
    return full


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as one-line JSON ``{"error": ...}``."""

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(*validation_message(exc))

    @app.exception_handler(RequestLimitError)
    async def on_limit(request: Request, exc: RequestLimitError) -> JSONResponse:
        return error_response(exc.status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


def _add_routes(app: FastAPI, service: PredictService, info: dict, page_text: str) -> None:
    """``POST /predict``, ``GET /health``, ``GET /info`` and the page at ``/``."""
    errors = {status: {"model": ErrorResponse} for status in (400, 413, 422, 503)}

    @app.post("/predict", response_model=PredictResponse, responses=errors,
              summary="Tag raw texts or pre-split words")
    async def predict(body: PredictRequest, request: Request) -> JSONResponse:
        """For a tagger: words, IOB2 tags and entities (character offsets, label, score) for each input;
        for a classifier: the label, its probability and every label's probability. In order. 503 with
        a Retry-After header when the server is too busy to take the request or to answer it in time."""
        return await service.answer(body.inputs, request.receive)

    @app.get("/health", response_model=HealthResponse, summary="Liveness")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/info", response_model=InfoResponse, response_model_exclude_none=True,
             summary="The model and the server's limits")
    async def get_info() -> dict:
        return info

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(page_text)


def create_app(predictor: SupportsPredict, *, info: dict, limits: ServeLimits = ServeLimits(),
               threads: int | None = None, host: str = "127.0.0.1",
               count_subwords: Callable[[Sequence], list[int]] | None = None) -> FastAPI:
    """The ASGI app serving ``predictor``.

    Args:
        predictor: anything with ``predict(inputs)`` returning objects with ``to_dict()``.
        info: what ``/info`` reports about the model (see ``model_info``); needs ``labels``.
        limits: request limits and micro-batching settings.
        threads: torch threads for the prediction thread (None: leave torch's setting).
        host: the address the server listens on; it decides which Host headers are answered
            unless ``limits.allowed_hosts`` says (``limits.allowed_host_patterns``).
        count_subwords: each input's cost, for a list of inputs (default: its sub-words by the
            predictor's tokenizer, ``costs.SubwordCounter``).
    """
    service = PredictService(predictor, limits, threads, count_subwords)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    # /docs and /redoc from assets shipped in the fastapi-offline package, not a CDN: the service
    # often runs where nothing outside can be reached (Swagger UI's validator badge is off for that too)
    app = FastAPIOffline(title="entitune", version=__version__, lifespan=lifespan, static_url="/docs-assets",
                         swagger_ui_parameters={"validatorUrl": None},
                         description="Named entity recognition and text classification with a fine-tuned BERT encoder.")
    app.state.service = service
    app.state.batcher = service.batcher
    app.state.limits = limits  # BackgroundServer and run() take the connection timeouts from here
    allowed_hosts = allowed_host_patterns(limits.allowed_hosts, host)
    _add_error_handlers(app)
    _add_routes(app, service, describe(info, limits, allowed_hosts), page_html())
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes, timeout_s=limits.body_timeout_s)
    app.add_middleware(FramingGuardMiddleware)
    app.add_middleware(HostAllowListMiddleware, allowed_hosts=allowed_hosts)  # outermost: before a body is read
    return app


def listen(host: str = "127.0.0.1", port: int = 8000):
    """A socket bound to ``host``:``port`` and listening (port 0: a free one; ``getsockname`` says
    which), made before anything is loaded or printed: a port another process holds, or a host this
    machine cannot bind, is a ``ConfigError`` here rather than an error after "serving on"."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address or name this machine can listen on ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if hasattr(socket, "SO_REUSEADDR") and sys.platform != "win32":  # a restart reuses a port in TIME_WAIT
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        why = {errno.EADDRINUSE: "the port is in use by another process (--port 0 picks a free one)",
               errno.EACCES: "permission denied (ports below 1024 need privileges)",
               errno.EADDRNOTAVAIL: "no interface of this machine has that address"}.get(exc.errno, exc.strerror)
        raise ConfigError(f"cannot listen on {host}:{port}: {why}") from None
    return sock


def run(predictor: SupportsPredict, *, info: dict, limits: ServeLimits = ServeLimits(), host: str = "127.0.0.1",
        port: int = 8000, threads: int | None = None, log_level: str = "info", sock=None,
        on_started: Callable[[], None] | None = None) -> None:
    """Serve ``predictor`` with uvicorn until interrupted (one process, one event loop), on uvicorn's
    h11 protocol with the idle-connection timeout (``limits.idle_timeout_protocol``), on ``sock``
    (from ``listen``; default: one bound to ``host``:``port`` here). ``on_started()`` is called
    once the server accepts connections (a worker of ``serve --processes`` tells its parent)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started and on_started is not None:
                on_started()

    sock = sock if sock is not None else listen(host, port)
    app = create_app(predictor, info=info, limits=limits, threads=threads, host=host)
    config = uvicorn.Config(app, log_level=log_level, access_log=False, http=idle_timeout_protocol(limits.idle_timeout_s))
    try:
        Server(config).run(sockets=[sock])
    finally:
        sock.close()
