#!/usr/bin/env python
"""GPU benchmarks in one run, for a machine with a CUDA GPU (written for a lent H200):

1. ``classify``: AG News (the slice in ``$ENTITUNE_DATA/ag_news``) with several recipes, fp32, each
   selecting its best epoch on the seeded dev split; test accuracy and dev accuracy per recipe.
2. ``mit``: MIT Movie eng, 1 epoch, entitune's defaults with ``--precision fp32`` and ``auto``
   (bf16 on a GPU with bf16 tensor cores): training loop time, sub-words/s, test entity F1.
3. ``ddp``: the same run through ``torchrun --nproc_per_node 1`` (nccl), precision auto.
4. ``trainer``: the Hugging Face run_ner recipe (``--anchors`` copy of ../shared/anchors/hf_baseline.py
   with ``use_cpu=False``) with length grouping, fp32 and bf16.
5. ``predict``: the trained model on engtest (2,443 sentences as plain strings), batch 32:
   entitune's Predictor in fp32 and bf16 against ``pipeline("token-classification")`` on the GPU.

  python bench/gpu.py --model MINILM_DIR --data DATA_DIR --anchors ANCHORS_DIR --out OUT_DIR [--steps a,b]

Each step writes its own JSON into OUT_DIR as soon as it ends, so a run stopped by a time limit
keeps what it finished. The machine (GPU name, driver, torch) is recorded in ``machine.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

CLASSIFY_RECIPES = {
    "cls_e3": {"epochs": 3},
    "mean_e3": {"epochs": 3, "pooling": "mean"},
    "mean_e3_seed1": {"epochs": 3, "pooling": "mean", "seed": 1},
    "mean_e3_seed2": {"epochs": 3, "pooling": "mean", "seed": 2},
    "mean_e4_lr5e-5": {"epochs": 4, "pooling": "mean", "lr": 5e-5},
    "mean_e3_bs16": {"epochs": 3, "pooling": "mean", "batch_size": 16},
    "mean_e3_warm0.06_wd0.1": {"epochs": 3, "pooling": "mean", "warmup": 0.06, "weight_decay": 0.1},
    "mean_e3_drop0.2": {"epochs": 3, "pooling": "mean", "dropout": 0.2},
    "mean_e4": {"epochs": 4, "pooling": "mean"},
    "mean_e2": {"epochs": 2, "pooling": "mean"},
}


def write(out: Path, name: str, value: dict) -> None:
    (out / f"{name}.json").write_text(json.dumps(value, indent=1) + "\n")
    print(f"== wrote {name}.json", flush=True)


def machine() -> dict:
    import torch
    import transformers

    info = {"torch": torch.__version__, "transformers": transformers.__version__, "cuda": torch.version.cuda,
            "python": sys.version.split()[0]}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    try:
        info["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                             "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    info["nproc"] = os.cpu_count()
    return info


def finetune_log(**options) -> dict:
    from entitune.recipes import Console, FinetuneConfig, finetune

    t0 = time.perf_counter()
    result = finetune(FinetuneConfig(**options), Console(quiet=True))
    log = dict(result.log)
    log["wall_s"] = time.perf_counter() - t0
    return log


def summary(log: dict) -> dict:
    train = log["train"]
    epochs = train.get("epochs", [])
    return {"test": log.get("test"), "precision": log.get("precision"), "best_epoch": train.get("best_epoch"),
            "train_loop_s": sum(e["seconds"] for e in epochs),
            "subwords_per_s": [e.get("subwords_per_s") for e in epochs],
            "dev_by_epoch": [e.get("score") for e in epochs], "wall_s": log["wall_s"]}


def step_classify(args, out: Path) -> None:
    data = Path(args.data) / "ag_news"
    results = {}
    for name, recipe in CLASSIFY_RECIPES.items():
        log = finetune_log(train=str(data / "train.csv"), test=str(data / "test.csv"), model=args.model,
                           out=f"/tmp/gpu-ag-{name}", device="cuda", precision="fp32", **recipe)
        results[name] = {"recipe": recipe, **summary(log)}
        print(name, results[name]["test"].get("accuracy"), results[name]["dev_by_epoch"], flush=True)
        write(out, "classify", {"data": "ag_news slice", "precision": "fp32", "runs": results})


def step_mit(args, out: Path) -> None:
    data = Path(args.data) / "mit_movie_eng"
    runs = {}
    for precision in ("fp32", "auto"):
        log = finetune_log(train=str(data / "engtrain.bio"), test=str(data / "engtest.bio"), model=args.model,
                           out=f"/tmp/gpu-mit-{precision}", epochs=1, device="cuda", precision=precision)
        runs[precision] = summary(log)
        print(precision, runs[precision]["test"]["entity"], runs[precision]["train_loop_s"], flush=True)
        write(out, "mit_e1", {"runs": runs})


def step_ddp(args, out: Path) -> None:
    data = Path(args.data) / "mit_movie_eng"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "-m", "entitune", "train",
                        "--train", str(data / "engtrain.bio"), "--test", str(data / "engtest.bio"), "--model", args.model,
                        "--epochs", "1", "--device", "cuda", "--out", "/tmp/gpu-mit-ddp"],
                       capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    result = {"returncode": r.returncode, "wall_s": wall, "stdout_tail": r.stdout[-3000:], "stderr_tail": r.stderr[-3000:]}
    log_file = Path("/tmp/gpu-mit-ddp/train_log.json")
    if log_file.exists():
        log = json.loads(log_file.read_text())
        log["wall_s"] = wall
        result["summary"] = summary(log)
    write(out, "ddp", result)


def step_trainer(args, out: Path) -> None:
    data = Path(args.data) / "mit_movie_eng"
    runs = {}
    for name, extra in (("group_by_length_bf16", ["--bf16"]), ("group_by_length_fp32", [])):
        path = Path(f"/tmp/gpu-trainer-{name}.json")
        r = subprocess.run([sys.executable, str(Path(args.anchors) / "hf_baseline.py"), "--train", str(data / "engtrain.bio"),
                            "--test", str(data / "engtest.bio"), "--format", "bio_tag_first", "--epochs", "1",
                            "--model", args.model, "--group-by-length", *extra, "--out", str(path),
                            *(["--save-model", "/tmp/gpu-trainer-model"] if name.endswith("fp32") else [])],
                           capture_output=True, text=True)
        runs[name] = json.loads(path.read_text()) if path.exists() else {"returncode": r.returncode,
                                                                         "stderr_tail": r.stderr[-3000:]}
        write(out, "trainer", {"runs": runs})


def step_predict(args, out: Path) -> None:
    import torch

    from entitune import load
    from entitune.data import load_annotated
    from entitune.evaluate import evaluate

    data = Path(args.data) / "mit_movie_eng"
    sentences = load_annotated(data / "engtest.bio").sentences
    texts = [" ".join(s.words) for s in sentences]
    results = {}
    for precision in ("fp32", "bf16"):
        predictor = load("/tmp/gpu-mit-auto", backend="torch", batch_size=32, device="cuda", precision=precision)
        predictor.predict(texts[:256])
        torch.cuda.synchronize()
        walls = []
        for _ in range(3):
            t0 = time.perf_counter()
            predictor.predict(texts)
            torch.cuda.synchronize()
            walls.append(time.perf_counter() - t0)
        report = evaluate(predictor.scorer, sentences, 64)
        results[f"entitune_{precision}_b32"] = {"wall_s": walls, "sentences_per_s": len(texts) / min(walls),
                                                 "entity_f1": report["entity"]["f1"]}
        print(precision, results[f"entitune_{precision}_b32"], flush=True)
        write(out, "predict", {"sentences": len(texts), "runs": results})
    from transformers import pipeline

    model_dir = "/tmp/gpu-trainer-model" if Path("/tmp/gpu-trainer-model/config.json").exists() else None
    if model_dir:
        ner = pipeline("token-classification", model=model_dir, aggregation_strategy="simple", device=0)
        ner(texts[:256], batch_size=32)
        walls = []
        for _ in range(3):
            t0 = time.perf_counter()
            ner(texts, batch_size=32)
            torch.cuda.synchronize()
            walls.append(time.perf_counter() - t0)
        results["hf_pipeline_b32"] = {"wall_s": walls, "sentences_per_s": len(texts) / min(walls),
                                      "model": "the Trainer's fp32 model (same encoder, same data, 1 epoch)"}
        print("pipeline", results["hf_pipeline_b32"], flush=True)
    write(out, "predict", {"sentences": len(texts), "runs": results})


STEPS = {"classify": step_classify, "mit": step_mit, "ddp": step_ddp, "trainer": step_trainer, "predict": step_predict}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--anchors", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", default=",".join(STEPS))
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write(out, "machine", machine())
    for name in args.steps.split(","):
        t0 = time.perf_counter()
        try:
            STEPS[name](args, out)
        except Exception as error:  # keep going: the other steps' numbers still count
            import traceback

            traceback.print_exc()
            write(out, f"{name}_error", {"error": repr(error)})
        print(f"== step {name}: {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
