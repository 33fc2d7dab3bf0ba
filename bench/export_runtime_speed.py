#!/usr/bin/env python
"""Prediction speed of an ONNX export made by this entitune (the whole network in the graph, decoded
in numpy, no torch) against one made by an earlier entitune (``--base``: its graph gave word vectors
and the head ran in PyTorch), side by side in one run, fp32 and int8, on one trained model and an
annotated file (MIT Movie engtest: 2,443 sentences given as plain strings, words joined by spaces).

For each side and quantization:

- the export is made by that side's own ``export_and_rescore`` with the file as ``--eval``: the
  re-scoring gate's entity F1 of PyTorch and of the export, and the drop (at most ``--max-drop``);
- a worker process (that side's source tree on its path) loads the export as ``entitune predict
  --threads T`` does and times ``Predictor.predict`` over every sentence at each batch size; the
  seconds from the worker's start to a loaded scorer (imports included: torch for the earlier
  export) are recorded too;
- the entity F1 of its predictions against the file's tags, and how many tags differ between the
  two sides.

The two sides' workers live side by side; each round times every configuration once, one after
another, so that the machine's drift falls on all alike. Reported per configuration: every pass's
seconds, mean, median and best sentences/s, and this entitune's speed over the earlier one's (ratio
of the means, and the median of the per-round ratios).

  python bench/export_runtime_speed.py MODEL_DIR --data DATA.bio --out bench/results/export_runtime_speed.json \\
      [--base REV] [--threads 2] [--repeats 5] [--batch-sizes 1,32] [--limit N]

``--base`` is a git revision of this repository whose ``src/`` is the earlier code (default: the
revision this comparison was written against); it is extracted with ``git archive`` into a
temporary folder.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
START = time.perf_counter()
HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
#: the last revision whose export kept the head in PyTorch (head.safetensors)
BASE = "0636ebe"


# ----------------------------------------------------------------------------------- workers
def _load_sentences(src: str, data: str, limit: int | None):
    sys.path.insert(0, src)
    from entitune.data import load_annotated

    sentences = load_annotated(data).sentences
    return sentences[:limit] if limit else sentences


def export_worker(args) -> None:
    """Export with this side's code and print its re-scoring report (JSON)."""
    sentences = _load_sentences(args.src, args.data, args.limit)
    from entitune.export import export_and_rescore

    report = export_and_rescore(args.model, args.export, sentences, args.quantize, args.max_drop, True)
    print(json.dumps(report))


def timing_worker(args) -> None:
    """Load the export as ``entitune predict --threads T`` does, then answer commands on stdin:
    ``time B`` (one timed pass at batch size B: seconds), ``tags`` (the last pass's tags)."""
    sys.path.insert(0, args.src)
    import entitune
    from entitune.backends import load_scorer

    if args.side == "base":  # the earlier recipes set torch's threads first (its head ran in torch)
        import torch

        torch.set_num_threads(args.threads)
    scorer = load_scorer(args.export, "onnx", threads=args.threads)
    loaded_s = time.perf_counter() - START
    sentences = _load_sentences(args.src, args.data, args.limit)
    texts = [" ".join(s.words) for s in sentences]
    from entitune.predict import Predictor

    warm = Predictor(scorer, batch_size=32).predict(texts[:64])
    assert len(warm) == min(64, len(texts))
    print(json.dumps({"ready": True, "loaded_s": loaded_s, "torch_imported": "torch" in sys.modules,
                      "entitune": entitune.__file__}), flush=True)
    last = None
    for line in sys.stdin:
        command, *rest = line.split()
        if command == "time":
            predictor = Predictor(scorer, batch_size=int(rest[0]))
            t0 = time.perf_counter()
            last = predictor.predict(texts)
            print(json.dumps({"wall_s": time.perf_counter() - t0}), flush=True)
        elif command == "tags":
            print(json.dumps({"tags": [list(p.tags) for p in last]}), flush=True)
        elif command == "quit":
            return


