"""The HTTP service: a real uvicorn server on a loopback port, its answers against ``Predictor``,
concurrency, limits and bad input, the CLI verb, and the page in headless Chromium."""
from __future__ import annotations

import json
import logging
import os
import random
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from contextlib import contextmanager

import httpx
import pytest

from entitune.serve import BackgroundServer, ServeLimits, create_app, model_info

from tests.helpers.browser import artifacts, offline_chromium
from tests.helpers.data import REPO, TINY_SENTENCES, WORDS, entity_spans, gold_entities
from tests.helpers.net import free_port


def _plain(predictions) -> list[dict]:
    """Predictions as the server sends them (JSON round trip)."""
    return json.loads(json.dumps([p.to_dict() for p in predictions]))


def _same_answers(got: list[dict], want: list[dict], what: str = "") -> None:
    """Answers (dicts) equal: texts, words, tags and entity spans exactly, entity scores to 1e-5
    (inputs batched with others are padded differently, which may move the last digit)."""
    def unscored(p: dict) -> dict:
        return {**p, "entities": [{**e, "score": None} for e in p["entities"]]}

    assert [unscored(p) for p in got] == [unscored(p) for p in want], what
    for g, w in zip(got, want):
        assert [e["score"] for e in g["entities"]] == pytest.approx([e["score"] for e in w["entities"]], abs=1e-5), what


@pytest.fixture(scope="module")
def tagger(tiny_tagger_dir):
    from entitune import Tagger

    return Tagger.load(tiny_tagger_dir)


@pytest.fixture(scope="module")
def predictor(tagger):
    from entitune import Predictor, TorchScorer

    return Predictor(TorchScorer(tagger), batch_size=4)


@pytest.fixture(scope="module")
def server(predictor, tagger, tiny_tagger_dir):
    app = create_app(predictor, info=model_info(tagger, str(tiny_tagger_dir)), limits=ServeLimits())
    with BackgroundServer(app) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_health_info_and_openapi(client, tagger, tiny_tagger_dir):
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["labels"] == list(tagger.labels)
    assert set(info["entity_types"]) == {"ACTOR", "DIRECTOR", "YEAR", "PLOT"}
    assert info["model"] == tiny_tagger_dir.name  # the directory's name, never its absolute path
    assert info["encoder"] and not info["encoder"].startswith("/")
    assert str(tiny_tagger_dir) not in client.get("/info").text and str(tiny_tagger_dir.parent) not in client.get("/info").text
    assert info["backend"] == "torch"
    assert info["head"] == tagger.settings.head and info["scheme"] == "IOB2"
    assert info["max_length"] == tagger.settings.max_length
    assert info["limits"]["max_texts"] == 256 and info["limits"]["max_body_bytes"] == 1 << 20
    assert info["limits"]["idle_timeout_s"] == 15.0 and info["limits"]["body_timeout_s"] == 30.0
    schema = client.get("/openapi.json").json()
    assert "/predict" in schema["paths"]
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("PredictRequest")
    assert {"texts", "tokens"} <= set(schema["components"]["schemas"]["PredictRequest"]["properties"])
    assert client.get("/docs").status_code == 200


def test_predict_texts_and_tokens_equal_predictor(client, predictor):
    texts = ["show me films with drew barrymore from the 1980s", "films directed by steven spielberg, in paris!", ""]
    response = client.post("/predict", json={"texts": texts})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"predictions"}
    _same_answers(response.json()["predictions"], _plain(predictor.predict(texts)))
    # real spans: ACTOR and YEAR, then DIRECTOR and PLOT (offsets into the text, punctuation outside)
    assert [entity_spans(p) for p in response.json()["predictions"]] == [gold_entities(t) for t in texts]
    tokens = [list(words) for words, _ in TINY_SENTENCES]
    response = client.post("/predict", json={"tokens": tokens})
    assert response.status_code == 200, response.text
    _same_answers(response.json()["predictions"], _plain(predictor.predict(tokens)))
    assert [entity_spans(p) for p in response.json()["predictions"]] == [gold_entities(w) for w in tokens]
    entity_keys = {"text", "label", "start", "end", "score"}
    for p in response.json()["predictions"]:
        for e in p["entities"]:
            assert entity_keys <= set(e) and p["text"][e["start"]:e["end"]] == e["text"] and 0.5 < e["score"] <= 1


def test_concurrent_clients_get_their_own_answers(client, server, predictor):
    rng = random.Random(7)
    clients, per_client = 16, 10
    jobs = []
    for c in range(clients):
        for r in range(per_client):
            n = rng.randint(1, 3)
            texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))) for _ in range(n)]
            jobs.append((c, {"texts": texts} if r % 2 else {"tokens": [t.split() for t in texts]}))
    expected = {i: _plain(predictor.predict(next(iter(body.values())))) for i, (_, body) in enumerate(jobs)}
    assert sum(len(p["entities"]) for answer in expected.values() for p in answer) >= 100  # real spans to mix up
    batches_before = server.app.state.batcher.batches

    def one_client(c: int) -> list[tuple[int, int, object]]:
        out = []
        with httpx.Client(base_url=server.url, timeout=60) as own:
            for i, (owner, body) in enumerate(jobs):
                if owner == c:
                    r = own.post("/predict", json=body)
                    out.append((i, r.status_code, r.json()))
        return out

    start = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        results = [x for part in pool.map(one_client, range(clients)) for x in part]
    assert time.monotonic() - start < 120
    assert len(results) == clients * per_client
    errors = [(i, status) for i, status, _ in results if status != 200]
    assert errors == []
    for i, _, body in results:
        _same_answers(body["predictions"], expected[i], f"request {i} got another input's answer")
    batches = server.app.state.batcher.batches - batches_before
    assert batches <= clients * per_client  # never more predict calls than requests


