#!/usr/bin/env python
"""Where a training step's CPU time goes: ``torch.profiler`` over one epoch on the first N MIT Movie
training sentences (bundled MiniLM, linear head, batch 32), per precision, grouped by operator.
The table's largest rows answer "matmuls, dropout masks, casts, optimizer, the rest?".

  python bench/profile_train.py --out bench/results/profile_train.json [--sentences 1200] [--precisions fp32,bf16]
"""
from __future__ import annotations

import argparse
import json
import time

from _common import find_dataset, machine

GROUPS = {"matmuls": ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul"), "dropout masks": ("aten::bernoulli_",),
          "casts": ("aten::copy_", "aten::_to_copy"), "optimizer": ("aten::_fused_adamw_",)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--sentences", type=int, default=1200)
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch
    from torch.profiler import ProfilerActivity, profile

    from entitune import Tagger, TrainConfig, fit, label_set, load_annotated

    torch.set_num_threads(args.threads)
    sentences = load_annotated(find_dataset("mit_movie_eng") / "engtrain.bio").sentences[: args.sentences]
    labels = label_set([t for s in sentences for t in s.tags])
    out = {"script": "bench/profile_train.py", "machine": machine(), "torch": torch.__version__,
           "sentences": len(sentences), "runs": {}}
    for precision in args.precisions.split(","):
        tagger = Tagger.from_encoder(None, labels, seed=1)
        t0 = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fit(tagger, sentences, None, TrainConfig(epochs=1, precision=precision, batch_size=32))
        wall = time.perf_counter() - t0
        ops = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
        total = sum(ops.values())
        groups = {g: sum(ops.get(k, 0.0) for k in keys) for g, keys in GROUPS.items()}
        groups["everything else"] = total - sum(groups.values())
        top = sorted(ops.items(), key=lambda kv: -kv[1])[:15]
        out["runs"][precision] = {"wall_s_profiled": wall, "self_cpu_s": total,
                                  "share": {g: v / total for g, v in groups.items()},
                                  "top_ops_s": dict(top)}
        print(precision, f"{wall:.1f} s", {g: f"{v / total:.0%}" for g, v in groups.items()}, flush=True)
    json.dump(out, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
