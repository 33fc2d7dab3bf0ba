"""Contracts of masked-LM masking (``encode.masking``), checked over thousands of seeds on windows
whose special tokens sit where a position rule alone would not keep them out: [UNK], [PAD], [CLS],
[SEP] and [MASK] as words in the middle of a window, beside split words, and in padded batches.

- a special id and the tokens around the window are never chosen, at any seed;
- every other position (or word, with whole-word masking) is chosen with the probability, each on
  its own: the per-position rate and the joint rate of two units are measured, within about four
  standard errors;
- whole-word masking chooses all the pieces of a word together and never part of one;
- of the chosen positions 80% read the mask id, 10% a random replacement, 10% themselves; random
  replacements are drawn uniformly from the rule's replacement ids, which hold no special id and
  no id past the tokenizer or the model's output rows;
- labels hold the original id exactly at the chosen positions; nothing else changes;
- the draws never depend on what was picked: a window's mask at probability p is contained in its
  mask at a larger p under the same seed, with the same reads where both choose."""
from __future__ import annotations

import functools

import pytest
import torch

from entitune.encode import (
    IGNORE,
    MaskingRule,
    Window,
    collate,
    example_seed,
    mask_window,
    maskable_units,
)
from entitune.errors import ConfigError

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIAL = frozenset({PAD, UNK, CLS, SEP, MASK})
#: replacement ids: 20 ordinary ids (5..24)
REPLACEMENTS = torch.arange(5, 25)

# [CLS] a b ##c ##d [UNK] [SEP] e [PAD] f ##g [CLS] [MASK] h [SEP]: specials as words in the middle
IDS = (CLS, 10, 11, 12, 13, UNK, SEP, 14, PAD, 15, 16, CLS, MASK, 17, SEP)
STARTS = (1, 2, 5, 6, 7, 8, 9, 11, 12, 13)
WINDOW = Window(0, 0, IDS, STARTS, (0,) * len(STARTS), None)
ORDINARY = [k for k, i in enumerate(IDS) if i not in SPECIAL]  # positions 1, 2, 3, 4, 7, 9, 10, 13
WORDS = {"b": [2, 3, 4], "f": [9, 10]}


def _rule(probability: float = 0.15, whole_word: bool = False) -> MaskingRule:
    return MaskingRule(MASK, REPLACEMENTS, SPECIAL, probability, whole_word)


@functools.cache
def _mask_window_many(probability: float, whole_word: bool, seeds: int):
    return _mask_many(WINDOW, _rule(probability, whole_word), seeds)


def _mask_many(window: Window, rule: MaskingRule, seeds: int, n_prefix: int = 1, n_suffix: int = 1):
    """``seeds`` masks of ``window``: (seeds, positions) tensors of reads and labels."""
    units = maskable_units(window, n_prefix, n_suffix, rule.special_ids, rule.whole_word)
    reads, labels = [], []
    for seed in range(seeds):
        masked = mask_window(window, units, rule, torch.Generator().manual_seed(example_seed(7, seed)))
        reads.append(masked.input_ids)
        labels.append(masked.labels)
    return torch.tensor(reads), torch.tensor(labels)


def _se(p: float, n: int) -> float:
    return (p * (1 - p) / n) ** 0.5


# ---------------------------------------------------------------------------------- which positions


def test_units_leave_out_special_ids_inside_the_window_and_the_tokens_around_it():
    assert maskable_units(WINDOW, 1, 1, SPECIAL, False) == [-1, 0, 1, 2, 3, -1, -1, 6, -1, 8, 9, -1, -1, 12, -1]
    assert maskable_units(WINDOW, 1, 1, SPECIAL, True) == [-1, 0, 1, 1, 1, -1, -1, 4, -1, 6, 6, -1, -1, 9, -1]
    # the tokens around the window are never masked whatever their ids; one with no specials around
    plain = Window(0, 0, (10, 11, 12, 13), (0, 1, 3), (0, 0, 0), None)
    assert maskable_units(plain, 1, 1, frozenset(), False) == [-1, 0, 1, -1]
    assert maskable_units(plain, 0, 0, frozenset(), False) == [0, 1, 2, 3]
    assert maskable_units(plain, 0, 0, frozenset(), True) == [0, 1, 1, 2]