class _SlowEcho:
    """A predictor that takes 0.2 s per call and answers each input with itself."""

    class _Answer:
        def __init__(self, item) -> None:
            self.item = item

        def to_dict(self) -> dict:
            return {"echo": self.item}

    def predict(self, inputs):
        time.sleep(0.2)
        return [self._Answer(x) for x in inputs]


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_predict_batches_at_once(workers):
    limits = ServeLimits(max_batch_texts=2, max_batch_wait_ms=1, workers=workers)
    app = create_app(_SlowEcho(), info={"labels": ["O"]}, limits=limits)
    with BackgroundServer(app) as running:

        def ask(i: int) -> dict:
            with httpx.Client(base_url=running.url, timeout=30) as own:
                return own.post("/predict", json={"texts": [f"text {i}"]}).json()

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(8)))
        batcher = app.state.batcher
    assert answers == [{"predictions": [{"echo": f"text {i}"}]} for i in range(8)]  # each its own answer
    # eight requests of one text, two per batch: at least four 0.2 s predictions, `workers` at a time
    assert batcher.batches >= 4 and batcher.most_running == workers and batcher.running == 0


BAD_REQUESTS = [
    ("empty body", {"content": b""}, 422),
    ("not JSON", {"content": b"show me films"}, 400),
    ("truncated JSON", {"content": b'{"texts": ["a"'}, 400),
    ("invalid UTF-8", {"content": b'{"texts": ["\xff\xfe"]}'}, 400),
    ("texts is a string", {"json": {"texts": "a string"}}, 422),
    ("texts are numbers", {"json": {"texts": [1, 2]}}, 422),
    ("empty list", {"json": {"texts": []}}, 422),
    ("both keys", {"json": {"texts": ["a"], "tokens": [["a"]]}}, 422),
    ("neither key", {"json": {"sentences": ["a"]}}, 422),
    ("empty object", {"json": {}}, 422),
    ("JSON array", {"json": ["a", "b"]}, 422),
    ("tokens not nested", {"json": {"tokens": ["a", "b"]}}, 422),
    ("null", {"json": None}, 422),
    ("text over max chars", {"json": {"texts": ["a" * 20_001]}}, 422),
    ("10,000 texts", {"json": {"texts": ["a"] * 10_000}}, 422),
    ("too many words", {"json": {"tokens": [["a"] * 5_001]}}, 422),
    ("body over max bytes", {"json": {"texts": ["a" * 1000] * 1100}}, 413),
]


@pytest.mark.parametrize("name,kwargs,status", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_a_json_4xx(client, name, kwargs, status):
    headers = {"Content-Type": "application/json"}
    response = client.post("/predict", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error, str) and error
    if "max" in name or "10,000" in name or "words" in name:
        assert "maximum" in error


def test_limit_messages_say_value_and_maximum(client):
    error = client.post("/predict", json={"texts": ["a"] * 10_000}).json()["error"]
    assert "10000" in error and "256" in error and "--max-texts" in error
    error = client.post("/predict", json={"texts": ["ok", "b" * 20_001]}).json()["error"]
    assert "input 1" in error and "20001" in error and "20000" in error
    error = client.post("/predict", json={"texts": ["a"], "tokens": [["a"]]}).json()["error"]
    assert "exactly one" in error


def test_streamed_body_over_max_bytes_is_413(client):
    def chunks():
        for _ in range(40):
            yield b" " * 32_768  # 1.25 MiB without a Content-Length

    response = client.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "maximum is 1048576" in response.json()["error"]


def test_unknown_route_and_method_are_json(client):
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json()
    response = client.get("/predict")
    assert response.status_code == 405 and "error" in response.json()


def test_page_is_self_contained(client):
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    for anchor in ('id="text"', 'id="tag-button"', 'id="result"', 'id="legend"'):
        assert anchor in page
    assert "innerHTML" not in page and "http://" not in page and "https://" not in page


# -------------------------------------------------------------------------------------------
# hostile clients: strings the tokenizer cannot take, deep nesting, wrong types, lying and idle
# connections, each alongside good requests whose answers must not change

IDLE_S = BODY_S = 1.0  # the hostile server's timeouts
MARGIN_S = 2.0  # scheduling slack on a loaded 2-core machine


@pytest.fixture(scope="module")
def hostile_server(predictor, tagger, tiny_tagger_dir):
    limits = ServeLimits(idle_timeout_s=IDLE_S, body_timeout_s=BODY_S, max_batch_wait_ms=20)
    app = create_app(predictor, info=model_info(tagger, str(tiny_tagger_dir)), limits=limits)
    with BackgroundServer(app) as running:
        yield running


def _raw(body: bytes) -> dict:
    return {"content": body, "headers": {"Content-Type": "application/json"}}


def _nested(depth: int) -> bytes:
    return b'{"texts": ' + b"[" * depth + b'"a"' + b"]" * depth + b"}"


#: (name, request, status, words the error must contain); bodies are raw bytes, as a client can send
#: what httpx's json= would refuse to encode (a lone surrogate escape)
HOSTILE = [
    ("surrogate in texts", _raw(b'{"texts": ["ok", "fine", "good", "abc \\ud800 def"]}'), 422,
     ["texts[3]", "lone surrogate", "U+D800", "character 4"]),
    ("low surrogate alone", _raw(b'{"texts": ["\\udfff"]}'), 422, ["texts[0]", "U+DFFF", "character 0"]),
    ("surrogate in tokens", _raw(b'{"tokens": [["ok"], ["a", "b\\udc00"]]}'), 422, ["tokens[1][1]", "U+DC00", "character 1"]),
    ("reversed surrogate pair", _raw(b'{"texts": ["\\ude00\\ud83d"]}'), 422, ["texts[0]", "U+DE00"]),
    ("surrogate in a key", _raw(b'{"texts": ["a"], "x\\ud800": 1}'), 422, ["invalid request"]),
    ("10000 nested lists", _raw(_nested(10_000)), 400, []),
    ("10000 nested objects", _raw(b'{"a":' * 10_000 + b"1" + b"}" * 10_000), 400, []),
    ("500 nested lists", _raw(_nested(500)), 422, ["texts.0"]),
    ("number in texts", {"json": {"texts": ["a", 3]}}, 422, ["texts.1"]),
    ("null in tokens", {"json": {"tokens": [["a", None]]}}, 422, ["tokens.0.1"]),
    ("object in texts", {"json": {"texts": [{"text": "a"}]}}, 422, ["texts.0"]),
    ("bool texts", {"json": {"texts": True}}, 422, ["texts"]),
    ("infinity", _raw(b'{"texts": [1e999]}'), 422, ["texts.0"]),
    ("NaN", _raw(b'{"texts": [NaN]}'), 422, ["texts.0"]),
    ("extra key", {"json": {"texts": ["a"], "debug": True}}, 422, ["debug"]),
]

#: strings the tokenizer takes: answered like the offline predictor
ODD_BUT_VALID = {
    "NUL in texts": {"texts": ["abc \x00 def", "\x00", "drew\x00barrymore films"]},
    "NUL in tokens": {"tokens": [["drew", "\x00", "barrymore"], ["\x00"]]},
    "control and invisible characters": {"texts": ["\x01\x7f \u200b\ufeff \u202e films", "\uffff \U0010ffff \ue000"]},
    "surrogate pair (an emoji)": {"texts": ["\U0001F600 show me films"]},
    "long single word": {"texts": ["a" * 19_000, "drew " + "\u00e9" * 5_000]},
    "empty and blank words": {"tokens": [["drew", "", " ", "films"]]},
}


def _good_jobs(n: int) -> list[dict]:
    rng = random.Random(11)
    jobs = []
    for i in range(n):
        texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 10))) for _ in range(rng.randint(1, 3))]
        jobs.append({"texts": texts} if i % 2 else {"tokens": [t.split() for t in texts]})
    return jobs


