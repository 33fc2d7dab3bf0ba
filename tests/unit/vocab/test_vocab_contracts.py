"""Contracts of the vocabulary tool (``model.wordpiece`` planning and tokenizer files,
``model.vocab`` embedding rows), each checked where it can break: ranking ties broken by count
then token (in an order unlike the corpus's), ``min_count`` / ``max_new`` / ``max_input_chars``
/ CJK share exactly at their bounds, the ``[unusedN]`` slots in id order (not name or dict order)
with added tokens left out and one slot too few refused, ``vocab.txt`` and ``tokenizer.json``
agreeing id for id, new rows equal to the mean of their pieces' rows in every token-indexed
tensor, fallback rows drawn around the mean of the rows that stay (with the covariance's scale
and correlations), random rows at the config's ``initializer_range``, a config padded past the
tokenizer, kept dtypes and which base files are carried over."""
from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from entitune.errors import ConfigError
from entitune.vocab.extend import (
    FALLBACK_COVARIANCE,
    RECORD_FILE,
    extend_checkpoint,
    init_rows,
    vocab_tensors,
)
from entitune.vocab.wordpiece import (
    CJK_SHARE_FOR_CHARS,
    UNK_COST,
    WordPiece,
    _toy_state,
    analyse,
    choose_unit,
    corpus_stats,
    init_pieces,
    is_cjk_char,
    plan_vocabulary,
)
from tests.helpers.vocab import UNUSED, build_mlm_checkpoint

EMB = "bert.embeddings.word_embeddings.weight"
BIAS = "cls.predictions.bias"
DEC = "cls.predictions.decoder.weight"
DEC_BIAS = "cls.predictions.decoder.bias"
VOCAB_TENSORS = (EMB, BIAS, DEC_BIAS, DEC)
#: the first [unusedN] slot of tests.helpers.vocab's tiny vocabulary
SLOT0 = 5


def _toy(vocab, **model) -> WordPiece:
    state = _toy_state(vocab)
    state["model"].update(model)
    return WordPiece.from_state(state)


def _weights(directory: Path) -> dict:
    return load_file(str(directory / "model.safetensors"))


def _rewrite(src: Path, dst: Path, edit_state=None, edit_config=None) -> Path:
    """A copy of checkpoint ``src`` at ``dst`` with its tensors and/or config edited in place."""
    shutil.copytree(src, dst)
    if edit_state is not None:
        state = _weights(dst)
        edit_state(state)
        save_file({k: v.contiguous() for k, v in state.items()}, str(dst / "model.safetensors"), metadata={"format": "pt"})
    if edit_config is not None:
        config = json.loads((dst / "config.json").read_text())
        edit_config(config)
        (dst / "config.json").write_text(json.dumps(config))
    return dst


@pytest.fixture(scope="module")
def offset_mlm(tmp_path_factory) -> Path:
    """The tiny untied MLM checkpoint with every token-indexed tensor shifted by +1: a mean that
    wrongly takes in zero rows (the appended ones) or leaves rows out is off by far more than the
    fallback's perturbation."""
    base = build_mlm_checkpoint(tmp_path_factory.mktemp("mlm-base"), tied=False)

    def shift(state):
        for name in VOCAB_TENSORS:
            state[name] = state[name] + 1.0

    return _rewrite(base, tmp_path_factory.mktemp("mlm") / "offset", shift)


def _pieces_ids(wp: WordPiece, pieces) -> list[int]:
    return [wp.vocab[p] for p in pieces]


# ---------------------------------------------------------------------------------- planning: ranking and bounds

#: vocabulary where a word's cost is its length (every letter has a start and a ## form)
LETTERS = ["[UNK]", *"abcde", *(f"##{c}" for c in "abcde")]


def test_ranking_is_by_saved_then_count_then_token_not_corpus_order():
    """Equal savings: the candidate seen more often first; equal savings and counts: by token.
    The corpus lists them in another order, so neither first-seen order nor a flipped key passes."""
    wp = _toy(LETTERS)
    # saved = count x (pieces - 1): ed 5, abcd 2x3=6, de 5, abc 3x2=6, dc 6x1=6
    words = Counter({"ed": 5, "abcd": 2, "de": 5, "abc": 3, "dc": 6})
    plan = plan_vocabulary(wp, words, max_new=10, min_count=1, unit="word")
    got = [(c.token, c.count, c.saved) for c in plan.candidates]
    assert got == [("dc", 6, 6), ("abc", 3, 6), ("abcd", 2, 6), ("de", 5, 5), ("ed", 5, 5)]
    assert plan.candidates[2].pieces == ("a", "##b", "##c", "##d")


