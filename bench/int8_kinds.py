#!/usr/bin/env python
"""Which int8 runs a tagger fastest on this CPU, and how close it comes to what the CPU can do.

One trained tagger, the 2,443 MIT Movie engtest sentences as plain strings, batch 32, in one run
with interleaved rounds (as ``bench/predict_speed.py``):

- ``transformers.pipeline("token-classification")`` fp32: the reference every ratio is taken to;
- entitune's ``Predictor`` on the ONNX int8 export (``entitune export --quantize int8``:
  onnxruntime's dynamic int8 MatMuls, per-channel weights, fused attention);
- entitune's ``Predictor`` on the lean PyTorch forward (``backends.fastbert``) in bf16 (what
  ``--precision auto`` picks on a CPU with fast bf16) and with its six linear layers per block in
  PyTorch's dynamic int8 (``quantized.linear_dynamic``: per-channel int8 weights, activations
  quantized per batch) under each quantized engine the build has (onednn, x86, fbgemm). That int8
  variant is built here, not in the library: it is what "PyTorch's quantized path" means for this
  forward, and this script decides whether the library needs it.

It also bounds what int8 can reach here. It counts the multiply-adds of the linear layers that
one pass over the sentences needs (the export computes the last layer only at word starts, as it
does), times one of those layers (512 x 384 -> 1536) in PyTorch's fastest int8 kernel at full
width, and reports the share of the time a given speed-up over the pipeline (``--target``, 8x)
would allow that those matmuls alone would fill at that rate.

  python bench/int8_kinds.py MODEL_DIR --out bench/results/int8_kinds.json [--threads 2] [--repeats 4]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _common import find_dataset, machine
from matmul_kinds import best_ms
from predict_speed import interleaved, pipeline_tags


class DynamicInt8Linear:
    """``fastbert._Linear``'s job in PyTorch dynamic int8: ``y = x W^T + b`` (and GELU, tanh form as
    the int8 export uses) with per-channel symmetric int8 weights packed for the current quantized
    engine, activations quantized per call."""

    def __init__(self, fp32_linear) -> None:
        import torch

        w = fp32_linear.weight.float()
        scales = (w.abs().amax(1) / 127).clamp_min(1e-8).double()
        zeros = torch.zeros(w.shape[0], dtype=torch.long)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantized tensors' deprecation notice
            weight = torch.quantize_per_channel(w, scales, zeros, 0, torch.qint8)
        self.packed = torch.ops.quantized.linear_prepack(weight, fp32_linear.bias.float())
        self.gelu = fp32_linear.gelu

    def __call__(self, x):
        import torch
        import torch.nn.functional as F

        flat = x.reshape(-1, x.shape[-1]).float().contiguous()
        y = torch.ops.quantized.linear_dynamic(flat, self.packed, False)
        y = F.gelu(y, approximate="tanh") if self.gelu else y
        return y.view(*x.shape[:-1], y.shape[-1])


def int8_scorer(tagger, engine: str):
    """A ``TorchScorer`` whose lean forward runs its linear layers in dynamic int8 under ``engine``."""
    import torch

    from entitune import TorchScorer

    torch.backends.quantized.engine = engine
    scorer = TorchScorer(tagger, precision="fp32")
    if scorer.fast is None:
        raise SystemExit("the lean forward does not apply to this model (not a plain fp32 BERT)")
    scorer.fast.layers = [tuple(DynamicInt8Linear(p) if hasattr(p, "packed") else p for p in layer)
                          for layer in scorer.fast.layers]
    return scorer


def linear_macs(tagger, sentences) -> dict:
    """Multiply-adds in the linear layers of one pass over ``sentences`` as the int8 export runs it:
    every layer at every sub-token, except the last, whose query, output and feed-forward run only
    at word starts (keys and values at every sub-token)."""
    config = tagger.encoder.config
    h, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    windows = tagger.word_encoder.encode(sentences)
    tokens = sum(len(w.input_ids) for w in windows)
    words = sum(w.n_words for w in windows)
    per_token_layer = 4 * h * h + 2 * h * inner
    macs = tokens * (layers - 1) * per_token_layer + tokens * 2 * h * h + words * (2 * h * h + 2 * h * inner)
    return {"subwords": tokens, "words": words, "linear_gmacs": macs / 1e9}


def torch_int8_rates(rows: int, k: int, n: int, rounds: int = 7, calls: int = 30) -> dict:
    """G multiply-adds/s of PyTorch's dynamic int8 linear, (rows, k) x (k, n), under each quantized
    engine the build has (onednn, x86, fbgemm), at the current torch thread count."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    x, lin = torch.randn(rows, k), nn.Linear(k, n)
    out = {}
    for engine in torch.backends.quantized.supported_engines:
        if engine not in ("onednn", "x86", "fbgemm"):
            continue
        torch.backends.quantized.engine = engine
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch.ao.quantization.quantize_dynamic(nn.Sequential(lin), {nn.Linear}, dtype=torch.qint8)
        with torch.inference_mode():
            best_s = best_ms(lambda q=q: q(x), rounds=rounds, calls=calls) / 1e3
        out[engine] = rows * k * n / best_s / 1e9
    return out


