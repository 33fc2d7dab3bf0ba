#!/usr/bin/env python
"""Masked-LM pretraining against fine-tuning, side by side: sub-words per second of one epoch each on
the same sentences (the first N of MIT Movie's training set), the bundled MiniLM, batch 32, the
precision ``auto`` resolves to (or the one asked for). Pretraining runs with each softmax asked for
(``corpus``: over the ids the text uses, the word embedding trained compactly; ``full``: over the
whole vocabulary, the embedding trained densely); the ratio to fine-tuning is the claim. With
``--profile``, ``torch.profiler`` over the first steps of each run: the operators that take the
most CPU time.

  python bench/mlm_throughput.py --out bench/results/mlm_throughput.json [--sentences 1500] \
      [--softmax corpus,full] [--precision auto] [--threads 2] [--profile-steps 8]

A timing: run it alone on a quiet machine. The JSON records the CPU model and its matrix flags.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import find_dataset, machine


class StopAfter:
    """A listener that raises once ``steps`` optimizer steps are done (a profile of the first steps)."""

    class Done(Exception):
        pass

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_start(self, *args, **kwargs) -> None:
        pass

    def on_step(self, step, *args) -> None:
        if step >= self.steps:
            raise StopAfter.Done

    def on_epoch(self, result) -> None:
        pass


def top_ops(run, steps: int, rows: int = 12) -> dict:
    """Self CPU seconds of the operators that take the most over ``steps`` steps of ``run(listener)``."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        try:
            run(StopAfter(steps))
        except StopAfter.Done:
            pass
    ops = sorted(((e.key, e.self_cpu_time_total / 1e6) for e in prof.key_averages()), key=lambda kv: -kv[1])
    total = sum(v for _, v in ops)
    return {"self_cpu_s": round(total, 3), "top": {k: round(v, 4) for k, v in ops[:rows]},
            "top_share": {k: round(v / total, 4) for k, v in ops[:rows]}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--sentences", type=int, default=1500)
    p.add_argument("--softmax", default="corpus,full")
    p.add_argument("--precision", default="auto")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--profile-steps", type=int, default=0, help="also profile this many steps of each run (0: no)")
    args = p.parse_args()

    import torch

    from entitune import Tagger, TrainConfig, fit, label_set, load_annotated
    from entitune.backends.precision import choose_precision
    from entitune.encode import MaskingRule
    from entitune.model.masked_lm import MaskedLM
    from entitune.train import fit_masked_lm

    if args.threads:
        torch.set_num_threads(args.threads)
    sentences = load_annotated(find_dataset("mit_movie_eng") / "engtrain.bio").sentences[: args.sentences]
    labels = label_set([t for s in sentences for t in s.tags])
    texts = [s.words for s in sentences]
    precision = choose_precision(args.precision, "cpu")
    config = TrainConfig(epochs=1, batch_size=args.batch_size, precision=precision.precision, seed=1)
    out = {"script": "bench/mlm_throughput.py", "argv": sys.argv[1:], "machine": machine(),
           "torch": torch.__version__, "sentences": len(sentences), "batch_size": args.batch_size,
           "precision": precision.to_dict(), "runs": {}}

    def finetune(listener=None):
        tagger = Tagger.from_encoder(None, labels, seed=1)
        return fit(tagger, sentences, None, config, listener=listener)

    def pretrain(softmax):
        def run(listener=None):
            model = MaskedLM.from_encoder(None, max_length=128, seed=1)
            rule = MaskingRule.for_tokenizer(model.tokenizer, model.vocab_size)
            return fit_masked_lm(model, texts, None, config, rule, listener=listener, softmax=softmax)
        return run

    runs = {"finetune": finetune, **{f"mlm_{s}": pretrain(s) for s in args.softmax.split(",") if s}}
    for name, run in runs.items():
        started = time.perf_counter()
        result = run()
        out["runs"][name] = {"subwords_per_s": round(result.subwords_per_s, 1),
                             "train_seconds": round(result.train_seconds, 2),
                             "subwords": sum(e.subwords for e in result.epochs),
                             "wall_s": round(time.perf_counter() - started, 1)}
        print(name, out["runs"][name], flush=True)
    base = out["runs"]["finetune"]["subwords_per_s"]
    out["ratio_to_finetune"] = {name: round(r["subwords_per_s"] / base, 3) for name, r in out["runs"].items()
                                if name != "finetune"}
    if args.profile_steps:
        out["profile"] = {name: top_ops(run, args.profile_steps) for name, run in runs.items()}
    print("ratio to fine-tuning:", out["ratio_to_finetune"], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
