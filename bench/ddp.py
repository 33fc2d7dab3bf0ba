#!/usr/bin/env python
"""Single process vs 2-process DistributedDataParallel on CPU (gloo), one after the other, same
global batch and settings: MIT Movie eng train (10% seeded dev) -> engtest. Writes both test
reports and times to JSON.

  python bench/ddp.py --epochs 1 --out bench/results/ddp_mit_e1.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(os.environ.get("ENTITUNE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "mit_movie_eng"


def run(out: Path, epochs: int, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "entitune", "train", "--train", str(DATA / "engtrain.bio"), "--test", str(DATA / "engtest.bio"),
           "--out", str(out), "--epochs", str(epochs), *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    sys.stderr.write(r.stderr[-2000:])
    if r.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    log = json.loads((out / "train_log.json").read_text())
    return {"command": " ".join(cmd), "wall_s": wall, "train_seconds": log["train"]["train_seconds"],
            "subwords_per_s": log["train"]["subwords_per_s"], "entity": log["test"]["entity"],
            "token_micro_f1": log["test"]["token_micro_f1"], "words_untagged": log["test"]["words_untagged"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="entitune-ddp-"))
    single = run(work / "one", args.epochs, ["--threads", "2"])
    double = run(work / "two", args.epochs, ["--nproc", "2", "--threads", "1"])
    result = {"epochs": args.epochs, "nproc": os.cpu_count(), "single_process": single, "two_processes_gloo": double,
              "f1_difference_points": 100 * (double["entity"]["f1"] - single["entity"]["f1"])}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("f1_difference_points",)}), single["entity"]["f1"], double["entity"]["f1"])


if __name__ == "__main__":
    main()
