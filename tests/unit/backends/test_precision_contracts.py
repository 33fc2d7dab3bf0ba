"""Contracts of ``--precision auto`` (``backends.precision``) and of the backends that use it, each
branch of the decision with the hardware facts injected, so no GPU, AMX CPU or real timing is
needed: the CPU's name and flags (``precision.cpu_info``), a GPU's name and compute capability
(``torch.cuda.get_device_capability`` / ``get_device_name``), and the probes' speed-ups
(``precision.probe_speedup`` for a training step, ``precision.probe_inference_speedup`` for the
lean inference forward). A fact the branch under test must not read fails the test when read.

The rules: a precision asked for is kept as asked, without a look at the hardware; ``auto`` is fp32
on a GPU below compute capability 8.0, on a CPU with neither ``amx_bf16`` nor ``avx512_bf16`` and
on any other device, without a probe; on a candidate it is bf16 exactly when the probe measured at
least ``SPEEDUP`` (1.3) times fp32's speed (or, with ``probe=False``, always); a probe runs once per
machine, width and purpose, then the cache answers. A ``TorchScorer`` asks for the inference probe
where its lean forward runs and the training probe elsewhere; an ONNX export keeps the precision it
was exported in."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from entitune.backends import precision as prec
from entitune.errors import ConfigError

AMX = ("amx_bf16", "amx_tile", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")
EPYC = ("avx512_bf16", "avx512_vnni", "avx512f", "avx2")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test gets its own empty probe cache."""
    monkeypatch.setenv("ENTITUNE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "precision.json"


class Machine:
    """Injected hardware facts; ``train`` / ``inference``: what each probe measures (None: it must not
    run). Records every probe call."""

    def __init__(self, monkeypatch, cpu=("Some CPU", ()), gpu=None, train=None, inference=None) -> None:
        self.train_calls, self.inference_calls = [], []
        self.cpu, self.gpu, self.train, self.inference = cpu, gpu, train, inference
        monkeypatch.setattr(prec, "cpu_info", lambda: self._cpu())
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: self._gpu()[1])
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: self._gpu()[0])
        monkeypatch.setattr(prec, "probe_speedup", self._probe_train)
        monkeypatch.setattr(prec, "probe_inference_speedup", self._probe_inference)

    def _cpu(self):
        if self.cpu is None:
            pytest.fail("the CPU's flags were read")
        return self.cpu

    def _gpu(self):
        if self.gpu is None:
            pytest.fail("a GPU was asked about")
        return self.gpu

    def _probe_train(self, **kwargs):
        if self.train is None:
            pytest.fail(f"the training probe ran ({kwargs})")
        self.train_calls.append(kwargs)
        return self.train

    def _probe_inference(self, **kwargs):
        if self.inference is None:
            pytest.fail(f"the inference probe ran ({kwargs})")
        self.inference_calls.append(kwargs)
        return self.inference


# -------------------------------------------------------------------------------------------
# a precision asked for


