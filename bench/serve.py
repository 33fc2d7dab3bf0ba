#!/usr/bin/env python
"""Benchmark `entitune serve` under concurrent clients against offline prediction; write JSON.

For each count in --processes (default 1), starts `entitune serve MODEL_DIR --processes N` as a
subprocess on a loopback port, waits until every server process is ready (its "serving on" line),
runs --clients concurrent clients (threads, one HTTP connection each) for --seconds, each sending
one MIT Movie engtest sentence per request (words joined by spaces), and stops the server; then
measures the predictor's offline throughput on the same sentences in this process
(`entitune.load(model).predict`). A sample of served answers is checked against the offline ones
(`mismatches`). With several counts (`--processes 1 2`) one run measures them side by side, one
after the other, and `served_over_1_process` gives each count's served rate over one process's.

Clients and server share this machine's cores, so served throughput includes the clients' cost.
Each of N server processes runs `--server-threads` torch threads (default: entitune's, the CPUs
divided among the processes); more processes than cores only adds memory.

  python bench/serve.py runs/movie --seconds 30 --out bench/results/serve.json
  python bench/serve.py runs/movie --processes 1 2 4 --seconds 30 --out bench/results/serve_processes.json

The result: the settings, `machine`, `offline_sentences_per_s`, and `served`, one entry per process
count (`processes`, `requests`, `errors`, `latency_ms`, `served_sentences_per_s`,
`served_over_offline`, the answers checked and `mismatches`, `client_cpu_cores`).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import find_dataset, machine, run_clients  # noqa: E402  (puts src/ on the path)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_PER_CLIENT = 5  # answers per client kept for the correctness check


def read_bio_texts(path: Path) -> list[str]:
    """Sentences of an MIT `.bio` file (tag TAB word, blank line between), words joined by spaces."""
    texts, words = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if words:
                texts.append(" ".join(words))
            words = []
            continue
        words.append(line.split("\t", 1)[1] if "\t" in line else line.split()[-1])
    if words:
        texts.append(" ".join(words))
    return texts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, port: int, processes: int, args: argparse.Namespace, log) -> subprocess.Popen:
    """`entitune serve` with the benchmark's settings; its stderr goes to ``log`` (a file: a pipe
    nobody reads could fill up and stall the server)."""
    cmd = [sys.executable, "-m", "entitune", "serve", model, "--port", str(port), "--batch-size", str(args.batch_size),
           "--max-batch-wait-ms", str(args.max_batch_wait_ms), "--max-batch-texts", str(args.max_batch_texts),
           "--processes", str(processes)]
    threads = args.server_threads or args.threads
    if threads:
        cmd += ["--threads", str(threads)]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log, text=True)


def wait_serving(proc: subprocess.Popen, log_path: Path, timeout: float = 300.0) -> str:
    """The server's "serving on" line, said once every server process is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.startswith("serving ")]
        if lines:
            return lines[0]
        if proc.poll() is not None:
            raise SystemExit(f"entitune serve exited: {log_path.read_text(errors='replace').strip()}")
        time.sleep(0.25)
    raise SystemExit(f"entitune serve did not say 'serving on' within {timeout:.0f} s")


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 180.0) -> None:
    """Until ``url``/health answers 200 (serve_hostile.py and serve_overload.py start their own server)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"entitune serve exited: {(proc.stderr.read() if proc.stderr else '').strip()}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"entitune serve did not answer /health within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load_clients(url: str, texts: list[str], clients: int, seconds: float) -> dict:
    """Each client sends one sentence per request, back to back, until the time is up.

    Clients use ``http.client`` with one kept-alive connection each: the clients share the cores
    with the server, and a lighter client leaves more of them to what is measured.
    """
    import http.client
    from urllib.parse import urlsplit

    host, port = urlsplit(url).hostname, urlsplit(url).port
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    samples: list[list[tuple[int, dict]]] = [[] for _ in range(clients)]
    stop_at = time.monotonic() + seconds
    headers = {"Content-Type": "application/json"}

    def client(c: int) -> None:
        i = c * 97  # different clients start at different sentences
        conn = http.client.HTTPConnection(host, port, timeout=60)
        while time.monotonic() < stop_at:
            idx = i % len(texts)
            i += 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/predict", body=json.dumps({"texts": [texts[idx]]}), headers=headers)
                r = conn.getresponse()
                body = r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
            latencies[c].append(time.perf_counter() - t0)
            if not ok:
                errors[c] += 1
            elif len(samples[c]) < SAMPLE_PER_CLIENT:
                samples[c].append((idx, json.loads(body)["predictions"][0]))
        conn.close()

    elapsed = run_clients(client, clients, seconds)
    flat = sorted(x for per in latencies for x in per)
    return {"latencies": flat, "errors": sum(errors), "elapsed": elapsed,
            "samples": [s for per in samples for s in per]}


def _key(x: dict):
    return x["text"], x["words"], x["tags"], [(e["text"], e["label"], e["start"], e["end"]) for e in x["entities"]]


def same_answer(a: dict, b: dict) -> bool:
    """Same words, tags and entities; scores equal to 1e-4 (a different batch composition may
    change the last bits of a float sum)."""
    return _key(a) == _key(b) and all(abs(e["score"] - f["score"]) <= 1e-4 for e, f in zip(a["entities"], b["entities"]))


def same_tags(a: dict, b: dict) -> bool:
    """Same words, tags and entities, whatever the scores (an int8 export scales activations per
    batch, so its scores move with the micro-batch a request lands in)."""
    return _key(a) == _key(b)


def percentile_ms(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return round(sorted_values[k] * 1000, 2)


def offline_throughput(model: str, texts: list[str], batch_size: int, threads: int | None) -> tuple[float, list[dict]]:
    import torch

    import entitune

    if threads:
        torch.set_num_threads(threads)
    predictor = entitune.load(model, "auto", batch_size=batch_size, threads=threads)
    predictor.predict(texts[:32])  # warm-up
    t0 = time.perf_counter()
    predictions = predictor.predict(texts)
    seconds = time.perf_counter() - t0
    return len(texts) / seconds, json.loads(json.dumps([p.to_dict() for p in predictions]))


def serve_and_measure(model: str, texts: list[str], processes: int, seconds: float, args: argparse.Namespace) -> dict:
    """Start a server of ``processes`` processes, warm it up, run the clients, stop it."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        log_path = Path(tmp) / "server.log"
        with open(log_path, "w") as log:
            proc = start_server(model, port, processes, args, log)
            try:
                serving = wait_serving(proc, log_path)
                for text in texts[:10 * processes]:  # warm-up, over new connections: every process gets some
                    httpx.post(url + "/predict", json={"texts": [text]}, timeout=60)
                cpu0 = time.process_time()
                served = load_clients(url, texts, args.clients, seconds)
                served["client_cpu_s"] = time.process_time() - cpu0
                served["serving"] = serving
            finally:
                stop_server(proc)
    return served


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="trained model directory or ONNX export (the backend is chosen as `entitune serve` does)")
    p.add_argument("--seconds", type=float, default=30.0, help="how long the clients run, per process count (at most 600)")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--processes", type=int, nargs="+", default=[1],
                   help="server process counts to measure one after the other (`entitune serve --processes`)")
    p.add_argument("--batch-size", type=int, default=32, help="windows per forward pass, served and offline")
    p.add_argument("--max-batch-wait-ms", type=float, default=5.0)
    p.add_argument("--max-batch-texts", type=int, default=128)
    p.add_argument("--workers", type=int, default=None, help="micro-batches the server predicts at once (default: its own)")
    p.add_argument("--threads", type=int, default=None, help="torch threads, served (per process) and offline")
    p.add_argument("--server-threads", type=int, default=None,
                   help="torch threads of each server process only (default --threads, else entitune's: the CPUs "
                        "divided among the processes); the server's event loop and the clients need CPU too")
    p.add_argument("--data", type=Path, default=None, help="engtest.bio (default $ENTITUNE_DATA/mit_movie_eng/engtest.bio)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "serve.json")
    args = p.parse_args()
    seconds = min(max(args.seconds, 1.0), 600.0)
    if min(args.processes) < 1:
        raise SystemExit("--processes: counts of 1 or more")
    data = args.data or find_dataset("mit_movie_eng") / "engtest.bio"
    texts = read_bio_texts(data)

    runs = {n: serve_and_measure(args.model, texts, n, seconds, args) for n in args.processes}
    offline_per_s, offline = offline_throughput(args.model, texts, args.batch_size, args.threads)

    served = []
    for n, run in runs.items():
        lat = run["latencies"]
        served_per_s = len(lat) / run["elapsed"] if lat else 0.0
        served.append({
            "processes": n,
            "serving": run["serving"],
            "seconds": round(run["elapsed"], 2),
            "requests": len(lat),
            "errors": run["errors"],
            "latency_ms": {"p50": percentile_ms(lat, 50), "p90": percentile_ms(lat, 90), "p99": percentile_ms(lat, 99)},
            "served_sentences_per_s": round(served_per_s, 1),
            "served_over_offline": round(served_per_s / offline_per_s, 3) if offline_per_s else None,
            "checked_answers": len(run["samples"]),
            "tag_mismatches": sum(1 for idx, answer in run["samples"] if not same_tags(answer, offline[idx])),
            "mismatches": sum(1 for idx, answer in run["samples"] if not same_answer(answer, offline[idx])),
            "client_cpu_cores": round(run["client_cpu_s"] / run["elapsed"], 2),
        })
    one = next((s["served_sentences_per_s"] for s in served if s["processes"] == 1), None)
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": str(args.model),
        "data": str(data),
        "sentences": len(texts),
        "clients": args.clients,
        "seconds_per_count": seconds,
        "batch_size": args.batch_size,
        "max_batch_wait_ms": args.max_batch_wait_ms,
        "max_batch_texts": args.max_batch_texts,
        "threads": args.threads,
        "workers": args.workers or "server default",
        "server_threads": args.server_threads or args.threads or "server default (CPUs / processes)",
        "machine": machine(),
        "offline_sentences_per_s": round(offline_per_s, 1),
        "served": served,
        **({"served_over_1_process": {str(s["processes"]): round(s["served_sentences_per_s"] / one, 3) for s in served}}
           if one else {}),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