@contextmanager
def _uvicorn_log_to(caplog):
    """uvicorn's error log into ``caplog`` too (uvicorn's logging config stops it reaching the root
    logger); enter after the server's ``uvicorn.Config`` exists, as that reconfigures the logger."""
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        logger.removeHandler(caplog.handler)


def test_hostile_json_alongside_good_requests(hostile_server, predictor, caplog):
    """Hostile bodies sent at the same moment as good requests: every hostile one gets its JSON 4xx
    (a lone surrogate: 422 naming the field, index and character), odd but valid strings are answered
    like the offline predictor, and every good request gets exactly the offline answer. Broken, this
    looks like the operator's measurement: a lone surrogate is a 500 and the good requests that
    shared its micro-batch fail too; or deep nesting crashes the server (500, or no answer)."""
    good = _good_jobs(60)
    expected = [_plain(predictor.predict(next(iter(body.values())))) for body in good]
    assert sum(len(p["entities"]) for answer in expected for p in answer) >= 50  # real spans to disturb
    odd_expected = {name: _plain(predictor.predict(next(iter(body.values())))) for name, body in ODD_BUT_VALID.items()}
    work = ([("good", i) for i in range(len(good))] + [("hostile", i) for i in range(len(HOSTILE))] * 3
            + [("odd", name) for name in ODD_BUT_VALID])
    random.Random(5).shuffle(work)

    def send(item):
        kind, key = item
        with httpx.Client(base_url=hostile_server.url, timeout=60) as own:
            if kind == "good":
                response = own.post("/predict", json=good[key])
            elif kind == "odd":
                response = own.post("/predict", json=ODD_BUT_VALID[key])
            else:
                response = own.post("/predict", **HOSTILE[key][1])
        return item, response.status_code, response.json()

    with caplog.at_level(logging.INFO), _uvicorn_log_to(caplog), ThreadPoolExecutor(12) as pool:
        results = list(pool.map(send, work))
    for (kind, key), status, body in results:
        if kind == "good":
            assert status == 200, (key, body)
            _same_answers(body["predictions"], expected[key], f"good request {key} was disturbed")
        elif kind == "odd":
            assert status == 200, (key, body)
            _same_answers(body["predictions"], odd_expected[key], key)
        else:
            name, _, want, words = HOSTILE[key]
            assert status == want, (name, status, body)
            assert isinstance(body["error"], str) and all(w in body["error"] for w in words), (name, body)
    assert httpx.get(hostile_server.url + "/health", timeout=30).json() == {"status": "ok"}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "Traceback" not in caplog.text


class _PoisonEcho:
    """Answers each input with itself; raises ValueError when any input of the call is "poison"."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, inputs):
        self.calls += 1
        if "poison" in inputs:
            raise ValueError("this input breaks the model")
        time.sleep(0.02)
        return [_SlowEcho._Answer(x) for x in inputs]


def test_a_request_that_breaks_predict_fails_alone(caplog):
    """A request that passes validation but makes ``predict`` raise, sent with twenty good ones:
    it alone gets a 500 with a short JSON error, the good requests get their answers, and the log
    holds one warning line for it and no traceback. Broken, the requests batched with it get 500s,
    or uvicorn logs "Exception in ASGI application" with a traceback per request."""
    limits = ServeLimits(max_batch_wait_ms=50, max_batch_texts=64)
    app = create_app(_PoisonEcho(), info={"labels": ["O"]}, limits=limits)
    bodies = [{"texts": [f"text {i}", f"more {i}"]} for i in range(21)]
    bodies[10] = {"texts": ["fine", "poison"]}
    with caplog.at_level(logging.INFO), BackgroundServer(app) as running, _uvicorn_log_to(caplog):

        def ask(body):
            with httpx.Client(base_url=running.url, timeout=60) as own:
                r = own.post("/predict", json=body)
                return r.status_code, r.json()

        with ThreadPoolExecutor(21) as pool:
            answers = list(pool.map(ask, bodies))
    for i, (status, body) in enumerate(answers):
        if i == 10:
            assert status == 500 and set(body) == {"error"} and "ValueError" in body["error"]
        else:
            assert status == 200 and body == {"predictions": [{"echo": t} for t in bodies[i]["texts"]]}, i
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == ["entitune.serve"], [r.getMessage() for r in warnings]
    assert "ValueError: this input breaks the model" in warnings[0].getMessage() and warnings[0].exc_info is None
    assert "Traceback" not in caplog.text


def _closed_within(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes ``sock``, and when it closed (seconds from now);
    fails if it is still open after ``limit`` seconds."""
    start = time.monotonic()
    data = b""
    while True:
        remaining = limit - (time.monotonic() - start)
        assert remaining > 0, f"the server kept the connection open {limit:.1f} s (got {data[:80]!r})"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"the server kept the connection open {limit:.1f} s (got {data[:80]!r})") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return data, time.monotonic() - start
        data += chunk


