#!/usr/bin/env python
"""Run a list of named fine-tuning recipes one after another and record each one's dev scores per
epoch, test scores, precision and times: the driver behind the accuracy ablations and the
classification recipe search (several of these run side by side on one lent GPU).

  python bench/sweep.py --recipes RECIPES.json --out RESULTS.json [--data DATA_DIR] [--set key=value ...]

``RECIPES.json`` maps a run's name to ``FinetuneConfig`` fields (``train``, ``dev``, ``test`` may
use ``{data}`` for ``--data``; ``train`` may list several files; ``first_sentences: N`` trains on
the first N sentences of a one-file ``train``, a low-resource slice; ``pretrain: {...}`` maps
``PretrainConfig`` fields, and the run fine-tunes the encoder that ``entitune pretrain`` makes of
them first, kept in ``--work`` under a name drawn from those fields, so recipes that share one
pretraining run it once); ``--set`` adds fields to every run (``device=cuda``,
``precision=fp32``). Each run's ``out`` is ``--work/NAME``. The results file is rewritten after
each run, so a run stopped by a time limit keeps what it finished; a run that fails is recorded
with its error and the sweep goes on.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _with_data(value, data: str):
    """A recipe value with ``{data}`` filled in: a path, each of a list of paths (several train
    files), or each value of a mapping (a ``pretrain`` step's fields)."""
    if isinstance(value, str):
        return value.format(data=data)
    if isinstance(value, list):
        return [_with_data(v, data) for v in value]
    if isinstance(value, dict):
        return {k: _with_data(v, data) for k, v in value.items()}
    return value


def _first_sentences(path: str, n: int, out: Path) -> str:
    """The first ``n`` sentences of an annotated file, read and written back (as CoNLL columns) by
    entitune's own reader and writer, to ``out``: the training slice of a ``first_sentences`` recipe."""
    from entitune.data import read_sentences, write_sentences

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(write_sentences(read_sentences(path)[:n], "conll"), encoding="utf-8")
    return str(out)


def _pretrained(fields: dict, common: dict, work: Path) -> tuple[str, dict]:
    """The encoder of a ``pretrain`` recipe: masked-LM pretraining with ``fields`` (and the sweep's
    ``--set`` fields that pretraining also takes: device, precision, threads), run once into
    ``work/pretrain-HASH`` and reused while that directory holds its ``train_log.json``.
    Returns the encoder's directory and what the sweep keeps of the pretraining."""
    from entitune.recipes import Console, PretrainConfig, pretrain

    shared = {k: common[k] for k in ("device", "precision", "threads") if k in common}
    fields = {**shared, **fields}
    key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    out = work / f"pretrain-{key}"
    log_path = out / "train_log.json"
    t0 = time.perf_counter()
    reused = log_path.exists()
    if not reused:
        pretrain(PretrainConfig(**fields, out=str(out)), Console(quiet=True))
    log = json.loads(log_path.read_text())
    train = log.get("train", {})
    return str(out), {"fields": fields, "out": str(out), "reused": reused,
                      "wall_s": None if reused else time.perf_counter() - t0,
                      "train_loop_s": train.get("train_seconds"), "best_dev": train.get("best_score"),
                      "dev_by_epoch": [e.get("score") for e in train.get("epochs", [])]}


def summary(log: dict, wall: float) -> dict:
    """What a sweep keeps of a run's ``train_log.json``."""
    train = log.get("train", {})
    epochs = train.get("epochs", [])
    test = log.get("test") or {}
    keep = {k: test[k] for k in ("entity", "token_micro_f1", "accuracy", "macro_f1", "micro_f1") if k in test}
    return {"test": keep, "precision": log.get("precision"), "best_epoch": train.get("best_epoch"),
            "best_step": train.get("best_step"), "best_dev": train.get("best_score"), "stopped": train.get("stopped"),
            "dev_by_epoch": [e.get("score") for e in epochs], "evaluations": train.get("evaluations", []),
            "average": train.get("average"), "train_loop_s": train.get("train_seconds"),
            "subwords_per_s": train.get("subwords_per_s"), "wall_s": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipes", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=".")
    p.add_argument("--work", default="/tmp/entitune-sweep")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--only", default="", help="comma-separated run names (default: all, in file order)")
    args = p.parse_args()

    from entitune.recipes import Console, FinetuneConfig, finetune

    recipes = json.loads(Path(args.recipes).read_text())
    common = dict(item.split("=", 1) for item in args.set)
    common = {k: _value(v) for k, v in common.items()}
    names = [n for n in args.only.split(",") if n] or list(recipes)
    out = Path(args.out)
    results: dict = {"script": "bench/sweep.py", "argv": sys.argv[1:], "common": common, "runs": {}}
    try:
        import torch

        results["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        results["torch"] = torch.__version__
        if not torch.cuda.is_available():
            from _common import machine  # the CPU model and its matrix features beside every number

            results["machine"] = machine()
    except ImportError:
        pass
    for name in names:
        recipe = {k: _with_data(v, args.data) for k, v in recipes[name].items()}
        options = {**common, **recipe, "out": str(Path(args.work) / name)}
        if (first := options.pop("first_sentences", None)) is not None:  # a low-resource slice of train
            options["train"] = _first_sentences(options["train"], int(first), Path(args.work) / f"{name}.train")
        try:
            pretraining = None
            if (fields := options.pop("pretrain", None)) is not None:  # domain- or task-adaptive pretraining first
                options["model"], pretraining = _pretrained(fields, common, Path(args.work))
            t0 = time.perf_counter()  # the fine-tuning's own wall time; pretraining's is recorded apart
            result = finetune(FinetuneConfig(**options), Console(quiet=True))
            results["runs"][name] = {"recipe": recipe, **summary(dict(result.log), time.perf_counter() - t0)}
            if pretraining is not None:
                results["runs"][name]["pretraining"] = pretraining
            test = results["runs"][name]["test"]
            print(name, test.get("entity", {}).get("f1", test.get("accuracy")), test.get("token_micro_f1", ""),
                  round(time.perf_counter() - t0, 1), flush=True)
        except Exception as e:  # noqa: BLE001 - a failed run is recorded and the sweep goes on
            results["runs"][name] = {"recipe": recipe, "error": f"{type(e).__name__}: {e}",
                                     "traceback": traceback.format_exc()[-2000:]}
            print(name, "FAILED", e, flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
