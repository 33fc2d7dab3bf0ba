"""Encoding: words -> sub-word windows (``windows``), windows -> tensor batches (``batches``), batch
samplers by length or token budget (``samplers``), and window scores -> per-word scores
(``merge``), texts -> classification windows (``texts``). Every task feeds the encoder these windows.
"""
from .batches import collate
from .merge import merge_windows
from .samplers import length_grouped_batches, token_budget_batches
from .texts import text_windows
from .windows import IGNORE, Window, WordEncoder, special_tokens_around

__all__ = [
    "IGNORE", "Window", "WordEncoder", "collate", "length_grouped_batches", "merge_windows",
    "special_tokens_around", "text_windows", "token_budget_batches",
]