def _connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_idle_connections_are_closed_within_the_idle_timeout(hostile_server, predictor):
    """Sockets that send nothing, half a request head, or nothing after a response are closed within
    the idle timeout while a good client keeps being served. Broken (uvicorn alone), an idle socket
    stays open 65 s and more and a few hundred of them exhaust the server."""
    idle = [_connect(hostile_server) for _ in range(20)]
    partial = _connect(hostile_server)
    partial.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")  # a head that never ends
    after_response = _connect(hostile_server)
    after_response.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    texts = ["show me films with drew barrymore"]
    with httpx.Client(base_url=hostile_server.url, timeout=30) as good:
        answer = good.post("/predict", json={"texts": texts}).json()
        _same_answers(answer["predictions"], _plain(predictor.predict(texts)))
    try:
        for sock in [*idle, partial]:
            data, _ = _closed_within(sock, IDLE_S + MARGIN_S)
            assert data == b""  # closed without a word: there was no request to answer
        data, _ = _closed_within(after_response, IDLE_S + MARGIN_S)
        assert data.startswith(b"HTTP/1.1 200") and b'{"status":"ok"}' in data
    finally:
        for sock in [*idle, partial, after_response]:
            sock.close()


class _Sleepy:
    """Answers each input with itself, after ``seconds`` when an input is "slow"."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, inputs):
        if "slow" in inputs:
            time.sleep(self.seconds)
        return [_SlowEcho._Answer(x) for x in inputs]


def test_a_connection_in_use_is_not_cut():
    """A request whose prediction takes three idle timeouts is answered, and so are requests sent
    back to back on the same kept-alive connection for several idle timeouts. Broken, the idle timer
    would not be disarmed by a request head and would cut a connection that is being served."""
    idle = 0.5
    app = create_app(_Sleepy(3 * idle), info={"labels": ["O"]}, limits=ServeLimits(idle_timeout_s=idle))
    with BackgroundServer(app) as running, httpx.Client(base_url=running.url, timeout=30) as c:
        assert c.post("/predict", json={"texts": ["slow"]}).json() == {"predictions": [{"echo": "slow"}]}
        start = time.monotonic()
        while time.monotonic() - start < 4 * idle:
            assert c.post("/predict", json={"texts": ["fast"]}).status_code == 200
            time.sleep(idle / 4)


def test_a_body_shorter_than_its_content_length_gets_408(hostile_server, predictor):
    """A request whose body never reaches its Content-Length gets a 408 JSON error and the
    connection closed within the body timeout; a good client at the same time gets its answers
    at once. Broken, the server waits for the missing bytes for as long as the client likes."""
    lying = _connect(hostile_server)
    lying.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n" + b'{"texts": [')
    start = time.monotonic()
    texts = ["films directed by steven spielberg", "movies from the 1980s"]
    with httpx.Client(base_url=hostile_server.url, timeout=30) as good:
        for _ in range(3):
            _same_answers(good.post("/predict", json={"texts": texts}).json()["predictions"],
                          _plain(predictor.predict(texts)))
    served_in = time.monotonic() - start
    try:
        data, closed_at = _closed_within(lying, BODY_S + MARGIN_S)
    finally:
        lying.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    error = json.loads(body)["error"]
    assert "not received within 1 s" in error and "11 of 100 bytes" in error and "--body-timeout-s" in error
    assert served_in < BODY_S  # the good client did not wait for the liar


# -------------------------------------------------------------------------------------------
# the request head: which Host is answered (DNS rebinding), ambiguous framing (request smuggling)


def _ask_raw(server, request: bytes) -> bytes:
    """What the server sends back to ``request`` written as is, until it closes (or 5 s pass)."""
    with _connect(server) as sock:
        sock.sendall(request)
        data, _ = _closed_within(sock, 5 + MARGIN_S)
    return data


@pytest.mark.parametrize("host,answered", [
    ("127.0.0.1", True), ("localhost", True), ("LOCALHOST:8000", True), ("[::1]:443", True), ("127.0.0.1:1", True),
    ("evil.example", False), ("evil.example:8000", False), ("127.0.0.1.evil.example", False),
    ("localhost.evil.example", False), ("127.0.0.2", False), ("", False),
])
def test_only_the_hosts_a_loopback_server_is_meant_for_are_answered(hostile_server, host, answered):
    """A server on 127.0.0.1 answers Host localhost, 127.0.0.1 and [::1] (any port) and refuses every
    other Host with a JSON 400 naming it: a page on evil.example whose name was rebound to 127.0.0.1
    sends Host evil.example and gets nothing. Broken (no allow-list), that page reads the answers."""
    head = f"HTTP/1.1\r\nHost: {host}\r\n" if host else "HTTP/1.0\r\n"  # h11 refuses HTTP/1.1 without a Host
    data = _ask_raw(hostile_server, f"GET /info {head}Connection: close\r\n\r\n".encode())
    status, _, body = data.partition(b"\r\n\r\n")
    if answered:
        assert status.startswith(b"HTTP/1.1 200") and json.loads(body)["labels"]
    else:
        assert status.startswith(b"HTTP/1.1 400"), data[:200]
        error = json.loads(body)["error"]
        assert (f"Host header {host!r}" in error and "--allowed-hosts" in error) if host else "no Host" in error


def test_allowed_hosts_names_the_hosts_answered():
    """``allowed_hosts`` replaces the default list (a port in the header is ignored, ``*.domain``
    matches its subdomains) and ``*`` answers any Host; a server on a non-loopback address answers
    that address by default. Broken, the option would not reach the check or would not replace the
    loopback names."""
    def status(app, host: str) -> int:
        with BackgroundServer(app) as running:
            return httpx.get(running.url + "/health", headers={"Host": host}).status_code

    named = create_app(_SlowEcho(), info={"labels": ["O"]}, limits=ServeLimits(allowed_hosts="api.example.org,*.corp"))
    assert [status(named, h) for h in ("api.example.org:8000", "x.corp", "localhost", "example.org")] == [200, 200, 400, 400]
    anything = create_app(_SlowEcho(), info={"labels": ["O"]}, limits=ServeLimits(allowed_hosts="*"))
    assert status(anything, "evil.example") == 200
    lan = create_app(_SlowEcho(), info={"labels": ["O"]}, host="10.1.2.3")
    assert [status(lan, h) for h in ("10.1.2.3:8000", "localhost")] == [200, 400]


def test_content_length_with_transfer_encoding_is_refused_and_the_connection_closed(hostile_server, predictor):
    """A request with both Content-Length and Transfer-Encoding gets a JSON 400 and the connection is
    closed, even when a second request is smuggled behind it; a request with either alone is answered.
    uvicorn's h11 protocol alone answers it (Transfer-Encoding wins): broken, the first response is a 200
    and the smuggled request is answered too, or the connection stays open."""
    body = b'{"texts": ["show me films"]}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    smuggled = b"GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    head = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    for framing in (b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(chunked),
                    b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n"):
        data = _ask_raw(hostile_server, head + framing + b"\r\n" + chunked + smuggled)
        status, _, rest = data.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 400") and b"connection: close" in status.lower(), data[:300]
        assert "Content-Length and Transfer-Encoding" in json.loads(rest)["error"]
        assert data.count(b"HTTP/1.1") == 1  # the smuggled request was not answered
    want = _plain(predictor.predict(["show me films"]))
    for framing, payload in ((b"Transfer-Encoding: chunked\r\n", chunked), (b"Content-Length: %d\r\n" % len(body), body)):
        data = _ask_raw(hostile_server, head + framing + b"Connection: close\r\n\r\n" + payload)
        assert data.startswith(b"HTTP/1.1 200"), data[:300]
        _same_answers(json.loads(data.partition(b"\r\n\r\n")[2])["predictions"], want)


# -------------------------------------------------------------------------------------------
# expensive clients: requests costed in sub-words before they are queued, a budget, deadlines,
# cheap work first (a predictor double that takes 0.1 s per input; costs given as characters)


class _PerInput:
    """A predictor taking ``seconds`` per input (one call at a time), noting every input predicted."""

    def __init__(self, seconds: float = 0.1) -> None:
        self.seconds = seconds
        self.predicted: list[str] = []

    def predict(self, inputs):
        time.sleep(self.seconds * len(inputs))
        self.predicted.extend(inputs)
        return [_SlowEcho._Answer(x) for x in inputs]


def _by_chars(inputs) -> list[int]:
    return [len(x) for x in inputs]


def _served(predictor, **limits):
    app = create_app(predictor, info={"labels": ["O"]}, count_subwords=_by_chars,
                     limits=ServeLimits(max_batch_wait_ms=1, **limits))
    return app, BackgroundServer(app)


def _post(url: str, texts: list[str], timeout: float = 60) -> tuple[httpx.Response, float]:
    """The response and when it came (monotonic seconds)."""
    with httpx.Client(base_url=url, timeout=timeout) as own:
        response = own.post("/predict", json={"texts": texts})
    return response, time.monotonic()


def test_a_one_line_request_is_answered_before_an_expensive_one_queued_earlier():
    """One worker; an expensive request of 20 long texts (2 s of work, 4 texts a micro-batch), then
    a one-line request 0.2 s later: the one-line request is answered while the expensive one is
    still under way, and both get 200 with their own answers. Broken (first come first served, or
    the expensive request one unbroken batch), the one-line request waits the whole 2 s."""
    app, server = _served(_PerInput(), workers=1, max_batch_subwords=400)
    big = [f"{i:03d}" + "x" * 97 for i in range(20)]
    with server as running, ThreadPoolExecutor(2) as pool:
        expensive = pool.submit(_post, running.url, big)
        time.sleep(0.2)
        cheap = pool.submit(_post, running.url, ["show me films"])
        (cheap_response, cheap_at), (big_response, big_at) = cheap.result(), expensive.result()
    assert cheap_response.status_code == 200 and cheap_response.json() == {"predictions": [{"echo": "show me films"}]}
    assert big_response.status_code == 200 and big_response.json() == {"predictions": [{"echo": t} for t in big]}
    assert cheap_at < big_at
    assert app.state.batcher.batches >= 6  # five micro-batches of the expensive request, one of the cheap


def test_a_full_budget_answers_503_with_retry_after_and_queues_nothing():
    """``max_queued_subwords`` 1,000: while a request of 800 sub-words is predicted, one of 300 gets
    a 503 with a Retry-After header (whole seconds, at least 1) and a one-line error naming
    --max-queued-subwords, and none of its inputs is ever predicted; one of 100 is admitted; after
    that, the same 300 is answered. No other 5xx. Broken: the 300 is queued (answered late, not
    refused), or refused without Retry-After."""
    predictor = _PerInput(0.5)
    app, server = _served(predictor, workers=1, max_queued_subwords=1_000)
    with server as running, ThreadPoolExecutor(3) as pool:
        first = pool.submit(_post, running.url, ["a" * 800])
        time.sleep(0.2)
        refused, _ = _post(running.url, ["b" * 300])
        admitted = pool.submit(_post, running.url, ["c" * 100])
        assert first.result()[0].status_code == 200 and admitted.result()[0].status_code == 200
        later, _ = _post(running.url, ["b" * 300])
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert "--max-queued-subwords" in error and "1000" in error and "300" in error
    assert later.status_code == 200
    assert predictor.predicted.count("b" * 300) == 1  # only the later one


def test_a_request_past_its_deadline_gets_503_and_its_remaining_work_is_dropped():
    """``request_timeout_s`` 0.5, one input per micro-batch, 0.3 s each: a request of five inputs
    gets a 503 with Retry-After naming --request-timeout-s, its inputs after the second are never
    predicted, and the server holds nothing afterwards; a later request is answered. Broken, the
    request is answered after 1.5 s, or its work goes on after the 503."""
    predictor = _PerInput(0.3)
    app, server = _served(predictor, workers=1, max_batch_texts=1, request_timeout_s=0.5)
    texts = [f"text {i}" for i in range(5)]
    with server as running:
        late, _ = _post(running.url, texts)
        time.sleep(0.8)  # what was running when the deadline passed is done; nothing else starts
        batcher = app.state.batcher
        held = (batcher.queued, batcher.load)
        after, _ = _post(running.url, ["again"])
    assert late.status_code == 503, late.text
    assert int(late.headers["retry-after"]) >= 1 and "--request-timeout-s" in late.json()["error"]
    assert predictor.predicted[:2] == texts[:2] and not set(texts[2:]) & set(predictor.predicted)
    assert held == (0, 0)
    assert after.status_code == 200


def test_a_client_that_disconnects_has_its_queued_work_dropped():
    """A client sends a request of five inputs (one per micro-batch, 0.3 s each) and disconnects
    during the first: the others are never predicted and nothing stays queued. Broken, the server
    predicts all five for nobody."""
    predictor = _PerInput(0.3)
    app, server = _served(predictor, workers=1, max_batch_texts=1)
    body = json.dumps({"texts": [f"gone {i}" for i in range(5)]}).encode()
    with server as running:
        with _connect(running) as sock:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(0.15)
        time.sleep(1.0)
        held = (app.state.batcher.queued, app.state.batcher.load)
    assert predictor.predicted[:1] == ["gone 0"] and len(predictor.predicted) <= 2
    assert held == (0, 0)


def test_a_request_over_the_subword_maximum_is_413_saying_how_many_and_the_maximum(predictor, tagger, tiny_tagger_dir):
    """With the real model, whose tokenizer counts the sub-words: with ``max_request_subwords`` twice
    a text's sub-words, three such texts get a 413 whose one line names their count, the maximum
    and the option; one is answered. Broken (the cost not counted, or counted in characters), the
    three are answered or the count is another."""
    text = "show me films with drew barrymore from the 1980s"
    one = len(tagger.tokenizer(text, add_special_tokens=False)["input_ids"])
    limits = ServeLimits(max_request_subwords=2 * one)
    app = create_app(predictor, info=model_info(tagger, str(tiny_tagger_dir)), limits=limits)
    with BackgroundServer(app) as running:
        refused, _ = _post(running.url, [text] * 3)
        answered, _ = _post(running.url, [text])
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert f"{3 * one} sub-words" in error and f"maximum is {2 * one}" in error and "--max-request-subwords" in error
    assert answered.status_code == 200
    _same_answers(answered.json()["predictions"], _plain(predictor.predict([text])))


def test_the_service_keeps_nothing_per_request():
    """Hundreds of requests of every outcome (answered, split, 413, 503 overdue or busy, a client
    that goes away) leave the service holding what it held before: no queued work, no load, one
    waiter per idle worker, and fewer new Python objects than requests (the growth of resident
    memory over an afternoon would show here first). Broken (a waiter kept per wait, or every
    request kept after its answer), the waiters or the objects grow with the requests."""
    import gc

    app, server = _served(_PerInput(0.001), workers=2, max_request_subwords=5_000, max_queued_subwords=20_000,
                          request_timeout_s=0.03, max_batch_subwords=400)
    body = json.dumps({"texts": ["z" * 100] * 20}).encode()

    def rounds(n: int) -> Counter:
        statuses: Counter = Counter()
        with httpx.Client(base_url=running.url, timeout=30) as own:
            for _ in range(n):
                for texts in (["x" * 100] * 40, ["y" * 1000] * 6, ["show me films"]):
                    statuses[own.post("/predict", json={"texts": texts}).status_code] += 1
                with _connect(running) as sock:  # sends a request and goes away
                    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        return statuses

    def settled() -> tuple[int, tuple]:
        """Objects once the service holds nothing (waiting up to 20 s for the last requests to end)."""
        batcher = app.state.batcher
        deadline = time.monotonic() + 20
        while (batcher.queued, batcher.load, len(batcher._waiters)) != (0, 0, 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        gc.collect()
        return len(gc.get_objects()), (batcher.queued, batcher.load, len(batcher._waiters))

    with server as running, ThreadPoolExecutor(4) as pool:
        list(pool.map(rounds, [10] * 4))
        before, _ = settled()
        statuses = sum(pool.map(rounds, [40] * 4), Counter())
        after, held = settled()
    assert statuses[413] == 160 and statuses[200] + statuses[503] == 320, statuses  # 30 ms: even a line may be overdue
    assert statuses[200] > 0 and statuses[503] > 0, statuses
    assert held == (0, 0, 2)
    assert after - before < 640, (before, after)  # under one object per request


# -------------------------------------------------------------------------------------------
# the CLI verb, as a user runs it


def _entitune(*args, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([sys.executable, "-m", "entitune", *map(str, args)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_cli_serve_answers_like_the_predictor(tiny_tagger_dir, predictor):
    """``entitune serve`` answers like the predictor, applies its limit flags (an idle socket is
    closed after --idle-timeout-s) and names the model directory in /info without its path. Broken,
    the flags would not reach the server (an idle socket stays open) or /info leaks the path."""
    port = free_port()
    proc = _entitune("serve", tiny_tagger_dir, "--port", port, "--threads", 1, "--max-texts", 3,
                     "--idle-timeout-s", 1, "--body-timeout-s", 2)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "entitune serve did not answer /health in 90 s"
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        texts = ["show me films with drew barrymore", "movies from the 1980s"]
        answer = httpx.post(url + "/predict", json={"texts": texts}).json()
        assert set(answer) == {"predictions"}
        _same_answers(answer["predictions"], _plain(predictor.predict(texts)))  # another process, one thread
        assert [entity_spans(p) for p in answer["predictions"]] == [[("drew barrymore", "ACTOR", 19, 33)],
                                                                   [("1980s", "YEAR", 16, 21)]]
        info = httpx.get(url + "/info").json()
        assert info["limits"]["max_texts"] == 3 and info["limits"]["body_timeout_s"] == 2
        assert info["model"] == tiny_tagger_dir.name and not info["encoder"].startswith("/")
        assert httpx.post(url + "/predict", json={"texts": ["a"] * 4}).status_code == 422
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            assert _closed_within(idle, 1 + MARGIN_S)[0] == b""
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_cli_serve_on_a_taken_port_is_one_line_and_exit_2(tiny_tagger_dir):
    """A port another process listens on: one line that says so, exit 2, and no "serving on" (the
    socket is bound before anything is printed or loaded). Broken: "serving ... on" was printed,
    then uvicorn failed to bind (exit 3, a traceback), and a client talked to the other server."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = _entitune("serve", tiny_tagger_dir, "--port", port)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0], err
    assert "serving" not in err + out and "Traceback" not in err