# ----------------------------------------------------------------------------------- driver
def _src_of(rev: str, into: Path) -> Path:
    """``src/`` of ``rev`` of this repository, extracted into ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def _python(src: Path, *args: str, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(src)}
    return [sys.executable, str(HERE), *args], env


class Worker:
    """A timing worker process of one side and quantization."""

    def __init__(self, side: str, src: Path, export: Path, args) -> None:
        cmd, env = _python(src, "--worker", "time", "--side", side, "--src", str(src), "--export", str(export),
                           "--data", args.data, "--threads", str(args.threads),
                           *(["--limit", str(args.limit)] if args.limit else []))
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.proc.wait()}")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        self.proc.wait(timeout=60)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?")
    p.add_argument("--data")
    p.add_argument("--out")
    p.add_argument("--base", default=BASE, help=f"git revision of the earlier code (default {BASE})")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-sizes", default="1,32")
    p.add_argument("--quantize", default="none,int8")
    p.add_argument("--max-drop", type=float, default=0.5)
    p.add_argument("--limit", type=int, default=None, help="only the first N sentences (a quick check)")
    # worker mode
    p.add_argument("--worker", choices=("export", "time"))
    p.add_argument("--side")
    p.add_argument("--src")
    p.add_argument("--export")
    p.add_argument("--quantize-one", dest="quantize_one")
    args = p.parse_args()
    if args.worker == "export":
        args.quantize = args.quantize_one
        return export_worker(args)
    if args.worker == "time":
        return timing_worker(args)
    if not (args.model and args.data and args.out):
        p.error("MODEL, --data and --out are required")

    sys.path.insert(0, str(REPO / "bench"))
    from _common import machine

    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    quantizations = args.quantize.split(",")
    result: dict = {"script": "bench/export_runtime_speed.py", "argv": sys.argv[1:], "machine": machine(),
                    "model": args.model, "data": args.data, "base": args.base, "threads": args.threads,
                    "batch_sizes": batch_sizes, "repeats": args.repeats, "limit": args.limit}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "base").mkdir()
        sides = {"base": _src_of(args.base, tmp / "base"), "new": REPO / "src"}
        result["base_commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", args.base], capture_output=True,
                                               text=True).stdout.strip()
        result["new_commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                                              text=True).stdout.strip()
        exports: dict = {}
        for side, src in sides.items():
            for q in quantizations:
                out = tmp / f"{side}-{q}"
                cmd, env = _python(src, "--worker", "export", "--src", str(src), "--data", args.data,
                                   "--export", str(out), "--quantize-one", q, "--max-drop", str(args.max_drop),
                                   *(["--limit", str(args.limit)] if args.limit else []))
                cmd.insert(len(cmd), args.model)
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                if done.returncode:
                    raise SystemExit(f"export {side} {q} failed:\n{done.stderr[-3000:]}")
                report = json.loads(done.stdout.strip().splitlines()[-1])
                exports[(side, q)] = out
                result.setdefault("exports", {})[f"{side}_{q}"] = {
                    k: report.get(k) for k in ("quantize", "onnx_bytes", "export_seconds", "torch_score", "onnx_score",
                                               "drop_points", "accepted", "onnx_invalid_sequences")}
                result["exports"][f"{side}_{q}"]["files"] = sorted(f.name for f in out.iterdir())
                result["exports"][f"{side}_{q}"]["within_max_drop"] = report["drop_points"] <= args.max_drop
                print(f"exported {side} {q}: F1 torch {report['torch_score']:.4f} onnx {report['onnx_score']:.4f} "
                      f"drop {report['drop_points']:.2f}", file=sys.stderr)
        workers = {key: Worker(key[0], sides[key[0]], path, args) for key, path in exports.items()}
        try:
            walls: dict = {(key, b): [] for key in workers for b in batch_sizes}
            for r in range(args.repeats):
                for b in batch_sizes:
                    for key, worker in workers.items():
                        walls[(key, b)].append(worker.ask(f"time {b}")["wall_s"])
                print(f"round {r + 1}/{args.repeats} done", file=sys.stderr)
            tags = {key: worker.ask("tags")["tags"] for key, worker in workers.items()}
            infos = {key: worker.info for key, worker in workers.items()}
        finally:
            for worker in workers.values():
                worker.close()
    sys.path.insert(0, str(REPO / "src"))
    from entitune.data import load_annotated
    from entitune.evaluate import entity_scores

    sentences = load_annotated(args.data).sentences
    sentences = sentences[: args.limit] if args.limit else sentences
    gold = [list(s.tags) for s in sentences]
    n = len(sentences)
    configs = {}
    for (key, b), w in walls.items():
        side, q = key
        configs[f"{side}_{q}_b{b}"] = {
            "side": side, "quantize": q, "batch_size": b, "wall_s": w, "sentences_per_s": n / (sum(w) / len(w)),
            "median_sentences_per_s": n / statistics.median(w), "best_sentences_per_s": n / min(w),
            "loaded_s": infos[key]["loaded_s"], "torch_imported": infos[key]["torch_imported"],
            "entity_f1": entity_scores(gold, tags[key], "strict")["entity"]["f1"],
        }
    result["sentences"] = n
    result["configs"] = configs
    result["new_over_base"] = {}
    for q in quantizations:
        differing = sum(a != b for x, y in zip(tags[("new", q)], tags[("base", q)]) for a, b in zip(x, y))
        for b in batch_sizes:
            new, base = walls[(("new", q), b)], walls[(("base", q), b)]
            result["new_over_base"][f"{q}_b{b}"] = {
                "speedup_of_means": (sum(base) / len(base)) / (sum(new) / len(new)),
                "median_round_speedup": statistics.median(bw / nw for bw, nw in zip(base, new)),
                "tags_differing": differing, "words": sum(len(g) for g in gold),
            }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for name, c in configs.items():
        print(f"{name:18s} {c['sentences_per_s']:8.1f} sent/s (median {c['median_sentences_per_s']:.1f}) "
              f"F1 {c['entity_f1']:.4f} loaded in {c['loaded_s']:.1f} s")
    for name, c in result["new_over_base"].items():
        print(f"new/base {name}: {c['speedup_of_means']:.2f}x (median round {c['median_round_speedup']:.2f}x), "
              f"{c['tags_differing']} of {c['words']} tags differ")


if __name__ == "__main__":
    main()
