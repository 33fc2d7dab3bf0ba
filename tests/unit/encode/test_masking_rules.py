"""Exact rules of masked-LM masking (``encode.masking``) at their boundaries, beside the statistical
contracts of test_masking_contracts.py:

- the choices are half-open intervals of one uniform draw each: a unit is chosen when its draw is
  below the probability, a chosen position reads the mask token below 0.8, a random token from
  0.8 up to 0.9, itself from 0.9 up (so the shares are exactly p and 80/10/10);
- the draws come in a fixed order and amount: one per unit, then one per position, then one
  replacement index per position, whatever is chosen (a resumed run masks as an uninterrupted one);
- a window of no positions, and one of a single unit beside special tokens, mask without error;
- ``MaskingRule.for_tokenizer``: token-level masking by default, replacement ids always a long
  tensor, one clear ``ConfigError`` for a tokenizer without a mask token;
- ``MaskingRule.replacing_with``: the replacement ids become the given ids, sorted, once each, less
  the special tokens; nothing else changes; no ordinary id left is a ``ConfigError``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertTokenizerFast

from entitune.encode import IGNORE, MaskingRule
from entitune.encode.masking import MASK_SHARE, RANDOM_SHARE, mask_ids
from entitune.errors import ConfigError
from tests.helpers.vocab import tiny_vocab

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIAL = frozenset({PAD, UNK, CLS, SEP, MASK})
REPLACEMENTS = torch.arange(5, 25)


def _tokenizer() -> BertTokenizerFast:
    vocab = tiny_vocab(0)
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)


def _rule(probability: float = 0.25, whole_word: bool = False) -> MaskingRule:
    return MaskingRule(MASK, REPLACEMENTS, SPECIAL, probability, whole_word)


class _Draws:
    """Stands in for ``torch.rand``: gives the prepared values (float64, so ties are exact) in order,
    checking each call asks for as many as prepared."""

    def __init__(self, *values: list[float]) -> None:
        self.values = list(values)

    def __call__(self, n, generator=None):
        want = self.values.pop(0)
        assert n == len(want), (n, want)
        return torch.tensor(want, dtype=torch.float64)


def test_choices_are_half_open_intervals_of_one_draw(monkeypatch):
    """Probability 0.25 (exact in binary). Unit draws: 0.25 (tie: not chosen), just below 0.25
    (chosen), 0 (chosen), and so on; the chosen positions' read draws sit exactly on and just
    below the 0.8 and 0.9 boundaries."""
    below = np.nextafter
    ids = torch.tensor([CLS, 30, 31, 32, 33, 34, 35, 36, SEP])  # none of them a replacement id
    unit = torch.tensor([-1, 0, 1, 2, 3, 4, 5, 6, -1])
    p = 0.25
    top = MASK_SHARE + RANDOM_SHARE
    units = [p, below(p, 0), 0.0, 0.0, 0.0, 0.0, 0.0]
    reads = [0.0, 0.0, below(MASK_SHARE, 0), MASK_SHARE, below(top, 0), top, 0.0, 0.999, 0.0]
    monkeypatch.setattr(torch, "rand", _Draws(units, reads))
    masked, labels = mask_ids(ids, unit, _rule(p), torch.Generator().manual_seed(0))
    # position 1: its unit's draw ties with p, not chosen; 2: mask (just below 0.8); 3: random (on
    # 0.8); 4: random (just below 0.9); 5: itself (on 0.9); 6: mask; 7: itself
    assert labels.tolist() == [IGNORE, IGNORE, 31, 32, 33, 34, 35, 36, IGNORE]
    assert masked[[0, 1, 2, 5, 6, 7, 8]].tolist() == [CLS, 30, MASK, 34, MASK, 36, SEP]
    assert all(int(masked[k]) in REPLACEMENTS.tolist() for k in (3, 4))


@pytest.mark.parametrize("whole_word", [False, True])
def test_the_draws_are_units_then_reads_then_picks(whole_word):
    """With the same seed, ``mask_ids`` reads exactly: one uniform per unit (units numbered from 0
    to the largest), one per position, one replacement index per position, and the result follows
    from them; the generator is left just past those draws."""
    ids = torch.tensor([CLS, 10, 11, 12, UNK, 13, 14, SEP])
    unit = torch.tensor([-1, 0, 0, 1, -1, 2, 3, -1]) if whole_word else torch.tensor([-1, 0, 1, 2, -1, 3, 4, -1])
    rule = _rule(0.5, whole_word)
    for seed in range(50):
        ours = torch.Generator().manual_seed(seed)
        masked, labels = mask_ids(ids, unit, rule, ours)
        ref = torch.Generator().manual_seed(seed)
        chosen_units = torch.rand(int(unit.max()) + 1, generator=ref) < 0.5
        how = torch.rand(len(ids), generator=ref)
        pick = torch.randint(len(REPLACEMENTS), (len(ids),), generator=ref)
        for k in range(len(ids)):
            chosen = int(unit[k]) >= 0 and bool(chosen_units[unit[k]])
            assert int(labels[k]) == (int(ids[k]) if chosen else IGNORE)
            if not chosen or how[k] >= MASK_SHARE + RANDOM_SHARE:
                assert int(masked[k]) == int(ids[k])
            elif how[k] < MASK_SHARE:
                assert int(masked[k]) == MASK
            else:
                assert int(masked[k]) == int(REPLACEMENTS[pick[k]])
        assert torch.equal(ours.get_state(), ref.get_state())


def test_a_window_of_no_positions_masks_to_nothing_and_draws_nothing():
    """No unit, no position: nothing drawn (the count of draws is units + 2 x positions)."""
    generator = torch.Generator().manual_seed(0)
    before = generator.get_state()
    masked, labels = mask_ids(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), _rule(), generator)
    assert masked.tolist() == labels.tolist() == []
    assert torch.equal(generator.get_state(), before)


def test_a_single_unit_between_special_tokens_is_chosen_and_they_never_are():
    ids = torch.tensor([CLS, 10, SEP])
    unit = torch.tensor([-1, 0, -1])
    seen = set()
    for seed in range(40):
        _, labels = mask_ids(ids, unit, _rule(0.5), torch.Generator().manual_seed(seed))
        assert labels[0] == labels[2] == IGNORE
        seen.add(int(labels[1]))
    assert seen == {10, IGNORE}


# -- MaskingRule.for_tokenizer -----------------------------------------------------------------------

def test_for_tokenizer_defaults_to_token_level_masking_at_15_percent():
    rule = MaskingRule.for_tokenizer(_tokenizer(), 40)
    assert (rule.whole_word, rule.probability, rule.mask_id) == (False, 0.15, MASK)
    assert rule.replacement_ids.dtype == torch.long and rule.replacement_ids.tolist() == list(range(5, 40))


def test_replacement_ids_are_a_long_tensor_even_when_empty():
    """A model whose output rows are all special tokens still gets a 1-D long tensor."""
    ids = MaskingRule.for_tokenizer(_tokenizer(), 5).replacement_ids
    assert ids.dtype == torch.long and ids.shape == (0,)


@pytest.mark.parametrize(("kwargs", "who"), [({}, "the model"), ({"name": "bert-x"}, "bert-x")])
def test_a_tokenizer_without_a_mask_token_is_one_clear_error(kwargs, who):
    tokenizer = _tokenizer()
    tokenizer.mask_token = None
    message = (f"{who}: its tokenizer has no mask token, so it cannot be pretrained as a masked language model; "
               "give a BERT-style checkpoint whose tokenizer has one (e.g. [MASK])")
    with pytest.raises(ConfigError) as caught:
        MaskingRule.for_tokenizer(tokenizer, 40, **kwargs)
    assert str(caught.value) == message


# -- MaskingRule.replacing_with ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", [list, np.asarray, torch.tensor])
def test_replacing_with_keeps_the_given_ordinary_ids_once_sorted(kind):
    rule = _rule(0.3, True)
    narrowed = rule.replacing_with(kind([17, 9, CLS, 9, 30, MASK, 6]))
    assert narrowed.replacement_ids.dtype == torch.long
    assert narrowed.replacement_ids.tolist() == [6, 9, 17, 30]
    assert (narrowed.mask_id, narrowed.special_ids, narrowed.probability, narrowed.whole_word) == (
        MASK, SPECIAL, 0.3, True)
    assert rule.replacement_ids.tolist() == REPLACEMENTS.tolist()  # the rule itself is unchanged


@pytest.mark.parametrize("ids", [[], [CLS, SEP, PAD]])
def test_replacing_with_only_special_tokens_is_a_config_error(ids):
    with pytest.raises(ConfigError) as caught:
        _rule().replacing_with(ids)
    assert str(caught.value) == "no token to draw random replacements from: the text holds only special tokens"
