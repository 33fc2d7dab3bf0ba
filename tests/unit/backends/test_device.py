"""``--device``: ``auto`` picks a GPU only when torch sees one, ``cuda`` without one is a clear
``ConfigError``, and the device reaches the loaded model. Checked on the CPU by faking what torch
reports."""
from __future__ import annotations

import pytest
import torch

from entitune import backends
from entitune.backends import load_scorer, resolve_device
from entitune.errors import ConfigError


def test_auto_is_cuda_only_when_torch_sees_a_gpu(monkeypatch):
    """Broken: auto chose cuda on a CPU-only machine (a crash at load), or ignored a visible GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert (resolve_device("auto"), resolve_device("cpu")) == ("cpu", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert (resolve_device("auto"), resolve_device("cuda"), resolve_device("cpu")) == ("cuda", "cuda", "cpu")


@pytest.mark.parametrize(("build", "why"), [(None, "is a CPU-only build"), ("12.4", "torch sees no CUDA GPU")])
def test_cuda_without_a_gpu_says_why(monkeypatch, build, why):
    """``cuda`` without a GPU names the cause (a CPU-only torch, or no visible GPU) and the way out.
    Broken: torch's "Torch not compiled with CUDA enabled" traceback at the first tensor move."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", build)
    with pytest.raises(ConfigError, match=f"device cuda: .*{why}.*; use --device cpu"):
        resolve_device("cuda")


def test_bad_device_is_refused():
    """Broken: a typo (``gpu``) silently ran on the CPU."""
    with pytest.raises(ConfigError, match="device must be one of auto, cpu, cuda, got 'gpu'"):
        resolve_device("gpu")


def test_load_scorer_puts_the_model_on_the_resolved_device(monkeypatch, tiny_tagger_dir):
    """``load_scorer(device="auto")`` loads onto cuda when torch sees a GPU, onto the CPU otherwise.
    Broken: the device option never reached the model (a GPU machine predicted on its CPU)."""
    seen = []
    monkeypatch.setattr(backends, "load_model",
                        lambda path, device: seen.append(device) or backends.MODELS["ner"].load(path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    load_scorer(tiny_tagger_dir, "torch", device="auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    load_scorer(tiny_tagger_dir, "torch", device="auto")
    assert seen == ["cuda", "cpu"]


def test_cuda_with_an_onnx_export_is_refused(tmp_path):
    """An export runs on onnxruntime's CPU provider here: ``cuda`` says so before loading. Broken:
    the flag was silently ignored and the user thought the GPU was used."""
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(ConfigError, match="is an ONNX export, which runs on the CPU"):
        load_scorer(tmp_path, "auto", device="cuda")