def test_cli_serve_on_port_0_prints_the_port_it_got(tiny_tagger_dir):
    """``--port 0``: a free port is bound and the "serving on" line names it; the server answers
    there. Broken: the line said port 0 (a client could not find the server)."""
    proc = _entitune("serve", tiny_tagger_dir, "--port", 0)
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "serving" not in line:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()[1]
            line = proc.stderr.readline()
        port = int(line.split("http://127.0.0.1:")[1].split(" ")[0])
        assert port != 0
        while True:
            assert time.monotonic() < deadline, "no answer on the port it printed"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_cli_serve_refuses_a_non_model_dir(tmp_path):
    proc = _entitune("serve", tmp_path, "--port", free_port())
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert len(err.strip().splitlines()) == 1 and "not an entitune model" in err and "Traceback" not in err


def test_cli_serve_refuses_bad_limits(tiny_tagger_dir):
    proc = _entitune("serve", tiny_tagger_dir, "--max-texts", 0)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1 and "--max-texts" in err


# -------------------------------------------------------------------------------------------
# the page in headless Chromium


class _FixedPredictor:
    """Tags the first two words of every text as one ACTOR and a word "paris" as LOC, so the page
    test does not depend on what a random tiny model predicts."""

    def predict(self, inputs):
        from entitune.predict import Prediction
        from entitune.data.text import split_words
        from entitune.types import Entity

        out = []
        for text in inputs:
            split = split_words(text)
            words = tuple(w for w, _, _ in split)
            tags = ["O"] * len(words)
            entities = []
            if len(words) >= 2:
                tags[:2] = ["B-ACTOR", "I-ACTOR"]
                s, e = split[0][1], split[1][2]
                entities.append(Entity(text[s:e], "ACTOR", s, e, 0.9, 0, 2))
            for i, (w, s, e) in enumerate(split):
                if w == "paris" and i >= 2:
                    tags[i] = "B-LOC"
                    entities.append(Entity(text[s:e], "LOC", s, e, 0.75, i, i + 1))
            out.append(Prediction(text, words, tuple((s, e) for _, s, e in split), tuple(tags), tuple(entities)))
        return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with offline_chromium(tmp_path_factory.mktemp("chromium-profile"), 1100, 800, offline=False) as driver:
        yield driver