@pytest.mark.parametrize("whole_word", [False, True])
def test_special_ids_and_surrounding_tokens_are_never_chosen_at_any_seed(whole_word):
    reads, labels = _mask_many(WINDOW, _rule(0.9, whole_word), 1500)
    chosen = labels != IGNORE
    never = [k for k in range(len(IDS)) if k not in ORDINARY]
    assert not chosen[:, never].any()
    assert torch.equal(reads[:, never], torch.tensor(IDS)[never].expand(1500, -1))
    assert chosen[:, ORDINARY].all(0).logical_not().all() and chosen[:, ORDINARY].any(0).all()


def test_a_window_of_special_tokens_only_is_left_as_it_is():
    window = Window(0, 0, (CLS, UNK, PAD, MASK, SEP), (1, 2, 3), (0, 0, 0), None)
    for whole_word in (False, True):
        reads, labels = _mask_many(window, _rule(0.99, whole_word), 50)
        assert (labels == IGNORE).all() and torch.equal(reads, torch.tensor(window.input_ids).expand(50, -1))


@pytest.mark.parametrize("probability", [0.15, 0.4])
def test_each_position_is_chosen_with_the_probability_on_its_own(probability):
    """Per position the rate is ``p``; for two positions of different words both are chosen at
    ``p^2`` (independent draws, not one shared); within about 4.5 standard errors."""
    n = 4000
    _, labels = _mask_window_many(probability, False, n)
    chosen = (labels != IGNORE).float()
    for k in ORDINARY:
        assert abs(chosen[:, k].mean().item() - probability) < 4.5 * _se(probability, n), k
    for a, b in [(1, 2), (2, 3), (3, 4), (9, 10), (1, 13)]:
        joint = (chosen[:, a] * chosen[:, b]).mean().item()
        assert abs(joint - probability ** 2) < 4.5 * _se(probability ** 2, n), (a, b)


def test_whole_word_masking_chooses_every_piece_of_a_word_together():
    """With whole-word masking the pieces of a word are chosen together (never part of a word),
    each word with the probability, words independently; the share of chosen sub-tokens is the
    probability too."""
    n = 4000
    _, labels = _mask_window_many(0.15, True, n)
    chosen = labels != IGNORE
    for pieces in WORDS.values():
        assert (chosen[:, pieces] == chosen[:, pieces[:1]]).all()
    assert chosen[:, 2].sum() > 400  # not vacuous: the word is chosen often
    rate = chosen[:, ORDINARY].float().mean(0)
    assert ((rate - 0.15).abs() < 4.5 * _se(0.15, n)).all(), rate
    for a, b in [(1, 2), (2, 9), (7, 13)]:  # a and b ##c ##d, b ##c ##d and f ##g, e and h
        joint = (chosen[:, a] & chosen[:, b]).float().mean().item()
        assert abs(joint - 0.15 ** 2) < 4.5 * _se(0.15 ** 2, n), (a, b)
    # without it, a split word is often chosen in part
    _, labels = _mask_window_many(0.15, False, n)
    part = (labels[:, 2:5] != IGNORE).sum(1)
    assert ((part > 0) & (part < 3)).sum() > 600


# ---------------------------------------------------------------------------------- what is read there


def test_chosen_positions_read_mask_random_or_themselves_80_10_10():
    """Shares among the chosen (about 24,000 here) within 4.5 standard errors; a random draw that
    equals the original (1 in 20 here) reads as unchanged. Labels hold the original exactly at the
    chosen positions; nothing else changes."""
    n = 4000
    reads, labels = _mask_many(WINDOW, _rule(0.75), n)
    original = torch.tensor(IDS).expand(n, -1)
    chosen = labels != IGNORE
    assert torch.equal(labels[chosen], original[chosen])
    assert torch.equal(reads[~chosen], original[~chosen])
    m = chosen.sum().item()
    read, orig = reads[chosen], original[chosen]
    masked = (read == MASK).float().mean().item()
    same = (read == orig).float().mean().item()
    random = ((read != MASK) & (read != orig)).float().mean().item()
    assert abs(masked - 0.8) < 4.5 * _se(0.8, m)
    assert abs(random - 0.1 * 19 / 20) < 4.5 * _se(0.095, m)
    assert abs(same - (0.1 + 0.1 / 20)) < 4.5 * _se(0.105, m)


