#!/usr/bin/env python
"""Inference speed side by side in one run, on one trained linear-head model and the 2,443 MIT Movie
engtest sentences given as plain strings (words joined by spaces):

- the reference: ``transformers.pipeline("token-classification", aggregation_strategy="simple")``
  on the same model directory, batch sizes 1 and 32 (as ../shared/anchors/hf_pipeline_speed.py);
- entitune's ``Predictor`` on the PyTorch model (fp32), batch sizes 1 and 32, called like the
  pipeline: the whole list of texts, ``batch_size`` windows per forward pass; and at the precision
  ``--precision auto`` picks here (``entitune predict``'s default) where that is not fp32, with the
  tags that differ from fp32's counted;
- entitune's ``Predictor`` on ONNX exports of it, fp32 and int8, batch sizes 1 and 32;
- entity F1 of each entitune backend on engtest (the pipeline's output is aggregated entities,
  scored here too by mapping them back to words);
- a long document (engtest sentences joined into one text) of 25,000, 50,000 and 100,000
  characters: seconds, and whether every word got a tag.

  python bench/predict_speed.py MODEL_DIR --out bench/results/predict_speed.json [--threads 2]

Each configuration runs one warm-up pass over 64 sentences. Then ``--repeats`` rounds follow; in
each round every configuration makes one timed pass over all sentences, one after another, so
that this machine's drift (about +-12% over minutes) falls on all of them alike. Reported per
configuration: every pass's seconds, the mean, median and best sentences/s, and against the
pipeline at the same batch size both the ratio of the means and the median of the per-round ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _common import find_dataset, machine  # noqa: E402  (puts src/ on the path)


def interleaved(configs: dict, texts, repeats: int) -> dict:
    """Time every configuration ``repeats`` times, round by round; ``configs``: name -> fn(texts)."""
    for fn in configs.values():
        fn(texts[:64])
    walls: dict[str, list[float]] = {name: [] for name in configs}
    outs = {}
    for _ in range(repeats):
        for name, fn in configs.items():
            t0 = time.perf_counter()
            outs[name] = fn(texts)
            walls[name].append(time.perf_counter() - t0)
    return {name: {"wall_s": w, "sentences_per_s": len(texts) / (sum(w) / len(w)),
                   "median_sentences_per_s": len(texts) / statistics.median(w),
                   "best_sentences_per_s": len(texts) / min(w), "_out": outs[name]} for name, w in walls.items()}


def pipeline_tags(outputs, sentences) -> list[list[str]]:
    """Map the pipeline's aggregated entities (character offsets into the joined text) to word tags."""
    tags = []
    for ents, s in zip(outputs, sentences):
        starts, pos = [], 0
        for w in s.words:
            starts.append(pos)
            pos += len(w) + 1
        t = ["O"] * len(s.words)
        for e in ents:
            inside = [i for i, st in enumerate(starts) if e["start"] <= st < e["end"]]
            for k, i in enumerate(inside):
                t[i] = ("B-" if k == 0 else "I-") + e["entity_group"]
        tags.append(t)
    return tags


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--skip", default="", help="comma-separated parts to skip: pipeline,torch,onnx,long")
    p.add_argument("--batch-sizes", default="1,32", help="comma-separated batch sizes to time (default 1,32)")
    p.add_argument("--pipeline-bf16", action="store_true", help="also time the pipeline with its weights in bf16")
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    from entitune import OnnxScorer, Predictor, Tagger, TorchScorer, __version__
    from entitune.data import load_annotated
    from entitune.evaluate import entity_scores
    from entitune.export import export_onnx
    from entitune.tags import is_valid_sequence

    sentences = load_annotated(find_dataset("mit_movie_eng") / "engtest.bio").sentences
    texts = [" ".join(s.words) for s in sentences]
    gold = [list(s.tags) for s in sentences]
    tagger = Tagger.load(args.model)
    n_sub = sum(len(ids) for ids in tagger.tokenizer(texts)["input_ids"])
    result: dict = {
        "script": "bench/predict_speed.py", "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": args.model, "sentences": len(texts), "subwords_with_specials": n_sub, "threads": args.threads,
        "versions": {"entitune": __version__, "torch": torch.__version__, "transformers": transformers.__version__},
        "machine": machine(),
        "runs": {},
    }
    try:
        import onnxruntime

        result["versions"]["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass

    def record(name: str, r: dict, tags=None, invalid=None) -> None:
        r.pop("_out", None)
        r["subwords_per_s"] = r["sentences_per_s"] * n_sub / len(texts)
        if tags is not None:
            r["entity_f1"] = entity_scores(gold, tags, "strict")["entity"]["f1"]
        if invalid is not None:
            r["invalid_sequences"] = invalid
        result["runs"][name] = r
        print(name, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k != "wall_s"}, flush=True)

    configs: dict = {}
    if "pipeline" not in skip:
        from transformers import pipeline

        ner = pipeline("token-classification", model=args.model, aggregation_strategy="simple", device="cpu")
        for bs in batch_sizes:
            configs[f"hf_pipeline_b{bs}"] = lambda xs, bs=bs: ner(xs, batch_size=bs)
        if args.pipeline_bf16:  # the peer's fastest setting on a CPU that multiplies bf16 natively
            ner16 = pipeline("token-classification", model=args.model, aggregation_strategy="simple", device="cpu",
                             dtype=torch.bfloat16)
            for bs in batch_sizes:
                configs[f"hf_pipeline_bf16_b{bs}"] = lambda xs, bs=bs: ner16(xs, batch_size=bs)
    backends = {}
    if "torch" not in skip:
        backends["torch_fp32"] = TorchScorer(tagger)
        auto = TorchScorer(tagger, precision="auto")  # what evaluate, predict and serve use by default
        result["torch_auto_precision"] = auto.choice.to_dict()
        if auto.choice.precision != "fp32":
            backends[f"torch_auto_{auto.choice.precision}"] = auto
    if "onnx" not in skip:
        tmp = Path(tempfile.mkdtemp(prefix="entitune-bench-"))
        for q in ("none", "int8"):
            t0 = time.perf_counter()
            export_onnx(tagger, tmp / q, quantize=q)
            result[f"export_{q}_s"] = time.perf_counter() - t0
            backends["onnx_fp32" if q == "none" else "onnx_int8"] = OnnxScorer.load(tmp / q, threads=args.threads)
    for name, model in backends.items():
        for bs in batch_sizes:
            # as the pipeline is called: the list of texts, ``bs`` windows per forward pass
            configs[f"entitune_{name}_b{bs}"] = Predictor(model, batch_size=bs).predict
    # batch 1 and batch 32 in rounds of their own: a slow batch-1 round spans minutes
    for bs in batch_sizes:
        timings = interleaved({k: fn for k, fn in configs.items() if k.endswith(f"_b{bs}")}, texts, args.repeats)
        fp32_out = timings.get(f"entitune_torch_fp32_b{bs}", {}).get("_out")
        for name, r in timings.items():
            if name.startswith("entitune_torch_auto") and fp32_out is not None:
                r["words_differing_from_fp32"] = sum(a != b for x, y in zip(r["_out"], fp32_out)
                                                     for a, b in zip(x.tags, y.tags))
                r["sentences_differing_from_fp32"] = sum(x.tags != y.tags for x, y in zip(r["_out"], fp32_out))
            if name.startswith("hf_pipeline"):
                tags = pipeline_tags(r["_out"], sentences)
                record(name, r, tags, sum(not is_valid_sequence(t, tagger.labels) for t in tags))
            else:
                record(name, r, [list(x.tags) for x in r["_out"]])

    if "long" not in skip:
        predictor = Predictor(TorchScorer(tagger), batch_size=32)
        joined = " ".join(texts)
        while len(joined) < 100_000:
            joined = joined + " " + joined
        long_runs = []
        for size in (25_000, 50_000, 100_000):
            doc = joined[:size].rsplit(" ", 1)[0]
            t0 = time.perf_counter()
            (pred,) = predictor.predict([doc])
            wall = time.perf_counter() - t0
            long_runs.append({"characters": len(doc), "words": len(pred.words), "seconds": wall,
                              "words_untagged": len(pred.words) - len(pred.tags),
                              "entities": len(pred.entities)})
            print(long_runs[-1], flush=True)
        result["long_document"] = long_runs
        result["long_document_seconds_per_100k_chars"] = [r["seconds"] * 100_000 / r["characters"] for r in long_runs]

    runs = result["runs"]
    ratios, round_ratios = {}, {}
    for name in runs:
        if name.startswith("entitune_"):
            bs = name.rsplit("_b", 1)[1]
            base = runs.get(f"hf_pipeline_b{bs}")
            if base:
                ratios[name] = runs[name]["sentences_per_s"] / base["sentences_per_s"]
                per_round = [b / w for w, b in zip(runs[name]["wall_s"], base["wall_s"])]
                round_ratios[name] = {"per_round": per_round, "median": statistics.median(per_round)}
    result["ratio_to_pipeline_same_batch"] = ratios
    result["ratio_to_pipeline_per_round"] = round_ratios
    # against the pipeline's fastest setting at each batch size (fp32, or bf16 with --pipeline-bf16)
    fastest = {}
    for name, r in runs.items():
        if name.startswith("hf_pipeline"):
            bs = name.rsplit("_b", 1)[1]
            if bs not in fastest or r["sentences_per_s"] > runs[fastest[bs]]["sentences_per_s"]:
                fastest[bs] = name
    result["fastest_pipeline"] = fastest
    result["ratio_to_fastest_pipeline_same_batch"] = {
        name: runs[name]["sentences_per_s"] / runs[fastest[name.rsplit("_b", 1)[1]]]["sentences_per_s"]
        for name in runs if name.startswith("entitune_") and name.rsplit("_b", 1)[1] in fastest}
    if "hf_pipeline_b32" in runs:
        result["onnx_int8_b32_vs_pipeline_b32"] = ratios.get("entitune_onnx_int8_b32")
    print(json.dumps(ratios, indent=1))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
