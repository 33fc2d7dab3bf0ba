"""Recipes: one function per user verb, what both the CLI and Python users call. Each reads top to
bottom from a config (or keyword options) to files and a result; the CLI only turns flags into
their arguments.

Names load lazily (PEP 562): ``import entitune.recipes`` and ``FinetuneConfig`` import no torch, so
the command line starts, answers ``--help`` and refuses bad input files before the heavy libraries
load; a verb's module loads when the verb runs.

>>> from entitune.recipes import FinetuneConfig, finetune          # doctest: +SKIP
>>> finetune(FinetuneConfig(train="engtrain.bio", out="runs/movie", epochs=1))  # doctest: +SKIP
"""
from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .common import input_path
from .console import Console, prepare_process, report_error
from .options import CLASSIFY_PROBE_EPOCHS, DEVICES, FinetuneConfig
from .pretrain_options import PretrainConfig

_LAZY = {
    "convert": "data_tools", "doctor": "data_tools", "split": "data_tools",
    "FinetuneResult": "finetune", "finetune": "finetune",
    "OUTPUTS": "inference", "answer_lines": "inference", "evaluate_file": "inference", "export_model": "inference",
    "parse_input_line": "inference", "parse_input_record": "inference", "parse_shard": "inference",
    "predict_lines": "inference", "serve": "inference",
    "package": "packaging",
    "pretrain": "pretrain",
    "report": "run_report",
    "TuneConfig": "tuning", "TuneResult": "tuning", "tune": "tuning",
    "vocab_extend": "vocab", "vocab_plan": "vocab",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        # importing a module binds the modules it loads as attributes of this package, and some
        # share their verb's name (finetune.py, pretrain.py): give those names their verbs back
        for verb, module in _LAZY.items():
            if verb == module and isinstance(globals().get(verb), ModuleType):
                globals()[verb] = getattr(globals()[verb], verb)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Recipes(ModuleType):
    """This package, whose attributes named like a verb's module (finetune, pretrain) stay the verb:
    the import system binds a submodule to its package once it is loaded (``from .finetune import
    run_task`` in another recipe, a doctest collector), which would hide the function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and _LAZY.get(name) == name and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Recipes


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .data_tools import convert, doctor, split
    from .finetune import FinetuneResult, finetune
    from .inference import (OUTPUTS, answer_lines, evaluate_file, export_model, parse_input_line, parse_input_record, parse_shard,
                            predict_lines, serve)
    from .packaging import package
    from .pretrain import pretrain
    from .run_report import report
    from .tuning import TuneConfig, TuneResult, tune
    from .vocab import vocab_extend, vocab_plan

__all__ = [
    "CLASSIFY_PROBE_EPOCHS", "DEVICES", "OUTPUTS", "Console", "FinetuneConfig", "FinetuneResult", "answer_lines", "convert", "doctor", "evaluate_file",
    "export_model", "finetune", "input_path", "parse_input_line", "parse_input_record", "parse_shard", "package", "predict_lines",
    "prepare_process", "PretrainConfig", "pretrain", "report_error", "report", "serve", "split", "TuneConfig", "TuneResult", "tune",
    "vocab_extend", "vocab_plan",
]