@pytest.mark.parametrize("requested", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("purpose", ["train", "inference"])
def test_a_precision_asked_for_is_kept_without_reading_the_hardware(monkeypatch, cache, requested, device, purpose):
    """fp32, bf16 or fp16 asked for is what the run gets, "asked for", on any device and for either
    purpose; neither the CPU, a GPU nor a probe is consulted, and no cache is written.

    Broken (an explicit bf16 still checked against the hardware), bf16 on an fp32-only CPU turns
    into fp32 or a probe runs."""
    Machine(monkeypatch, cpu=None, gpu=None)
    assert prec.choose_precision(requested, device, purpose=purpose) == prec.PrecisionChoice(requested, "asked for",
                                                                                              requested)
    assert not cache.exists()


@pytest.mark.parametrize(("requested", "purpose", "named"), [("int8", "train", "precision"),
                                                             ("AUTO", "train", "precision"),
                                                             ("auto", "serving", "purpose")])
def test_unknown_requests_and_purposes_are_one_line_errors(monkeypatch, requested, purpose, named):
    """Values are exact (``AUTO`` is not ``auto``); the error names the option, on one line."""
    Machine(monkeypatch, cpu=None, gpu=None)
    with pytest.raises(ConfigError, match=named) as error:
        prec.choose_precision(requested, "cpu", purpose=purpose)
    assert "\n" not in str(error.value)


# -------------------------------------------------------------------------------------------
# CUDA


@pytest.mark.parametrize(("capability", "candidate"), [((6, 1), False), ((7, 5), False), ((7, 9), False),
                                                       ((8, 0), True), ((8, 6), True), ((9, 0), True), ((10, 0), True)])
def test_a_gpu_is_a_candidate_from_compute_capability_8_0(monkeypatch, capability, candidate):
    """Below 8.0 (no bf16 tensor cores) a GPU gets fp32 without a probe, even with ``probe=False``;
    from 8.0 on (Ampere, Hopper, Blackwell) the probe decides, or with ``probe=False`` the hardware
    alone gives bf16. The GPU's name and capability are in the reason.

    Broken (``<=`` for ``<``, or only Hopper counted), an A100 (8.0) or an RTX 3090 (8.6) trains in fp32."""
    machine = Machine(monkeypatch, cpu=None, gpu=("Some GPU", capability), train=2.0 if candidate else None)
    what = f"Some GPU (compute capability {capability[0]}.{capability[1]})"
    timed = prec.choose_precision("auto", "cuda")
    untimed = prec.choose_precision("auto", "cuda", probe=False)
    if candidate:
        assert timed.precision == "bf16" and timed.reason.startswith(f"{what} has bf16 tensor cores; a timed")
        assert untimed == prec.PrecisionChoice("bf16", f"{what} has bf16 tensor cores (not timed)")
        assert len(machine.train_calls) == 1
    else:
        assert timed == untimed == prec.PrecisionChoice("fp32", f"{what} has no bf16 tensor cores")


def test_a_gpu_is_timed_with_the_training_probe_on_the_gpu_for_either_purpose(monkeypatch):
    """On a GPU the model's own forward runs under autocast for inference too, which is what the
    training probe times: the training probe runs, on the GPU, at the model's width, for both
    purposes, each measured once (then cached)."""
    machine = Machine(monkeypatch, cpu=None, gpu=("H200", (9, 0)), train=0.7)
    width = prec.Width(768, 12, 3072)
    for purpose in ("train", "inference", "train", "inference"):
        choice = prec.choose_precision("auto", torch.device("cuda", 0), width=width, purpose=purpose)
        assert choice.precision == "fp32" and "0.70x" in choice.reason and "below 1.3x" in choice.reason
    assert [(c["width"], c["device"]) for c in machine.train_calls] == [(width, torch.device("cuda", 0))]


def test_a_device_neither_cpu_nor_cuda_is_fp32_without_a_look(monkeypatch):
    """No probe exists for other devices: fp32, and neither the CPU nor a GPU is asked."""
    Machine(monkeypatch, cpu=None, gpu=None)
    assert prec.choose_precision("auto", "meta") == prec.PrecisionChoice("fp32", "device meta: fp32")


# -------------------------------------------------------------------------------------------
# CPUs


@pytest.mark.parametrize(("flags", "has"), [
    ((), None), (("avx512f", "avx2", "avx512_vnni", "avx_vnni"), None), (("amx_tile", "amx_int8", "avx2"), None),
    (("amx_bf16",), "amx_bf16"), (("avx512_bf16",), "avx512_bf16"), (EPYC, "avx512_bf16"),
    (AMX, "amx_bf16 and avx512_bf16")])
@pytest.mark.parametrize("purpose", ["train", "inference"])
def test_a_cpu_is_a_candidate_exactly_when_it_multiplies_bf16_natively(monkeypatch, flags, has, purpose):
    """``amx_bf16`` or ``avx512_bf16`` make a CPU a candidate, for training and inference alike; AMX
    tiles without bf16, VNNI or AVX-512 alone do not (bf16 is emulated there), and such a CPU gets
    fp32 without a probe, even with ``probe=False``. The reason names the CPU and what it has.

    Broken (AVX512-BF16 left out, as the rule once was; or any AMX flag taken for bf16), an EPYC
    trains in fp32 or a CPU with int8 tiles only is probed."""
    speedup = 1.5 if has else None
    machine = Machine(monkeypatch, cpu=("Model X", flags), gpu=None,
                      train=speedup if purpose == "train" else None,
                      inference=speedup if purpose == "inference" else None)
    timed = prec.choose_precision("auto", "cpu", purpose=purpose)
    untimed = prec.choose_precision("auto", "cpu", probe=False, purpose=purpose)
    if has is None:
        expected = prec.PrecisionChoice("fp32", "the CPU (Model X) reports no bf16 matrix instructions")
        assert timed == untimed == expected
    else:
        what = "training step" if purpose == "train" else "inference forward"
        assert timed.precision == "bf16"
        assert timed.reason.startswith(f"the CPU (Model X) has {has}; a timed {what} of a layer of this model's width")
        assert untimed == prec.PrecisionChoice("bf16", f"the CPU (Model X) has {has} (not timed)")
        assert len(machine.train_calls) + len(machine.inference_calls) == 1


def test_a_cpu_without_a_name_is_called_unknown(monkeypatch):
    Machine(monkeypatch, cpu=("", ()), gpu=None)
    assert prec.choose_precision("auto", "cpu").reason == "the CPU (unknown) reports no bf16 matrix instructions"


def test_each_purpose_runs_its_own_probe_at_the_models_width(monkeypatch):
    """Training times a step of the model's width on the CPU; inference times the lean forward at
    that width; neither runs the other's probe."""
    width = prec.Width(256, 4, 1024)
    machine = Machine(monkeypatch, cpu=("Xeon", AMX), gpu=None, train=2.0)
    assert prec.choose_precision("auto", "cpu", width=width).precision == "bf16"
    assert machine.train_calls == [{"width": width, "device": torch.device("cpu")}]
    machine.train, machine.inference = None, 0.9
    assert prec.choose_precision("auto", "cpu", width=width, purpose="inference").precision == "fp32"
    assert machine.inference_calls == [{"width": width}]
    machine.train = 2.0
    assert prec.choose_precision("auto", "cpu").precision == "bf16"  # the default width is MiniLM's...
    assert machine.train_calls[-1]["width"] == prec.Width(384, 12, 1536)  # ...measured on its own


# -------------------------------------------------------------------------------------------
# the threshold


@pytest.mark.parametrize(("speedup", "precision"), [(0.5, "fp32"), (1.0, "fp32"), (1.299, "fp32"), (1.3, "bf16"),
                                                    (1.301, "bf16"), (4.0, "bf16")])
@pytest.mark.parametrize("where", ["cuda", "cpu", "cpu inference"])
def test_bf16_needs_a_measured_speedup_of_at_least_1_3(monkeypatch, speedup, precision, where):
    """At exactly 1.3x bf16 is chosen, at 1.299x it is not, on a GPU, a CPU, and for CPU inference;
    the reason gives the speed-up to two decimals and which side of 1.3x it fell.

    Broken (``>`` for ``>=``, or another threshold), 1.3x gets fp32 or 1.299x bf16."""
    purpose = "inference" if where == "cpu inference" else "train"
    Machine(monkeypatch, cpu=("Xeon", AMX), gpu=("A100", (8, 0)), train=None if purpose == "inference" else speedup,
            inference=speedup if purpose == "inference" else None)
    choice = prec.choose_precision("auto", where.split()[0], purpose=purpose)
    assert choice.precision == precision
    side = "at least" if precision == "bf16" else "below"
    assert choice.reason.endswith(f"ran {speedup:.2f}x as fast in bf16 as in fp32 ({side} 1.3x)")


def test_the_verdict_at_the_threshold_itself():
    """The rule without the cache: ``SPEEDUP`` (1.3) or more is bf16; a hair less is fp32."""
    assert prec.SPEEDUP == 1.3
    width = prec.Width()
    assert prec._verdict("hw", 1.3, width).precision == "bf16"
    assert prec._verdict("hw", 1.3 - 1e-12, width).precision == "fp32"
    assert prec._verdict("hw", 1.3 + 1e-12, width).precision == "bf16"
    assert prec._verdict("hw", 2.0, prec.Width(64, 2, 128), "inference").reason == (
        "hw; a timed inference forward of a layer of this model's width (hidden 64) ran 2.00x as fast in bf16 as in "
        "fp32 (at least 1.3x)")


def test_the_speedup_is_fp32s_best_time_over_bf16s_after_the_warm_up():
    """``_speedup``: the warm-up rounds are not timed; then fp32 and bf16 alternate and each keeps its
    best (shortest) time: here fp32's best is 2 s and bf16's 0.5 s, so 4x.

    Broken (the mean or the worst time, the warm-up counted, or the ratio inverted), another number."""
    script = {False: iter([0.01, 0.01, 4.0, 2.0, 6.0]), True: iter([9.0, 9.0, 1.0, 2.0, 0.5])}
    order = []

    def timed(bf16: bool) -> float:
        order.append(bf16)
        return next(script[bf16])

    assert prec._speedup(timed, rounds=3, warmup=2) == 4.0
    assert order == [False, True] * 5, "fp32 and bf16 are not interleaved"


# -------------------------------------------------------------------------------------------
# the probe cache


def test_a_probe_runs_once_then_the_cache_answers_even_if_the_machine_now_measures_otherwise(monkeypatch, cache):
    """The first ``auto`` probes and stores the speed-up in ``$ENTITUNE_CACHE_DIR/precision.json``; the
    next asks nothing and decides as the first did, even where a new probe would now disagree."""
    machine = Machine(monkeypatch, cpu=("Xeon", AMX), gpu=None, train=2.5)
    first = prec.choose_precision("auto", "cpu")
    machine.train = 1.0
    second = prec.choose_precision("auto", "cpu")
    assert first == second and first.precision == "bf16" and len(machine.train_calls) == 1
    stored = json.loads(cache.read_text())
    assert list(stored.values()) == [2.5]


@pytest.mark.parametrize("measured", [1.2994, 1.2996, 1.29999, 1.3004])
def test_the_cached_answer_is_the_first_answer_near_the_threshold(monkeypatch, cache, measured):
    """A speed-up measured just below 1.3x that the cache stores rounded (to 3 decimals) must not
    decide fp32 on the first run and bf16 on every later one: the run that measured and the runs
    that read the cache choose the same precision and give the same reason."""
    machine = Machine(monkeypatch, cpu=("Xeon", AMX), gpu=None, train=measured)
    first = prec.choose_precision("auto", "cpu")
    machine.train = None
    assert prec.choose_precision("auto", "cpu") == first


def test_the_cache_keeps_machines_threads_widths_versions_and_purposes_apart(monkeypatch, cache):
    """One entry per CPU model, flags, thread count, torch version, width and purpose (and GPU name):
    changing any one of them measures again; changing none measures nothing."""
    machine = Machine(monkeypatch, cpu=("Xeon", AMX), gpu=("A100", (8, 0)), train=2.0, inference=2.0)

    def decide(**kwargs):
        return prec.choose_precision("auto", kwargs.pop("device", "cpu"), **kwargs)

    decide()
    machine.cpu = ("Xeon 2", AMX)
    decide()
    machine.cpu = ("Xeon", EPYC)
    decide()
    machine.cpu = ("Xeon", AMX)
    decide(width=prec.Width(768, 12, 3072))
    decide(purpose="inference")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        decide()
    finally:
        torch.set_num_threads(threads)
    version = torch.__version__
    monkeypatch.setattr(torch, "__version__", "0.0.0+other")
    decide()
    monkeypatch.setattr(torch, "__version__", version)
    decide(device="cuda")
    assert len(json.loads(cache.read_text())) == 8
    # the same machine, width and purpose again: all from the cache
    monkeypatch.setattr(prec, "probe_speedup", lambda **kw: pytest.fail("measured twice"))
    monkeypatch.setattr(prec, "probe_inference_speedup", lambda **kw: pytest.fail("measured twice"))
    decide(), decide(purpose="inference"), decide(width=prec.Width(768, 12, 3072)), decide(device="cuda")


@pytest.mark.parametrize("content", ["{not json", "[1.3, 2.0]", "", '{"x": 1}'])
def test_a_damaged_or_foreign_cache_is_measured_again_and_rewritten(monkeypatch, cache, content):
    """A cache that is not JSON, not an object, or lacks this machine's entry: the probe runs, and the
    file is rewritten as an object holding the new entry (and any other entries it had)."""
    cache.parent.mkdir(parents=True)
    cache.write_text(content)
    machine = Machine(monkeypatch, cpu=("Xeon", AMX), gpu=None, train=2.0)
    assert prec.choose_precision("auto", "cpu").precision == "bf16" and len(machine.train_calls) == 1
    stored = json.loads(cache.read_text())
    assert isinstance(stored, dict) and 2.0 in stored.values()
    if content == '{"x": 1}':
        assert stored["x"] == 1 and len(stored) == 2


def test_a_cache_entry_that_is_not_a_number_is_measured_again(monkeypatch, cache):
    """An entry edited into something other than a number is ignored: the probe runs and decides."""
    machine = Machine(monkeypatch, cpu=("Xeon", AMX), gpu=None, train=2.0)
    prec.choose_precision("auto", "cpu")
    stored = json.loads(cache.read_text())
    cache.write_text(json.dumps({key: "fast" for key in stored}))
    machine.train = 1.0
    assert prec.choose_precision("auto", "cpu").precision == "fp32" and len(machine.train_calls) == 2


def test_an_unwritable_cache_costs_only_a_probe_next_time(monkeypatch, tmp_path):
    """A cache directory that cannot be made (here a file stands in its way): the decision is made
    all the same, and the next one probes again."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    monkeypatch.setenv("ENTITUNE_CACHE_DIR", str(blocker))
    machine = Machine(monkeypatch, cpu=("Xeon", AMX), gpu=None, train=2.0)
    assert prec.choose_precision("auto", "cpu").precision == "bf16"
    assert prec.choose_precision("auto", "cpu").precision == "bf16" and len(machine.train_calls) == 2
    assert blocker.read_text() == "a file, not a directory"


def test_without_entitune_cache_dir_the_cache_is_in_the_home_cache(monkeypatch, tmp_path):
    """``~/.cache/entitune/precision.json`` unless ``ENTITUNE_CACHE_DIR`` moves it."""
    monkeypatch.delenv("ENTITUNE_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    Machine(monkeypatch, cpu=("Xeon", AMX), gpu=None, train=2.0)
    prec.choose_precision("auto", "cpu")
    assert list(json.loads((tmp_path / ".cache" / "entitune" / "precision.json").read_text()).values()) == [2.0]


# -------------------------------------------------------------------------------------------
# where the facts come from


def test_cpu_info_reads_the_first_model_name_and_flags_and_keeps_the_matrix_flags(monkeypatch):
    """From ``/proc/cpuinfo``: the first processor's model name and flags; of the flags, only the
    matrix-related ones, in a fixed order. Without the file: the platform's name and no flags."""
    text = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\n"
            "flags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni amx_tile amx_bf16\n\n"
            "processor\t: 1\nmodel name\t: Other\nflags\t\t: fpu amx_int8\n")

    class Fake:
        def __init__(self, path):
            assert str(path) == "/proc/cpuinfo"

        def read_text(self, errors=None):
            return text

    monkeypatch.setattr(prec, "Path", Fake)
    assert prec.cpu_info() == ("AMD EPYC 9R14",
                               ("amx_bf16", "amx_tile", "avx512_bf16", "avx512_vnni", "avx512f", "avx2"))

    class Missing(Fake):
        def read_text(self, errors=None):
            raise FileNotFoundError("/proc/cpuinfo")

    monkeypatch.setattr(prec, "Path", Missing)
    monkeypatch.setattr(prec.platform, "processor", lambda: "")
    monkeypatch.setattr(prec.platform, "machine", lambda: "arm64")
    assert prec.cpu_info() == ("arm64", ())


