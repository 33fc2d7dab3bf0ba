"""Encoding: words -> sub-word windows (``windows``), windows -> tensor batches (``batches``), batch
samplers by length or token budget (``samplers``), and window scores -> per-word scores
(``merge``). Task-agnostic: any task that feeds an encoder windows uses these.
"""
from .batches import collate
from .merge import merge_windows
from .samplers import length_grouped_batches, token_budget_batches
from .windows import IGNORE, Window, WordEncoder, special_tokens_around

__all__ = [
    "IGNORE", "Window", "WordEncoder", "collate", "length_grouped_batches", "merge_windows",
    "special_tokens_around", "token_budget_batches",
]