def test_min_count_keeps_a_candidate_seen_exactly_min_count_times():
    wp = _toy(LETTERS)
    words = Counter({"ed": 5, "abcd": 2, "de": 5, "abc": 3, "dc": 6})
    plan = plan_vocabulary(wp, words, max_new=10, min_count=5, unit="word")
    assert [c.token for c in plan.candidates] == ["dc", "de", "ed"]  # 5 == min_count kept, 3 and 2 not
    assert plan.min_count == 5
    # nothing reaches min_count: nothing chosen, and the corpus is measured the same after
    plan = plan_vocabulary(wp, words, max_new=10, min_count=7, unit="word")
    assert plan.candidates == [] and plan.chosen == [] and plan.after == plan.before


@pytest.mark.parametrize("max_new, chosen, subwords_after", [
    (1, ["dc"], 49 - 6),
    # dc and abc one token; abcd now abc ##d (2 x 2 sub-words instead of 2 x 4)
    (2, ["dc", "abc"], 6 + 3 + 2 * 2 + 5 * 2 + 5 * 2),
    (5, ["dc", "abc", "abcd", "de", "ed"], 21),
    (6, ["dc", "abc", "abcd", "de", "ed"], 21),
])
def test_max_new_chooses_exactly_the_best_max_new_and_after_measures_them(max_new, chosen, subwords_after):
    wp = _toy(LETTERS)
    words = Counter({"ed": 5, "abcd": 2, "de": 5, "abc": 3, "dc": 6})
    plan = plan_vocabulary(wp, words, max_new=max_new, min_count=1, unit="word")
    assert [c.token for c in plan.chosen] == chosen and len(plan.candidates) == 5
    assert plan.before.subwords == 5 * 2 + 2 * 4 + 5 * 2 + 3 * 3 + 6 * 2 == 49
    assert plan.after.subwords == subwords_after and plan.after.words == plan.before.words == 21


def test_a_word_that_is_one_token_already_is_never_a_candidate():
    wp = _toy([*LETTERS, "ab"])
    plan = plan_vocabulary(wp, Counter({"ab": 50, "a": 40, "abc": 1}), max_new=10, min_count=1, unit="word")
    assert [c.token for c in plan.candidates] == ["abc"]  # ab and a cost one sub-word: nothing to save


def test_char_units_count_a_pre_token_once_and_share_savings_among_missing_characters():
    """With char units an [UNK] pre-token (cost ``UNK_COST``) of k characters, m of them missing,
    gives each missing one ``n (UNK_COST - k) / m`` as a unit and ``n UNK_COST / m`` as a lacking
    character; the count is the pre-token's, once, and the kind the first rule's (char)."""
    wp = _toy(["[UNK]", "a", "##a"])
    plan = plan_vocabulary(wp, Counter({"abc": 2, "ab": 3}), max_new=10, min_count=1, unit="char")
    got = {c.token: (c.count, c.saved, c.kind, c.pieces) for c in plan.candidates}
    # ab: ##b 3 x 8 / 1 + 3 x 10 / 1; abc: ##b and ##c each 2 x 7 / 2 + 2 x 10 / 2
    assert got == {"##b": (5, 24 + 30 + 7 + 10, "char", None), "##c": (2, 7 + 10, "char", None)}
    assert [c.token for c in plan.candidates] == ["##b", "##c"]


def test_a_word_as_long_as_its_cost_gives_no_char_unit_credit():
    """An [UNK] word of exactly ``UNK_COST`` characters saves nothing by characters (its missing
    characters are candidates only as lacking ``character``s); one character shorter, it does."""
    vocab = ["[UNK]", "a", *(f"##{c}" for c in "abcdefghi")]  # no ##j
    wp = _toy(vocab)
    ten = "abcdefghij"
    assert len(ten) == UNK_COST
    plan = plan_vocabulary(wp, Counter({ten: 2, ten + "j": 1}), max_new=10, min_count=1, unit="char")
    assert [(c.token, c.count, c.saved, c.kind) for c in plan.candidates] == [("##j", 3, 30.0, "character")]
    nine = "abcdefghj"
    plan = plan_vocabulary(wp, Counter({nine: 2}), max_new=10, min_count=1, unit="char")
    assert [(c.token, c.count, c.saved, c.kind) for c in plan.candidates] == [("##j", 2, 2 * 1 + 2 * UNK_COST, "char")]


