#!/usr/bin/env python
"""Side by side in one run: the Hugging Face run_ner recipe (../shared/anchors/hf_baseline.py) and
entitune's defaults, 1 epoch each on MIT Movie eng, one after the other; writes both results and
the throughput ratio to one JSON file.

  python bench/side_by_side.py --out bench/results/side_by_side_e1.json [--anchors-python PY]

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
    args = p.parse_args()
    from _common import find_dataset, machine

    data = find_dataset("mit_movie_eng")
    anchors_py = args.anchors_python or ("/tmp/anchors-venv/bin/python" if os.path.exists("/tmp/anchors-venv/bin/python") else sys.executable)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as tmp:
        base_json, ours_json = Path(tmp) / "baseline.json", Path(tmp) / "entitune.json"
        subprocess.run([anchors_py, str(Path(args.anchors) / "hf_baseline.py"), "--train", str(data / "engtrain.bio"),
                        "--test", str(data / "engtest.bio"), "--format", "bio_tag_first", "--epochs", str(args.epochs),
                        "--threads", "2", "--out", str(base_json)], check=True, env=env)
        subprocess.run([sys.executable, str(HERE / "train_mit.py"), "--epochs", str(args.epochs), "--threads", "2",
                        "--out", str(ours_json)], check=True, env=env)
        baseline = json.loads(base_json.read_text())
        ours = json.loads(ours_json.read_text())
    result = {
        "script": "bench/side_by_side.py",
        "machine": machine(),
        "epochs": args.epochs,
        "baseline": {
            "entity_f1": baseline["metrics_full_word"]["entity_f1"],
            "token_micro_f1": baseline["metrics_full_word"]["token_micro_f1"],
            "real_subwords_per_s": baseline["training"]["tokens_per_s"],
            "train_wall_s": baseline["training"]["wall_s"],
            "padding_overhead": baseline["training"]["padding_overhead"],
            "predict_sentences_per_s": baseline["test_predict"]["sentences_per_s"],
        },
        "entitune": {
            "entity_f1": ours["test"]["entity_f1"],
            "token_micro_f1": ours["test"]["token_micro_f1"],
            "real_subwords_per_s": ours["train"]["real_subwords_per_s"],
            "train_loop_s": ours["train"]["train_loop_s"],
            "padding_overhead": ours["train"]["padding_overhead"],
            "predict_sentences_per_s": ours["predict"]["sentences_per_s"],
            "words_untagged": ours["test"]["words_untagged"],
        },
        "entitune_full": ours,
    }
    result["throughput_ratio"] = result["entitune"]["real_subwords_per_s"] / result["baseline"]["real_subwords_per_s"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("baseline", "entitune", "throughput_ratio")}, indent=1))


if __name__ == "__main__":
    main()