def _tag_on_page(driver, url: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "tag-button").click()
    WebDriverWait(driver, 30).until(
        lambda d: d.find_element(By.ID, "result").get_attribute("data-done") == "1" or d.find_element(By.ID, "error").text)
    assert driver.find_element(By.ID, "error").text == ""


def test_page_highlights_entities_in_chromium(browser):
    from selenium.webdriver.common.by import By

    info = {"labels": ["O", "B-ACTOR", "I-ACTOR", "B-LOC"], "model": "fixed-test-predictor", "head": "linear"}
    text = "drew barrymore films in paris <b>&amp;</b>"
    with BackgroundServer(create_app(_FixedPredictor(), info=info)) as running:
        _tag_on_page(browser, running.url, text)
        marks = browser.find_elements(By.CSS_SELECTOR, "#result mark.entity")
        assert [m.get_attribute("data-label") for m in marks] == ["ACTOR", "LOC"]
        assert marks[0].text.startswith("drew barrymore") and "ACTOR" in marks[0].text
        assert marks[0].get_attribute("title") == "ACTOR 0.900"
        assert marks[1].get_attribute("title") == "LOC 0.750"
        colours = {m.get_attribute("data-label"): m.value_of_css_property("background-color") for m in marks}
        assert colours["ACTOR"] != colours["LOC"]
        # user text is text, never markup
        assert browser.find_elements(By.CSS_SELECTOR, "#result b") == []
        assert "<b>&amp;</b>" in browser.find_element(By.ID, "result").text
        legend = [s.get_attribute("data-label") for s in browser.find_elements(By.CSS_SELECTOR, "#legend .swatch")]
        assert legend[:2] == ["ACTOR", "LOC"]
        shot = artifacts() / "serve_page.png"
        browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 5_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_round_trip_with_the_real_model(browser, server, predictor):
    from selenium.webdriver.common.by import By

    text = "show me films with drew barrymore from the 1980s"
    _tag_on_page(browser, server.url, text)
    docs = browser.find_elements(By.CSS_SELECTOR, "#result p.doc")
    assert len(docs) == 1
    # the rendered text is the input with each entity's label tag after it
    expected = predictor.predict([text])[0]
    assert entity_spans(expected) == [("drew barrymore", "ACTOR", 19, 33), ("1980s", "YEAR", 43, 48)]
    rendered = docs[0].text
    for entity in expected.entities:
        assert entity.text in rendered
    # each mark holds its entity's own text (then its label tag) and says its label and score
    marks = browser.find_elements(By.CSS_SELECTOR, "#result mark.entity")
    shown = [(browser.execute_script("return arguments[0].firstChild.textContent", m), m.get_attribute("data-label"),
              m.get_attribute("title")) for m in marks]
    assert [(t, label) for t, label, _ in shown] == [(e.text, e.label) for e in expected.entities]
    for (_, label, title), entity in zip(shown, expected.entities):
        name, score = title.split(" ")
        assert name == label and float(score) == pytest.approx(entity.score, abs=5e-4 + 1e-6)
    # and without the label tags, the page shows exactly the input: the marks sit at the right offsets
    untagged = browser.execute_script("const doc = arguments[0].cloneNode(true);"
                                      "doc.querySelectorAll('.tag').forEach(t => t.remove());"
                                      "return doc.textContent;", docs[0])
    assert untagged == text
    browser.save_screenshot(str(artifacts() / "serve_page_model.png"))


