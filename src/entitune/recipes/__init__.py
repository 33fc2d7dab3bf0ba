"""Recipes: one function per user verb, what both the command line and Python users call. Each takes
the verb's config object (``entitune.options``: declared once, checked by one gate) and reads top to
bottom from it to files and a result. The command line (``entitune.cli``) only turns flags into
that config.

The recipe functions are imported on first use, each from its module: ``predict``, ``evaluate`` and
``serve`` on an ONNX export (``inference``) need no torch, and importing this package loads none.

>>> from entitune.recipes import FinetuneConfig, finetune          # doctest: +SKIP
>>> finetune(FinetuneConfig(train="engtrain.bio", out="runs/movie", epochs=1))  # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import Any

from ..options import (CLASSIFY_PROBE_EPOCHS, DEVICES, ConvertConfig, DoctorConfig, EvaluateConfig, ExportConfig,
                       FinetuneConfig, PackageConfig, PredictConfig, PretrainConfig, ReportConfig, ServeConfig,
                       SplitConfig, TuneConfig, VocabExtendConfig, VocabPlanConfig, parse_shard)
from ..options.choices import OUTPUTS
from ..terminal import Console, prepare_process, report_error

#: recipe name -> the module of this package that defines it (imported when first asked for)
_RECIPES = {
    "convert": "data_tools", "doctor": "data_tools", "split": "data_tools",
    "answer_lines": "inference", "evaluate": "inference", "evaluate_file": "inference", "parse_input_line": "inference",
    "parse_input_record": "inference", "predict": "inference", "predict_lines": "inference", "serve": "inference",
    "export": "exporting", "export_model": "exporting",
    "package": "packaging", "pretrain": "pretraining", "report": "run_report",
    "FinetuneResult": "training", "finetune": "training",
    "vocab_extend": "vocab", "vocab_plan": "vocab",
}


def tune(config: TuneConfig, console: Console | None = None):
    """``recipes.tuning.tune``: imported when called, since Optuna is an optional extra (without it,
    one line says how to install it)."""
    from .tuning import tune as search

    return search(config, console)


def __getattr__(name: str) -> Any:
    if name in _RECIPES:
        value = getattr(importlib.import_module(f".{_RECIPES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_RECIPES])


__all__ = [
    "CLASSIFY_PROBE_EPOCHS", "DEVICES", "OUTPUTS", "Console", "ConvertConfig", "DoctorConfig", "EvaluateConfig",
    "ExportConfig", "FinetuneConfig", "FinetuneResult", "PackageConfig", "PredictConfig", "PretrainConfig",
    "ReportConfig", "ServeConfig", "SplitConfig", "TuneConfig", "VocabExtendConfig", "VocabPlanConfig",
    "answer_lines", "convert", "doctor", "evaluate", "evaluate_file", "export", "export_model", "finetune", "package",
    "parse_input_line", "parse_input_record", "parse_shard", "predict", "predict_lines", "prepare_process", "pretrain",
    "report", "report_error", "serve", "split", "tune", "vocab_extend", "vocab_plan",
]