def test_word_candidates_stop_at_max_input_chars_per_word():
    """A pre-token of exactly ``max_input_chars_per_word`` characters is split and can be a word
    candidate; one character longer is [UNK] for the tokenizer, so it cannot be one."""
    wp = _toy(LETTERS, max_input_chars_per_word=5)
    assert wp.pieces("abcde") == ["a", "##b", "##c", "##d", "##e"] and wp.pieces("abcdea") is None
    plan = plan_vocabulary(wp, Counter({"abcde": 2, "abcdea": 3}), max_new=10, min_count=1, unit="word")
    assert [(c.token, c.saved) for c in plan.candidates] == [("abcde", 2 * 4)]
    assert plan.before.unk_words == 3 and plan.after.unk_words == 3


def test_auto_unit_picks_char_only_when_cjk_is_more_than_half_of_the_occurrences(tiny_bert):
    """The share is of pre-token occurrences (counts weigh): exactly one half stays ``word``."""
    wp = WordPiece.read(tiny_bert)
    assert CJK_SHARE_FOR_CHARS == 0.5
    unit, reason, share = choose_unit(analyse(wp, Counter({"北": 2, "drew": 2})), "auto")
    assert (unit, share) == ("word", 0.5) and "50%" in reason
    assert choose_unit(analyse(wp, Counter({"北": 3, "drew": 2})), "auto")[:1] == ("char",)
    assert choose_unit(analyse(wp, Counter({"北": 2, "drew": 3})), "auto")[:1] == ("word",)
    # "北京" is two CJK pre-tokens, "drew," two others
    assert choose_unit(analyse(wp, Counter({"北京": 1, "drew,": 1})), "auto")[2] == 0.5
    assert choose_unit(analyse(wp, Counter({"北京": 2, "drew,": 1})), "auto")[:1] == ("char",)
    assert choose_unit([], "auto")[:1] == ("word",)


@pytest.mark.parametrize("lo, hi", [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2FA1F), (0xF900, 0xFAFF),
                                    (0x3040, 0x30FF), (0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F)])