# -------------------------------------------------------------------------------------------
# a classification model behind the same service and page


@pytest.fixture(scope="module")
def classify_server(tiny_classifier_dir):
    import entitune
    from entitune.backends import load_scorer

    predictor = entitune.load(str(tiny_classifier_dir), batch_size=4)
    app = create_app(predictor, info=model_info(load_scorer(tiny_classifier_dir), str(tiny_classifier_dir)))
    with BackgroundServer(app) as running:
        yield running, predictor


def test_classifier_service_answers_like_the_predictor(classify_server):
    running, predictor = classify_server
    texts = ["films directed by steven spielberg", "show me films with drew barrymore", "movies from the 1980s"]
    with httpx.Client(base_url=running.url, timeout=30) as c:
        info = c.get("/info").json()
        assert info["task"] == "classify" and info["classes"] == ["actor", "director", "year"]
        assert info["pooling"] == "cls" and "entity_types" not in info
        answer = c.post("/predict", json={"texts": texts}).json()
        assert answer == {"predictions": _plain(predictor.predict(texts))}
        assert [p["label"] for p in answer["predictions"]] == ["director", "actor", "year"]
        words = c.post("/predict", json={"tokens": [t.split() for t in texts]}).json()
        assert [p["label"] for p in words["predictions"]] == ["director", "actor", "year"]


