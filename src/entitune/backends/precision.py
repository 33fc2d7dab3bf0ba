"""``--precision auto``: bf16 autocast where the hardware runs it fast, fp32 elsewhere.

The decision has two parts, and both are recorded with the run:

1. What the hardware reports. A CUDA GPU is a candidate when it has bf16 tensor cores (compute
   capability 8.0 or newer: Ampere, Hopper); a CPU when it multiplies bf16 natively: AMX bf16 tiles
   (``amx_bf16``) or AVX512-BF16 (``avx512_bf16``: recent AMD EPYC, Cooper Lake Xeon). A CPU with
   neither gets fp32 without a probe: bf16 is emulated there and slow. (This rule once left
   avx512_bf16 CPUs out, on the word that bf16 was slow on AMD EPYC; on this project's 2-core EPYC,
   which reports avx512_bf16, the probe measured 1.6x and MIT Movie's 1-epoch training loop took
   47.4 s in bf16 against 72-75 s in fp32 at the same test F1, so the probe now decides there too.)
2. A short timed probe on a candidate, because the hardware alone does not say how fast a whole
   training step of *this* model runs: on an H200, all-MiniLM-L6-v2 (hidden 384) trained 1 epoch of
   MIT Movie in 6.1 s in fp32 and 12.8-25.7 s under bf16 autocast (``bench/results/gpu_h200_*.json``):
   a model that small is bound by kernel launches, and autocast adds casts. The probe times one
   forward and backward pass of a one-layer BERT of the model's own width (hidden size, heads,
   intermediate size; 16 sequences of 64 tokens) in fp32 and under bf16 autocast, each the best of a
   few interleaved rounds, and picks bf16 when it is at least ``SPEEDUP`` times faster. The result
   is cached per machine and width (CPU model and flags or GPU name, torch version, threads) in
   ``~/.cache/entitune/precision.json`` (``ENTITUNE_CACHE_DIR`` moves it), so it runs once.

Inference (``purpose="inference"``: ``evaluate``, ``predict``, ``serve``, ``TorchScorer`` where the lean forward applies) is decided
the same way but for what inference runs: on a CPU, the lean forward (``fastbert``) with its matmuls
in bf16. The same CPUs are candidates, and the probe times that
forward of a one-layer BERT of the model's width (32 sequences of 16 tokens, a typical batch) in
fp32 and in bf16. On this project's AMD EPYC (avx512_bf16, no AMX) it measured 1.8x, and prediction
on MIT Movie test ran 1.6x as fast; tags changed for 2 of 24,686 words.

No library makes this choice (accelerate and the Trainer take the precision as given), hence this
module. It reads ``/proc/cpuinfo``; on other systems a CPU is never a candidate.
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..errors import check_choice

#: the values ``--precision`` takes for inference (training also takes fp16)
INFERENCE_PRECISIONS = ("auto", "fp32", "bf16")
#: the speed-up over fp32 a probe must show before a CPU gets bf16
SPEEDUP = 1.3


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run uses (``fp32``, ``bf16`` or ``fp16``), and why, in one sentence."""

    precision: str
    reason: str
    requested: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_info() -> tuple[str, tuple[str, ...]]:
    """The CPU's model name and the matrix-related flags it reports (``amx_*``, ``avx512_bf16``,
    ``avx512_vnni``, ``avx_vnni``, ``avx512f``, ``avx2``); ``("", ())`` where ``/proc/cpuinfo`` is
    not there."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), ()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    wanted = ("amx_bf16", "amx_tile", "amx_int8", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")
    return model, tuple(f for f in wanted if f in flags)


@dataclass(frozen=True)
class Width:
    """The layer shape a probe times: hidden size, attention heads, feed-forward size."""

    hidden: int = 384
    heads: int = 12
    intermediate: int = 1536

    @classmethod
    def of(cls, config) -> "Width":
        """The width of a transformers config (BERT-style names; MiniLM's where a name is missing)."""
        hidden = int(getattr(config, "hidden_size", None) or getattr(config, "dim", None) or cls.hidden)
        heads = int(getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", None) or cls.heads)
        inner = int(getattr(config, "intermediate_size", None) or getattr(config, "hidden_dim", None) or 4 * hidden)
        return cls(hidden, heads if hidden % heads == 0 else 1, inner)


#: what a precision is chosen for: a training step (autocast) or the inference forward
PURPOSES = ("train", "inference")


def choose_precision(requested: str, device: str | torch.device = "cpu", probe: bool = True,
                     width: Width | None = None, purpose: str = "train") -> PrecisionChoice:
    """The precision for ``requested`` on ``device``: anything but ``auto`` is kept as asked; ``auto``
    is decided as the module docstring says, probing a layer of ``width`` (default: MiniLM's) the way
    ``purpose`` (``train`` or ``inference``) runs it. ``probe=False`` decides from the hardware alone
    (bf16 tensor cores, AMX or avx512_bf16: bf16)."""
    check_choice("precision", requested, ("auto", "fp32", "bf16", "fp16"))
    check_choice("purpose", purpose, PURPOSES)
    if requested != "auto":
        return PrecisionChoice(requested, "asked for", requested)
    device = torch.device(device)
    width = width or Width()
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        what = f"{torch.cuda.get_device_name(device)} (compute capability {major}.{minor})"
        if (major, minor) < (8, 0):
            return PrecisionChoice("fp32", f"{what} has no bf16 tensor cores")
        if not probe:
            return PrecisionChoice("bf16", f"{what} has bf16 tensor cores (not timed)")
        return _verdict(f"{what} has bf16 tensor cores", cached_probe(what, (), width, device), width)
    if device.type != "cpu":
        return PrecisionChoice("fp32", f"device {device.type}: fp32")
    model, flags = cpu_info()
    model = model or "unknown"
    has = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    if not has:
        return PrecisionChoice("fp32", f"the CPU ({model}) reports no bf16 matrix instructions")
    hardware = f"the CPU ({model}) has {' and '.join(has)}"
    if not probe:
        return PrecisionChoice("bf16", f"{hardware} (not timed)")
    return _verdict(hardware, cached_probe(model, flags, width, device, purpose), width, purpose)


def _verdict(hardware: str, speedup: float, width: Width, purpose: str = "train") -> PrecisionChoice:
    verdict = "bf16" if speedup >= SPEEDUP else "fp32"
    what = "training step" if purpose == "train" else "inference forward"
    return PrecisionChoice(verdict, f"{hardware}; a timed {what} of a layer of this model's width "
                                    f"(hidden {width.hidden}) ran {speedup:.2f}x as fast in bf16 as in fp32 "
                                    f"({'at least' if verdict == 'bf16' else 'below'} {SPEEDUP}x)")


def _cache_file() -> Path:
    root = os.environ.get("ENTITUNE_CACHE_DIR") or Path.home() / ".cache" / "entitune"
    return Path(root) / "precision.json"


def cached_probe(hardware: str, flags: tuple[str, ...], width: Width | None = None,
                 device: str | torch.device = "cpu", purpose: str = "train") -> float:
    """``probe_speedup()`` for this machine, width and purpose, from the cache when measured before."""
    width = width or Width()
    device = torch.device(device)
    threads = f"threads {torch.get_num_threads()}" if device.type == "cpu" else "gpu"
    key = (f"{hardware}|{','.join(flags)}|torch {torch.__version__}|{threads}|"
           f"width {width.hidden}/{width.heads}/{width.intermediate}" + ("|inference" if purpose == "inference" else ""))
    path = _cache_file()
    try:
        cache = json.loads(path.read_text())
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    if isinstance(cache.get(key), (int, float)):
        return float(cache[key])
    measured = probe_speedup(width=width, device=device) if purpose == "train" else probe_inference_speedup(width=width)
    # rounded as stored, before it decides: the run that measured and the runs that read the cache agree
    speedup = cache[key] = round(measured, 3)
    try:  # a read-only home only costs the probe next time
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=1) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass
    return speedup


def probe_speedup(rounds: int = 4, width: Width | None = None, device: str | torch.device = "cpu") -> float:
    """fp32 time / bf16-autocast time of one forward and backward pass of a one-layer BERT of
    ``width`` (16 sequences of 64 tokens) on ``device``, the best of ``rounds`` interleaved rounds
    each. About a second on 2 cores. The run's random stream is left as it was."""
    devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        return _probe(rounds, width or Width(), torch.device(device))


def _probe(rounds: int, width: Width, device: torch.device) -> float:
    generator = torch.Generator().manual_seed(0)
    model = _one_layer_bert(width).to(device)
    ids = torch.randint(0, 512, (16, 64), generator=generator).to(device)
    mask = torch.ones_like(ids)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step(bf16: bool) -> float:
        sync()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(input_ids=ids, attention_mask=mask).last_hidden_state
        out.float().square().mean().backward()
        model.zero_grad(set_to_none=True)
        sync()
        return time.perf_counter() - t0

    return _speedup(step, rounds, warmup=2)  # warm-up: first calls pick (and on a GPU load) kernels


def probe_inference_speedup(rounds: int = 5, width: Width | None = None) -> float:
    """fp32 time / bf16 time of the lean CPU inference forward (``fastbert.BertFastPath``) of a
    one-layer BERT of ``width`` over 32 sequences of 16 tokens, the best of ``rounds`` interleaved
    rounds each (well under a second on 2 cores). The random stream is left as it was."""
    with torch.random.fork_rng(devices=[]):
        return _probe_inference(rounds, width or Width())


def _probe_inference(rounds: int, width: Width) -> float:
    from .fastbert import BertFastPath

    model = _one_layer_bert(width).eval()
    if not BertFastPath.supports(model):
        return 0.0
    ids = torch.randint(0, 512, (32, 16), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    paths = {bf16: BertFastPath(model, torch.bfloat16 if bf16 else torch.float32) for bf16 in (False, True)}

    def run(bf16: bool) -> float:
        t0 = time.perf_counter()
        with torch.inference_mode():
            for _ in range(4):
                paths[bf16](ids, mask)
        return time.perf_counter() - t0

    return _speedup(run, rounds, warmup=1)  # warm-up: the first calls pick kernels


def _one_layer_bert(width: Width):
    """A randomly initialised (seed 0) one-layer ``BertModel`` of ``width``, vocabulary 512: what the probes time."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=512, hidden_size=width.hidden, num_attention_heads=width.heads,
                        intermediate_size=width.intermediate, num_hidden_layers=1)
    torch.manual_seed(0)
    return BertModel(config, add_pooling_layer=False)


def _speedup(timed, rounds: int, warmup: int) -> float:
    """fp32 seconds / bf16 seconds of ``timed(bf16)``: ``warmup`` untimed rounds, then the best of
    ``rounds`` interleaved rounds each."""
    for _ in range(warmup):
        timed(False), timed(True)
    best = {False: float("inf"), True: float("inf")}
    for _ in range(rounds):
        for bf16 in (False, True):
            best[bf16] = min(best[bf16], timed(bf16))
    return best[False] / best[True]


__all__ = ["INFERENCE_PRECISIONS", "PURPOSES", "PrecisionChoice", "Width", "choose_precision", "cpu_info",
           "probe_inference_speedup", "probe_speedup"]
