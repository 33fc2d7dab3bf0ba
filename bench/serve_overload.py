#!/usr/bin/env python
"""Expensive load on `entitune serve`: one-line clients beside a stream of 1 MB requests, for minutes.

Starts `entitune serve MODEL_DIR` as a subprocess on a loopback port. --clients good clients
(threads, one kept-alive HTTP connection each) send one MIT Movie engtest sentence per request, back
to back, for --minutes; beside them --big-clients clients each send a valid request of about 1 MB
(--big-texts texts of up to 19,000 characters, engtest sentences run together: within every limit
but the sub-word ones), wait --big-pause-s, and send another. Every --sample-s the server's resident
memory (VmRSS of its process) is read.

Recorded: latency percentiles of the one-line requests (every answer, whatever its status), status
counts of each kind of request (200, 413, 503...), 5xx other than 503, connection errors, the 503s'
Retry-After values, the RSS samples over time, and RSS after 5 minutes and at the end. The bar:
p99 of the one-line requests under 1 s, no 5xx but 503, no connection error for a one-line client,
and RSS at the end within 20% of RSS after 5 minutes (for a run shorter than 10 minutes: after the
first twelfth of the run, which says little).

  python bench/serve_overload.py runs/movie --minutes 60 --out bench/results/serve_overload.json
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from _common import find_dataset, machine, run_clients  # noqa: E402  (puts src/ on the path)
from serve import free_port, percentile_ms, read_bio_texts, stop_server, wait_healthy  # bench/serve.py

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
BIG_CHARS = 19_000  # per text of a big request: under the default --max-chars (20,000)
#: server flags this script passes on when given
SERVER_FLAGS = ("threads", "workers", "max_request_subwords", "max_queued_subwords", "request_timeout_s",
                "max_batch_subwords", "quick_lane_subwords")


def start_server(model: str, port: int, args: argparse.Namespace) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "entitune", "serve", model, "--port", str(port)]
    for name in SERVER_FLAGS:
        value = getattr(args, name)
        if value is not None:
            cmd += ["--" + name.replace("_", "-"), str(value)]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def big_body(texts: list[str], count: int, seed: int) -> bytes:
    """A request of ``count`` texts of about ``BIG_CHARS`` characters (sentences run together)."""
    out, i = [], seed * 131
    for _ in range(count):
        parts, size = [], 0
        while size < BIG_CHARS - 200:
            sentence = texts[i % len(texts)]
            i += 1
            parts.append(sentence)
            size += len(sentence) + 1
        out.append(" ".join(parts)[:BIG_CHARS])
    return json.dumps({"texts": out}).encode()


def rss_mb(pid: int) -> float | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class Load:
    """The clients and the memory sampler, sharing one record."""

    def __init__(self, port: int, texts: list[str], args: argparse.Namespace, pid: int) -> None:
        self.port, self.texts, self.args, self.pid = port, texts, args, pid
        self.lock = threading.Lock()
        self.small_latencies: list[float] = []
        self.statuses = {"small": Counter(), "big": Counter()}
        self.conn_errors = Counter()
        self.retry_after: list[int] = []
        self.big_latencies: list[float] = []
        self.rss: list[tuple[float, float | None]] = []
        self.big_bodies = [big_body(texts, args.big_texts, seed) for seed in range(4)]  # made once: light clients
        self.started = time.monotonic()
        self.stop_at = self.started + args.minutes * 60

    def _send(self, conn: http.client.HTTPConnection, body: bytes) -> tuple[int, str | None]:
        conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")

    def client(self, c: int) -> None:
        """A one-line client (``c`` < --clients) or a big one."""
        big = c >= self.args.clients
        kind = "big" if big else "small"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        i = c * 97
        while time.monotonic() < self.stop_at:
            body = (self.big_bodies[i % len(self.big_bodies)] if big
                    else json.dumps({"texts": [self.texts[i % len(self.texts)]]}).encode())
            i += 1
            t0 = time.perf_counter()
            try:
                status, retry = self._send(conn, body)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
                with self.lock:
                    self.conn_errors[kind] += 1
                continue
            elapsed = time.perf_counter() - t0
            with self.lock:
                self.statuses[kind][status] += 1
                (self.big_latencies if big else self.small_latencies).append(elapsed)
                if retry is not None:
                    self.retry_after.append(int(retry))
            if big:
                time.sleep(self.args.big_pause_s)
        conn.close()

    def sample_memory(self) -> None:
        while time.monotonic() < self.stop_at:
            self.rss.append((round(time.monotonic() - self.started, 1), rss_mb(self.pid)))
            time.sleep(min(self.args.sample_s, max(self.stop_at - time.monotonic(), 0.1)))
        self.rss.append((round(time.monotonic() - self.started, 1), rss_mb(self.pid)))

    def run(self) -> float:
        sampler = threading.Thread(target=self.sample_memory, daemon=True)
        sampler.start()
        elapsed = run_clients(self.client, self.args.clients + self.args.big_clients, self.args.minutes * 60)
        sampler.join(timeout=self.args.sample_s + 5)
        return elapsed


def rss_at(samples: list[tuple[float, float | None]], seconds: float) -> float | None:
    """The first sample taken at or after ``seconds``."""
    return next((mb for t, mb in samples if t >= seconds and mb is not None), None)


def summary(load: Load, elapsed: float, args: argparse.Namespace, limits: dict) -> dict:
    small = sorted(load.small_latencies)
    statuses = {kind: {str(k): v for k, v in sorted(c.items())} for kind, c in load.statuses.items()}
    server_errors = sum(v for c in load.statuses.values() for k, v in c.items() if k >= 500 and k != 503)
    early_s = 300.0 if args.minutes >= 10 else args.minutes * 60 / 12
    early, end = rss_at(load.rss, early_s), load.rss[-1][1] if load.rss else None
    p99 = percentile_ms(small, 99)
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": str(args.model),
        "minutes": args.minutes, "seconds": round(elapsed, 1),
        "clients": args.clients, "big_clients": args.big_clients, "big_texts": args.big_texts,
        "big_pause_s": args.big_pause_s,
        "server_limits": limits,
        "machine": machine(),
        "one_line_requests": len(small),
        "one_line_latency_ms": {q: percentile_ms(small, n) for q, n in (("p50", 50), ("p90", 90), ("p99", 99))},
        "one_line_latency_ms_max": round(small[-1] * 1000, 1) if small else None,
        "big_latency_ms": {q: percentile_ms(sorted(load.big_latencies), n) for q, n in (("p50", 50), ("p99", 99))},
        "statuses": statuses,
        "503": sum(c.get(503, 0) for c in load.statuses.values()),
        "5xx_other_than_503": server_errors,
        "connection_errors": dict(load.conn_errors),
        "retry_after_s": {"min": min(load.retry_after), "max": max(load.retry_after)} if load.retry_after else None,
        "rss_mb_early": early, "rss_mb_early_at_s": early_s, "rss_mb_end": end,
        "rss_end_over_early": round(end / early, 3) if early and end else None,
        "rss_mb_samples": load.rss,
    }
    result["bar_met"] = bool(p99 is not None and p99 < 1000 and server_errors == 0
                             and not load.conn_errors.get("small") and result["rss_end_over_early"] is not None
                             and result["rss_end_over_early"] <= 1.2)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="trained model directory or ONNX export")
    p.add_argument("--minutes", type=float, default=60.0, help="how long the clients run")
    p.add_argument("--clients", type=int, default=30, help="one-line clients")
    p.add_argument("--big-clients", type=int, default=2, help="clients sending 1 MB requests")
    p.add_argument("--big-texts", type=int, default=52, help="texts of about 19,000 characters per big request")
    p.add_argument("--big-pause-s", type=float, default=0.5, help="pause of a big client after each answer")
    p.add_argument("--sample-s", type=float, default=30.0, help="seconds between readings of the server's RSS")
    for name in SERVER_FLAGS:
        kind = float if name.endswith("_s") else int
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=None, help="the server's flag (default: its own)")
    p.add_argument("--data", type=Path, default=None, help="engtest.bio (default $ENTITUNE_DATA/mit_movie_eng/engtest.bio)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "serve_overload.json")
    args = p.parse_args()
    texts = read_bio_texts(args.data or find_dataset("mit_movie_eng") / "engtest.bio")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(args.model, port, args)
    try:
        wait_healthy(proc, url)
        import httpx

        limits = httpx.get(url + "/info", timeout=30).json()["limits"]
        for text in texts[:10]:  # warm-up
            httpx.post(url + "/predict", json={"texts": [text]}, timeout=60)
        load = Load(port, texts, args, proc.pid)
        elapsed = load.run()
        alive = proc.poll() is None
    finally:
        stop_server(proc)
    result = summary(load, elapsed, args, limits)
    result["server_alive_at_end"] = alive
    result["bar_met"] = result["bar_met"] and alive
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rss_mb_samples"}, indent=2))


if __name__ == "__main__":
    main()