def test_random_replacements_are_uniform_over_the_replacement_ids():
    """Every replacement id is drawn about equally often (first and last included), no other id
    ever: checked on about 43,000 random reads, each id's count within 10% of its share (about
    five standard errors)."""
    ids = tuple(range(5, 25)) * 12  # 240 ordinary tokens, no specials but around
    window = Window(0, 0, (CLS, *ids, SEP), tuple(range(1, 241)), (0,) * 240, None)
    n = 2000
    reads, labels = _mask_many(window, _rule(0.95), n)
    chosen = labels != IGNORE
    randomised = chosen & (reads != MASK) & (reads != labels)
    drawn = reads[randomised]
    assert set(drawn.tolist()) <= set(REPLACEMENTS.tolist())
    counts = torch.bincount(drawn - 5, minlength=20).float()
    # a draw equal to the original reads as unchanged: each id keeps 19/20 of its draws
    expected = chosen.sum().item() * 0.1 / 20 * 19 / 20
    assert ((counts / expected - 1).abs() < 0.1).all(), counts / expected


def test_the_draws_do_not_depend_on_what_is_picked():
    """The same seed at a larger probability chooses a superset of the positions, and where both
    choose they read the same (so a draw never shifts another); the same seed repeats exactly."""
    units = maskable_units(WINDOW, 1, 1, SPECIAL, False)
    grew = 0
    for seed in range(300):
        low = mask_window(WINDOW, units, _rule(0.15), torch.Generator().manual_seed(seed))
        high = mask_window(WINDOW, units, _rule(0.5), torch.Generator().manual_seed(seed))
        again = mask_window(WINDOW, units, _rule(0.15), torch.Generator().manual_seed(seed))
        assert again == low
        for k in range(len(IDS)):
            if low.labels[k] != IGNORE:
                assert high.labels[k] == low.labels[k] and high.input_ids[k] == low.input_ids[k]
        grew += sum(h != IGNORE for h in high.labels) > sum(lo != IGNORE for lo in low.labels)
    assert grew > 100


def test_padded_rows_of_a_batch_are_never_chosen():
    """Masked windows of different lengths collated into one batch: padding reads [PAD] with label
    -100, and the specials inside each window stay unchosen."""
    rule = _rule(0.9)
    short = Window(0, 0, (CLS, 10, UNK, 11, SEP), (1, 2, 3), (0, 0, 0), None)
    windows = [short, WINDOW, short]
    for seed in range(200):
        masked = [mask_window(w, maskable_units(w, 1, 1, SPECIAL, False), rule,
                              torch.Generator().manual_seed(example_seed(seed, i))) for i, w in enumerate(windows)]
        batch = collate(masked, PAD)
        pad = batch["attention_mask"] == 0
        assert pad[0].sum() == len(IDS) - 5 and (batch["labels"][pad] == IGNORE).all()
        assert (batch["input_ids"][pad] == PAD).all()
        chosen = batch["labels"] != IGNORE
        assert not chosen[:, 0].any() and not chosen[0, 2].any() and not chosen[1, [5, 6, 8, 11, 12]].any()


# ---------------------------------------------------------------------------------- the rule


def test_probability_must_lie_strictly_between_0_and_1():
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ConfigError, match="mlm_probability must be between 0 and 1"):
            _rule(bad)
    assert _rule(1e-6).probability == 1e-6 and _rule(1 - 1e-6).probability == 1 - 1e-6