def int8_matmul_peak(threads: int) -> dict:
    """Best GMAC/s of PyTorch's int8 dynamic linear (512 x 384 -> 1536) under each engine."""
    return {"shape": "(512, 384) x (384, 1536)", "threads": threads, "gmacs_per_s": torch_int8_rates(512, 384, 1536)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a trained entitune tagger directory (linear head, BERT encoder)")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--target", type=float, default=8.0, help="speed-up over the pipeline to bound (default 8)")
    args = p.parse_args()

    import torch
    from transformers import pipeline

    torch.set_num_threads(args.threads)
    from entitune import OnnxScorer, Predictor, Tagger, TorchScorer
    from entitune.data import load_annotated
    from entitune.evaluate import entity_scores
    from entitune.export import export_onnx

    sentences = load_annotated(find_dataset("mit_movie_eng") / "engtest.bio").sentences
    texts = [" ".join(s.words) for s in sentences]
    gold = [list(s.tags) for s in sentences]
    tagger = Tagger.load(args.model)
    tmp = Path(tempfile.mkdtemp(prefix="entitune-int8-"))
    export_onnx(tagger, tmp / "int8", quantize="int8")
    ner = pipeline("token-classification", model=args.model, aggregation_strategy="simple", device="cpu")
    configs = {"hf_pipeline_fp32_b32": lambda xs: ner(xs, batch_size=32)}
    configs["entitune_onnx_int8_b32"] = Predictor(OnnxScorer.load(tmp / "int8", threads=args.threads), batch_size=32).predict
    configs["entitune_torch_bf16_b32"] = Predictor(TorchScorer(tagger, precision="bf16"), batch_size=32).predict
    engines = [e for e in ("onednn", "x86", "fbgemm") if e in torch.backends.quantized.supported_engines]
    for engine in engines:
        predictor = Predictor(int8_scorer(tagger, engine), batch_size=32)

        def run(xs, predictor=predictor, engine=engine):
            torch.backends.quantized.engine = engine  # the engine is process-wide: set it per call
            return predictor.predict(xs)
        configs[f"entitune_torch_int8_{engine}_b32"] = run
    timed = interleaved(configs, texts, args.repeats)
    base = timed["hf_pipeline_fp32_b32"]
    runs = {}
    for name, r in timed.items():
        out = r.pop("_out")
        tags = pipeline_tags(out, sentences) if name.startswith("hf_") else [list(x.tags) for x in out]
        r["entity_f1"] = entity_scores(gold, tags, "strict")["entity"]["f1"]
        r["vs_pipeline_per_round_median"] = statistics.median(b / w for b, w in zip(base["wall_s"], r["wall_s"]))
        runs[name] = r
        print(name, round(r["median_sentences_per_s"]), "sent/s", round(r["vs_pipeline_per_round_median"], 2), "x",
              "F1", round(r["entity_f1"], 4), flush=True)
    work = linear_macs(tagger, [list(s.words) for s in sentences])
    peak = int8_matmul_peak(args.threads)
    best_rate = max(peak["gmacs_per_s"].values())
    budget = statistics.median(base["wall_s"]) / args.target
    bound = {
        "target_vs_pipeline": args.target,
        "time_budget_s": budget,
        "linear_gmacs": work["linear_gmacs"],
        "linear_s_at_best_int8_rate": work["linear_gmacs"] / best_rate,
        "linear_share_of_budget": work["linear_gmacs"] / best_rate / budget,
        "best_int8_gmacs_per_s": best_rate,
    }
    result = {
        "script": "bench/int8_kinds.py", "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": args.model, "machine": machine(), "threads": args.threads, "sentences": len(texts),
        "versions": {"torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__},
        "work": work, "int8_matmul_peak": peak, "bound": bound, "runs": runs,
        "fastest_int8": max((n for n in runs if "int8" in n), key=lambda n: runs[n]["median_sentences_per_s"]),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"bound": bound, "fastest_int8": result["fastest_int8"]}, indent=1))


if __name__ == "__main__":
    main()
