"""Backends: what runs a model for the predictors. ``TorchScorer`` (a ``Tagger`` or ``Classifier``,
with the lean BERT forward of ``fastbert`` where it applies) and ``OnnxScorer`` (an ``entitune
export`` directory on onnxruntime) both implement ``predict.Scorer``; ``load_scorer`` picks one for
a directory, ``load_predictor`` wraps it in the predictor of the model's task.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ConfigError, check_choice
from ..artifact import model_dir
from ..artifact.archive import model_directory
from ..model.classifier import Classifier
from ..model.encoder_model import EncoderModel
from ..model.tagger import Tagger
from ..predict import ClassPredictor, Predictor
from .onnx import OnnxScorer
from .precision import INFERENCE_PRECISIONS, PrecisionChoice, choose_precision
from .pytorch import TorchScorer

#: ``--backend`` values: ``auto`` is onnx for a directory holding ``model.onnx``, else torch.
BACKENDS = ("auto", "torch", "onnx")
#: ``--device`` values: ``auto`` is a CUDA GPU when torch sees one, else the CPU.
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> str:
    """``cpu`` or ``cuda``: ``auto`` is ``cuda`` when torch sees a GPU; ``cuda`` without one is a
    ``ConfigError`` saying why (a CPU-only build of torch, or no visible GPU), not a traceback later.

    >>> resolve_device("cpu")
    'cpu'
    """
    check_choice("device", device, DEVICES)
    if device == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        why = (f"this torch ({torch.__version__}) is a CPU-only build" if torch.version.cuda is None
               else "torch sees no CUDA GPU (check CUDA_VISIBLE_DEVICES and the driver)")
        raise ConfigError(f"device cuda: {why}; use --device cpu, or auto (a GPU when there is one)")
    return "cuda" if available else "cpu"


def load_scorer(path: str | Path, backend: str = "auto", threads: int | None = None, device: str = "cpu",
                precision: str = "fp32"):
    """A ``Scorer`` for a model directory: ``TorchScorer`` over ``Tagger.load`` (backend ``torch``) or
    ``OnnxScorer.load`` for an export (backend ``onnx``); ``auto`` picks ``onnx`` when the directory
    holds ``model.onnx``. ``threads``: for an export, how many batches run at once. ``device``: auto,
    cpu or cuda (``resolve_device``) for the torch backend; an export runs on the CPU, so ``cuda``
    with one is a ``ConfigError``. ``precision``: fp32, bf16 or auto for the torch backend (``TorchScorer``);
    an export keeps the precision it was exported in."""
    check_choice("backend", backend, BACKENDS)
    check_choice("device", device, DEVICES)
    check_choice("precision", precision, INFERENCE_PRECISIONS)
    path = model_directory(path)  # an 'entitune package' archive: its unpacked folder
    if backend == "onnx" or (backend == "auto" and model_dir.is_onnx_export(path)):
        if device == "cuda":
            raise ConfigError(f"device cuda: {path} is an ONNX export, which runs on the CPU here; "
                              "give the PyTorch model directory (--backend torch) for the GPU, or --device cpu")
        return OnnxScorer.load(path, threads=threads)
    return TorchScorer(load_model(path, resolve_device(device)), precision=precision)


def load_model(path: str | Path, device: str = "cpu") -> EncoderModel:
    """The PyTorch model in a directory (or an ``entitune package`` archive): a ``Tagger`` or a
    ``Classifier``, by its task."""
    path = model_directory(path)
    settings, _ = model_dir.read_settings(path)
    return MODELS[settings.task].load(path, device=device)


def load_predictor(path: str | Path, backend: str = "auto", batch_size: int = 32, threads: int | None = None,
                   device: str = "cpu", precision: str = "fp32") -> Predictor | ClassPredictor:
    """The predictor of a model directory's task (``Predictor`` for NER, ``ClassPredictor`` for
    classification) over ``load_scorer``."""
    return predictor_for(load_scorer(path, backend, threads, device, precision), batch_size)


def predictor_for(scorer, batch_size: int = 32) -> Predictor | ClassPredictor:
    """A scorer's predictor, by its model's task."""
    return (ClassPredictor if scorer.settings.task == "classify" else Predictor)(scorer, batch_size=batch_size)


def as_scorer(model):
    """``model`` as a ``Scorer``: a PyTorch model is wrapped in a ``TorchScorer``; a scorer is returned as is."""
    return TorchScorer(model) if isinstance(model, EncoderModel) else model


#: the PyTorch model class of each task
MODELS = {"ner": Tagger, "classify": Classifier}


def backend_name(scorer) -> str:
    """``onnx`` or ``torch``: which backend a scorer runs on (for ``/info`` and reports)."""
    return "onnx" if isinstance(scorer, OnnxScorer) else "torch"


__all__ = ["BACKENDS", "DEVICES", "INFERENCE_PRECISIONS", "MODELS", "OnnxScorer", "PrecisionChoice", "TorchScorer",
           "as_scorer", "backend_name", "choose_precision", "load_model", "load_predictor", "load_scorer",
           "predictor_for", "resolve_device"]