def test_for_tokenizer_excludes_special_ids_and_ids_past_the_tokenizer_or_the_model(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    size = len(tokenizer)
    special = {tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id,
               tokenizer.mask_token_id}
    rule = MaskingRule.for_tokenizer(tokenizer, size, 0.2, True)
    assert rule.special_ids == special and rule.mask_id == tokenizer.mask_token_id
    assert (rule.probability, rule.whole_word) == (0.2, True)
    assert rule.replacement_ids.tolist() == [i for i in range(size) if i not in special]
    assert MaskingRule.for_tokenizer(tokenizer, size + 10).replacement_ids.tolist() == rule.replacement_ids.tolist()
    assert MaskingRule.for_tokenizer(tokenizer, 40).replacement_ids.tolist() == [i for i in range(40) if i not in special]
    # an added special token is special too
    tokenizer.add_special_tokens({"additional_special_tokens": ["<ent>"]})
    added = tokenizer.convert_tokens_to_ids("<ent>")
    rule = MaskingRule.for_tokenizer(tokenizer, len(tokenizer))
    assert added in rule.special_ids and added not in rule.replacement_ids.tolist()
    tokenizer.mask_token = None
    with pytest.raises(ConfigError, match="has no mask token"):
        MaskingRule.for_tokenizer(tokenizer, len(tokenizer))


def test_real_windows_with_unknown_words_and_literal_special_tokens(tiny_bert):
    """Windows of the tiny tokenizer for texts with words it maps to [UNK] (an unknown CJK
    character, a zero-width word) and with "[SEP]", "[PAD]", "[CLS]", "[MASK]" written as words,
    masked with 2000 seeds: none of those ids is ever chosen, while the words around them are."""
    from transformers import AutoTokenizer

    from entitune.encode import WordEncoder

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    rule = MaskingRule.for_tokenizer(tokenizer, len(tokenizer), 0.5, False)
    encoder = WordEncoder(tokenizer, 16, stride=0)
    texts = [["drew", "北", "[SEP]", "xylophone"], ["[PAD]", "the", "\u200b", "[CLS]", "paris", "[MASK]"],
             ["[UNK]", "films"]]
    windows = encoder.encode_pieces(encoder.unbroken_word_pieces(texts))
    assert sum(tokenizer.unk_token_id in w.input_ids[1:-1] for w in windows) == 3
    assert all(any(i in w.input_ids[1:-1] for i in rule.special_ids) for w in windows)
    seen_special = seen_ordinary = 0
    for i, w in enumerate(windows):
        units = maskable_units(w, 1, 1, rule.special_ids, rule.whole_word)
        inside = [k for k in range(1, len(w.input_ids) - 1) if w.input_ids[k] in rule.special_ids]
        for seed in range(2000):
            masked = mask_window(w, units, rule, torch.Generator().manual_seed(example_seed(3, seed, i)))
            assert all(masked.labels[k] == IGNORE and masked.input_ids[k] == w.input_ids[k] for k in inside)
            assert masked.labels[0] == IGNORE and masked.labels[-1] == IGNORE
            seen_ordinary += sum(label != IGNORE for label in masked.labels)
            seen_special += len(inside)
    assert seen_ordinary > 10000 and seen_special >= 2000 * 7


def test_example_seed_is_fixed_depends_on_every_key_and_their_order_and_fits_63_bits():
    """Masks are reproduced across processes, platforms and versions (a resumed run masks as the
    first did), so the seed of given keys is pinned; it changes with any key, their order and their
    number, and always fits a non-negative 63-bit integer."""
    assert example_seed(42, 0, 1, 7) == 7356761333509057793
    seeds = {example_seed(*keys) for keys in [(1, 2), (2, 1), (1, 2, 0), (1, 3), (0, 1, 2), (1,), (2,)]}
    assert len(seeds) == 7
    values = [example_seed(s, 0, e, i) for s in range(3) for e in range(3) for i in range(200)]
    assert all(0 <= v < 2 ** 63 for v in values) and max(values) >= 2 ** 62  # the whole range is used
    assert example_seed(-1, 5) == example_seed(2 ** 64 - 1, 5)  # keys are taken mod 2^64