def test_cjk_ranges_include_both_ends(lo, hi):
    assert is_cjk_char(chr(lo)) and is_cjk_char(chr(hi)) and is_cjk_char(chr((lo + hi) // 2))


@pytest.mark.parametrize("ch", ["\u4dff", "\ua000", "\u303f", "\u3100", "\uabff", "\ud7a4", "\u10ff", "\u1200",
                                "\u3190", "\uf8ff", "\ufb00", "\U0001ffff", "\U0002fa20", "a", "1", "é", "Ж"])
def test_characters_next_to_the_cjk_ranges_are_not_cjk(ch):
    assert not is_cjk_char(ch)


def test_a_pre_token_is_cjk_only_when_all_its_characters_are(tiny_bert):
    wp = WordPiece.read(tiny_bert)
    (kana,) = wp.split_word("ソウル")
    (mixed,) = wp.split_word("ソウルa")  # kana are not set apart by the pre-tokenizer, unlike ideographs
    assert kana.cjk and not mixed.cjk
    assert choose_unit(analyse(wp, Counter({"ソウルa": 5})), "auto")[2] == 0.0


def test_corpus_stats_count_a_word_unk_when_any_pre_token_is_and_skip_zero_words_in_the_rate(tiny_bert):
    wp = WordPiece.read(tiny_bert)
    stats = corpus_stats(wp, analyse(wp, Counter({"drew北": 2, "drew": 3, "\u200b": 5})))
    assert (stats.words, stats.unk_words, stats.subwords, stats.zero_words) == (10, 2, 2 * 2 + 3, 5)
    assert stats.unk_share == 0.2 and stats.subwords_per_word == 7 / 5
    assert stats.as_dict()["subwords_per_word"] == 1.4 and stats.as_dict()["zero_subword_words"] == 5
    empty = corpus_stats(wp, [])
    assert empty.unk_share == 0 and empty.subwords_per_word == 0


def test_a_tokenizer_json_with_gaps_in_its_ids_or_no_unknown_token_is_refused():
    state = _toy_state(["[UNK]", "a", "b"])
    state["model"]["vocab"] = {"[UNK]": 0, "a": 1, "b": 3}
    with pytest.raises(ConfigError, match=r"ids are not 0\.\.2, one per entry"):
        WordPiece.from_state(state)
    state = _toy_state(["[UNK]", "a"])
    state["model"]["unk_token"] = "<unk>"
    with pytest.raises(ConfigError, match="the unknown token '<unk>' is not in the vocabulary"):
        WordPiece.from_state(state)


def test_extending_leaves_the_base_tokenizer_as_it_was():
    wp = WordPiece.from_state(_shuffled_unused_state())
    before = json.dumps(wp.state, sort_keys=True)
    for use_unused in (False, True):
        ext = wp.with_vocab(wp.extended_vocab(["x", "y"], use_unused)[0])
        assert ext.is_token("x") and not wp.is_token("x") and ext.vocab["x"] in (3, 10)
    assert json.dumps(wp.state, sort_keys=True) == before and wp.size == 10 and wp.unused_ids == [3, 4, 5]


def test_extend_checkpoint_refuses_no_tokens_and_a_tokenizer_without_a_directory(offset_mlm, tmp_path):
    base = WordPiece.read(offset_mlm)
    with pytest.raises(ConfigError, match="no tokens to add"):
        extend_checkpoint(base, [], tmp_path / "none")
    with pytest.raises(ValueError, match="not read from a checkpoint directory"):
        extend_checkpoint(WordPiece.from_state(base.state), ["zqx"], tmp_path / "nodir")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------- splitting and pieces


def test_init_pieces_skip_unknown_characters_and_fall_back_to_the_other_position():
    wp = _toy(["[UNK]", "a", "c", "##c", "##a", "z", "q"])
    v = wp.vocab
    assert init_pieces(wp, "axc") == [v["a"], v["##c"]]  # x unknown: skipped, the word is not dropped
    assert init_pieces(wp, "##ac") == [v["##a"], v["##c"]]  # a continuation is split as one
    assert init_pieces(wp, "##z") == [v["z"]]  # no ##z: the start form
    assert init_pieces(wp, "##q") == [v["q"]]
    wp2 = _toy(["[UNK]", "##b"])
    assert init_pieces(wp2, "b") == [wp2.vocab["##b"]]  # no b: the continuation form
    assert init_pieces(wp2, "xy") == [] and init_pieces(wp2, "##xy") == []


# ---------------------------------------------------------------------------------- extended vocabularies


def _shuffled_unused_state() -> dict:
    """A tokenizer whose [unusedN] ids run unlike their names and unlike the dict's order, with one
    placeholder that is an added (special) token, look-alikes that are no placeholders, and an added
    token outside the WordPiece vocabulary."""
    vocab = {"[unused2]": 5, "[PAD]": 0, "[unused10]": 4, "[UNK]": 1, "[unused0]": 3, "[unused1]": 2, "a": 6,
             "[unused]": 7, "[unused3]x": 8, "[UNUSED4]": 9}
    state = _toy_state(["[UNK]"])
    state["model"]["vocab"] = vocab
    state["added_tokens"] = [
        {"id": 2, "content": "[unused1]", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True},
        {"id": 10, "content": "<ent>", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True},
    ]
    return state


def test_unused_slots_are_the_placeholders_in_id_order_without_added_tokens():
    wp = WordPiece.from_state(_shuffled_unused_state())
    assert wp.unused_ids == [3, 4, 5]
    vocab, ids = wp.extended_vocab(["x", "y", "x"], use_unused=True)
    assert ids == [3, 4] and vocab["x"] == 3 and vocab["y"] == 4 and vocab["[unused2]"] == 5
    assert "[unused0]" not in vocab and "[unused10]" not in vocab and vocab["[unused1]"] == 2
    assert sorted(vocab.values()) == list(range(10)) and len(vocab) == wp.size
    # exactly as many tokens as slots: accepted; one more: refused, naming both numbers
    assert wp.extended_vocab(["x", "y", "z"], use_unused=True)[1] == [3, 4, 5]
    with pytest.raises(ConfigError, match=r"^4 tokens but only 3 \[unusedN\] slots$"):
        wp.extended_vocab(["x", "y", "z", "w"], use_unused=True)


def test_append_ids_follow_the_last_id_in_the_order_given_without_duplicates():
    wp = WordPiece.from_state(_shuffled_unused_state())
    vocab, ids = wp.extended_vocab(["zz", "yy", "zz", "xx"])
    assert ids == [10, 11, 12] and [vocab[t] for t in ("zz", "yy", "xx")] == [10, 11, 12]
    assert list(vocab.values()) == list(range(13))  # written in id order
    assert all(vocab[t] == i for t, i in wp.vocab.items())


def test_a_token_already_in_the_vocabulary_or_an_added_token_is_refused():
    wp = WordPiece.from_state(_shuffled_unused_state())
    for token in ("a", "<ent>", "[unused1]"):
        with pytest.raises(ConfigError, match=re.escape(f"already in the vocabulary: '{token}'")):
            wp.extended_vocab(["new", token])
    assert wp.is_token("<ent>") and not wp.is_token("<ENT>")


def test_write_puts_entries_in_id_order_whatever_the_dicts_order(tmp_path):
    """``vocab.txt`` is read by line number, so line i must be id i even when the vocabulary read
    from ``tokenizer.json`` lists its entries in another order."""
    wp = WordPiece.from_state(_shuffled_unused_state())
    wp.write(tmp_path)
    lines = (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert lines == ["[PAD]", "[UNK]", "[unused1]", "[unused0]", "[unused10]", "[unused2]", "a", "[unused]",
                     "[unused3]x", "[UNUSED4]"]
    written = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    assert list(written) == lines and list(written.values()) == list(range(10))
    assert WordPiece.read(tmp_path).vocab == wp.vocab


@pytest.mark.parametrize("use_unused", [False, True])
def test_vocab_txt_and_tokenizer_json_stay_in_step(offset_mlm, tmp_path, use_unused):
    """Every id names the same entry in ``vocab.txt`` (read by tokenizers' own vocab-file reader)
    and in ``tokenizer.json``, and a tokenizer built from either splits a text into the same ids."""
    from tokenizers.models import WordPiece as RustWordPiece
    from transformers import AutoTokenizer, BertTokenizer

    base = WordPiece.read(offset_mlm)
    out = tmp_path / "ext"
    extend_checkpoint(base, ["zqx", "北", "##zq"], out, use_unused=use_unused)
    from_txt = RustWordPiece.read_file(str(out / "vocab.txt"))
    from_json = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    assert from_txt == from_json and sorted(from_txt.values()) == list(range(len(from_txt)))
    assert list(from_json.values()) == list(range(len(from_json)))  # written in id order
    size = base.size if use_unused else base.size + 3
    assert len(from_txt) == size and len((out / "vocab.txt").read_text(encoding="utf-8").splitlines()) == size
    text = "Zqx 北京 drewzq the [unused5]"
    fast = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    slow = BertTokenizer(vocab=from_txt, do_lower_case=True)
    assert fast(text)["input_ids"] == slow(text)["input_ids"]
    assert fast.tokenize(text)[:5] == ["zqx", "北", "[UNK]", "drew", "##zq"]


# ---------------------------------------------------------------------------------- rows: init_rows


def test_init_rows_mean_is_the_mean_of_the_pieces_rows():
    g = torch.Generator().manual_seed(0)
    table = torch.cat([torch.randn(6, 3, generator=g), torch.zeros(2, 3)])  # two appended rows
    rows, how = init_rows(table, [6, 7], [[1, 4, 4], [5]], "mean", 0.02, g)
    torch.testing.assert_close(rows[0], (table[1] + 2 * table[4]) / 3, rtol=0, atol=1e-6)
    torch.testing.assert_close(rows[1], table[5], rtol=0, atol=0)
    assert how == ["pieces", "pieces"]
    bias = torch.tensor([1.0, 2.0, 3.0, 10.0, 0.0])
    rows, how = init_rows(bias, [3, 4], [[0, 2], []], "mean", 0.02, g)
    assert rows.tolist() == [2.0, 2.0] and how == ["pieces", "fallback"]  # fallback: mean of 1, 2, 3


def test_init_rows_fallback_leaves_the_replaced_rows_out_of_the_mean():
    """The rows being (re)initialised (appended zeros, or ``[unusedN]`` rows) are not averaged in."""
    g = torch.Generator().manual_seed(0)
    table = torch.ones(10, 4)
    table[[2, 7]] = 1000.0
    rows, how = init_rows(table, [2, 7], [[], []], "mean", 0.02, g)
    assert how == ["fallback", "fallback"]
    assert torch.equal(rows, torch.ones(2, 4))  # all kept rows equal: covariance 0, no perturbation
    bias = torch.tensor([4.0, -50.0, 4.0, 4.0, 80.0])
    assert init_rows(bias, [1, 4], [[], [0]], "mean", 0.02, g)[0].tolist() == [4.0, 4.0]


def test_fallback_rows_stay_finite_for_rows_of_low_rank():
    """Few rows in many dimensions: the covariance is singular and its computed eigenvalues dip
    below zero by rounding; the fallback rows are still finite and in the rows' subspace."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(3, 2, generator=g) @ torch.randn(2, 16, generator=g)
    table = torch.cat([base, torch.zeros(5, 16)])
    rows, how = init_rows(table, list(range(3, 8)), [[]] * 5, "mean", 0.02, g)
    assert how == ["fallback"] * 5 and torch.isfinite(rows).all()
    assert (rows - base.mean(0)).abs().max() < 0.1 * base.std(0).max()


def test_fallback_perturbation_has_the_rows_covariance_times_fallback_covariance():
    """Fallback rows are ``mean + N(0, FALLBACK_COVARIANCE x cov)``: per dimension the variance of
    the rows' own column (which differ 10x here), and their correlations (columns 0 and 1 move
    together); checked on 4000 draws, within 15%."""
    g = torch.Generator().manual_seed(1)
    base = torch.randn(400, 4, generator=g) * torch.tensor([2.0, 2.0, 0.6, 0.2]) + 3.0
    base[:, 1] = base[:, 0] + 0.1 * torch.randn(400, generator=g)
    n = 4000
    table = torch.cat([base, torch.zeros(n, 4)])
    ids = list(range(400, 400 + n))
    rows, how = init_rows(table, ids, [[]] * n, "mean", 0.02, g)
    assert set(how) == {"fallback"}
    gap = rows - base.mean(0)
    cov = torch.cov(base.T)
    ratio = gap.var(0) / (FALLBACK_COVARIANCE * cov.diagonal())
    assert ((ratio > 0.85) & (ratio < 1.15)).all(), ratio
    assert (gap.mean(0).abs() < 0.1 * (FALLBACK_COVARIANCE * cov.diagonal()).sqrt()).all()  # around the mean
    corr = torch.corrcoef(gap.T)
    assert corr[0, 1] > 0.95 and corr[0, 2].abs() < 0.1 and corr[2, 3].abs() < 0.1
    assert len({tuple(r.tolist()) for r in rows}) == n  # no two alike


def test_random_rows_are_normal_with_the_given_std_and_random_biases_zero():
    g = torch.Generator().manual_seed(2)
    table = torch.cat([torch.full((5, 8), 7.0), torch.zeros(1000, 8)])
    rows, how = init_rows(table, list(range(5, 1005)), [[0]] * 1000, "random", 0.3, g)
    assert how == ["random"] * 1000 and rows.shape == (1000, 8)
    assert 0.3 * 0.95 < rows.std().item() < 0.3 * 1.05 and abs(rows.mean().item()) < 0.02
    bias, how = init_rows(torch.full((9,), 5.0), [7, 8], [[0], []], "random", 0.3, g)
    assert torch.equal(bias, torch.zeros(2)) and how == ["random", "random"]


# ---------------------------------------------------------------------------------- rows: whole checkpoints


def test_vocab_tensors_finds_every_token_indexed_tensor_embeddings_first():
    rows = 7
    state = {
        "a.lm_head.bias": torch.zeros(rows),
        "a.lm_head.decoder.weight": torch.zeros(rows, 4),
        "a.generator_lm_head.weight": torch.zeros(rows, 4),
        "a.generator_lm_head.bias": torch.zeros(rows),
        "a.lm_head.weight": torch.zeros(rows, 4),
        "x.embeddings.word_embeddings.weight": torch.zeros(rows, 4),
        "cls.predictions.bias": torch.zeros(rows),
        "x.embeddings.position_embeddings.weight": torch.zeros(rows, 4),  # rows by coincidence
        "x.decoder.weight_g": torch.zeros(rows, 4),
        "a.other.bias": torch.zeros(rows),
        "b.decoder.weight": torch.zeros(rows + 1, 4),  # another size
        "c.decoder.weight": torch.zeros(rows, 4, 2),  # not rows of vectors
    }
    assert vocab_tensors(state, rows) == ["x.embeddings.word_embeddings.weight", "a.lm_head.bias",
                                          "a.lm_head.decoder.weight", "a.generator_lm_head.weight",
                                          "a.generator_lm_head.bias", "a.lm_head.weight", "cls.predictions.bias"]
    with pytest.raises(ConfigError, match=r"expected one word-embedding matrix .* of 8 rows .* found 0"):
        vocab_tensors(state, rows + 1)
    state["y.embeddings.word_embeddings.weight"] = torch.zeros(rows, 4)
    with pytest.raises(ConfigError, match="found 2"):
        vocab_tensors(state, rows)


def _check_mean_rows(base: WordPiece, before: dict, after: dict, ids: dict[str, int], names=VOCAB_TENSORS,
                     excluded=()) -> None:
    """Each token-indexed tensor: the pieces tokens' rows are the mean of their pieces' rows (listed
    by hand), the fallback token's row the mean of the kept old rows (biases exactly, weights
    within 8 standard deviations of the perturbation)."""
    v = base.vocab
    hand = {"zqx": [v["z"], v["##q"], v["##x"]], "##zq": [v["##z"], v["##q"]], "drewq": [v["drew"], v["##q"]]}
    for name in names:
        old = before[name]
        kept = [i for i in range(old.shape[0]) if i not in excluded]
        for token, pieces in hand.items():
            if token in ids:
                torch.testing.assert_close(after[name][ids[token]], old[pieces].mean(0), rtol=0, atol=1e-6)
        mean = old[kept].mean(0)
        row = after[name][ids["北"]]
        if old.dim() == 1:
            torch.testing.assert_close(row, mean, rtol=0, atol=1e-6)
        else:
            gap = (row - mean).abs()
            assert gap.max() > 0  # perturbed
            assert (gap < 8 * FALLBACK_COVARIANCE ** 0.5 * old[kept].std(0)).all(), name


def test_append_initialises_every_token_indexed_tensor_and_keeps_the_rest(offset_mlm, tmp_path):
    base = WordPiece.read(offset_mlm)
    before = _weights(offset_mlm)
    out = tmp_path / "app"
    record = extend_checkpoint(base, ["zqx", "北", "zqx", "##zq", "drewq"], out)
    after = _weights(out)
    n = base.size
    ids = {"zqx": n, "北": n + 1, "##zq": n + 2, "drewq": n + 3}
    assert [(t["token"], t["id"], t["init"]) for t in record["tokens"]] == [
        ("zqx", n, "pieces"), ("北", n + 1, "fallback"), ("##zq", n + 2, "pieces"), ("drewq", n + 3, "pieces")]
    assert record["tokens"][0]["pieces"] == ["z", "##q", "##x"] and record["tokens"][1]["pieces"] == []
    assert (record["added"], record["from_pieces"], record["from_fallback"]) == (4, 3, 1)
    assert record["vocab_size"] == n + 4 and record["base"]["vocab_size"] == n
    assert sorted(record["resized"]) == sorted(VOCAB_TENSORS) == sorted(record["reinitialised"])
    for name, old in before.items():
        if name in VOCAB_TENSORS:
            assert after[name].shape == (n + 4, *old.shape[1:]) and torch.equal(after[name][:n], old)
        else:
            assert torch.equal(after[name], old), name
    _check_mean_rows(base, before, after, ids)
    assert json.loads((out / "config.json").read_text())["vocab_size"] == n + 4
    assert json.loads((out / RECORD_FILE).read_text(encoding="utf-8")) == record


def test_use_unused_initialises_the_slots_without_averaging_them_in(offset_mlm, tmp_path):
    """The ``[unusedN]`` rows being filled hold garbage (50 here): a fallback row is the mean of the
    other rows; the slots left unused and every other row stay as they were."""
    def garbage(state):
        for name in VOCAB_TENSORS:
            state[name][SLOT0:SLOT0 + 3] = 50.0

    src = _rewrite(offset_mlm, tmp_path / "garbage", garbage)
    base = WordPiece.read(src)
    before = _weights(src)
    record = extend_checkpoint(base, ["zqx", "北", "##zq"], tmp_path / "u", use_unused=True)
    after = _weights(tmp_path / "u")
    ids = {"zqx": SLOT0, "北": SLOT0 + 1, "##zq": SLOT0 + 2}
    assert [t["id"] for t in record["tokens"]] == list(ids.values()) and record["resized"] == []
    for name in VOCAB_TENSORS:
        assert after[name].shape == before[name].shape
        rest = [i for i in range(base.size) if i not in ids.values()]
        assert torch.equal(after[name][rest], before[name][rest])
    _check_mean_rows(base, before, after, ids, excluded=set(ids.values()))
    assert WordPiece.read(tmp_path / "u").unused_ids == list(range(SLOT0 + 3, SLOT0 + UNUSED))


def test_random_init_draws_at_the_configs_initializer_range(offset_mlm, tmp_path):
    src = _rewrite(offset_mlm, tmp_path / "wide", edit_config=lambda c: c.update(initializer_range=0.25))
    base = WordPiece.read(src)
    tokens = [f"tok{i}" for i in range(40)]
    extend_checkpoint(base, tokens, tmp_path / "r", init="random", seed=3)
    after = _weights(tmp_path / "r")
    for name in (EMB, DEC):
        rows = after[name][base.size:]  # shape: (40, 32)
        assert 0.25 * 0.9 < rows.std().item() < 0.25 * 1.1, name
    for name in (BIAS, DEC_BIAS):
        assert torch.equal(after[name][base.size:], torch.zeros(40))
    # the seed decides the rows
    extend_checkpoint(base, tokens, tmp_path / "r2", init="random", seed=3)
    extend_checkpoint(base, tokens, tmp_path / "r3", init="random", seed=4)
    assert torch.equal(_weights(tmp_path / "r2")[EMB], after[EMB])
    assert not torch.equal(_weights(tmp_path / "r3")[EMB], after[EMB])


def test_a_config_padded_past_the_tokenizer_keeps_its_rows(offset_mlm, tmp_path):
    """``vocab_size`` 3 above the tokenizer's size (a matrix padded for speed): new tokens take the
    ids after the tokenizer's last, over the padding rows; the matrix grows only once they run out."""
    base = WordPiece.read(offset_mlm)
    n = base.size

    def pad(state):
        for name in VOCAB_TENSORS:
            state[name] = torch.cat([state[name], torch.full((3, *state[name].shape[1:]), 7.0)])

    src = _rewrite(offset_mlm, tmp_path / "padded", pad, lambda c: c.update(vocab_size=n + 3))
    extend_checkpoint(base, ["zqx", "##zq"], tmp_path / "two")
    record = extend_checkpoint(WordPiece.read(src), ["zqx", "##zq"], tmp_path / "two-padded")
    after = _weights(tmp_path / "two-padded")
    assert record["vocab_size"] == n + 3 and record["resized"] == []
    assert json.loads((tmp_path / "two-padded" / "config.json").read_text())["vocab_size"] == n + 3
    for name in VOCAB_TENSORS:
        assert after[name].shape[0] == n + 3
        assert torch.equal(after[name][n + 2], torch.full_like(after[name][n + 2], 7.0))  # padding row kept
        assert torch.equal(after[name][n:n + 2], _weights(tmp_path / "two")[name][n:n + 2])
    record = extend_checkpoint(WordPiece.read(src), ["zqx", "##zq", "q1", "q2", "q3"], tmp_path / "five")
    assert record["vocab_size"] == n + 5 and _weights(tmp_path / "five")[EMB].shape[0] == n + 5
    # vocab_size below the tokenizer's entries: refused, nothing written
    small = _rewrite(offset_mlm, tmp_path / "small", edit_config=lambda c: c.update(vocab_size=n - 1))
    with pytest.raises(ConfigError, match=f"vocab_size {n - 1} is smaller than the tokenizer's {n:,} entries"):
        extend_checkpoint(WordPiece.read(small), ["zqx"], tmp_path / "no")
    assert not (tmp_path / "no").exists()
    exact = _rewrite(offset_mlm, tmp_path / "exact", edit_config=lambda c: c.update(vocab_size=n))
    assert extend_checkpoint(WordPiece.read(exact), ["zqx"], tmp_path / "yes")["vocab_size"] == n + 1


def test_half_precision_weights_stay_half_precision(offset_mlm, tmp_path):
    src = _rewrite(offset_mlm, tmp_path / "half", lambda s: s.update({k: v.half() for k, v in s.items()}))
    base = WordPiece.read(src)
    before = _weights(src)
    extend_checkpoint(base, ["zqx", "北"], tmp_path / "h")
    after = _weights(tmp_path / "h")
    assert {v.dtype for v in after.values()} == {torch.float16}
    v = base.vocab
    expected = before[EMB][[v["z"], v["##q"], v["##x"]]].float().mean(0).half()
    assert torch.equal(after[EMB][base.size], expected)


def test_config_and_vocabulary_files_are_carried_over_and_weights_never(offset_mlm, tmp_path):
    def extras(directory: Path) -> None:
        (directory / "1_Pooling").mkdir()
        (directory / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
        (directory / "notes.txt").write_text("kept")
        (directory / "pytorch_model.bin").write_bytes(b"stale")
        (directory / "tf_model.h5").write_bytes(b"stale")
        (directory / ".cache.json").write_text("{}")
        (directory / "onnx").mkdir()
        (directory / "onnx" / "model.onnx").write_bytes(b"stale")  # a folder with weights: not carried,
        (directory / "onnx" / "config.json").write_text("{}")  # its configs neither
        (directory / "README.md").write_text("# Base\n\nthe base's own card text")

    src = _rewrite(offset_mlm, tmp_path / "base")
    extras(src)
    (tmp_path / "out").mkdir()  # an existing empty directory is a fine output
    extend_checkpoint(WordPiece.read(src), ["zqx"], tmp_path / "out")
    names = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert names == sorted(["1_Pooling", "1_Pooling/config.json", "notes.txt", "README.md", RECORD_FILE,
                            "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"])
    assert (tmp_path / "out" / "notes.txt").read_text() == "kept"
    card = (tmp_path / "out" / "README.md").read_text()
    assert card.startswith("# Base with 1 added tokens\n") and "own card text" not in card
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base", "out"]  # no temporary left behind
    with pytest.raises(ConfigError, match="exists and is not an empty directory"):
        extend_checkpoint(WordPiece.read(src), ["zqy"], src / "notes.txt")
