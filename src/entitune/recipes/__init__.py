"""Recipes: one function per user verb, what both the command line and Python users call. Each takes
the verb's config object (``entitune.options``: declared once, checked by one gate) and reads top to
bottom from it to files and a result. The command line (``entitune.cli``) only turns flags into
that config.

>>> from entitune.recipes import FinetuneConfig, finetune          # doctest: +SKIP
>>> finetune(FinetuneConfig(train="engtrain.bio", out="runs/movie", epochs=1))  # doctest: +SKIP
"""
from __future__ import annotations

from ..options import (CLASSIFY_PROBE_EPOCHS, DEVICES, ConvertConfig, DoctorConfig, EvaluateConfig, ExportConfig,
                       FinetuneConfig, PackageConfig, PredictConfig, PretrainConfig, ReportConfig, ServeConfig,
                       SplitConfig, TuneConfig, VocabExtendConfig, VocabPlanConfig, parse_shard)
from ..options.choices import OUTPUTS
from ..terminal import Console, prepare_process, report_error
from .data_tools import convert, doctor, split
from .inference import (answer_lines, evaluate, evaluate_file, export, export_model, parse_input_line,
                        parse_input_record, predict, predict_lines, serve)
from .packaging import package
from .pretraining import pretrain
from .run_report import report
from .training import FinetuneResult, finetune
from .vocab import vocab_extend, vocab_plan


def tune(config: TuneConfig, console: Console | None = None):
    """``recipes.tuning.tune``: imported when called, since Optuna is an optional extra (without it,
    one line says how to install it)."""
    from .tuning import tune as search

    return search(config, console)


__all__ = [
    "CLASSIFY_PROBE_EPOCHS", "DEVICES", "OUTPUTS", "Console", "ConvertConfig", "DoctorConfig", "EvaluateConfig",
    "ExportConfig", "FinetuneConfig", "FinetuneResult", "PackageConfig", "PredictConfig", "PretrainConfig",
    "ReportConfig", "ServeConfig", "SplitConfig", "TuneConfig", "VocabExtendConfig", "VocabPlanConfig",
    "answer_lines", "convert", "doctor", "evaluate", "evaluate_file", "export", "export_model", "finetune", "package",
    "parse_input_line", "parse_input_record", "parse_shard", "predict", "predict_lines", "prepare_process", "pretrain",
    "report", "report_error", "serve", "split", "tune", "vocab_extend", "vocab_plan",
]
