#!/usr/bin/env python
"""Benchmark: active learning simulated on a labelled set. Start with --start labelled examples (a
seeded random draw), then each round train a model on what is labelled (--epochs-per-round epochs
over all of it, 1 by default, starting from the last round's encoder with a new head; --from-scratch:
from the base encoder), score it on the test file, and add --step examples of the
pool chosen by each strategy (``curate.select``: mnlp, margin, entropy; random as the baseline)
until --until are labelled. The labels of the chosen examples are the data set's own (the oracle).
Writes the learning curves (score per labelled count, per strategy and seed), a summary per strategy
(the labelled count at which its mean curve first reaches random's final score; whether it stays
above random after the first round) to JSON, and a PNG plot beside it.

NER (MIT Movie: entity F1) or classification (AG News: accuracy):

  cd bench && python active_learning.py --task ner --start 200 --step 200 --until 2000 --seeds 1 2 3 \\
      --out results/active_learning_mit.json
  cd bench && python active_learning.py --task classify --start 200 --step 200 --until 2000 --seeds 1 2 3 \\
      --limit-pool 20000 --out results/active_learning_ag_news.json

--set NAME=VALUE passes an 'entitune train' option to every round's training (default batch size 8:
200 sentences are 25 optimizer steps an epoch).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _common import data_root, machine  # noqa: E402  (puts src/ on the path)

STRATEGIES = ("mnlp", "margin", "entropy", "random")


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def load(task: str, limit_pool: int | None, limit_test: int | None, seed: int):
    """The pool (labelled, to draw from) and the test set of the task's data set."""
    from entitune.data import load_annotated, read_texts

    if task == "ner":
        root = data_root() / "mit_movie_eng"
        pool = load_annotated(root / "engtrain.bio").sentences
        test = load_annotated(root / "engtest.bio").sentences
    else:
        root = data_root() / "ag_news"
        pool = read_texts(root / "train.csv", "csv").examples
        test = read_texts(root / "test.csv", "csv").examples
    rng = random.Random(seed)
    if limit_pool and limit_pool < len(pool):
        pool = rng.sample(pool, limit_pool)
    if limit_test and limit_test < len(test):
        test = random.Random(0).sample(test, limit_test)
    return pool, test


def write(task: str, examples, path: Path) -> Path:
    from entitune.data import write_sentences

    if task == "ner":
        path.write_text(write_sentences(examples, "conll"))
    else:
        path.write_text("".join(json.dumps({"text": e.text, "label": e.labels[0]}) + "\n" for e in examples))
    return path


def train_and_score(task: str, labelled, test_file: Path, work: Path, seed: int, options: dict,
                    start_from: Path | None = None) -> tuple[float, Path]:
    from entitune.options import FinetuneConfig, build_config
    from entitune.recipes import finetune
    from entitune.terminal import Console

    train_file = write(task, labelled, work / ("train.conll" if task == "ner" else "train.jsonl"))
    values = {"batch_size": 8, "precision": "fp32", **options, "train": str(train_file), "test": str(test_file),
              "out": str(work / "model"), "task": task, "format": "conll" if task == "ner" else "jsonl",
              "seed": seed, "dev_fraction": 0.0, **({"model": str(start_from)} if start_from is not None else {})}
    result = finetune(build_config(FinetuneConfig, values, "bench"), Console(quiet=True))
    test = result.log["test"]
    return (test["entity"]["f1"] if task == "ner" else test["accuracy"]), work / "model"


def choose(task: str, strategy: str, model: Path, pool, n: int, rng: random.Random, batch_size: int) -> list[int]:
    """Indices of ``pool`` to label next."""
    if strategy == "random":
        return rng.sample(range(len(pool)), min(n, len(pool)))
    import numpy as np

    import entitune
    from entitune.curate.probabilities import WordDistributions
    from entitune.curate.select import class_uncertainty, rank, sequence_uncertainty

    predictor = entitune.load(str(model), batch_size=batch_size)
    if task == "ner":
        found = WordDistributions(predictor.scorer, batch_size=batch_size).distributions([s.words for s in pool])
        u = [sequence_uncertainty(strategy, d.probs, d.tagged.scores) for d in found]
    else:
        labels = predictor.scorer.labels
        u = [class_uncertainty(strategy, np.array([a.scores[c] for c in labels]))
             for a in predictor.classify([e.text for e in pool])]
    return rank(u)[:n]


