"""Recipes: one function per user verb, what both the CLI and Python users call. Each reads top to
bottom from a config (or keyword options) to files and a result; the CLI only turns flags into
their arguments.

>>> from entitune.recipes import FinetuneConfig, finetune          # doctest: +SKIP
>>> finetune(FinetuneConfig(train="engtrain.bio", out="runs/movie", epochs=1))  # doctest: +SKIP
"""
from .console import Console, prepare_process, report_error
from .data_tools import convert, doctor, split
from .finetune import DEVICES, FinetuneConfig, FinetuneResult, finetune
from .inference import OUTPUTS, evaluate_file, export_model, parse_input_line, predict_lines, serve

__all__ = [
    "DEVICES", "OUTPUTS", "Console", "FinetuneConfig", "FinetuneResult", "convert", "doctor", "evaluate_file",
    "export_model", "finetune", "parse_input_line", "predict_lines", "prepare_process", "report_error", "serve", "split",
]
