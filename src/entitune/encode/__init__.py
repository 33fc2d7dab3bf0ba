"""Encoding: words -> sub-word windows (``windows``), windows -> tensor batches (``batches``), batch
samplers by length or token budget (``samplers``), and window scores -> per-word scores
(``merge``), texts -> classification windows (``texts``), windows -> masked-LM inputs (``masking``), a
corpus -> flat arrays of windows' sub-token ids (``store``), words as written -> shape and character ids (``word_features``). Every task feeds the encoder these windows.
"""
from .batches import collate
from .masking import MaskingRule, example_seed, mask_ids, mask_window, maskable_units
from .merge import merge_windows
from .store import FileRead, TokenStore, TokenStoreWriter, corpus_stores
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
    "mask_ids", "mask_window", "maskable_units", "FileRead", "TokenStore", "TokenStoreWriter", "corpus_stores", "merge_windows",
    "special_tokens_around", "text_windows", "token_budget_batches", "tokenizer_lowercases", "uppercase_share",
    "word_shape",
]
