"""entitune: fine-tune BERT-family encoders for named entity recognition, evaluate, predict, serve.

The public API, loaded on first use (so ``import entitune.tags`` or ``entitune.data`` stays light)::

    import entitune
    predictor = entitune.load("runs/movie")                     # doctest: +SKIP
    predictor.predict(["films with drew barrymore"])            # doctest: +SKIP

    from entitune.recipes import FinetuneConfig, finetune       # what 'entitune train' runs
    finetune(FinetuneConfig(train="engtrain.bio", out="runs/movie"))  # doctest: +SKIP

The package reads bottom to top: ``types``/``errors`` -> ``files``/``terminal``/``report`` -> ``tags``
-> ``data`` -> ``options`` -> ``artifact``/``encode``/``serve`` -> ``vocab``/``decoding`` -> ``model`` ->
``predict`` -> ``backends`` -> ``evaluate`` -> ``train`` -> ``export``/``curate`` -> ``recipes`` -> ``cli``; each
layer imports only from the layers below it (``lint-imports`` checks the contract in pyproject.toml).
"""
from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

#: public name -> module that defines it
_EXPORTS = {
    "ConfigError": "errors", "DataFormatError": "errors", "EntituneError": "errors", "ExportError": "errors",
    "TagSchemeError": "errors",
    "Entity": "types", "Prediction": "types", "Sentence": "types", "Span": "types", "Tagged": "types",
    "label_set": "tags",
    "Dataset": "data", "load_annotated": "data", "split_dev": "data",
    "Tagger": "model.tagger", "TaggerSettings": "artifact.settings", "default_encoder_dir": "artifact.model_dir",
    "Classifier": "model.classifier", "ClassifierSettings": "artifact.settings",
    "Predictor": "predict", "Scorer": "predict", "ClassPredictor": "predict", "Classification": "types",
    "TextExample": "types", "read_texts": "data",
    "OnnxScorer": "backends", "TorchScorer": "backends", "load_scorer": "backends",
    "TrainConfig": "train", "TrainResult": "train", "fit": "train",
    "FinetuneConfig": "options", "PretrainConfig": "options", "FinetuneResult": "recipes", "finetune": "recipes",
    "pretrain": "recipes",
}

__all__ = ["__version__", "load", *sorted(_EXPORTS)]


def load(path: str, backend: str = "auto", batch_size: int = 32, threads: int | None = None, device: str = "cpu",
         precision: str = "fp32"):
    """The predictor of a saved model or an ONNX export (``backend``: auto, torch or onnx): a
    ``Predictor`` for a tagger, a ``ClassPredictor`` for a classifier; both have ``predict``, its
    lazy form ``stream``, and ``evaluate`` (a labelled file scored as ``entitune evaluate`` scores it).
    ``precision``: fp32 (the scoring rule's, the default), bf16 or auto (bf16 where the hardware runs
    it fast)."""
    from .evaluate.loaded import load as load_predictor

    return load_predictor(path, backend, batch_size, threads, device, precision)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'entitune' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
