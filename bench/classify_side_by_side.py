#!/usr/bin/env python
"""Text classification side by side in one run: the Hugging Face Trainer recipe (run_glue style,
../shared/anchors/hf_classify_baseline.py: BertForSequenceClassification, lr 5e-5, batch 16, max
length 128 with truncation, dynamic padding) and entitune's default recipe (`entitune train`,
task inferred from the data), both on the same AG News files with the bundled MiniLM, one after
the other; writes both results and the training-speed ratio to one JSON file.

  python bench/classify_side_by_side.py --out bench/results/classify_side_by_side_e1.json [--epochs 1]
      [--extra "--pooling mean"]  (more 'entitune train' options)

Training speed is compared as texts per second of training: entitune's loop plus its linear probe
(``--probe-epochs``, on by default for classification), against the Trainer's training time. Both train on all 6,080
training texts for one epoch (entitune holds no dev set out of a one-epoch single-label run); with
more epochs entitune holds 10% out as dev and scores it after each epoch, outside the timed loop.
The anchors script needs accelerate and scikit-learn (``bash ../shared/anchors/setup.sh`` makes
/tmp/anchors-venv).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import find_dataset, machine  # noqa: F401  (puts src/ on the path)

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--data", default=None, help="folder with train.csv and test.csv (default: $ENTITUNE_DATA/ag_news)")
    p.add_argument("--anchors", default=str(HERE.parent.parent / "shared" / "anchors"))
    p.add_argument("--anchors-python", default=None, help="default: /tmp/anchors-venv/bin/python, else this Python")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--extra", default="", help="more 'entitune train' options, quoted")
    args = p.parse_args()
    from _common import data_root

    data = Path(args.data) if args.data else data_root() / "ag_news"
    anchors_py = args.anchors_python or ("/tmp/anchors-venv/bin/python" if os.path.exists("/tmp/anchors-venv/bin/python") else sys.executable)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result: dict = {"script": "bench/classify_side_by_side.py", "epochs": args.epochs, "machine": machine(),
                    "data": str(data.name), "entitune_extra": args.extra}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_baseline:
            base_json = Path(tmp) / "baseline.json"
            subprocess.run([anchors_py, str(Path(args.anchors) / "hf_classify_baseline.py"), "--train",
                            str(data / "train.csv"), "--test", str(data / "test.csv"), "--epochs", str(args.epochs),
                            "--threads", "2", "--out", str(base_json)], check=True, env=env)
            baseline = json.loads(base_json.read_text())
            result["baseline"] = {**baseline, "texts_per_s": baseline["train_rows"] * args.epochs / baseline["train_wall_s"]}
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "entitune", "train", "--train", str(data / "train.csv"), "--test",
               str(data / "test.csv"), "--out", str(out), "--epochs", str(args.epochs), "--threads", "2",
               *shlex.split(args.extra)]
        subprocess.run(cmd, check=True, env=env)
        log = json.loads((out / "train_log.json").read_text())
    texts = log["data"]["train"]
    train = log["train"]
    # training time: the loop's, plus the linear probe's where the recipe runs one (its own epochs
    # over the frozen encoder's vectors, before the loop)
    probe_s = train.get("probe", {}).get("seconds", 0.0)
    train_s = train["train_seconds"] + probe_s
    result["entitune"] = {
        "command": "entitune " + " ".join(cmd[3:]).replace(str(data), "DATA").replace(str(out), "OUT"),
        "accuracy": log["test"]["accuracy"], "macro_f1": log["test"]["macro_f1"], "train_texts": texts,
        "train_loop_s": train["train_seconds"], "probe_s": probe_s, "train_s": train_s,
        "texts_per_s": texts * args.epochs / train_s,
        "subwords_per_s": train["subwords_per_s"], "padding_overhead": train["padding_overhead"],
        "dev_texts": log["data"]["dev"],
        "dev_accuracy_by_epoch": [e["dev"]["accuracy"] for e in train["epochs"] if e["dev"]], "best_epoch": train["best_epoch"],
        "settings": log["model"],
    }
    if "baseline" in result:
        result["train_speed_ratio"] = result["entitune"]["texts_per_s"] / result["baseline"]["texts_per_s"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result.get(k) for k in ("train_speed_ratio",)} | {
        "entitune": {k: result["entitune"][k] for k in ("accuracy", "macro_f1", "train_loop_s", "probe_s", "texts_per_s")},
        "baseline": {k: result.get("baseline", {}).get(k) for k in ("accuracy", "macro_f1", "train_wall_s", "texts_per_s")},
    }, indent=1))


if __name__ == "__main__":
    main()
