#!/usr/bin/env python
"""Where the ONNX int8 export's prediction time goes on this CPU, and how close its int8 matmuls
come to the fastest int8 matmul this CPU runs.

One trained tagger exported with ``entitune export --quantize int8`` (or ``--export DIR``, an
existing int8 export), the 2,443 MIT Movie engtest sentences as plain strings, ``Predictor`` at
batch 32 with one stream, so one onnxruntime thread does all the graph's work (what each of
``--threads N`` streams does in ``entitune predict``):

- **Wall time by part**: the whole ``predict`` call, the time inside ``session.run``, and the rest
  (tokenizing, windows, batching, decoding in numpy), best of ``--rounds``.
- **Time by operator**: onnxruntime's own profiler (``enable_profiling``) over one pass after a
  warm-up pass (a new session's first pass is slower); every kernel's time summed by operator type,
  as a share of the kernels' total.
- **Multiply-adds of the int8 matmuls**, counted from the shapes the profiler records for each
  call (``DynamicQuantizeMatMul`` / ``MatMulIntegerToFloat`` / ``MatMulInteger``: rows x K x N;
  ``QAttention``'s query/key/value projection, rows x H x 3H, reported apart because the same
  kernel also runs the attention itself).
- **The roofline**: the best rate, in G multiply-adds/s on one thread, of (a) onnxruntime's own
  int8 matmul, a one-node graph quantized as the export is (per-channel int8 weights, dynamic
  activations) and fused by the same session options, and (b) PyTorch's dynamic int8 linear under
  each quantized engine, for the export's three weight shapes (384x384, 384x1536, 1536x384) at 512
  and 2,048 rows. The linears' share of that peak is their multiply-adds over their kernel time,
  divided by the peak.

  python bench/onnx_roofline.py MODEL_DIR --out bench/results/onnx_roofline.json [--rounds 3]
  python bench/onnx_roofline.py --export INT8_EXPORT_DIR --out ...
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _common import find_dataset, machine
from int8_kinds import torch_int8_rates
from matmul_kinds import best_ms

#: onnxruntime operators that are int8 matmuls of a linear layer (activations quantized in the kernel
#: or by a DynamicQuantizeLinear before it, counted with the linears)
LINEAR_OPS = ("DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger")
QUANTIZE_OPS = ("DynamicQuantizeLinear",)
SHAPES = ((384, 384), (384, 1536), (1536, 384))
#: seconds between the profiled warm-up pass and the counted pass
PAUSE_S = 2.0


def _dims(entry: dict) -> list[int]:
    """The dimensions of one ``input_type_shape`` entry of onnxruntime's profile (``{"float": [..]}``)."""
    return list(next(iter(entry.values())))


def matmul_macs(op: str, inputs: list[dict]) -> int:
    """Multiply-adds of one int8 matmul call, rows x K x N, from the input shapes the profiler recorded.
    The profiler leaves out initializers (the weight itself), so K is the activation's last
    dimension and N the length of the per-output-channel inputs (weight scales, zero points, bias);
    for ``QAttention`` that is its query/key/value projection (N = 3H), not the attention.

    >>> matmul_macs("DynamicQuantizeMatMul", [{"float": [32, 20, 384]}, {"float": [1536]}, {"int8": [1536]}, {"float": [1536]}])
    377487360
    >>> matmul_macs("QAttention", [{"uint8": [32, 20, 384]}, {"float": [1152]}, {"float": []}, {"int32": [32]}])
    283115520
    """
    dims = [_dims(i) for i in inputs]
    rows = 1
    for d in dims[0][:-1]:
        rows *= d
    per_channel = [d[0] for d in dims[1:] if len(d) == 1]
    n = max(per_channel) if per_channel else dims[1][-1]
    return rows * dims[0][-1] * n


