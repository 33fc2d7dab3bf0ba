"""Fuzz every reader: N generated inputs each (half random bytes, half mutated valid files).

Passes when each reader raises nothing but DataFormatError and no input takes longer than
--timeout seconds. Writes a JSON summary: per reader, inputs, ok, data errors, uncaught, slowest.

    python bench/fuzz_readers.py --inputs 10000 --out bench/results/fuzz_readers.json
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from _common import REPO, machine  # puts src/ on the path

sys.path.insert(0, str(REPO))
from entitune.data import READERS  # noqa: E402
from tests.helpers.fuzz import fuzz  # noqa: E402


class Hang(Exception):
    pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--inputs", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--out", default="bench/results/fuzz_readers.json")
    args = p.parse_args()

    def alarm(*_):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input"
        for reader in [*READERS, "auto"]:
            slowest = 0.0
            uncaught: list[str] = []
            t_last = [time.perf_counter()]

            def on_input(_data: bytes) -> None:
                now = time.perf_counter()
                nonlocal slowest
                slowest = max(slowest, now - t_last[0])
                t_last[0] = now
                signal.setitimer(signal.ITIMER_REAL, args.timeout)

            t0 = time.perf_counter()
            try:
                counts = fuzz(reader, path, args.inputs, args.seed, on_input)
            except Hang:
                uncaught.append(f"hang over {args.timeout}s on {path.read_bytes()[:200]!r}")
                counts = {}
            except Exception:  # noqa: BLE001 - the point is to catch what leaks
                uncaught.append(traceback.format_exc(limit=3) + f"input: {path.read_bytes()[:200]!r}")
                counts = {}
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            results[reader] = {
                "inputs": args.inputs if not uncaught else sum(counts.values()),
                **counts,
                "uncaught": len(uncaught),
                "uncaught_examples": uncaught,
                "seconds": round(time.perf_counter() - t0, 2),
                "slowest_input_s": round(slowest, 4),
            }
            print(reader, results[reader]["inputs"], counts, "uncaught", len(uncaught), flush=True)
    out = {
        "what": "reader fuzzing: generated inputs per reader; only DataFormatError may escape",
        "seed": args.seed,
        "machine": machine(),
        "readers": results,
        "all_clean": all(r["uncaught"] == 0 and r["inputs"] == args.inputs for r in results.values()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("all clean:", out["all_clean"])


if __name__ == "__main__":
    main()
