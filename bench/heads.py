#!/usr/bin/env python
"""Benchmark every head x feature mode on MIT Movie eng and CoNLL-2003; write JSON.

For each dataset and (head, features): train with the same settings and epochs, then score the test
set; for the linear head also decode the same model without transition constraints. Records entity
F1, invalid sequences, train seconds per epoch and whether save -> load reproduces predictions.

  python bench/heads.py --epochs 1 --out bench/results/heads_e1.json [--datasets mit,conll]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import datetime, timezone

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _common import data_root, machine  # noqa: E402  (puts src/ on the path)

COMBOS = [("linear", "finetune"), ("crf", "finetune"), ("bilstm-crf", "finetune"),
          ("linear", "frozen-sum4"), ("crf", "frozen-sum4"), ("bilstm-crf", "frozen-sum4")]


def load(name):
    from entitune import load_annotated, split_dev

    root = data_root()
    if name == "mit":
        train = load_annotated(root / "mit_movie_eng" / "engtrain.bio").sentences
        test = load_annotated(root / "mit_movie_eng" / "engtest.bio").sentences
        train, dev = split_dev(train, 0.1, 42)
        return train, dev, test
    return tuple(load_annotated(root / "conll2003" / f).sentences for f in ("train.txt", "valid.txt", "test.txt"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--datasets", default="mit,conll")
    p.add_argument("--combos", default=None, help="e.g. linear:finetune,crf:finetune (default: all six)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    import torch

    from entitune import Predictor, Tagger, TorchScorer, TrainConfig, fit, label_set
    from entitune.evaluate import evaluate

    combos = [tuple(c.split(":")) for c in args.combos.split(",")] if args.combos else COMBOS
    results = {"script": "bench/heads.py", "epochs": args.epochs, "threads": torch.get_num_threads(), "machine": machine(),
               "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "runs": []}
    for name in args.datasets.split(","):
        train, dev, test = load(name)
        labels = label_set([t for s in train for t in s.tags])
        for head, features in combos:
            tagger = Tagger.from_encoder(None, labels, head=head, features=features)
            t0 = time.perf_counter()
            result = fit(tagger, train, dev, TrainConfig(epochs=args.epochs))
            wall = time.perf_counter() - t0
            report = evaluate(tagger, test)
            run = {
                "dataset": name, "head": head, "features": features, "constrained": True,
                "test_entity_f1": report["entity"]["f1"], "test_token_micro_f1": report["token_micro_f1"],
                "invalid_sequences": report["invalid_sequences"], "words_untagged": report["words_untagged"],
                "train_loop_s_per_epoch": result.train_seconds / args.epochs, "fit_wall_s": wall,
                "dev_f1_by_epoch": [e.dev["entity"]["f1"] for e in result.epochs],
                "per_type_f1": {t: round(m["f1"], 4) for t, m in report["per_type"].items()},
            }
            with tempfile.TemporaryDirectory() as tmp:
                tagger.save(tmp)
                words = [s.words for s in test[:300]]
                again = Predictor(TorchScorer(Tagger.load(tmp))).tag(words)
                run["reload_identical"] = again == Predictor(TorchScorer(tagger)).tag(words)
            results["runs"].append(run)
            print(json.dumps({k: run[k] for k in ("dataset", "head", "features", "test_entity_f1", "invalid_sequences",
                                                  "train_loop_s_per_epoch", "reload_identical")}), flush=True)
            if head == "linear":  # the same weights, decoded by argmax
                tagger.head.constrained = False
                free = evaluate(tagger, test)
                results["runs"].append({**run, "constrained": False, "test_entity_f1": free["entity"]["f1"],
                                        "test_token_micro_f1": free["token_micro_f1"],
                                        "invalid_sequences": free["invalid_sequences"]})
                print(json.dumps({"dataset": name, "head": "linear", "features": features, "constrained": False,
                                  "test_entity_f1": free["entity"]["f1"], "invalid_sequences": free["invalid_sequences"]}), flush=True)
            with open(args.out, "w") as fh:
                json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
