#!/usr/bin/env python
"""How entitune's default recipes are chosen: every candidate recipe on every labelled set of its task,
then leave-one-dataset-out, so a default is judged on a set it was not chosen on.

  python bench/defaults.py --out bench/results/defaults_selection.json [--work DIR] [--data DIR]
                           [--slice 3000] [--seeds 42 1] [--only-task ner|classify] [--candidates a,b]

For each task (NER: MIT Movie, CoNLL-2003, WNUT-17, GMB, Weibo, KMOU; classification: AG News, SST-2),
each candidate of ``CANDIDATES`` trains on a fixed-size seeded slice of each set's training file
(``--slice`` sentences or texts; the set's own dev file where it has one, else the candidate's own
dev rule; a ``--refit`` candidate reads no dev file: it holds out its own share of the slice, then
trains again on all of it) and is scored on the full test file, for every seed. Then, for each set, the candidate
with the best mean gain over today's defaults on the *other* sets of its task is chosen, and its
score on the left-out set is reported against today's: the leave-one-dataset-out table. The
results file is rewritten after each run and a rerun skips the runs it holds, so the procedure can
be stopped and continued; ``--confirm NAME`` runs one candidate (and today's) on the full sets.

Every run is ``entitune.recipes.finetune`` (what ``entitune train`` runs) with the candidate's
options over ``FinetuneConfig``'s defaults; the machine is recorded beside the numbers.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import traceback
from pathlib import Path

from _common import machine

#: the candidate recipes: options over today's defaults ("today" is the defaults themselves)
CANDIDATES: dict[str, dict] = {
    "today": {},
    "crf": {"head": "crf"},
    "average": {"average_last": 2},
    "crf_average": {"head": "crf", "average_last": 2},
    "epochs5": {"epochs": 5},
    "crf_epochs5_average": {"head": "crf", "epochs": 5, "average_last": 3},
    "epochs_auto": {"epochs": "auto", "max_epochs": 8, "patience": 2},
    "lr2e-4": {"lr": 2e-4},
    "context_auto": {"context": "auto"},
    "no_probe": {"probe_epochs": 0},
    "refit": {"refit": True},
    "crf_refit": {"head": "crf", "refit": True},
}
#: options that only one task reads: a candidate made only of the other task's options is skipped there
NER_ONLY, CLASSIFY_ONLY = {"head", "context"}, {"probe_epochs"}

#: the labelled sets: task, files under --data, format; "split" sets ship as one file (GMB)
DATASETS: dict[str, dict] = {
    "mit_movie": {"task": "ner", "train": "mit_movie_eng/engtrain.bio", "test": "mit_movie_eng/engtest.bio"},
    "conll2003": {"task": "ner", "train": "conll2003/train.txt", "dev": "conll2003/valid.txt",
                  "test": "conll2003/test.txt"},
    "wnut17": {"task": "ner", "train": "wnut17/wnut17train.conll", "dev": "wnut17/emerging.dev.conll",
               "test": "wnut17/emerging.test.annotated"},
    "gmb": {"task": "ner", "split": "gmb_kaggle_ner/ner_dataset.csv"},
    "weibo": {"task": "ner", "train": "weibo_ner/weiboNER_2nd_conll.train", "dev": "weibo_ner/weiboNER_2nd_conll.dev",
              "test": "weibo_ner/weiboNER_2nd_conll.test", "format": "weibo"},
    "kmou": {"task": "ner", "train": "kmou_ner_2016klp/ner.train", "dev": "kmou_ner_2016klp/ner.dev",
             "test": "kmou_ner_2016klp/ner.test", "format": "kmou"},
    "ag_news": {"task": "classify", "train": "ag_news/train.csv", "test": "ag_news/test.csv", "format": "csv"},
    "sst2": {"task": "classify", "train": "sst2/train.tsv", "test": "sst2/test.tsv", "format": "tsv"},
}


def prepare(name: str, spec: dict, data: Path, work: Path, size: int, seed: int = 0) -> dict:
    """The files of one set for the runs: the training slice (``size`` examples drawn with ``seed``,
    kept in file order, written by entitune's own writer), and dev and test as they are; a set that
    ships as one file is split once (80/10/10, seeded) first."""
    from entitune.data import read_sentences, write_sentences
    from entitune.options import SplitConfig
    from entitune.recipes import Console, split

    files = {k: str(data / v) for k, v in spec.items() if k in ("train", "dev", "test")}
    if "split" in spec:
        parts = work / "sets" / name
        if not (parts / "test.conll").is_file():
            split(SplitConfig(data=str(data / spec["split"]), out=str(parts), seed=42), Console(quiet=True))
        files = {k: str(parts / f"{k}.conll") for k in ("train", "dev", "test")}
    target = work / "sets" / f"{name}-{size}.{'txt' if spec['task'] == 'classify' else 'conll'}"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        if spec["task"] == "classify":
            lines = Path(files["train"]).read_text(encoding="utf-8").splitlines()
            header = [lines[0]] if spec.get("format") == "tsv" else []
            body = lines[len(header):]
            keep = sorted(random.Random(seed).sample(range(len(body)), min(size, len(body))))
            target = target.with_suffix("." + spec["format"])
            target.write_text("\n".join(header + [body[i] for i in keep]) + "\n", encoding="utf-8")
        else:
            sentences = read_sentences(files["train"], spec.get("format", "auto"))
            keep = sorted(random.Random(seed).sample(range(len(sentences)), min(size, len(sentences))))
            target.write_text(write_sentences([sentences[i] for i in keep], "conll"), encoding="utf-8")
    elif spec["task"] == "classify":
        target = target.with_suffix("." + spec["format"])
    files["train"] = str(target)
    return files


def run_one(dataset: str, spec: dict, files: dict, candidate: str, seed: int, work: Path, common: dict) -> dict:
    """One training run: the candidate's options over the defaults, scored on the test file."""
    from entitune.recipes import Console, FinetuneConfig, finetune

    options = {k: v for k, v in CANDIDATES[candidate].items()}
    # the NER slice is written as CoNLL columns and dev/test stay in their own format: each file is sniffed
    fmt = spec["format"] if spec["task"] == "classify" else "auto"
    # --refit holds its dev out of the training slice and trains on all of it again: it reads no dev file
    dev = None if options.get("refit") else files.get("dev")
    config = FinetuneConfig(**{**common, **options}, train=files["train"], dev=dev, test=files["test"],
                            out=str(work / "runs" / f"{dataset}-{candidate}-{seed}"), seed=seed, format=fmt)
    started = time.perf_counter()
    result = finetune(config, Console(quiet=True))
    test = result.log["test"]
    score = test["entity"]["f1"] if "entity" in test else test["accuracy"]
    return {"dataset": dataset, "candidate": candidate, "seed": seed, "score": score,
            "metric": "entity_f1" if "entity" in test else "accuracy", "train_seconds": result.log["train"]["train_seconds"],
            "wall_seconds": round(time.perf_counter() - started, 1), "options": options}


def applies(candidate: str, task: str) -> bool:
    keys = set(CANDIDATES[candidate])
    if not keys:
        return True
    return not (keys <= CLASSIFY_ONLY and task == "ner") and not (keys <= NER_ONLY and task == "classify")


def leave_one_out(runs: list[dict], task: str) -> list[dict]:
    """For each set of ``task``: the candidate chosen on the other sets (best mean gain over today's
    defaults, seeds averaged) and its score on the set left out, against today's there."""
    mean: dict[tuple[str, str], float] = {}
    for key in {(r["dataset"], r["candidate"]) for r in runs if DATASETS[r["dataset"]]["task"] == task}:
        scores = [r["score"] for r in runs if (r["dataset"], r["candidate"]) == key]
        mean[key] = statistics.mean(scores)
    sets = sorted({d for d, _ in mean})
    candidates = sorted({c for _, c in mean if all((d, c) in mean for d in sets)})
    rows = []
    for left_out in sets:
        others = [d for d in sets if d != left_out and (d, "today") in mean]
        if not others or (left_out, "today") not in mean:
            continue
        gain = {c: statistics.mean(mean[(d, c)] - mean[(d, "today")] for d in others) for c in candidates}
        chosen = max(sorted(gain), key=lambda c: gain[c])
        rows.append({"left_out": left_out, "chosen_on_others": chosen, "gain_on_others": round(gain[chosen], 4),
                     "score": round(mean[(left_out, chosen)], 4), "today": round(mean[(left_out, "today")], 4),
                     "difference": round(mean[(left_out, chosen)] - mean[(left_out, "today")], 4)})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| left out | chosen on the others | its score there | today's | difference |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['left_out']} | {r['chosen_on_others']} | {r['score']:.4f} | {r['today']:.4f} | {r['difference']:+.4f} |"
              for r in rows]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--work", default="runs/defaults")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--slice", type=int, default=3000, help="training sentences (texts) per set")
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 1])
    p.add_argument("--only-task", choices=("ner", "classify"))
    p.add_argument("--datasets", default=None, help="comma-separated subset of the sets")
    p.add_argument("--candidates", default=None, help="comma-separated subset of the candidates")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an option for every run")
    args = p.parse_args()
    out, work, data = Path(args.out), Path(args.work), Path(args.data)
    common = {k: json.loads(v) if v[:1].isdigit() or v in ("true", "false") else v
              for k, v in (item.split("=", 1) for item in args.set)}
    results = json.loads(out.read_text()) if out.is_file() else {"runs": [], "failed": []}
    results.update(script="bench/defaults.py", slice=args.slice, seeds=args.seeds, machine=machine(),
                   candidates=CANDIDATES, common=common)
    done = {(r["dataset"], r["candidate"], r["seed"]) for r in results["runs"]}
    sets = [d for d in (args.datasets.split(",") if args.datasets else DATASETS)
            if args.only_task in (None, DATASETS[d]["task"])]
    candidates = args.candidates.split(",") if args.candidates else list(CANDIDATES)
    for dataset in sets:
        spec = DATASETS[dataset]
        files = prepare(dataset, spec, data, work, args.slice)
        for candidate in candidates:
            if not applies(candidate, spec["task"]):
                continue
            for seed in args.seeds:
                if (dataset, candidate, seed) in done:
                    continue
                print(f"{dataset} {candidate} seed {seed}", flush=True)
                try:
                    results["runs"].append(run_one(dataset, spec, files, candidate, seed, work, common))
                except Exception as exc:  # noqa: BLE001 - recorded, and the procedure goes on
                    results["failed"].append({"dataset": dataset, "candidate": candidate, "seed": seed,
                                              "error": "".join(traceback.format_exception_only(exc)).strip()})
                results["leave_one_dataset_out"] = {t: leave_one_out(results["runs"], t) for t in ("ner", "classify")}
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(results, indent=2) + "\n")
    for task in ("ner", "classify"):
        rows = results.get("leave_one_dataset_out", {}).get(task, [])
        if rows:
            print(f"\n{task}\n{markdown(rows)}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
