"""Encoding: words -> sub-word windows (``windows``), windows -> padded batches (``batches``: numpy
arrays for every backend; ``tensors.collate``: torch tensors, for training), batch samplers by length
or token budget (``samplers``), window scores -> per-word scores (``merge``), texts ->
classification windows (``texts``), windows -> masked-LM inputs (``masking``), a corpus -> flat
arrays of windows' sub-token ids (``store``), words as written -> shape and character ids
(``word_features``). Every task feeds the encoder these windows.

``collate`` and the masking names load torch, so they are imported on first use: inference on an
ONNX export imports this package and never torch.
"""
from __future__ import annotations

from typing import Any

from .batches import pad_batch
from .merge import merge_windows
from .store import FileRead, TokenStore, TokenStoreWriter, corpus_stores
from .samplers import length_grouped_batches, token_budget_batches
from .texts import text_windows
from .windows import IGNORE, Window, WordEncoder, build_word_encoder, special_tokens_around
from .word_features import (
    CASE_VARIES, WORD_FEATURES, CharVocabulary, WordFeaturizer, char_vocabulary, choose_word_features,
    tokenizer_lowercases, uppercase_share, word_shape,
)

#: names that load torch, by the module that defines them (imported when first asked for)
_TORCH_NAMES = {"collate": "tensors", "MaskingRule": "masking", "example_seed": "masking",
                "mask_ids": "masking", "mask_window": "masking", "maskable_units": "masking"}


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        if _TORCH_NAMES[name] == "tensors":
            from . import tensors as module
        else:
            from . import masking as module
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CASE_VARIES", "IGNORE", "WORD_FEATURES", "choose_word_features", "CharVocabulary", "MaskingRule", "Window", "WordEncoder", "WordFeaturizer",
    "build_word_encoder", "char_vocabulary", "collate", "example_seed", "length_grouped_batches",
    "mask_ids", "mask_window", "maskable_units", "FileRead", "TokenStore", "TokenStoreWriter", "corpus_stores",
    "merge_windows", "pad_batch",
    "special_tokens_around", "text_windows", "token_budget_batches", "tokenizer_lowercases", "uppercase_share",
    "word_shape",
]
