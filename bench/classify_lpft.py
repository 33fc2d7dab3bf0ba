#!/usr/bin/env python
"""Linear probe, then fine-tune (LP-FT), against plain fine-tuning, on the AG News split: does
training the classification head on the frozen encoder first, then everything, beat the default?

Per seed, both arms start from the same initialisation (``Classifier.from_encoder(None, seed=...)``,
the bundled MiniLM, [CLS] through the pooler as the default), train on all of train.csv (no dev
split) and are scored on test.csv:

- ``base``: 3 epochs of the default recipe (lr 1e-4, the classifier's head rate, warm-up 0.1);
- ``lpft``: first 1 epoch with the encoder frozen (head only, head lr ``--probe-lr``, no warm-up,
  dense embeddings since nothing in them trains), then the same 3 epochs as ``base``.

  python bench/classify_lpft.py --out bench/results/classify_lpft.json [--seeds 42,1,2] [--precision auto]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _common import data_root, machine  # puts src/ on the path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None, help="folder with train.csv and test.csv (default: $ENTITUNE_DATA/ag_news)")
    p.add_argument("--seeds", default="42,1,2")
    p.add_argument("--probe-lr", type=float, default=None, help="the head's lr in the probe (default: train.classifying.PROBE_HEAD_LR, 1e-2)")
    p.add_argument("--precision", default="auto")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch

    from entitune.backends.precision import choose_precision
    from entitune.data.texts import read_texts
    from entitune.evaluate.classification import evaluate_classifier
    from entitune.model.classifier import Classifier
    from entitune.train.classifying import PROBE_HEAD_LR, fit_classifier, probe_head
    from entitune.train.config import TrainConfig

    torch.set_num_threads(args.threads)
    args.probe_lr = args.probe_lr or PROBE_HEAD_LR
    data = Path(args.data) if args.data else data_root() / "ag_news"
    train, test = read_texts(data / "train.csv").examples, read_texts(data / "test.csv").examples
    labels = sorted({label for e in train for label in e.labels})
    choice = choose_precision(args.precision, "cpu")
    runs: dict = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        for arm in ("base", "lpft"):
            model = Classifier.from_encoder(None, labels, seed=seed)
            t0 = time.perf_counter()
            config = TrainConfig(epochs=3, seed=seed, precision=choice.precision)
            probe = None
            if arm == "lpft":  # what --probe-epochs 1 runs
                probe_head(model, train, config, epochs=1, head_lr=args.probe_lr)
                probe = evaluate_classifier(model, test)["accuracy"]
            fit_classifier(model, train, None, config)
            report = evaluate_classifier(model, test)
            runs[f"{arm}_seed{seed}"] = {"arm": arm, "seed": seed, "probe_accuracy": probe, "accuracy": report["accuracy"],
                                         "macro_f1": report["macro_f1"], "wall_s": time.perf_counter() - t0}
            print(arm, seed, runs[f"{arm}_seed{seed}"], flush=True)
    summary = {arm: statistics.mean(r["accuracy"] for r in runs.values() if r["arm"] == arm) for arm in ("base", "lpft")}
    result = {"script": "bench/classify_lpft.py", "machine": machine(), "torch": torch.__version__,
              "precision": choice.to_dict(), "train_texts": len(train), "test_texts": len(test),
              "probe_lr": args.probe_lr, "runs": runs, "mean_accuracy": summary}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
