#!/usr/bin/env python
"""Hostile load on `entitune serve`: good clients mixed with poisoned requests and bad connections.

Starts `entitune serve MODEL_DIR` as a subprocess on a loopback port and runs --clients concurrent
clients (threads, one kept-alive HTTP connection each) for --seconds. Every --poison-every-th request
carries a lone surrogate (the JSON escape \\ud800) next to a good sentence and must get a 422; the
other requests are good (one MIT Movie engtest sentence, as a text or as pre-split words, in turn)
and must get exactly what the predictor gives offline (`entitune.load(MODEL_DIR)` in this process,
after the server has stopped). Alongside, --idle-sockets connections that never send anything and
one request whose body stops short of its Content-Length run for the whole test; they must be
closed by the server's timeouts (defaults: 15 s idle, 30 s body).

Recorded: status counts, 5xx, connection errors among good clients, good answers that differ from
offline prediction (words, tags, entities; scores to 1e-4) and that are not byte-identical,
requests/s, latency percentiles, what became of the idle and lying connections, and the server's
log (tracebacks, lines). The bar: 0 5xx, 0 connection errors for good clients, 0 differing answers.

  python bench/serve_hostile.py --model runs/movie --seconds 30 --out bench/results/serve_hostile.json
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from _common import find_dataset, machine, run_clients  # noqa: E402  (puts src/ on the path)
from serve import free_port, percentile_ms, read_bio_texts, same_answer, stop_server, wait_healthy  # bench/serve.py

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
POISON = "abc \\ud800 def"  # a lone surrogate, as JSON text: json.dumps cannot write one, so it is spliced in


def start_server(model: str, port: int, args: argparse.Namespace, log) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "entitune", "serve", model, "--port", str(port), "--batch-size", str(args.batch_size)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.idle_timeout_s:
        cmd += ["--idle-timeout-s", str(args.idle_timeout_s)]
    if args.body_timeout_s:
        cmd += ["--body-timeout-s", str(args.body_timeout_s)]
    return subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True)


def good_body(text: str, as_words: bool) -> bytes:
    return json.dumps({"tokens": [text.split()]} if as_words else {"texts": [text]}).encode()


def poison_body(text: str) -> bytes:
    return b'{"texts": [' + json.dumps(text).encode() + b', "' + POISON.encode() + b'"]}'


def run_clients(host: str, port: int, texts: list[str], clients: int, seconds: float, poison_every: int) -> dict:
    """Each client sends requests back to back on one connection until the time is up; request n
    (counted over all clients) is poisoned when n % poison_every == 0."""
    import http.client

    counter = iter(range(10**12))
    lock = threading.Lock()
    statuses: Counter = Counter()
    latencies: list[float] = []
    good_conn_errors = poison_conn_errors = poisoned_answered = 0
    answers: list[tuple[int, bool, bytes]] = []  # (sentence, as words, response body) of good requests
    bad_poison: list[str] = []
    stop_at = time.monotonic() + seconds
    headers = {"Content-Type": "application/json"}

    def client(c: int) -> None:
        nonlocal good_conn_errors, poison_conn_errors, poisoned_answered
        conn = http.client.HTTPConnection(host, port, timeout=60)
        i = c * 97
        while time.monotonic() < stop_at:
            with lock:
                n = next(counter)
            idx, i = i % len(texts), i + 1
            poisoned = n % poison_every == 0
            as_words = bool(n % 2)
            body = poison_body(texts[idx]) if poisoned else good_body(texts[idx], as_words)
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/predict", body=body, headers=headers)
                r = conn.getresponse()
                payload = r.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
                with lock:
                    if poisoned:
                        poison_conn_errors += 1
                    else:
                        good_conn_errors += 1
                continue
            elapsed = time.perf_counter() - t0
            with lock:
                statuses[r.status] += 1
                latencies.append(elapsed)
                if poisoned:
                    poisoned_answered += 1
                    if r.status != 422 or "lone surrogate" not in json.loads(payload).get("error", ""):
                        bad_poison.append(f"{r.status} {payload[:200]!r}")
                elif r.status == 200:
                    answers.append((idx, as_words, payload))
        conn.close()

    return {"elapsed": run_clients(client, clients, seconds), "statuses": statuses, "latencies": sorted(latencies),
            "good_conn_errors": good_conn_errors, "poison_conn_errors": poison_conn_errors, "answers": answers,
            "bad_poison": bad_poison, "poisoned": poisoned_answered}


class BadConnections:
    """Idle sockets (connect, send nothing) and one request whose body stops short of its
    Content-Length, opened before the load; each records when the server closed it and what it sent."""

    def __init__(self, host: str, port: int, idle: int) -> None:
        self.results: dict[str, list] = {"idle": [], "lying": []}
        self.threads = []
        for _ in range(idle):
            self._open(host, port, "idle", b"")
        self._open(host, port, "lying", b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                        b"Content-Length: 1000\r\n\r\n" + b'{"texts": ["show me')

    def _open(self, host: str, port: int, kind: str, send: bytes) -> None:
        sock = socket.create_connection((host, port), timeout=10)
        if send:
            sock.sendall(send)
        t = threading.Thread(target=self._watch, args=(sock, kind, time.monotonic()), daemon=True)
        t.start()
        self.threads.append(t)

    def _watch(self, sock: socket.socket, kind: str, opened: float) -> None:
        data = b""
        sock.settimeout(120)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            self.results[kind].append({"closed_after_s": None, "response": data[:12].decode("latin-1")})
            return
        finally:
            sock.close()
        self.results[kind].append({"closed_after_s": round(time.monotonic() - opened, 2),
                                   "response": data[:12].decode("latin-1")})

    def summary(self, wait: float) -> dict:
        deadline = time.monotonic() + wait
        for t in self.threads:
            t.join(timeout=max(deadline - time.monotonic(), 0))
        idle = self.results["idle"]
        closed = [r["closed_after_s"] for r in idle if r["closed_after_s"] is not None]
        lying = self.results["lying"][0] if self.results["lying"] else {"closed_after_s": None, "response": ""}
        return {"idle_sockets": len(self.threads) - 1, "idle_closed_by_server": len(closed),
                "idle_closed_after_s_max": max(closed) if closed else None,
                "lying_content_length_response": lying["response"].strip(),
                "lying_content_length_closed_after_s": lying["closed_after_s"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", nargs="?", help="trained model directory (or give --model)")
    p.add_argument("--model", dest="model_opt", default=None, help="trained model directory")
    p.add_argument("--seconds", type=float, default=30.0, help="how long the clients run (at most 600)")
    p.add_argument("--clients", type=int, default=30)
    p.add_argument("--poison-every", type=int, default=30, help="one request in this many carries a lone surrogate")
    p.add_argument("--idle-sockets", type=int, default=20, help="connections that never send anything")
    p.add_argument("--batch-size", type=int, default=32, help="windows per forward pass, served and offline")
    p.add_argument("--threads", type=int, default=None, help="torch threads, served and offline")
    p.add_argument("--idle-timeout-s", type=float, default=None, help="the server's --idle-timeout-s (default: its own)")
    p.add_argument("--body-timeout-s", type=float, default=None, help="the server's --body-timeout-s (default: its own)")
    p.add_argument("--data", type=Path, default=None, help="engtest.bio (default $ENTITUNE_DATA/mit_movie_eng/engtest.bio)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "serve_hostile.json")
    args = p.parse_args()
    model = args.model_opt or args.model_dir
    if not model:
        p.error("give the trained model directory (MODEL_DIR or --model DIR)")
    seconds = min(max(args.seconds, 1.0), 600.0)
    data = args.data or find_dataset("mit_movie_eng") / "engtest.bio"
    texts = read_bio_texts(data)

    port = free_port()
    host, url = "127.0.0.1", f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = start_server(model, port, args, log)
    try:
        wait_healthy(proc, url)
        import httpx

        limits = httpx.get(url + "/info", timeout=30).json()["limits"]
        for text in texts[:10]:  # warm-up
            httpx.post(url + "/predict", json={"texts": [text]}, timeout=60)
        bad = BadConnections(host, port, args.idle_sockets)
        served = run_clients(host, port, texts, args.clients, seconds, args.poison_every)
        connections = bad.summary(wait=max(limits["idle_timeout_s"], limits["body_timeout_s"]) + 5)
        alive = proc.poll() is None
    finally:
        stop_server(proc)
    log.seek(0)
    server_log = log.read()
    log.close()
    os.unlink(log.name)

    import torch

    import entitune

    if args.threads:
        torch.set_num_threads(args.threads)  # offline as served (and as `machine()` reports)
    predictor = entitune.load(model, "auto", batch_size=args.batch_size, threads=args.threads)
    used = sorted({(idx, as_words) for idx, as_words, _ in served["answers"]})
    inputs = [texts[idx].split() if as_words else texts[idx] for idx, as_words in used]
    offline = dict(zip(used, (p.to_dict() for p in predictor.predict(inputs))))
    differ = not_identical = 0
    score_diff = 0.0
    for idx, as_words, payload in served["answers"]:
        answer = json.loads(payload)["predictions"][0]
        expected = json.loads(json.dumps(offline[(idx, as_words)]))
        differ += not same_answer(answer, expected)
        not_identical += answer != expected
        if same_answer(answer, expected):
            score_diff = max([score_diff, *(abs(e["score"] - f["score"]) for e, f in zip(answer["entities"], expected["entities"]))])

    statuses = served["statuses"]
    requests = sum(statuses.values())
    lat = served["latencies"]
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": str(model),
        "data": str(data),
        "clients": args.clients,
        "seconds": round(served["elapsed"], 2),
        "poison_every": args.poison_every,
        "threads": args.threads,
        "server_limits": limits,
        "machine": machine(),
        "requests": requests,
        "requests_per_s": round(requests / served["elapsed"], 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "5xx": sum(v for k, v in statuses.items() if k >= 500),
        "good_requests_answered": len(served["answers"]),
        "good_client_connection_errors": served["good_conn_errors"],
        "poisoned_requests_answered": served["poisoned"],
        "poisoned_not_422": len(served["bad_poison"]),
        "poisoned_examples_not_422": served["bad_poison"][:5],
        "poisoned_connection_errors": served["poison_conn_errors"],
        "good_answers_differing_from_offline": differ,
        "good_answers_not_identical_to_offline": not_identical,
        "max_entity_score_difference": score_diff,
        "latency_ms": {"p50": percentile_ms(lat, 50), "p90": percentile_ms(lat, 90), "p99": percentile_ms(lat, 99)},
        "bad_connections": connections,
        "server_alive_at_end": alive,
        "server_log_lines": len(server_log.splitlines()),
        "server_log_tracebacks": server_log.count("Traceback"),
        "server_log_prediction_failures": server_log.count("prediction failed"),
        "server_log": server_log.splitlines()[-12:],
    }
    result["bar_met"] = (result["5xx"] == 0 and result["good_client_connection_errors"] == 0
                         and differ == 0 and result["poisoned_not_422"] == 0 and alive)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