def test_page_shows_a_classifiers_labels(browser, classify_server):
    from selenium.webdriver.common.by import By

    running, predictor = classify_server
    text = "films directed by steven spielberg"
    _tag_on_page(browser, running.url, text)
    marks = browser.find_elements(By.CSS_SELECTOR, "#result mark.class-label")
    assert [m.get_attribute("data-label") for m in marks] == ["director"]
    expected = predictor.predict([text])[0]
    assert marks[0].get_attribute("title") == f"director {expected.score:.3f}"
    assert text in browser.find_element(By.ID, "result").text
    legend = [s.get_attribute("data-label") for s in browser.find_elements(By.CSS_SELECTOR, "#legend .swatch")]
    assert legend == ["actor", "director", "year"]
    browser.save_screenshot(str(artifacts() / "serve_page_classifier.png"))


def test_api_docs_render_offline_in_chromium(browser):
    """/docs draws Swagger UI from scripts this server serves (fastapi-offline's copy), so it works
    with no internet. Broken (FastAPI's default CDN links), the page stays blank offline."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    info = {"labels": ["O", "B-ACTOR"], "model": "fixed-test-predictor"}
    with BackgroundServer(create_app(_FixedPredictor(), info=info)) as running:
        browser.get(running.url + "/docs")
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
        assert "entitune" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
        assert browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path[data-path='/predict']")


def test_page_colours_come_from_the_report_palette(browser):
    """Labels get the report's palette by their place in the sorted types: PER and ORG (once nearly
    the same hashed hue) are palette neighbours, clearly distinct."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from entitune.palette import label_styles

    info = {"labels": ["O", "B-ACTOR", "I-ACTOR", "B-LOC"], "model": "fixed-test-predictor"}
    with BackgroundServer(create_app(_FixedPredictor(), info=info)) as running:
        browser.get(running.url + "/")
        WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#legend .swatch")) == 2)
        styles = label_styles(["ACTOR", "LOC"])
        for swatch in browser.find_elements(By.CSS_SELECTOR, "#legend .swatch"):
            expected = styles[swatch.get_attribute("data-label")]
            rgb = tuple(int(expected["tint"][i:i + 2], 16) for i in (1, 3, 5))
            assert swatch.value_of_css_property("background-color") in (f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, 1)",
                                                                        f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})")