def test_width_of_configs_of_each_naming_and_an_odd_head_count():
    """BERT-style names, DistilBERT-style names, missing sizes (MiniLM's hidden, 4x hidden for the
    feed-forward), and heads that do not divide the hidden size (one head, so the probe's layer builds)."""
    of = prec.Width.of
    bert = SimpleNamespace(hidden_size=768, num_attention_heads=12, intermediate_size=3072)
    assert of(bert) == prec.Width(768, 12, 3072)
    assert of(SimpleNamespace(dim=64, n_heads=4, hidden_dim=100)) == prec.Width(64, 4, 100)
    assert of(SimpleNamespace(hidden_size=30, num_attention_heads=4)) == prec.Width(30, 1, 120)
    assert of(SimpleNamespace()) == prec.Width(384, 12, 1536)


# -------------------------------------------------------------------------------------------
# the backends


@pytest.mark.parametrize(("fast", "measured", "precision"), [(True, 2.0, "bf16"), (True, 1.1, "fp32"),
                                                             (False, 2.0, "bf16"), (False, 1.1, "fp32")])
def test_torch_scorer_auto_times_what_it_will_run(tiny_tagger_dir, monkeypatch, fast, measured, precision):
    """``TorchScorer(precision="auto")`` on a CPU with bf16 instructions: where the lean forward runs
    (``fast``), the inference probe decides and bf16 means the lean forward in bf16; where the
    model's own forward runs, the training probe (autocast over that forward) decides and bf16
    means autocast. Either probe is asked at the model's width (hidden 32, 2 heads, 64).

    Broken (the width not passed, or the purpose not switched with the path), the probe times
    MiniLM's layer or the wrong forward."""
    from entitune.backends import TorchScorer, load_model

    machine = Machine(monkeypatch, cpu=("Xeon", AMX), gpu=None, train=None if fast else measured,
                      inference=measured if fast else None)
    scorer = TorchScorer(load_model(tiny_tagger_dir), fast=fast, precision="auto")
    assert scorer.choice.precision == precision and scorer.choice.requested == "auto"
    width = prec.Width(32, 2, 64)
    if fast:
        assert machine.inference_calls == [{"width": width}] and "inference forward" in scorer.choice.reason
        assert scorer.fast.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
        assert scorer.autocast is None
    else:
        assert machine.train_calls == [{"width": width, "device": torch.device("cpu")}]
        assert scorer.fast is None and scorer.autocast == (torch.bfloat16 if precision == "bf16" else None)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_torch_scorer_keeps_a_precision_asked_for(tiny_tagger_dir, monkeypatch, precision):
    from entitune.backends import load_scorer

    Machine(monkeypatch, cpu=None, gpu=None)
    scorer = load_scorer(tiny_tagger_dir, "torch", precision=precision)
    assert scorer.choice == prec.PrecisionChoice(precision, "asked for", precision)
    assert scorer.fast.dtype == {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    with pytest.raises(ConfigError, match="precision"):
        load_scorer(tiny_tagger_dir, "torch", precision="fp16")  # a training precision, not an inference one


def test_an_onnx_export_keeps_its_own_precision(tiny_tagger_dir, tmp_path, monkeypatch):
    """An export runs in the precision it was exported in: ``--precision`` auto or bf16 consults no
    hardware and no probe, and the export scores exactly as with fp32. A GPU or a precision no
    backend runs for inference is refused for it in one line."""
    from entitune import Tagger
    from entitune.backends import OnnxScorer, backend_name, load_scorer
    from entitune.encode import collate
    from entitune.export import export_onnx

    export = export_onnx(Tagger.load(tiny_tagger_dir), tmp_path / "onnx")
    Machine(monkeypatch, cpu=None, gpu=None)
    reference = load_scorer(export, "auto", precision="fp32")
    windows = reference.word_encoder.encode([["drew", "barrymore", "in", "paris"]])
    batch = collate(windows, reference.tokenizer.pad_token_id)
    expected = reference.score_windows(batch)
    for backend in ("auto", "onnx"):
        for precision in ("auto", "bf16"):
            scorer = load_scorer(export, backend, precision=precision)
            assert isinstance(scorer, OnnxScorer) and backend_name(scorer) == "onnx"
            assert getattr(scorer, "choice", None) is None
            assert np.array_equal(scorer.score_windows(batch), expected)
    with pytest.raises(ConfigError, match="ONNX export, which runs on the CPU"):
        load_scorer(export, "auto", device="cuda", precision="auto")
    with pytest.raises(ConfigError, match="precision"):
        load_scorer(export, "onnx", precision="fp16")
