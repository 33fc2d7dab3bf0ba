"""Backends: what runs a model for the predictors. ``TorchScorer`` (a ``Tagger`` or ``Classifier``,
with the lean BERT forward of ``fastbert`` where it applies) and ``OnnxScorer`` (an ``entitune
export`` directory on onnxruntime) both implement ``predict.Scorer``; ``load_scorer`` picks one for
a directory, ``load_predictor`` wraps it in the predictor of the model's task.

This package needs no torch: an export is loaded, scored and decoded with numpy, tokenizers and
onnxruntime alone (the ``entitune[runtime]`` install). The PyTorch backend (``backends.pytorch``,
with ``precision`` and ``fastbert``) is imported only when a PyTorch model directory is loaded or
one of its names (``TorchScorer``, ``load_model``, ``resolve_device``...) is asked for; without
torch installed that is one line saying what to install. pyproject.toml's import-linter contract
"serving an export never imports torch" checks the rest of the path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..artifact.archive import model_directory
from ..artifact.layout import is_onnx_export, read_settings
from ..errors import TRAIN_INSTALL, ConfigError, check_choice
from ..options.choices import BACKENDS, DEVICES, INFERENCE_PRECISIONS
from ..predict import ClassPredictor, Predictor, Scorer
from .onnx import OnnxScorer

#: ``--backend`` values: ``auto`` is onnx for a directory holding ``model.onnx``, else torch.
#: ``--device`` values: ``auto`` is a CUDA GPU when torch sees one, else the CPU.
__all__ = ["BACKENDS", "DEVICES", "INFERENCE_PRECISIONS", "MODELS", "OnnxScorer", "PrecisionChoice", "TorchScorer",
           "as_scorer", "backend_name", "choose_precision", "load_model", "load_predictor", "load_scorer",
           "predictor_for", "resolve_device", "torch_backend"]

def torch_backend():
    """``backends.pytorch``, imported on first use; without torch or transformers, a ``ConfigError``
    saying what to install (an export needs neither: give the export's directory)."""
    try:
        from . import pytorch
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in ("torch", "transformers"):
            raise
        raise ConfigError(f"a PyTorch model needs torch and transformers, and this install has no {missing}: "
                          f"{TRAIN_INSTALL} (an ONNX export from 'entitune export' runs without them)") from None
    return pytorch


#: names of the PyTorch backend, imported when first asked for (``torch_backend``)
_TORCH_NAMES = {"TorchScorer", "MODELS", "resolve_device", "PrecisionChoice", "choose_precision"}


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        value = getattr(torch_backend(), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_scorer(path: str | Path, backend: str = "auto", threads: int | None = None, device: str = "cpu",
                precision: str = "fp32"):
    """A ``Scorer`` for a model directory: ``TorchScorer`` over ``Tagger.load`` (backend ``torch``) or
    ``OnnxScorer.load`` for an export (backend ``onnx``); ``auto`` picks ``onnx`` when the directory
    holds ``model.onnx``. ``threads``: for an export, how many batches run at once; for a PyTorch
    model, torch's intra-op threads. ``device``: auto, cpu or cuda (``resolve_device``) for the torch
    backend; an export runs on the CPU, so ``cuda`` with one is a ``ConfigError``. ``precision``:
    fp32, bf16 or auto for the torch backend (``TorchScorer``); an export keeps the precision it was
    exported in."""
    check_choice("backend", backend, BACKENDS)
    check_choice("device", device, DEVICES)
    check_choice("precision", precision, INFERENCE_PRECISIONS)
    path = model_directory(path)  # an 'entitune package' archive: its unpacked folder
    if backend == "onnx" or (backend == "auto" and is_onnx_export(path)):
        if device == "cuda":
            raise ConfigError(f"device cuda: {path} is an ONNX export, which runs on the CPU here; "
                              "give the PyTorch model directory (--backend torch) for the GPU, or --device cpu")
        return OnnxScorer.load(path, threads=threads)
    read_settings(path)  # not a model at all: say so before torch loads
    pytorch = torch_backend()
    if threads:
        pytorch.set_threads(threads)
    return pytorch.TorchScorer(load_model(path, pytorch.resolve_device(device)), precision=precision)


def load_model(path: str | Path, device: str = "cpu"):
    """The PyTorch model in a directory (or an ``entitune package`` archive): a ``Tagger`` or a
    ``Classifier``, by its task (``backends.pytorch.load_model``; loads torch)."""
    return torch_backend().load_model(path, device)


def load_predictor(path: str | Path, backend: str = "auto", batch_size: int = 32, threads: int | None = None,
                   device: str = "cpu", precision: str = "fp32") -> Predictor | ClassPredictor:
    """The predictor of a model directory's task (``Predictor`` for NER, ``ClassPredictor`` for
    classification) over ``load_scorer``."""
    return predictor_for(load_scorer(path, backend, threads, device, precision), batch_size)


def predictor_for(scorer, batch_size: int = 32) -> Predictor | ClassPredictor:
    """A scorer's predictor, by its model's task."""
    return (ClassPredictor if scorer.settings.task == "classify" else Predictor)(scorer, batch_size=batch_size)


def as_scorer(model):
    """``model`` as a ``Scorer``: a scorer is returned as is; a PyTorch model (``Tagger``,
    ``Classifier``) is wrapped in a ``TorchScorer``."""
    if isinstance(model, Scorer):
        return model
    return torch_backend().TorchScorer(model)


def backend_name(scorer) -> str:
    """``onnx`` or ``torch``: which backend a scorer runs on (for ``/info`` and reports)."""
    return "onnx" if isinstance(scorer, OnnxScorer) else "torch"
