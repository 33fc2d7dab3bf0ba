#!/usr/bin/env python
"""Resident memory of ``entitune pretrain`` on a corpus, stage by stage: the model loaded, the corpus
streamed into token stores, each stretch of training steps, the run's end. RSS is sampled every
50 ms in this process (the run goes through ``entitune.cli.main``, as on the command line).

  python bench/pretrain_memory.py --text ../shared/data/corpora/ko_nsmc_reviews_200k.txt.xz \
      --out bench/results/pretrain_memory_ko200k.json [--steps 40] [--no-trim] [-- EXTRA PRETRAIN FLAGS]

``--no-trim`` replaces the loop's ``release_freed_memory`` by a no-op: the same run as before freed
memory was handed back after each step, for comparison. The bar: peak RSS under 3 GB on the 200,000
Korean reviews.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import machine


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", required=True, nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--dev-fraction", default="0.01")
    p.add_argument("--no-trim", action="store_true")
    p.add_argument("extra", nargs="*", help="more pretrain flags, after --")
    args = p.parse_args()

    import entitune.recipes.pretraining as recipe
    import entitune.train.loop as loop
    from entitune.cli.app import main as cli

    stage = ["start"]
    peaks: dict[str, float] = {}
    marks: list[dict] = []
    t0 = time.perf_counter()

    def sample() -> None:
        while True:
            peaks[stage[0]] = max(peaks.get(stage[0], 0.0), rss_mb())
            time.sleep(0.05)

    def mark(name: str) -> None:
        stage[0] = name
        marks.append({"t_s": round(time.perf_counter() - t0, 1), "stage": name, "rss_mb": round(rss_mb())})
        print(f"[{marks[-1]['t_s']:7.1f} s] {name}: {marks[-1]['rss_mb']} MB", file=sys.stderr, flush=True)

    def staged(owner, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def wrapper(*a, **k):
            mark(f"{label}")
            try:
                return inner(*a, **k)
            finally:
                mark(f"after {label}")
        setattr(owner, name, wrapper)

    staged(recipe.PretrainTask, "_build_model", "model")
    staged(recipe, "corpus_stores", "corpus")
    staged(loop.Run, "train", "training")
    step = loop.Run.train_step

    def train_step(self, group):
        out = step(self, group)
        if self.state.step % 10 == 0:
            mark(f"steps {self.state.step - 9}-{self.state.step}")
        return out

    loop.Run.train_step = train_step
    if args.no_trim:
        loop.release_freed_memory = lambda: False
    threading.Thread(target=sample, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="pretrain-memory-") as tmp:
        argv = ["pretrain", "--text", *args.text, "--out", str(Path(tmp) / "run"), "--max-steps", str(args.steps),
                "--dev-fraction", args.dev_fraction, "--device", "cpu", *args.extra]
        started = time.perf_counter()
        try:
            cli(argv)
        except SystemExit as exc:
            if exc.code:
                raise
        mark("end")
        log = json.loads((Path(tmp) / "run" / "train_log.json").read_text())
    result = {"script": "bench/pretrain_memory.py", "argv": sys.argv[1:], "machine": machine(),
              "trim": not args.no_trim, "peak_rss_mb": round(max(peaks.values())),
              "stage_peak_rss_mb": {k: round(v) for k, v in peaks.items()}, "marks": marks,
              "wall_s": round(time.perf_counter() - started, 1), "data": log["data"],
              "subwords_per_s": log["train"]["subwords_per_s"]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("peak_rss_mb", "stage_peak_rss_mb")}, indent=1))


if __name__ == "__main__":
    main()