def run(args, strategy: str, seed: int, pool_all, test_file: Path, options: dict, log) -> list[dict]:
    rng = random.Random(seed)
    order = list(range(len(pool_all)))
    rng.shuffle(order)
    labelled = [pool_all[i] for i in order[: args.start]]
    pool = [pool_all[i] for i in order[args.start:]]
    curve = []
    model = None
    with tempfile.TemporaryDirectory(prefix="al-") as tmp:
        while True:
            work = Path(tmp) / f"round{len(curve)}"
            work.mkdir()
            started = time.perf_counter()
            score, model = train_and_score(args.task, labelled, test_file, work, seed, options,
                                           None if args.from_scratch else model)
            curve.append({"labelled": len(labelled), "score": round(score, 4),
                          "train_and_test_s": round(time.perf_counter() - started, 1)})
            log(f"{strategy} seed {seed}: {len(labelled)} labelled -> {score:.4f}")
            if len(labelled) >= args.until or not pool:
                break
            started = time.perf_counter()
            picked = set(choose(args.task, strategy, model, pool, min(args.step, args.until - len(labelled)), rng,
                                args.batch_size))
            curve[-1]["select_s"] = round(time.perf_counter() - started, 1)
            labelled += [pool[i] for i in sorted(picked)]
            pool = [x for i, x in enumerate(pool) if i not in picked]
    return curve


def summarise(curves: dict) -> dict:
    """Per strategy: the mean curve, the labelled count where it first reaches random's final mean
    score, and whether it is above random at every round after the first."""
    means = {}
    for strategy, by_seed in curves.items():
        rounds = zip(*by_seed.values())
        means[strategy] = [{"labelled": r[0]["labelled"], "score": round(sum(x["score"] for x in r) / len(r), 4)}
                           for r in rounds]
    out = {}
    random_curve = means.get("random")
    for strategy, curve in means.items():
        entry: dict = {"mean_curve": curve}
        if random_curve and strategy != "random":
            target = random_curve[-1]["score"]
            entry["reaches_random_final_at"] = next((p["labelled"] for p in curve if p["score"] >= target), None)
            entry["above_random_after_first_round"] = all(
                p["score"] > q["score"] for p, q in list(zip(curve, random_curve))[1:])
        out[strategy] = entry
    return out


def plot(curves: dict, summary: dict, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy, entry in summary.items():
        xs = [p["labelled"] for p in entry["mean_curve"]]
        ax.plot(xs, [p["score"] for p in entry["mean_curve"]], marker="o", label=strategy,
                linestyle="--" if strategy == "random" else "-")
        for seed_curve in curves[strategy].values():
            ax.plot([p["labelled"] for p in seed_curve], [p["score"] for p in seed_curve], alpha=0.15,
                    color=ax.lines[-1].get_color())
    ax.set_xlabel("labelled examples")
    ax.set_ylabel("test score")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=("ner", "classify"), default="ner")
    p.add_argument("--start", type=int, default=200)
    p.add_argument("--step", type=int, default=200)
    p.add_argument("--until", type=int, default=2000)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    p.add_argument("--epochs-per-round", type=int, default=1)
    p.add_argument("--from-scratch", action="store_true",
                   help="train each round from the base encoder (default: from the last round's encoder, a new head)")
    p.add_argument("--limit-pool", type=int, default=None, help="draw from this many training examples")
    p.add_argument("--limit-test", type=int, default=None, help="score on this many test examples")
    p.add_argument("--batch-size", type=int, default=64, help="windows per forward pass when scoring the pool")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="an 'entitune train' option")
    p.add_argument("--out", required=True)
    args = p.parse_args()

    options = {"epochs": args.epochs_per_round}
    options.update({k: _value(v) for k, v in (s.split("=", 1) for s in args.set)})
    pool, test = load(args.task, args.limit_pool, args.limit_test, 0)
    started = time.perf_counter()
    curves: dict = {}
    with tempfile.TemporaryDirectory(prefix="al-test-") as tmp:
        test_file = write(args.task, test, Path(tmp) / ("test.conll" if args.task == "ner" else "test.jsonl"))
        for strategy in args.strategies:
            curves[strategy] = {}
            for seed in args.seeds:
                curves[strategy][str(seed)] = run(args, strategy, seed, pool, test_file, options,
                                                  lambda m: print(m, file=sys.stderr, flush=True))
    summary = summarise(curves)
    out = Path(args.out)
    result = {"what": f"active learning on {'MIT Movie (entity F1)' if args.task == 'ner' else 'AG News (accuracy)'}",
              "task": args.task, "start": args.start, "step": args.step, "until": args.until, "seeds": args.seeds,
              "epochs_per_round": args.epochs_per_round, "training": ("each round from the base encoder" if args.from_scratch else
                           "each round from the last round's encoder (a new head), over every labelled example"),
              "train_options": options, "pool": len(pool), "test": len(test), "summary": summary, "curves": curves,
              "wall_s": round(time.perf_counter() - started, 1), "machine": machine()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    plot(curves, summary, result["what"], out.with_suffix(".png"))
    for strategy, entry in summary.items():
        print(strategy, entry["mean_curve"][-1], {k: v for k, v in entry.items() if k != "mean_curve"})


if __name__ == "__main__":
    main()
