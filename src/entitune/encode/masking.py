"""Masked-LM inputs: which sub-tokens of a window the model must predict, and what it reads there.

BERT's rule (``MaskingRule``): each maskable sub-token is chosen with probability ``p`` (15%); with
whole-word masking each word is chosen with ``p`` and all of its sub-tokens go with it, so the
expected share of chosen sub-tokens is ``p`` either way. Of the chosen sub-tokens 80% read the mask
token, 10% a random token (uniform over the vocabulary without its special tokens) and 10% stay as
they are. Special tokens ([CLS], [SEP], [UNK]...) and padding are never chosen. Labels hold the
original id at every chosen position and -100 elsewhere.

Dynamic but reproducible: the draws for one window come from a ``torch.Generator`` seeded by
``example_seed(seed, stream, epoch, window index)`` alone (not by the batch the window lands in, the
process that collates it, or anything drawn before), so each epoch masks anew, and a resumed or a
distributed run masks exactly as one uninterrupted process. Every window draws the same amount of
random numbers whatever it picks, so one draw never shifts the next.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from ..errors import ConfigError
from .windows import IGNORE, Window

#: shares of the chosen sub-tokens that read the mask token, and a random token (the rest: themselves)
MASK_SHARE, RANDOM_SHARE = 0.8, 0.1
_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def example_seed(*keys: int) -> int:
    """A 63-bit seed that depends on every key and their order (splitmix64 chained); the same on
    every platform and Python version (no ``hash``).

    >>> example_seed(42, 0, 1, 7) == example_seed(42, 0, 1, 7), example_seed(42, 0, 1, 7) == example_seed(42, 0, 2, 7)
    (True, False)
    """
    h = 0
    for key in keys:
        h = _splitmix64(h ^ (key & _MASK64))
    return h >> 1


@dataclass(frozen=True, eq=False)  # eq=False: it holds a tensor
class MaskingRule:
    """How windows are masked: ``probability`` of choosing a sub-token (or a word, with
    ``whole_word``), the ``mask_id``, and the ids a random replacement is drawn from (1-D long tensor)."""

    mask_id: int
    replacement_ids: torch.Tensor
    special_ids: frozenset[int]
    probability: float = 0.15
    whole_word: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.probability < 1.0:
            raise ConfigError(f"mlm_probability must be between 0 and 1, got {self.probability}")

    @classmethod
    def for_tokenizer(cls, tokenizer, vocab_size: int, probability: float = 0.15, whole_word: bool = False,
                      name: str = "the model") -> "MaskingRule":
        """The rule for a tokenizer and a model of ``vocab_size`` output rows; a tokenizer without a
        mask token is a ``ConfigError``."""
        if tokenizer.mask_token_id is None:
            raise ConfigError(f"{name}: its tokenizer has no mask token, so it cannot be pretrained as a masked "
                              "language model; give a BERT-style checkpoint whose tokenizer has one (e.g. [MASK])")
        special = frozenset(i for i in tokenizer.all_special_ids if i is not None)
        ids = torch.tensor([i for i in range(min(len(tokenizer), vocab_size)) if i not in special], dtype=torch.long)
        return cls(tokenizer.mask_token_id, ids, special, probability, whole_word)

    def replacing_with(self, ids) -> "MaskingRule":
        """The same rule with random replacements drawn from ``ids`` (less the special tokens) only:
        for a softmax over the ids a corpus uses, whose inputs must hold no other id."""
        kept = sorted({int(i) for i in ids} - self.special_ids)
        if not kept:
            raise ConfigError("no token to draw random replacements from: the text holds only special tokens")
        return replace(self, replacement_ids=torch.tensor(kept, dtype=torch.long))


def maskable_units(window: Window, n_prefix: int, n_suffix: int, special_ids: frozenset[int],
                   whole_word: bool) -> list[int]:
    """Each position's masking unit: -1 where it is never masked (the special tokens around the
    window, any special id inside it); else its word's index in the window (``whole_word``) or a
    unit of its own.

    >>> w = Window(0, 0, (2, 10, 11, 12, 3), (1, 3), (0, 0), None)   # [CLS] a ##b c [SEP]
    >>> maskable_units(w, 1, 1, frozenset({2, 3}), True), maskable_units(w, 1, 1, frozenset({2, 3}), False)
    ([-1, 0, 0, 1, -1], [-1, 0, 1, 2, -1])
    """
    ids = window.input_ids
    end = len(ids) - n_suffix
    units = [-1] * len(ids)
    starts = [*window.word_starts, end]
    for k, (lo, hi) in enumerate(zip(starts, starts[1:])):
        for pos in range(max(lo, n_prefix), hi):
            if ids[pos] not in special_ids:
                units[pos] = k if whole_word else pos - n_prefix
    return units


def mask_window(window: Window, units: Sequence[int], rule: MaskingRule, generator: torch.Generator) -> Window:
    """``window`` as the model reads it under ``rule``: its ``input_ids`` masked and its ``labels``
    the original ids of the chosen positions (-100 elsewhere). Draws from ``generator`` only."""
    masked, labels = mask_ids(torch.tensor(window.input_ids, dtype=torch.long), torch.tensor(units, dtype=torch.long),
                              rule, generator)
    return replace(window, input_ids=tuple(masked.tolist()), labels=tuple(labels.tolist()))


def mask_ids(ids: torch.Tensor, unit: torch.Tensor, rule: MaskingRule,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``mask_window`` on tensors: one window's ids (positions,) and each position's masking unit
    (positions,), as ``maskable_units`` gives them -> the masked ids and the labels (the original id
    at each chosen position, -100 elsewhere), both (positions,) long."""
    n_units = int(unit.max()) + 1 if len(unit) else 0
    # shape: (units,), (positions,), (positions,): drawn whatever is chosen, so the stream never shifts
    chosen_units = torch.rand(n_units, generator=generator) < rule.probability
    how = torch.rand(len(ids), generator=generator)
    pick = torch.randint(len(rule.replacement_ids), (len(ids),), generator=generator)
    chosen = (unit >= 0) & chosen_units[unit.clamp(min=0)] if n_units else torch.zeros(len(ids), dtype=torch.bool)
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    masked = ids.clone()
    masked[chosen & (how < MASK_SHARE)] = rule.mask_id
    randomised = chosen & (how >= MASK_SHARE) & (how < MASK_SHARE + RANDOM_SHARE)
    masked[randomised] = rule.replacement_ids[pick[randomised]]
    return masked, labels
