"""``--precision auto``: what it picks on each kind of hardware, the probe cache, and the bf16
inference path. The hardware is simulated (CPU flags, the probe's speed-up, a CUDA capability), so
these run on any machine."""
from __future__ import annotations

import json

import pytest
import torch

from entitune.backends import precision as prec
from entitune.errors import ConfigError

AMX = ("amx_bf16", "amx_tile", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")
EPYC = ("avx512_bf16", "avx512_vnni", "avx512f", "avx2")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ENTITUNE_CACHE_DIR", str(tmp_path))
    return tmp_path / "precision.json"


def fake_cpu(monkeypatch, model, flags, speedup=None):
    calls = []
    monkeypatch.setattr(prec, "cpu_info", lambda: (model, flags))

    def probe(**kwargs):
        calls.append(kwargs)
        return speedup

    monkeypatch.setattr(prec, "probe_speedup", probe)
    return calls


def test_asked_for_is_kept():
    assert prec.choose_precision("bf16", "cpu") == prec.PrecisionChoice("bf16", "asked for", "bf16")
    assert prec.choose_precision("fp32", "cpu").precision == "fp32"


def test_unknown_value_is_one_line_error():
    with pytest.raises(ConfigError, match="precision"):
        prec.choose_precision("int4", "cpu")


def test_cpu_without_bf16_instructions_is_fp32_without_a_probe(monkeypatch, cache):
    calls = fake_cpu(monkeypatch, "Old Xeon", ("avx2",), speedup=9.0)
    choice = prec.choose_precision("auto", "cpu")
    assert choice.precision == "fp32" and "no bf16" in choice.reason and not calls


@pytest.mark.parametrize(("speedup", "expected"), [(1.6, "bf16"), (1.1, "fp32")])
def test_epyc_with_avx512_bf16_is_probed_for_training(monkeypatch, cache, speedup, expected):
    """A CPU with AVX512-BF16 but no AMX (this project's EPYC: probe 1.6x, MIT Movie 1 epoch 47.4 s
    in bf16 against 72-75 s in fp32) trains in bf16 exactly when its probe says so.

    Breaking it looks like: such a CPU never gets bf16 whatever it measures, or gets it untimed."""
    calls = fake_cpu(monkeypatch, "AMD EPYC", EPYC, speedup=speedup)
    choice = prec.choose_precision("auto", "cpu")
    assert choice.precision == expected and len(calls) == 1
    assert "avx512_bf16" in choice.reason and "training step" in choice.reason


@pytest.mark.parametrize(("flags", "speedup", "expected"), [
    (EPYC, 1.5, "bf16"), (EPYC, 1.1, "fp32"), (AMX, 3.0, "bf16"), (("avx512_vnni", "avx2"), 9.0, "fp32")])
def test_inference_probes_cpus_with_bf16_instructions(monkeypatch, cache, flags, speedup, expected):
    """For inference, avx512_bf16 is enough to be a candidate (the lean bf16 forward measured 1.5x on
    such an EPYC), and the inference probe decides; a CPU with no bf16 instructions is never probed.

    Breaking it looks like: an EPYC that multiplies bf16 natively predicts in fp32 (the training rule),
    or one whose probe says no still gets bf16."""
    calls = []
    monkeypatch.setattr(prec, "cpu_info", lambda: ("Some CPU", flags))
    monkeypatch.setattr(prec, "probe_inference_speedup", lambda **kw: calls.append(kw) or speedup)
    monkeypatch.setattr(prec, "probe_speedup", lambda **kw: pytest.fail("the training probe ran for inference"))
    choice = prec.choose_precision("auto", "cpu", purpose="inference")
    assert choice.precision == expected
    if "avx512_bf16" in flags:
        assert len(calls) == 1 and "inference forward" in choice.reason and f"{speedup:.2f}x" in choice.reason
    else:
        assert not calls and "no bf16" in choice.reason


def test_inference_and_training_probes_are_cached_apart(monkeypatch, cache):
    monkeypatch.setattr(prec, "cpu_info", lambda: ("Xeon AMX", AMX))
    monkeypatch.setattr(prec, "probe_speedup", lambda **kw: 1.1)
    monkeypatch.setattr(prec, "probe_inference_speedup", lambda **kw: 2.0)
    assert prec.choose_precision("auto", "cpu").precision == "fp32"
    assert prec.choose_precision("auto", "cpu", purpose="inference").precision == "bf16"
    keys = json.loads(cache.read_text())
    assert len(keys) == 2 and sum(k.endswith("|inference") for k in keys) == 1
    with pytest.raises(ConfigError, match="purpose"):
        prec.choose_precision("auto", "cpu", purpose="serving")


def test_amx_cpu_gets_bf16_when_the_probe_agrees_and_caches_it(monkeypatch, cache):
    calls = fake_cpu(monkeypatch, "Intel Xeon Platinum", AMX, speedup=2.4)
    first = prec.choose_precision("auto", "cpu")
    second = prec.choose_precision("auto", "cpu")
    assert first.precision == second.precision == "bf16"
    assert "2.40x" in first.reason
    assert len(calls) == 1, "the probe runs once per machine; then the cache answers"
    assert calls[0]["width"] == prec.Width() and calls[0]["device"].type == "cpu"
    stored = json.loads(cache.read_text())
    assert list(stored.values()) == [2.4] and "Intel Xeon Platinum" in next(iter(stored))


def test_amx_cpu_whose_probe_disagrees_stays_fp32(monkeypatch, cache):
    fake_cpu(monkeypatch, "Intel Xeon (throttled)", AMX, speedup=1.1)
    choice = prec.choose_precision("auto", "cpu")
    assert choice.precision == "fp32" and "1.10x" in choice.reason


def test_a_damaged_cache_is_measured_again(monkeypatch, cache):
    cache.write_text("{not json")
    calls = fake_cpu(monkeypatch, "Intel Xeon", AMX, speedup=3.0)
    assert prec.choose_precision("auto", "cpu").precision == "bf16" and len(calls) == 1


def test_no_probe_decides_from_flags(monkeypatch, cache):
    calls = fake_cpu(monkeypatch, "Intel Xeon", AMX, speedup=0.5)
    assert prec.choose_precision("auto", "cpu", probe=False).precision == "bf16" and not calls


@pytest.mark.parametrize(("capability", "speedup", "expected"),
                         [((9, 0), 1.8, "bf16"), ((9, 0), 0.5, "fp32"), ((8, 0), 1.4, "bf16"), ((7, 5), 9.0, "fp32")])
def test_cuda_by_compute_capability_and_probe(monkeypatch, cache, capability, speedup, expected):
    """A GPU with bf16 tensor cores still gets fp32 when a step of the model's width is not faster
    in bf16 (a small model on an H200); breaking it looks like bf16 for every Ampere+ GPU."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some GPU")
    calls = []
    monkeypatch.setattr(prec, "probe_speedup", lambda **kw: calls.append(kw) or speedup)
    choice = prec.choose_precision("auto", "cuda", width=prec.Width(768, 12, 3072))
    assert choice.precision == expected and f"{capability[0]}.{capability[1]}" in choice.reason
    if capability >= (8, 0):
        assert calls[0]["width"] == prec.Width(768, 12, 3072) and calls[0]["device"].type == "cuda"
    else:
        assert not calls


def test_the_cache_keeps_widths_apart(monkeypatch, cache):
    speedups = iter([2.0, 1.0])
    monkeypatch.setattr(prec, "cpu_info", lambda: ("Intel Xeon", AMX))
    monkeypatch.setattr(prec, "probe_speedup", lambda **kw: next(speedups))
    assert prec.choose_precision("auto", "cpu", width=prec.Width(1024, 16, 4096)).precision == "bf16"
    assert prec.choose_precision("auto", "cpu", width=prec.Width(384, 12, 1536)).precision == "fp32"
    assert prec.choose_precision("auto", "cpu", width=prec.Width(1024, 16, 4096)).precision == "bf16"


def test_width_of_configs(tiny_bert):
    from transformers import AutoConfig, DistilBertConfig

    assert prec.Width.of(AutoConfig.from_pretrained(tiny_bert)) == prec.Width(32, 2, 64)
    assert prec.Width.of(DistilBertConfig(dim=64, n_heads=4, hidden_dim=128)) == prec.Width(64, 4, 128)


@pytest.mark.parametrize("probe", ["probe_speedup", "probe_inference_speedup"])
def test_probe_measures_something_and_keeps_the_random_stream(probe):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    speedup = getattr(prec, probe)(rounds=1, width=prec.Width(32, 2, 64))
    assert speedup > 0 and torch.equal(torch.rand(3), expected)


def test_cpu_info_reads_this_machine():
    model, flags = prec.cpu_info()
    assert isinstance(model, str) and all(isinstance(f, str) for f in flags)


@pytest.mark.parametrize("fast", [True, False])
def test_bf16_inference_runs_the_encoder_in_bf16_and_keeps_tags_close(tiny_tagger_dir, fast):
    """A bf16 scorer runs the lean forward with bf16 matmuls (or, with ``fast=False``, the model's
    own forward under autocast) and gives float32 scores close to fp32's, with the same tags."""
    from entitune import Predictor, TorchScorer
    from entitune.backends import load_model, load_scorer
    from entitune.encode import collate

    fp32 = load_scorer(tiny_tagger_dir, "torch", precision="fp32")
    bf16 = TorchScorer(load_model(tiny_tagger_dir), fast=fast, precision="bf16")
    assert fp32.fast is not None and fp32.fast.dtype == torch.float32
    if fast:
        assert bf16.fast is not None and bf16.fast.dtype == torch.bfloat16 and bf16.autocast is None
    else:
        assert bf16.fast is None and bf16.autocast is torch.bfloat16
    sentences = [["drew", "barrymore", "in", "the", "1980s"], ["show", "me", "films"]]
    batch = collate(fp32.word_encoder.encode(sentences), fp32.tokenizer.pad_token_id)
    a, b = (torch.as_tensor(s.score_windows(batch)) for s in (fp32, bf16))  # numpy out
    assert b.dtype == torch.float32 and a.shape == b.shape
    assert not torch.equal(a, b), "bf16 must really run in bf16"
    assert torch.allclose(a, b, atol=0.1), (a - b).abs().max()
    assert [t.tags for t in Predictor(bf16).tag(sentences)] == [t.tags for t in Predictor(fp32).tag(sentences)]


def test_bf16_lean_forward_matches_transformers_in_bf16_closely():
    """``BertFastPath(dtype=bf16)`` against ``transformers``' fp32 forward on a random small BERT:
    the hidden states agree to bf16 precision, and padding is still removed exactly (a padded
    sentence scores as it does alone)."""
    from transformers import BertConfig, BertModel

    from entitune.backends.fastbert import BertFastPath

    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=100, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                                 num_hidden_layers=2), add_pooling_layer=False).eval()
    ids = torch.randint(1, 100, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.inference_mode():
        ref = model(input_ids=ids, attention_mask=mask).last_hidden_state
        low = BertFastPath(model, torch.bfloat16)(ids, mask)
        alone = BertFastPath(model, torch.bfloat16)(ids[1:2, :6], mask[1:2, :6])
    real = mask.bool()
    assert low.dtype == torch.float32
    assert torch.allclose(low[real], ref[real], atol=0.1), (low[real] - ref[real]).abs().max()
    assert not torch.equal(low[real], ref[real])
    assert torch.allclose(low[1, :6], alone[0], atol=1e-2)


def test_bad_precision_for_loading_is_refused(tiny_tagger_dir):
    from entitune.backends import load_scorer

    with pytest.raises(ConfigError, match="precision"):
        load_scorer(tiny_tagger_dir, "torch", precision="fp8")
