"""Encoding: words -> sub-word windows (``windows``), windows -> tensor batches (``batches``), batch
samplers by length or token budget (``samplers``), and window scores -> per-word scores
(``merge``), texts -> classification windows (``texts``), windows -> masked-LM inputs (``masking``),
words as written -> shape and character ids (``word_features``). Every task feeds the encoder these windows.
"""
from .batches import collate
from .masking import MaskingRule, example_seed, mask_window, maskable_units
from .merge import merge_windows
from .samplers import length_grouped_batches, token_budget_batches
from .texts import text_windows
from .windows import IGNORE, Window, WordEncoder, special_tokens_around
from .word_features import (
    CASE_VARIES, WORD_FEATURES, CharVocabulary, WordFeaturizer, char_vocabulary, choose_word_features,
    tokenizer_lowercases, uppercase_share, word_shape,
)

__all__ = [
    "CASE_VARIES", "IGNORE", "WORD_FEATURES", "choose_word_features", "CharVocabulary", "MaskingRule", "Window", "WordEncoder", "WordFeaturizer",
    "char_vocabulary", "collate", "example_seed", "length_grouped_batches",
    "mask_window", "maskable_units", "merge_windows",
    "special_tokens_around", "text_windows", "token_budget_batches", "tokenizer_lowercases", "uppercase_share",
    "word_shape",
]
