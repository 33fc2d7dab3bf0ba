"""Backends: what runs a model for ``Predictor``. ``TorchScorer`` (a ``Tagger``, with the lean BERT
forward of ``fastbert`` where it applies) and ``OnnxScorer`` (an ``entitune export`` directory on
onnxruntime) both implement ``predict.Scorer``; ``load_scorer`` picks one for a directory.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import check_choice
from ..model import model_dir
from ..model.tagger import Tagger
from .onnx import OnnxScorer
from .pytorch import TorchScorer

#: ``--backend`` values: ``auto`` is onnx for a directory holding ``model.onnx``, else torch.
BACKENDS = ("auto", "torch", "onnx")


def load_scorer(path: str | Path, backend: str = "auto", threads: int | None = None, device: str = "cpu"):
    """A ``Scorer`` for a model directory: ``TorchScorer`` over ``Tagger.load`` (backend ``torch``) or
    ``OnnxScorer.load`` for an export (backend ``onnx``); ``auto`` picks ``onnx`` when the directory
    holds ``model.onnx``. ``threads``: for an export, how many batches run at once."""
    check_choice("backend", backend, BACKENDS)
    if backend == "onnx" or (backend == "auto" and model_dir.is_onnx_export(path)):
        return OnnxScorer.load(path, threads=threads)
    return TorchScorer(Tagger.load(path, device=device))


def as_scorer(model):
    """``model`` as a ``Scorer``: a ``Tagger`` is wrapped in a ``TorchScorer``; a scorer is returned as is."""
    return TorchScorer(model) if isinstance(model, Tagger) else model


def backend_name(scorer) -> str:
    """``onnx`` or ``torch``: which backend a scorer runs on (for ``/info`` and reports)."""
    return "onnx" if isinstance(scorer, OnnxScorer) else "torch"


__all__ = ["BACKENDS", "OnnxScorer", "TorchScorer", "as_scorer", "backend_name", "load_scorer"]
