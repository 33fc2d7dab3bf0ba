"""The HTTP service behind ``entitune serve``: a FastAPI app with a micro-batching worker and a page.

Endpoints: ``POST /predict`` (raw texts or pre-split words -> words, tags, entities with character
offsets and scores), ``GET /health``, ``GET /info`` (labels, model settings, limits) and ``GET /``,
one self-contained HTML page that tags what you type and highlights the entities.

Requests from concurrent clients are micro-batched: each request's inputs go into an asyncio queue,
a worker collects what arrives within a short window (``max_batch_wait_ms``, or until
``max_batch_texts``), runs ``predictor.predict`` once on the combined list on a worker thread, and
hands each request its share of the results. ``workers`` batches may be predicted at once (one
collects while another predicts): with one, the model waited while the answers of a batch went out
and the next requests came in; with two, 50 clients on 2 cores were served about 1.15x faster.
The predictor is exact under batching, so every answer equals what ``predict`` gives for that input
alone. The batching is written here by hand because nothing well-kept does it for this
case: model servers (Triton, TorchServe, Ray Serve) batch tensors and need their own runtime, and
the small asyncio batching packages are thin and unmaintained; ours is one short class.

Nothing is loaded at import time: ``create_app`` takes a ready predictor (anything with
``predict(inputs) -> list of objects with to_dict()``), so a torch or an ONNX backend serve alike.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any, Optional, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ServeLimits", "MicroBatcher", "create_app", "model_info", "run", "PAGE"]


class SupportsPredict(Protocol):
    """What the server needs from a predictor: ``predict`` returning objects with ``to_dict()``."""

    def predict(self, inputs: Sequence[str | Sequence[str]]) -> list[Any]: ...


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
                raise ValueError(f"ServeLimits.{name} must be positive, got {value}")


# ---------------------------------------------------------------------------------------------
# request and response models (they make /openapi.json and /docs meaningful)


class PredictRequest(BaseModel):
    """Exactly one of ``texts`` (raw strings) or ``tokens`` (lists of pre-split words)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"texts": ["show me films with drew barrymore from the 1980s"]},
                     {"tokens": [["drew", "barrymore", "movies"]]}],
    })

    texts: Optional[list[StrictStr]] = Field(None, description="raw texts, split into words by the server")
    tokens: Optional[list[list[StrictStr]]] = Field(None, description="pre-split words; offsets index the words joined by single spaces")

    @model_validator(mode="after")
    def _exactly_one(self) -> "PredictRequest":
        given = [name for name in ("texts", "tokens") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of 'texts' or 'tokens', got {' and '.join(given) or 'neither'}")
        if not (self.texts if self.texts is not None else self.tokens):
            raise ValueError(f"'{given[0]}' is empty; give at least one input")
        return self

    @property
    def inputs(self) -> list[str] | list[list[str]]:
        return self.texts if self.texts is not None else self.tokens  # type: ignore[return-value]


class EntityOut(BaseModel):
    text: str
    label: str
    start: int = Field(description="character offset where the entity starts")
    end: int = Field(description="character offset one past the entity's end")
    score: float = Field(description="mean probability of the entity's word tags")
    word_start: int = 0
    word_end: int = 0


class PredictionOut(BaseModel):
    text: str
    words: list[str]
    tags: list[str]
    entities: list[EntityOut]


class PredictResponse(BaseModel):
    predictions: list[PredictionOut]


class ErrorResponse(BaseModel):
    error: str


class HealthResponse(BaseModel):
    status: str = "ok"


class InfoResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    labels: list[str]
    entity_types: list[str]
    model: str
    backend: str
    head: Optional[str] = None
    features: Optional[str] = None
    scheme: Optional[str] = None
    max_length: Optional[int] = None
    encoder: Optional[str] = None
    model_version: Optional[str] = None
    entitune_version: str
    limits: dict[str, float]


# ---------------------------------------------------------------------------------------------
# micro-batching


@dataclass
class _Job:
    inputs: list
    future: asyncio.Future


class MicroBatcher:
    """Combines the inputs of concurrent requests into few ``predict`` calls on ``workers`` threads.

    One worker at a time collects a batch; up to ``workers`` batches are predicted at once.
    ``submit`` awaits the answers of one request; ``start``/``stop`` run inside the app's lifespan.
    """

    def __init__(self, predict: Callable[[list], list[dict]], max_batch_texts: int, max_wait_s: float,
                 thread_init: Callable[[], None] | None = None, workers: int = 1) -> None:
        self._predict = predict
        self._max_batch = max_batch_texts
        self._max_wait = max_wait_s
        self._thread_init = thread_init
        self._workers = workers
        self._queue: asyncio.Queue[_Job] | None = None
        self._collecting: asyncio.Lock | None = None
        self._carry: _Job | None = None
        self._tasks: list[asyncio.Task] = []
        self._executor: ThreadPoolExecutor | None = None
        self.batches = 0  # predict calls made, for tests and curiosity
        self.running = self.most_running = 0  # predict calls under way now, and at most so far

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._collecting = asyncio.Lock()
        self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="entitune-predict",
                                            initializer=self._thread_init)
        self._tasks = [asyncio.create_task(self._worker(), name=f"entitune-batcher-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, inputs: list) -> list[dict]:
        """The predictions (as dicts) of ``inputs``, in order."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(list(inputs), future))
        return await future

    async def _next_batch(self) -> list[_Job]:
        """The first waiting job, then whatever else arrives within the window, up to the batch size."""
        assert self._queue is not None
        first = self._carry if self._carry is not None else await self._queue.get()
        self._carry = None
        jobs, count = [first], len(first.inputs)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        while count < self._max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if count + len(job.inputs) > self._max_batch:
                self._carry = job  # first in the next batch
                break
            jobs.append(job)
            count += len(job.inputs)
        return [j for j in jobs if not j.future.done()]  # drop requests whose client went away

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._collecting is not None
        while True:
            async with self._collecting:  # one collector at a time: batches stay whole
                jobs = await self._next_batch()
            if not jobs:
                continue
            flat = [item for job in jobs for item in job.inputs]
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            try:
                results = await loop.run_in_executor(self._executor, self._predict, flat)
                self.batches += 1
            except Exception as exc:  # a bug in the predictor: every waiting request gets it
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            finally:
                self.running -= 1
            start = 0
            for job in jobs:
                end = start + len(job.inputs)
                if not job.future.done():
                    job.future.set_result(results[start:end])
                start = end


# ---------------------------------------------------------------------------------------------
# errors and the body-size guard


class RequestLimitError(Exception):
    """A request over one of the ``ServeLimits``; answered with ``status`` and a JSON error."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
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
                await _error(400, f"bad Content-Length header: {declared[:40]!r}")(scope, receive, send)
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
            await _error(400, f"request body is not valid UTF-8 (byte {exc.start})")(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, size: int, scope: dict, receive: Callable, send: Callable, streamed: bool = False) -> None:
        what = f"at least {size}" if streamed else str(size)
        message = f"request body too large: {what} bytes, the maximum is {self.max_bytes} (--max-body-bytes)"
        await _error(413, message)(scope, receive, send)


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


# ---------------------------------------------------------------------------------------------
# the app


def model_info(tagger: Any, model_path: str, backend: str = "torch") -> dict:
    """The ``/info`` description of a loaded ``Tagger`` (labels and the settings saved with it)."""
    from . import __version__

    settings = tagger.settings
    return {
        "labels": list(tagger.labels),
        "model": str(model_path),
        "backend": backend,
        "head": settings.head,
        "features": settings.features,
        "scheme": settings.scheme,
        "max_length": settings.max_length,
        "encoder": settings.encoder,
        "model_version": settings.version,
        "entitune_version": __version__,
    }


def _entity_types(labels: Sequence[str]) -> list[str]:
    """``B-ACTOR``, ``I-ACTOR``, ``O`` -> ``ACTOR`` (in first-seen order)."""
    from .tags import split_tag

    return list(dict.fromkeys(split_tag(lab)[1] for lab in labels if lab != "O"))


def _torch_threads(threads: int | None) -> Callable[[], None] | None:
    """A worker-thread initializer that sets torch's intra-op threads. Threads started later take
    the same count: in effect the setting is the process's."""
    if not threads:
        return None

    def init() -> None:
        try:
            import torch
        except ImportError:  # an ONNX-only install
            return
        torch.set_num_threads(threads)

    return init


def create_app(predictor: SupportsPredict, *, info: dict, limits: ServeLimits = ServeLimits(),
               threads: int | None = None) -> FastAPI:
    """The ASGI app serving ``predictor``.

    Args:
        predictor: anything with ``predict(inputs)`` returning objects with ``to_dict()``.
        info: what ``/info`` reports about the model (see ``model_info``); needs ``labels``.
        limits: request limits and micro-batching settings.
        threads: torch threads for the prediction thread (None: leave torch's setting).
    """

    def predict_dicts(inputs: list) -> list[dict]:
        return [p.to_dict() for p in predictor.predict(inputs)]

    batcher = MicroBatcher(predict_dicts, limits.max_batch_texts, limits.max_batch_wait_ms / 1000.0,
                           thread_init=_torch_threads(threads), workers=limits.workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    from . import __version__

    app = FastAPI(title="entitune", version=__version__, lifespan=lifespan,
                  description="Named entity recognition with a fine-tuned BERT encoder.")
    app.state.batcher = batcher
    full_info = {"backend": "torch", "entitune_version": __version__, "model": "", **info}
    full_info["labels"] = list(full_info.get("labels", []))
    full_info["entity_types"] = _entity_types(full_info["labels"])
    full_info["limits"] = asdict(limits)
    errors = {400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(*_validation_message(exc))

    @app.exception_handler(RequestLimitError)
    async def on_limit(request: Request, exc: RequestLimitError) -> JSONResponse:
        return _error(exc.status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.post("/predict", response_model=PredictResponse, responses=errors,
              summary="Tag raw texts or pre-split words")
    async def predict(request: PredictRequest) -> JSONResponse:
        """Words, IOB2 tags and entities (character offsets, label, score) for each input, in order."""
        inputs = request.inputs
        check_limits(inputs, limits)
        # the predictor's dicts are already the response shape: answering with a JSONResponse skips
        # re-validating them through the response model (which only documents it)
        return JSONResponse({"predictions": await batcher.submit(inputs)})

    @app.get("/health", response_model=HealthResponse, summary="Liveness")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/info", response_model=InfoResponse, summary="The model and the server's limits")
    async def get_info() -> dict:
        return full_info

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    return app


def run(predictor: SupportsPredict, *, info: dict, limits: ServeLimits = ServeLimits(), host: str = "127.0.0.1",
        port: int = 8000, threads: int | None = None, log_level: str = "info") -> None:
    """Serve ``predictor`` with uvicorn until interrupted (one process, one event loop)."""
    import uvicorn

    app = create_app(predictor, info=info, limits=limits, threads=threads)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


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
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
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


# ---------------------------------------------------------------------------------------------
# the page: inline CSS and JS, no CDN, no build step; user text only ever goes into text nodes

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>entitune</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  #model { color: #666; font-size: .9rem; margin-bottom: 1rem; }
  textarea { width: 100%; box-sizing: border-box; font: inherit; padding: .5rem; }
  button { font: inherit; padding: .3rem 1.2rem; margin: .5rem 0; cursor: pointer; }
  #error { color: #b00020; white-space: pre-wrap; }
  #result p.doc { line-height: 2.4; border-bottom: 1px solid #eee; padding-bottom: .5rem; white-space: pre-wrap; }
  mark.entity { padding: .2em .35em; margin: 0 .1em; border-radius: .35em; line-height: 1; }
  mark.entity .tag { font-size: .65em; font-weight: bold; text-transform: uppercase; margin-left: .4em;
                     vertical-align: middle; opacity: .8; }
  #legend span.swatch { display: inline-block; padding: .1em .5em; margin: .2em .3em .2em 0; border-radius: .35em;
                        font-size: .8rem; font-weight: bold; }
</style>
</head>
<body>
<h1>entitune</h1>
<div id="model"></div>
<label for="text">One text per line:</label>
<textarea id="text" rows="5">show me films with drew barrymore from the 1980s</textarea>
<div><button id="tag-button" type="button">Tag</button> <span id="status"></span></div>
<div id="error" role="alert"></div>
<div id="legend"></div>
<div id="result"></div>
<script>
"use strict";
// A colour per label, derived from its name only, so it is the same on every page and server.
function labelColour(label) {
  let h = 2166136261;
  for (const ch of label) { h ^= ch.codePointAt(0); h = Math.imul(h, 16777619) >>> 0; }
  return "hsl(" + (h % 360) + ", 75%, 82%)";
}
function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "style") Object.assign(node.style, v); else node.setAttribute(k, v);
  }
  for (const c of children || []) node.append(typeof c === "string" ? document.createTextNode(c) : c);
  return node;
}
function renderLegend(types) {
  const legend = document.getElementById("legend");
  legend.replaceChildren(...types.map(t =>
    el("span", {"class": "swatch", "data-label": t, style: {background: labelColour(t)}}, [t])));
}
function renderPrediction(p) {
  // offsets are code-point indices (Python str); index the text as an array of code points
  const chars = Array.from(p.text);
  const doc = el("p", {"class": "doc"});
  let at = 0;
  for (const e of [...p.entities].sort((a, b) => a.start - b.start)) {
    if (e.start < at) continue;
    if (e.start > at) doc.append(chars.slice(at, e.start).join(""));
    const mark = el("mark", {"class": "entity", "data-label": e.label,
                             title: e.label + " " + Number(e.score).toFixed(3),
                             style: {background: labelColour(e.label)}},
                    [chars.slice(e.start, e.end).join(""), el("span", {"class": "tag"}, [e.label])]);
    doc.append(mark);
    at = e.end;
  }
  if (at < chars.length) doc.append(chars.slice(at).join(""));
  return doc;
}
async function tag() {
  const button = document.getElementById("tag-button");
  const status = document.getElementById("status");
  const error = document.getElementById("error");
  const result = document.getElementById("result");
  const texts = document.getElementById("text").value.split("\\n").filter(t => t.trim());
  error.textContent = "";
  if (!texts.length) { error.textContent = "Type some text first."; return; }
  button.disabled = true; status.textContent = "tagging\\u2026";
  try {
    const response = await fetch("predict", {method: "POST", headers: {"Content-Type": "application/json"},
                                             body: JSON.stringify({texts})});
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    result.replaceChildren(...body.predictions.map(renderPrediction));
    const seen = new Set(body.predictions.flatMap(p => p.entities.map(e => e.label)));
    const known = window.entityTypes || [];
    renderLegend([...known, ...[...seen].filter(t => !known.includes(t))]);
    status.textContent = "";
    result.setAttribute("data-done", "1");
  } catch (e) {
    error.textContent = String(e.message || e); status.textContent = "";
  } finally {
    button.disabled = false;
  }
}
async function loadInfo() {
  try {
    const info = await (await fetch("info")).json();
    window.entityTypes = info.entity_types || [];
    renderLegend(window.entityTypes);
    document.getElementById("model").textContent =
      info.model + " \\u00b7 " + info.head + " head \\u00b7 " + info.backend + " \\u00b7 entitune " + info.entitune_version;
  } catch (e) { /* the page still works without /info */ }
}
document.getElementById("tag-button").addEventListener("click", tag);
document.getElementById("text").addEventListener("keydown", e => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) tag();
});
loadInfo();
</script>
</body>
</html>
"""
