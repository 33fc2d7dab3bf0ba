#!/usr/bin/env python
"""One linear layer of the bundled MiniLM's feed-forward (512 token rows x 384 -> 1536, a batch of
32 short sentences) in each kind of CPU matmul this machine offers, best of several rounds:
``F.linear`` fp32, oneDNN with the weight pre-packed in fp32 and in bf16 (the lean inference
forward's ``fastbert._Linear``), and PyTorch's dynamic int8 ``quantized.linear_dynamic`` under each
quantized engine. It shows what bf16 and int8 buy on this CPU before any model is involved.

  python bench/matmul_kinds.py --out bench/results/matmul_kinds.json [--threads 2] [--rows 512]
"""
from __future__ import annotations

import argparse
import json
import time
import warnings

from _common import machine


def best_ms(fn, rounds: int = 7, calls: int = 30) -> float:
    for _ in range(5):
        fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls * 1e3)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rows", type=int, default=512)
    args = p.parse_args()
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, lin = torch.randn(args.rows, 384), nn.Linear(384, 1536)
    w, b = lin.weight.detach(), lin.bias.detach()
    runs = {"fp32_F.linear": best_ms(lambda: F.linear(x, w, b))}
    packed = torch.ops.mkldnn._reorder_linear_weight(w)
    runs["fp32_onednn_packed"] = best_ms(lambda: torch.ops.mkldnn._linear_pointwise(x, packed, b, "none", [], ""))
    xb, wb, bb = x.bfloat16(), w.bfloat16(), b.bfloat16()
    packed_b = torch.ops.mkldnn._reorder_linear_weight(wb)
    runs["bf16_onednn_packed"] = best_ms(lambda: torch.ops.mkldnn._linear_pointwise(xb, packed_b, bb, "none", [], ""))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        for engine in torch.backends.quantized.supported_engines:
            if engine in ("fbgemm", "x86", "onednn"):
                torch.backends.quantized.engine = engine
                q = torch.ao.quantization.quantize_dynamic(nn.Sequential(lin), {nn.Linear}, dtype=torch.qint8)
                with torch.inference_mode():
                    runs[f"int8_dynamic_{engine}"] = best_ms(lambda q=q: q(x))
    flops = 2 * args.rows * 384 * 1536
    out = {"script": "bench/matmul_kinds.py", "machine": machine(), "torch": torch.__version__,
           "shape": f"({args.rows}, 384) x (384, 1536)", "threads": args.threads,
           "runs_ms": runs, "gflop_per_s": {k: flops / (v / 1e3) / 1e9 for k, v in runs.items()},
           "vs_fp32_onednn_packed": {k: runs["fp32_onednn_packed"] / v for k, v in runs.items()}}
    json.dump(out, open(args.out, "w"), indent=1)
    for k, v in runs.items():
        print(f"{k:28s} {v:7.3f} ms  {out['gflop_per_s'][k]:7.1f} GFLOP/s  {out['vs_fp32_onednn_packed'][k]:.2f}x")


if __name__ == "__main__":
    main()
