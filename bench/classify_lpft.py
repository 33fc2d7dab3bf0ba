#!/usr/bin/env python
"""Linear probe, then fine-tune (LP-FT), against plain fine-tuning, on the AG News split: does
training the classification head on the frozen encoder first, then everything, beat fine-tuning
everything from a random head?

Per seed, both arms start from the same initialisation (``Classifier.from_encoder(None, seed=...)``,
the bundled MiniLM, [CLS] through the pooler as the default), train on all of train.csv (no dev
split) and are scored on test.csv:

- ``base``: ``--epochs`` (3) of the default recipe without the probe, ``--probe-epochs 0`` (lr
  1e-4, the classifier's head rate, warm-up 0.1);
- ``lpft``: first ``--probe-epochs`` epochs of the head alone on the frozen encoder's vectors
  (computed once, in eval mode; head lr ``--probe-lr``, no warm-up), then the same epochs as
  ``base``: what ``entitune train --task classify`` runs by default (``--probe-epochs``).

Results written before the probe encoded once (``classify_lpft.json``) trained 1 probe epoch
through the encoder in training mode, dropout on, at about twice the probe's cost now.

  python bench/classify_lpft.py --out bench/results/classify_lpft_p3.json [--seeds 42,1,2] [--arms base,lpft]
      [--probe-epochs 3] [--epochs 3] [--precision auto]
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
    p.add_argument("--probe-epochs", type=int, default=None, help="default: entitune's (recipes.CLASSIFY_PROBE_EPOCHS)")
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs of both arms")
    p.add_argument("--arms", default="base,lpft")
    p.add_argument("--precision", default="auto")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch
    from entitune.backends.precision import choose_precision
    from entitune.data.texts import read_texts
    from entitune.evaluate.classification import evaluate_classifier
    from entitune.model.classifier import Classifier
    from entitune.recipes import CLASSIFY_PROBE_EPOCHS
    from entitune.train.classifying import PROBE_HEAD_LR, fit_classifier, probe_head
    from entitune.train.config import TrainConfig

    torch.set_num_threads(args.threads)
    args.probe_lr = args.probe_lr or PROBE_HEAD_LR
    args.probe_epochs = CLASSIFY_PROBE_EPOCHS if args.probe_epochs is None else args.probe_epochs
    data = Path(args.data) if args.data else data_root() / "ag_news"
    train, test = read_texts(data / "train.csv").examples, read_texts(data / "test.csv").examples
    labels = sorted({label for e in train for label in e.labels})
    choice = choose_precision(args.precision, "cpu")
    arms = args.arms.split(",")
    runs: dict = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        for arm in arms:
            model = Classifier.from_encoder(None, labels, seed=seed)
            t0 = time.perf_counter()
            config = TrainConfig(epochs=args.epochs, seed=seed, precision=choice.precision)
            probe, probe_s = None, None
            if arm == "lpft":  # what --probe-epochs N runs
                probe_head(model, train, config, epochs=args.probe_epochs, head_lr=args.probe_lr)
                probe_s = time.perf_counter() - t0
                probe = evaluate_classifier(model, test)["accuracy"]
            fit_classifier(model, train, None, config)
            report = evaluate_classifier(model, test)
            runs[f"{arm}_seed{seed}"] = {"arm": arm, "seed": seed, "probe_accuracy": probe, "probe_s": probe_s, "accuracy": report["accuracy"],
                                         "macro_f1": report["macro_f1"], "wall_s": time.perf_counter() - t0}
            print(arm, seed, runs[f"{arm}_seed{seed}"], flush=True)
    summary = {arm: statistics.mean(r["accuracy"] for r in runs.values() if r["arm"] == arm) for arm in arms}
    result = {"script": "bench/classify_lpft.py", "machine": machine(), "torch": torch.__version__,
              "precision": choice.to_dict(), "train_texts": len(train), "test_texts": len(test),
              "probe_lr": args.probe_lr, "probe_epochs": args.probe_epochs, "epochs": args.epochs, "runs": runs, "mean_accuracy": summary}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