def profile_by_op(profile_file: str, after_gap_us: float = 0.0) -> dict:
    """Kernel time (microseconds) and calls per operator type, and the int8 matmuls' multiply-adds.
    With ``after_gap_us``, only the kernels after the first pause of at least that long between two
    kernels count (the timed pass after a warm-up pass and a pause)."""
    events = [e for e in json.loads(Path(profile_file).read_text())
              if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    if after_gap_us:
        events.sort(key=lambda e: e["ts"])
        ends = [e["ts"] + e.get("dur", 0) for e in events]
        gap = next((i for i in range(1, len(events)) if events[i]["ts"] - max(ends[:i]) >= after_gap_us), None)
        if gap is None:
            raise SystemExit("the profile has no pause between the warm-up and the timed pass")
        events = events[gap:]
    by_op: dict = defaultdict(lambda: {"us": 0, "calls": 0, "macs": 0})
    for e in events:
        args = e.get("args", {})
        op = args.get("op_name", "?")
        row = by_op[op]
        row["us"] += int(e.get("dur", 0))
        row["calls"] += 1
        if op in LINEAR_OPS or op == "QAttention":
            row["macs"] += matmul_macs(op, args["input_type_shape"])
    return dict(by_op)


def _session(path: Path, threads: int, profile_prefix: str | None = None):
    """A session opened as ``OnnxScorer.load`` opens one (and with the profiler when asked)."""
    from entitune.backends.onnx import open_session

    return open_session(path, threads, profile_prefix)


def _ort_linears(shapes: list[tuple[int, int]], name: str, work: Path):
    """A session over a chain of float linears (MatMul + bias) of ``shapes`` ((K, N) each, every N the
    next K), quantized as the export's are (``quantize_dynamic``, per-channel int8 weights), with
    ``OnnxScorer.load``'s session options on one thread."""
    import logging

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    nodes, inits, current = [], [], "x"
    for i, (k, n) in enumerate(shapes):
        inits += [numpy_helper.from_array((rng.standard_normal((k, n)) * 0.05).astype(np.float32), f"w{i}"),
                  numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), f"b{i}")]
        nodes += [helper.make_node("MatMul", [current, f"w{i}"], [f"xw{i}"], name=f"mm{i}"),
                  helper.make_node("Add", [f"xw{i}", f"b{i}"], [f"y{i}"])]
        current = f"y{i}"
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", shapes[0][0]])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, ["rows", shapes[-1][1]])],
                              initializer=inits)
    raw, quantized = work / f"{name}.onnx", work / f"{name}_int8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(raw))
    logging.disable(logging.WARNING)  # quantize_dynamic's advice to pre-process
    try:
        quantize_dynamic(str(raw), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
    finally:
        logging.disable(logging.NOTSET)
    return _session(quantized, 1)


def ort_rate(rows: int, shapes: list[tuple[int, int]], name: str, work: Path) -> float:
    """G multiply-adds/s, one thread, of onnxruntime's int8 linears chained as ``shapes``, ``rows`` rows."""
    import numpy as np

    session = _ort_linears(shapes, name, work)
    x = np.random.default_rng(1).standard_normal((rows, shapes[0][0])).astype(np.float32)
    seconds = best_ms(lambda: session.run(None, {"x": x}), rounds=5, calls=20) / 1e3
    return rows * sum(k * n for k, n in shapes) / seconds / 1e9


def int8_peaks(work: Path) -> dict:
    """Every kernel and shape measured, and the best rate among them (the roofline)."""
    import torch

    torch.set_num_threads(1)
    measured = []
    for rows in (512, 2048):
        for k, n in SHAPES:
            shape = f"({rows}, {k}) x ({k}, {n})"
            measured.append({"kernel": "onnxruntime DynamicQuantizeMatMul", "shape": shape,
                             "gmacs_per_s": ort_rate(rows, [(k, n)], f"one_{k}x{n}", work)})
            for engine, rate in torch_int8_rates(rows, k, n, rounds=5, calls=20).items():
                measured.append({"kernel": f"torch quantized.linear_dynamic ({engine})", "shape": shape, "gmacs_per_s": rate})
            print(shape, {m["kernel"]: round(m["gmacs_per_s"], 1) for m in measured if m["shape"] == shape}, flush=True)
    best = max(measured, key=lambda m: m["gmacs_per_s"])
    ort_best = max((m for m in measured if m["kernel"].startswith("onnxruntime")), key=lambda m: m["gmacs_per_s"])
    # the same kernel over six layers' distinct weights (out-projection, feed-forward up and down), as
    # a forward pass meets them: each weight is read once per call instead of staying in cache
    chain = [(384, 384), (384, 1536), (1536, 384)] * 6
    cold = {"kernel": "onnxruntime DynamicQuantizeMatMul, 18 distinct weights in a chain", "shape": "(576, 384) ...",
            "gmacs_per_s": ort_rate(576, chain, "chain", work)}
    print("cold weights:", round(cold["gmacs_per_s"], 1), flush=True)
    return {"threads": 1, "measured": measured, "peak": best, "onnxruntime_best": ort_best, "cold_weights": cold}


def timed_predict(scorer, texts: list[str], rounds: int, batch: int) -> tuple[dict, list]:
    """Best-of-rounds wall time of ``Predictor.predict`` and of the ``session.run`` calls inside it."""
    from entitune import Predictor

    inside = [0.0]
    run = scorer.session.run

    def counted(*a, **k):
        t0 = time.perf_counter()
        try:
            return run(*a, **k)
        finally:
            inside[0] += time.perf_counter() - t0

    scorer.session.run = counted
    predictor = Predictor(scorer, batch_size=batch)
    predictor.predict(texts[:256])  # warm-up
    best = None
    for _ in range(rounds):
        inside[0] = 0.0
        t0 = time.perf_counter()
        out = predictor.predict(texts)
        wall = time.perf_counter() - t0
        if best is None or wall < best["wall_s"]:
            best = {"wall_s": wall, "session_run_s": inside[0], "outside_session_s": wall - inside[0]}
    best["sentences_per_s"] = len(texts) / best["wall_s"]
    return best, out


class _Bare:
    """A stand-in for ``OnnxScorer.session`` whose ``run`` can be replaced (the session's cannot)."""

    def __init__(self, session) -> None:
        self.session = session
        self.run = session.run

    def __getattr__(self, name):
        return getattr(self.session, name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="a trained entitune tagger directory, exported here to int8")
    p.add_argument("--export", help="an existing int8 export instead of MODEL")
    p.add_argument("--out", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--limit", type=int, default=None, help="only the first N sentences (a quick check)")
    args = p.parse_args()
    if not (args.model or args.export):
        p.error("give MODEL or --export")

    from entitune.data import load_annotated

    work = Path(tempfile.mkdtemp(prefix="entitune-roofline-"))
    export = Path(args.export) if args.export else None
    if export is None:
        from entitune import Tagger
        from entitune.export import export_onnx

        export = work / "int8"
        export_onnx(Tagger.load(args.model), export, quantize="int8")
    if json.loads((export / "export.json").read_text()).get("quantize") != "int8":
        sys.exit(f"{export} is not an int8 export")
    sentences = load_annotated(find_dataset("mit_movie_eng") / "engtest.bio").sentences
    sentences = sentences[:args.limit] if args.limit else sentences
    texts = [" ".join(s.words) for s in sentences]

    gold = [list(s.tags) for s in sentences]
    peaks = int8_peaks(work)
    runs = {str(b): one_batch_size(export, texts, gold, b, args.rounds, work, peaks) for b in args.batch_sizes}
    result = {
        "script": "bench/onnx_roofline.py", "argv": sys.argv[1:],
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
        "versions": _versions(), "export": str(export), "sentences": len(texts), "streams": 1,
        "int8_peak": peaks, "by_batch_size": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


def one_batch_size(export: Path, texts: list[str], gold: list[list[str]], batch: int, rounds: int, work: Path,
                   peaks: dict) -> dict:
    """Wall time by part, kernel time by operator and the linears against the peak, at one batch size."""
    from entitune import OnnxScorer, Predictor
    from entitune.artifact import layout
    from entitune.evaluate import entity_scores

    scorer = OnnxScorer.load(export, threads=1)
    scorer.session = _Bare(scorer.session)
    wall, out = timed_predict(scorer, texts, rounds, batch)
    f1 = entity_scores(gold, [list(x.tags) for x in out], "strict")["entity"]["f1"]
    print(f"batch {batch}, one stream: {wall['sentences_per_s']:.1f} sentences/s, {wall['session_run_s']:.2f} s of "
          f"{wall['wall_s']:.2f} s inside session.run; entity F1 {f1:.4f}", flush=True)

    profiled = _session(export / layout.ONNX_FILE, 1, str(work / f"profile_b{batch}"))
    scorer.session = _Bare(profiled)
    predictor = Predictor(scorer, batch_size=batch)
    predictor.predict(texts)  # warm-up pass, left out of the counts
    time.sleep(PAUSE_S)
    predictor.predict(texts)
    by_op = profile_by_op(profiled.end_profiling(), after_gap_us=PAUSE_S * 1e6 / 2)
    total_us = sum(r["us"] for r in by_op.values())
    linear_us = sum(by_op[o]["us"] for o in LINEAR_OPS if o in by_op)
    quant_us = sum(by_op[o]["us"] for o in QUANTIZE_OPS if o in by_op)
    linear_macs = sum(by_op[o]["macs"] for o in LINEAR_OPS if o in by_op)
    qatt = by_op.get("QAttention", {"us": 0, "macs": 0})
    peak = peaks["peak"]["gmacs_per_s"]
    linear_rate = linear_macs / (linear_us / 1e6) / 1e9 if linear_us else 0.0
    ops = {op: {"ms": r["us"] / 1e3, "share_of_kernels": r["us"] / total_us, "calls": r["calls"],
                **({"gmacs": r["macs"] / 1e9, "gmacs_per_s": r["macs"] / r["us"] * 1e-3} if r["macs"] else {})}
           for op, r in sorted(by_op.items(), key=lambda kv: -kv[1]["us"])}
    roofline = {
        "linear_ops": [o for o in LINEAR_OPS if o in by_op],
        "linear_gmacs": linear_macs / 1e9,
        "linear_kernel_ms": linear_us / 1e3,
        "linear_gmacs_per_s": linear_rate,
        "linear_share_of_peak": linear_rate / peak,
        "linear_share_of_onnxruntime_best": linear_rate / peaks["onnxruntime_best"]["gmacs_per_s"],
        "linear_share_of_cold_weights_rate": linear_rate / peaks["cold_weights"]["gmacs_per_s"],
        "with_separate_activation_quantize_gmacs_per_s":
            linear_macs / ((linear_us + quant_us) / 1e6) / 1e9 if linear_us else 0.0,
        "qattention_projection_gmacs": qatt["macs"] / 1e9,
        "qattention_ms": qatt["us"] / 1e3,
        "linears_share_of_kernel_time": linear_us / total_us,
        "peak_gmacs_per_s": peak,
        "linear_ms_at_peak": linear_macs / peak / 1e6,
    }
    print(f"  linears: {roofline['linear_gmacs']:.1f} GMAC in {linear_us / 1e3:.0f} ms = {linear_rate:.1f} GMAC/s, "
          f"{roofline['linear_share_of_peak']:.1%} of the peak {peak:.1f}; {roofline['linears_share_of_kernel_time']:.1%} "
          "of kernel time", flush=True)
    for op, row in list(ops.items())[:8]:
        print(f"    {op:24s} {row['ms']:9.1f} ms  {row['share_of_kernels']:6.1%}", flush=True)
    return {"batch_size": batch, "entity_f1": f1, "wall": wall, "kernels_total_ms_profiled": total_us / 1e3,
            "by_operator": ops, "roofline": roofline}


def _versions() -> dict:
    import onnxruntime
    import torch

    return {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__}


if __name__ == "__main__":
    main()
