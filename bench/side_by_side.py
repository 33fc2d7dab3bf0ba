#!/usr/bin/env python
"""Side by side in one run: the Hugging Face run_ner recipe (../shared/anchors/hf_baseline.py) and
entitune's defaults (``--precision auto`` as ``entitune train``), 1 epoch each on MIT Movie eng,
one after the other; writes all results and the throughput ratios to one JSON file.

  python bench/side_by_side.py --out bench/results/side_by_side_e1.json [--baselines defaults,gbl] [--anchors-python PY]

``--baselines``: which Trainer settings run: ``defaults`` (the recipe as run_ner has it), ``gbl``
(``group_by_length``, the setting a careful user turns on), ``gbl-bf16`` (that and ``--bf16``).
Default: ``defaults,gbl``, plus ``gbl-bf16`` on a CPU that multiplies bf16 natively (AMX or
AVX512-BF16; elsewhere bf16 is emulated, far slower, and not the Trainer's fastest setting). The entitune run's ratio is reported against each, and
against the fastest (``throughput_ratio_vs_fastest``).

The anchors script needs accelerate, seqeval and scikit-learn in the Python that runs it
(``bash ../shared/anchors/setup.sh`` makes /tmp/anchors-venv; entitune's .venv also works after
``pip install accelerate seqeval scikit-learn``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--anchors", default=str(HERE.parent.parent / "shared" / "anchors"))
    p.add_argument("--anchors-python", default=None, help="default: /tmp/anchors-venv/bin/python, else this Python")
    p.add_argument("--baselines", default=None, help="comma-separated: defaults, gbl, gbl-bf16")
    p.add_argument("--also-fp32", action="store_true",
                   help="also train entitune with --precision fp32 (what a CPU without fast bf16 runs), reported "
                        "as entitune_fp32 with its ratios")
    args = p.parse_args()
    from _common import find_dataset, machine

    native_bf16 = {"amx_bf16", "avx512_bf16"} & set(machine()["matrix_features"])
    names = (args.baselines or ("defaults,gbl,gbl-bf16" if native_bf16 else "defaults,gbl")).split(",")
    extra_args = {"defaults": [], "gbl": ["--group-by-length"], "gbl-bf16": ["--group-by-length", "--bf16"]}

    data = find_dataset("mit_movie_eng")
    anchors_py = args.anchors_python or ("/tmp/anchors-venv/bin/python" if os.path.exists("/tmp/anchors-venv/bin/python") else sys.executable)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as tmp:
        ours_json = Path(tmp) / "entitune.json"
        baselines = {}
        for name in names:
            base_json = Path(tmp) / f"baseline-{name}.json"
            subprocess.run([anchors_py, str(Path(args.anchors) / "hf_baseline.py"), "--train", str(data / "engtrain.bio"),
                            "--test", str(data / "engtest.bio"), "--format", "bio_tag_first", "--epochs", str(args.epochs),
                            "--threads", "2", *extra_args[name], "--out", str(base_json)], check=True, env=env)
            baselines[name] = json.loads(base_json.read_text())
        subprocess.run([sys.executable, str(HERE / "train_mit.py"), "--epochs", str(args.epochs), "--threads", "2",
                        "--out", str(ours_json)], check=True, env=env)
        ours = json.loads(ours_json.read_text())
        fp32 = None
        if args.also_fp32:
            fp32_json = Path(tmp) / "entitune-fp32.json"
            subprocess.run([sys.executable, str(HERE / "train_mit.py"), "--epochs", str(args.epochs), "--threads", "2",
                            "--precision", "fp32", "--out", str(fp32_json)], check=True, env=env)
            fp32 = json.loads(fp32_json.read_text())
    result = {
        "script": "bench/side_by_side.py",
        "machine": machine(),
        "epochs": args.epochs,
        "baselines": {name: _baseline(b) for name, b in baselines.items()},
        "entitune": _ours(ours),
        "entitune_full": ours,
    }
    if fp32 is not None:
        result["entitune_fp32"] = _ours(fp32)
        result["entitune_fp32_full"] = fp32
        result["fp32_train_time_ratio"] = {name: b["train_wall_s"] / result["entitune_fp32"]["train_loop_s"]
                                           for name, b in result["baselines"].items()}
    ours_rate = result["entitune"]["real_subwords_per_s"]
    result["throughput_ratio"] = {name: ours_rate / b["real_subwords_per_s"] for name, b in result["baselines"].items()}
    result["train_time_ratio"] = {name: b["train_wall_s"] / result["entitune"]["train_loop_s"]
                                  for name, b in result["baselines"].items()}
    fastest = max(result["baselines"], key=lambda name: result["baselines"][name]["real_subwords_per_s"])
    result["fastest_baseline"] = fastest
    result["throughput_ratio_vs_fastest"] = result["throughput_ratio"][fastest]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("baselines", "entitune", "throughput_ratio", "train_time_ratio",
                                              "fastest_baseline", "entitune_fp32", "fp32_train_time_ratio")
                      if k in result}, indent=1))


def _ours(ours: dict) -> dict:
    return {
        "entity_f1": ours["test"]["entity_f1"],
        "token_micro_f1": ours["test"]["token_micro_f1"],
        "precision": ours.get("precision", {}).get("precision"),
        "real_subwords_per_s": ours["train"]["real_subwords_per_s"],
        "train_loop_s": ours["train"]["train_loop_s"],
        "padding_overhead": ours["train"]["padding_overhead"],
        "predict_sentences_per_s": ours["predict"]["sentences_per_s"],
        "words_untagged": ours["test"]["words_untagged"],
    }


def _baseline(baseline: dict) -> dict:
    return {
        "argv": baseline.get("argv"),
        "entity_f1": baseline["metrics_full_word"]["entity_f1"],
        "token_micro_f1": baseline["metrics_full_word"]["token_micro_f1"],
        "real_subwords_per_s": baseline["training"]["tokens_per_s"],
        "train_wall_s": baseline["training"]["wall_s"],
        "padding_overhead": baseline["training"]["padding_overhead"],
        "predict_sentences_per_s": baseline["test_predict"]["sentences_per_s"],
    }


if __name__ == "__main__":
    main()
