#!/usr/bin/env python
"""Does a linear probe before NER fine-tuning help, as it does for classification
(``--probe-epochs``)? MIT Movie with the recipe ``mit_e5_avg_nodev`` of bench/sweeps/mit_movie.json
(5 epochs, ``--eval-every 100 --average-last 4``, all of engtrain.bio, no dev), with first
``--probe-epochs`` epochs of the head alone on the frozen encoder's word vectors: computed once in
eval mode (``train.tagging.frozen_word_vectors``), then the head trains in the one loop at lr 1e-2,
in fp32. The probe is put in front of the recipe's fit here only; the library has no NER probe.

  python bench/ner_probe.py --out bench/results/ner_probe_mit.json [--probe-epochs 3] [--head linear]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _common import find_dataset, machine  # puts src/ on the path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--probe-epochs", type=int, default=3)
    p.add_argument("--head", default="linear")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()
    import torch
    from entitune import FinetuneConfig, finetune
    from entitune.recipes import tasks
    from entitune.train.loop import train_loop
    from entitune.train.tagging import WindowData, frozen_word_vectors

    torch.set_num_threads(2)
    plain_fit, probe_info = tasks.fit, {}

    def fit_after_probe(tagger, train, dev, config, listener=None, checkpoints=None, context_dropout=0.0):
        started = time.perf_counter()
        ids = {label: i for i, label in enumerate(tagger.labels)}
        sentences = [s for s in train if s.words]
        windows = tagger.word_encoder.encode([s.words for s in sentences], [[ids[t] for t in s.tags] for s in sentences])
        vectors = frozen_word_vectors(tagger, windows, config.eval_batch_size)
        tagger.train()
        probe = replace(config, epochs=args.probe_epochs, head_lr=1e-2, warmup=0.0, compact_embeddings=False,
                        eval_every=0, patience=0, average_last=0, time_budget_s=None, precision="fp32")
        result = train_loop(tagger, WindowData(windows, tagger.pad_id, vectors), probe, 1e-2)
        probe_info.update(seconds=time.perf_counter() - started, losses=[e.train_loss for e in result.epochs])
        return plain_fit(tagger, train, dev, config, listener, checkpoints, context_dropout)

    if args.probe_epochs:
        tasks.fit = fit_after_probe
    data = find_dataset("mit_movie_eng")
    with tempfile.TemporaryDirectory() as tmp:
        run = finetune(FinetuneConfig(train=str(data / "engtrain.bio"), test=str(data / "engtest.bio"), out=tmp,
                                      epochs=5, eval_every=100, average_last=4, dev_fraction=0, head=args.head,
                                      seed=args.seed, threads=2))
    test = run.log["test"]
    result = {"script": "bench/ner_probe.py", "machine": machine(), "torch": torch.__version__,
              "precision": run.log["precision"], "probe_epochs": args.probe_epochs, "head": args.head, "seed": args.seed,
              "probe": probe_info, "train_loop_s": run.log["train"]["train_seconds"],
              "entity_f1": test["entity"]["f1"], "token_micro_f1": test["token_micro_f1"]}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
