"""Vocabulary extension on tiny checkpoints: the planner's counts and ranking (``model.wordpiece``)
and the two routes of ``model.vocab.extend_checkpoint`` (append and resize, or fill ``[unusedN]``):
the tokenizer splits with the new entries as WordPiece does, new rows start as the mean of their
pieces, shapes and ``vocab_size`` agree, and the result loads in transformers and in entitune."""
from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import torch
from safetensors.torch import load_file

from entitune.errors import ConfigError
from entitune.vocab.extend import FALLBACK_COVARIANCE, RECORD_FILE, extend_checkpoint, vocab_tensors
from entitune.vocab.wordpiece import (UNK_COST, WordPiece, _toy_state, analyse, choose_unit, corpus_stats, init_pieces,
                                      plan_vocabulary)
from tests.helpers.families import build_checkpoint
from tests.helpers.vocab import UNUSED, build_mlm_checkpoint

#: ids of the tiny vocabulary's [unusedN] placeholders
UNUSED_SLOTS = list(range(5, 5 + UNUSED))

EMB = "embeddings.word_embeddings.weight"


def _weights(directory) -> dict:
    return load_file(str(directory / "model.safetensors"))


def _auto_tokenizer(directory):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)


@pytest.fixture(scope="module")
def mlm_tied(tmp_path_factory):
    return build_mlm_checkpoint(tmp_path_factory.mktemp("mlm-tied"), tied=True)


@pytest.fixture(scope="module")
def mlm_untied(tmp_path_factory):
    return build_mlm_checkpoint(tmp_path_factory.mktemp("mlm-untied"), tied=False)


# ---------------------------------------------------------------------------------- splitting


def test_greedy_wordpiece_equals_the_fast_tokenizers_model(tiny_bert):
    """``WordPiece.pieces`` re-implements the tokenizers library's WordPiece model; on random strings
    over the vocabulary's characters (and some it lacks) both give the same pieces or both [UNK]."""
    from tokenizers import Tokenizer

    wp = WordPiece.read(tiny_bert)
    rust = Tokenizer.from_file(str(tiny_bert / "tokenizer.json")).model
    rng = random.Random(0)
    alphabet = "abcdefgilmorstwy19-é北"
    for _ in range(500):
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        ours = wp.pieces(word)
        theirs = [t.value for t in rust.tokenize(word)]
        assert (ours or ["[UNK]"]) == theirs, word


def test_split_word_uses_the_tokenizers_normalizer_and_pre_tokenizer(tiny_bert):
    """Lower case, accents stripped, punctuation and each CJK ideograph a pre-token of its own, a
    Hangul syllable decomposed into jamo (NFD) and kept as one character unit."""
    wp = WordPiece.read(tiny_bert)
    got = wp.split_word("Café,北京")
    assert [p.text for p in got] == ["cafe", ",", "北", "京"]
    assert got[0].units == ("c", "a", "f", "e") and got[2].cjk and not got[0].cjk
    (korean,) = wp.split_word("한국")
    assert len(korean.text) == 6 and korean.units == ("\u1112\u1161\u11ab", "\u1100\u116e\u11a8") and korean.cjk


# ---------------------------------------------------------------------------------- planning


def test_plan_ranks_words_by_subwords_saved_and_unk_words_strongly():
    wp = WordPiece.from_state(_toy_state(["[UNK]", "a", "b", "c", "##a", "##b", "##c"]))
    words = Counter({"abc": 5, "ab": 6, "A": 9, "x": 2, "Abcabc": 1})
    plan = plan_vocabulary(wp, words, max_new=10, min_count=1, unit="word")
    saved = {c.token: c.saved for c in plan.candidates}
    # abc: 5 x (3 pieces - 1); ab: 6 x 1; abcabc: 1 x 5; x is [UNK]: 2 x (UNK_COST - 1); 'a' is one token already
    assert saved == {"abc": 10, "ab": 6, "abcabc": 5, "x": 2 * (UNK_COST - 1) + 2 * UNK_COST}
    assert [c.token for c in plan.candidates] == ["x", "abc", "ab", "abcabc"]
    assert plan.candidates[0].pieces is None and plan.candidates[1].pieces == ("a", "##b", "##c")
    assert plan.before.words == 23 and plan.before.unk_words == 2
    assert plan.before.subwords == 5 * 3 + 6 * 2 + 9 + 2 + 6
    assert plan.after.unk_words == 0 and plan.after.subwords == 23  # every word one token now
    # min_count leaves rare words out; max_new keeps the best
    plan = plan_vocabulary(wp, words, max_new=1, min_count=3, unit="word")
    assert [c.token for c in plan.candidates] == ["abc", "ab"] and [c.token for c in plan.chosen] == ["abc"]
    # measured, not estimated: abcabc also gets shorter (abc ##a ##b ##c)
    assert plan.after.subwords == plan.before.subwords - 10 - 2


def test_char_units_and_missing_characters():
    """Char units give ``c`` at a word's start and ``##c`` inside; a character the vocabulary lacks
    where a word needs it is a candidate with either unit."""
    wp = WordPiece.from_state(_toy_state(["[UNK]", "a", "b", "##a"]))
    words = Counter({"ab": 4, "ba": 3, "北": 5})
    plan = plan_vocabulary(wp, words, max_new=10, min_count=1, unit="char")
    got = {c.token: (c.count, c.kind) for c in plan.candidates}
    assert got == {"##b": (4, "char"), "北": (5, "char")}  # 'ba' is b ##a already; 'ab' lacks ##b
    assert plan.after.unk_words == 0 and plan.before.unk_words == 9
    plan = plan_vocabulary(wp, words, max_new=10, min_count=1, unit="word")
    assert {c.token: c.kind for c in plan.candidates} == {"ab": "word", "ba": "word", "##b": "character", "北": "word"}


def test_auto_unit_is_char_for_cjk_data(tiny_bert):
    wp = WordPiece.read(tiny_bert)
    assert choose_unit(analyse(wp, Counter("北京大学在北京")), "auto")[0] == "char"
    assert choose_unit(analyse(wp, Counter({"drew": 3, "北": 1})), "auto")[0] == "word"
    assert choose_unit(analyse(wp, Counter({"drew": 3})), "char")[:2] == ("char", "as asked")
    with pytest.raises(ConfigError, match="unit must be one of"):
        choose_unit([], "syllable")


def test_plan_normalizes_candidates_as_the_tokenizer_does(tiny_bert):
    wp = WordPiece.read(tiny_bert)
    plan = plan_vocabulary(wp, Counter({"Spielbergesque": 3, "NAÏVE": 2, "naive": 1, "drew": 9}), min_count=1, unit="word")
    assert [c.token for c in plan.candidates] == ["spielbergesque", "naive"]
    assert [c.count for c in plan.candidates] == [3, 3]
    stats = corpus_stats(wp, analyse(wp, Counter({"drew": 2, "\u200b": 1})))
    assert (stats.words, stats.zero_words, stats.subwords) == (3, 1, 2)


def test_plan_refuses_bad_numbers(tiny_bert):
    wp = WordPiece.read(tiny_bert)
    with pytest.raises(ConfigError, match="max_new must be at least 1"):
        plan_vocabulary(wp, Counter({"x": 1}), max_new=0)
    with pytest.raises(ConfigError, match="min_count must be at least 1"):
        plan_vocabulary(wp, Counter({"x": 1}), min_count=0)


# ---------------------------------------------------------------------------------- append route


@pytest.fixture(scope="module")
def appended(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("ext") / "bert-ext"
    tokens = ["spielbergesque", "##esque", "北", "\u1112\u1161\u11ab"]  # a word, a continuation, a CJK char, 한
    record = extend_checkpoint(WordPiece.read(tiny_bert), tokens, out, record={"note": "test"})
    return out, tokens, record


def test_append_grows_the_vocabulary_embeddings_and_config(tiny_bert, appended):
    out, tokens, record = appended
    base = WordPiece.read(tiny_bert)
    ext = WordPiece.read(out)
    assert ext.size == base.size + 4 and [ext.vocab[t] for t in tokens] == list(range(base.size, base.size + 4))
    assert all(ext.vocab[t] == i for t, i in base.vocab.items())  # old ids kept
    lines = (out / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert lines == sorted(ext.vocab, key=ext.vocab.__getitem__)
    assert json.loads((out / "config.json").read_text())["vocab_size"] == ext.size
    old, new = _weights(tiny_bert)[EMB], _weights(out)[EMB]
    # shape: (vocab, hidden) -> (vocab + 4, hidden), old rows untouched
    assert new.shape == (old.shape[0] + 4, old.shape[1]) and torch.equal(new[: old.shape[0]], old)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt", RECORD_FILE, "README.md"]
        + [p.name for p in tiny_bert.iterdir() if p.name == "special_tokens_map.json"])
    assert record["route"] == "append" and record["resized"] == [EMB] and record["note"] == "test"
    assert json.loads((out / RECORD_FILE).read_text(encoding="utf-8"))["tokens"][0]["token"] == "spielbergesque"
    assert (out / "README.md").read_text().startswith(f"# {record['base']['name']} with 4 added tokens\n")


def test_new_rows_are_the_mean_of_their_pieces(tiny_bert, appended):
    out, _, record = appended
    base = WordPiece.read(tiny_bert)
    old, new = _weights(tiny_bert)[EMB], _weights(out)[EMB]
    pieces = base.pieces("spielbergesque")
    assert pieces == ["spielberg", "##e", "##s", "##q", "##u", "##e"]
    assert init_pieces(base, "spielbergesque") == [base.vocab[p] for p in pieces]
    torch.testing.assert_close(new[base.size], old[[base.vocab[p] for p in pieces]].mean(0))
    # a continuation is split as the inside of a word: ##e ##s ##q ##u ##e
    inside = [base.vocab[f"##{c}"] for c in "esque"]
    torch.testing.assert_close(new[base.size + 1], old[inside].mean(0))
    # 북/北: no known piece -> the mean of all rows, perturbed by N(0, 1e-5 cov): close to it, not equal
    assert [t["init"] for t in record["tokens"]] == ["pieces", "pieces", "fallback", "fallback"]
    spread = old.std(0).max().item()
    for row in (new[base.size + 2], new[base.size + 3]):
        gap = (row - old.mean(0)).abs().max().item()
        assert 0 < gap < 10 * spread * FALLBACK_COVARIANCE ** 0.5
    assert not torch.equal(new[base.size + 2], new[base.size + 3])


def test_the_extended_tokenizer_splits_with_real_vocabulary_entries(appended):
    """The new tokens are WordPiece entries, not added tokens: a new word is one token; inside a word
    the WordPiece rules hold (``##esque`` is used, ``spielbergesque`` is not); CJK characters, which
    the pre-tokenizer sets apart, and a Hangul syllable after the normalizer's NFD, are one token."""
    out, _, _ = appended
    tok = _auto_tokenizer(out)
    assert tok.tokenize("Spielbergesque") == ["spielbergesque"]
    assert tok.tokenize("drewesque") == ["drew", "##esque"]
    assert tok.tokenize("xspielbergesque")[:3] == ["x", "##s", "##p"]  # no ##spielbergesque: pieces as before
    assert tok.tokenize("北京") == ["北", "[UNK]"]
    assert tok.convert_tokens_to_ids(tok.tokenize("한")) == [WordPiece.read(out).vocab["\u1112\u1161\u11ab"]]
    assert tok.get_added_vocab().keys() <= {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    assert len(tok) == WordPiece.read(out).size


def test_the_extended_checkpoint_loads_in_transformers_and_entitune(appended):
    from transformers import AutoModel

    from entitune.model.tagger import Tagger

    out, _, _ = appended
    model = AutoModel.from_pretrained(str(out), local_files_only=True)
    tok = _auto_tokenizer(out)
    ids = tok("Spielbergesque 北", return_tensors="pt")
    assert model(**ids).last_hidden_state.shape == (1, 4, 32)
    tagger = Tagger.from_encoder(out, ["O", "B-X", "I-X"], max_length=16, stride=4)
    assert tagger.encoder.get_input_embeddings().weight.shape[0] == WordPiece.read(out).size


def test_random_init_is_normal_with_the_initializer_range(tiny_bert, tmp_path):
    base = WordPiece.read(tiny_bert)
    tokens = [f"tok{i}" for i in range(64)]
    record = extend_checkpoint(base, tokens, tmp_path / "r", init="random", seed=1)
    rows = _weights(tmp_path / "r")[EMB][base.size:]  # shape: (64, 32)
    assert record["init"] == "random" and {t["init"] for t in record["tokens"]} == {"random"}
    assert 0.015 < rows.std().item() < 0.025 and abs(rows.mean().item()) < 0.005


# ---------------------------------------------------------------------------------- MLM heads


def test_append_resizes_an_mlm_decoder_and_its_bias(mlm_untied, tmp_path):
    from transformers import AutoModelForMaskedLM

    base = WordPiece.read(mlm_untied)
    before = _weights(mlm_untied)
    record = extend_checkpoint(base, ["spielbergesque", "北"], tmp_path / "m")
    after = _weights(tmp_path / "m")
    names = vocab_tensors(before, base.size)
    assert names == ["bert.embeddings.word_embeddings.weight", "cls.predictions.bias", "cls.predictions.decoder.bias",
                     "cls.predictions.decoder.weight"]
    assert record["resized"] == names
    for name in names:
        assert after[name].shape[0] == base.size + 2 and torch.equal(after[name][: base.size], before[name])
    pieces = init_pieces(base, "spielbergesque")
    for name in ("cls.predictions.decoder.weight", "cls.predictions.bias"):
        torch.testing.assert_close(after[name][base.size], before[name][pieces].mean(0))
    torch.testing.assert_close(after["cls.predictions.bias"][base.size + 1], before["cls.predictions.bias"].mean())
    model = AutoModelForMaskedLM.from_pretrained(str(tmp_path / "m"), local_files_only=True)
    assert model.get_output_embeddings().weight.shape[0] == base.size + 2


MLM_EMB, MLM_BIAS = "bert.embeddings.word_embeddings.weight", "cls.predictions.bias"
MLM_DEC, MLM_DEC_BIAS = "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"


@pytest.fixture(scope="module")
def mlm_tied_stored(mlm_tied, tmp_path_factory):
    """The tied checkpoint as BERT's own checkpoints store it (bert-base-uncased and the
    checkpoints converted from ``pytorch_model.bin``): the tied decoder written out as a copy of the
    word embeddings, and ``decoder.bias`` as a copy of ``predictions.bias``. transformers' own
    ``save_pretrained`` leaves both out (the ``mlm_tied`` fixture), which extend_checkpoint handles
    without its tied branch, so that fixture alone never exercises it."""
    import shutil

    from safetensors.torch import save_file

    directory = tmp_path_factory.mktemp("mlm-tied-stored") / "m"
    shutil.copytree(mlm_tied, directory)
    state = _weights(directory)
    assert MLM_DEC not in state and MLM_DEC_BIAS not in state  # how transformers saves a tied decoder
    state[MLM_DEC] = state[MLM_EMB].clone()
    state[MLM_DEC_BIAS] = state[MLM_BIAS].clone()
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


@pytest.mark.parametrize("init", ["mean", "random"])
@pytest.mark.parametrize("use_unused", [False, True])
def test_a_stored_tied_decoder_is_written_equal_to_the_extended_embeddings(mlm_tied_stored, tmp_path, init, use_unused):
    """A decoder stored as a copy of the word embeddings is written as a copy of the extended
    embeddings, every row (the fallback's perturbation and random rows included, which a decoder
    initialised on its own would draw differently), and its bias as a copy of the extended bias.
    Checked in the saved file, since transformers re-ties the decoder on load whatever the file
    holds; then the loaded model reads the same rows."""
    from transformers import AutoModelForMaskedLM

    base = WordPiece.read(mlm_tied_stored)
    before = _weights(mlm_tied_stored)
    assert vocab_tensors(before, base.size) == [MLM_EMB, MLM_BIAS, MLM_DEC_BIAS, MLM_DEC]
    out = tmp_path / "t"
    tokens = ["spielbergesque", "北", "##zq"]
    record = extend_checkpoint(base, tokens, out, init=init, use_unused=use_unused, seed=5)
    after = _weights(out)
    ids = [t["id"] for t in record["tokens"]]
    rows = base.size if use_unused else base.size + len(tokens)
    assert ids == (UNUSED_SLOTS[:3] if use_unused else list(range(base.size, rows)))
    assert after[MLM_EMB].shape == after[MLM_DEC].shape == (rows, 32)
    assert torch.equal(after[MLM_DEC], after[MLM_EMB])
    assert torch.equal(after[MLM_DEC_BIAS], after[MLM_BIAS]) and after[MLM_BIAS].shape == (rows,)
    old = [i for i in range(base.size) if i not in ids]
    assert torch.equal(after[MLM_EMB][old], before[MLM_EMB][old])
    assert torch.equal(after[MLM_BIAS][old], before[MLM_BIAS][old])
    emb, bias = before[MLM_EMB], before[MLM_BIAS]
    if init == "mean":
        pieces = [base.vocab[p] for p in ["spielberg", "##e", "##s", "##q", "##u", "##e"]]
        torch.testing.assert_close(after[MLM_EMB][ids[0]], emb[pieces].mean(0), rtol=0, atol=1e-6)
        torch.testing.assert_close(after[MLM_BIAS][ids[0]], bias[pieces].mean(0), rtol=0, atol=1e-6)
        zq = [base.vocab["##z"], base.vocab["##q"]]
        torch.testing.assert_close(after[MLM_EMB][ids[2]], emb[zq].mean(0), rtol=0, atol=1e-6)
        kept = [i for i in range(base.size) if i not in ids]
        gap = (after[MLM_EMB][ids[1]] - emb[kept].mean(0)).abs()
        assert 0 < gap.max() and (gap < 8 * FALLBACK_COVARIANCE ** 0.5 * emb[kept].std(0)).all()
        torch.testing.assert_close(after[MLM_BIAS][ids[1]], bias[kept].mean(), rtol=0, atol=1e-6)
    else:
        assert torch.equal(after[MLM_BIAS][ids], torch.zeros(3))
        assert 0.005 < after[MLM_EMB][ids].std().item() < 0.05
    model = AutoModelForMaskedLM.from_pretrained(str(out), local_files_only=True)
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    assert torch.equal(model.get_input_embeddings().weight.detach(), after[MLM_EMB])
    assert torch.equal(model.cls.predictions.bias.detach(), after[MLM_BIAS])


def test_a_decoder_left_out_as_tied_stays_out_and_ties_to_the_new_rows(mlm_tied, tmp_path):
    """transformers' own save leaves the tied decoder out of the file: the extended file leaves it
    out too (no stale or invented copy), and the loaded model's decoder reads the extended
    embeddings, new rows included; the bias that is stored grows with its new row the mean of the
    pieces' biases."""
    from transformers import AutoModelForMaskedLM

    base = WordPiece.read(mlm_tied)
    before = _weights(mlm_tied)
    record = extend_checkpoint(base, ["spielbergesque", "北"], tmp_path / "t")
    after = _weights(tmp_path / "t")
    assert MLM_DEC not in after and MLM_DEC_BIAS not in after and set(after) == set(before)
    assert record["resized"] == [MLM_EMB, MLM_BIAS]
    pieces = init_pieces(base, "spielbergesque")
    torch.testing.assert_close(after[MLM_BIAS][base.size], before[MLM_BIAS][pieces].mean(), rtol=0, atol=1e-6)
    model = AutoModelForMaskedLM.from_pretrained(str(tmp_path / "t"), local_files_only=True)
    decoder = model.get_output_embeddings().weight.detach()
    assert decoder.shape == (base.size + 2, 32) and torch.equal(decoder, after[MLM_EMB])
    assert torch.equal(model.cls.predictions.bias.detach(), after[MLM_BIAS])


# ---------------------------------------------------------------------------------- unused route


def test_use_unused_fills_the_placeholders_in_place(mlm_untied, tmp_path):
    base = WordPiece.read(mlm_untied)
    slots = base.unused_ids
    assert len(slots) == UNUSED and slots == list(range(5, 5 + UNUSED))
    before = _weights(mlm_untied)
    record = extend_checkpoint(base, ["spielbergesque", "北", "##esque"], tmp_path / "u", use_unused=True)
    ext = WordPiece.read(tmp_path / "u")
    after = _weights(tmp_path / "u")
    assert ext.size == base.size and [ext.vocab[t] for t in ("spielbergesque", "北", "##esque")] == slots[:3]
    assert "[unused0]" not in ext.vocab and ext.unused_ids == slots[3:]
    assert json.loads((tmp_path / "u" / "config.json").read_text())["vocab_size"] == base.size
    assert record["route"] == "unused" and record["resized"] == [] and record["vocab_size"] == base.size
    for name, old in before.items():
        assert after[name].shape == old.shape
    emb = "bert.embeddings.word_embeddings.weight"
    untouched = [i for i in range(base.size) if i not in slots[:3]]
    assert torch.equal(after[emb][untouched], before[emb][untouched])
    torch.testing.assert_close(after[emb][slots[0]], before[emb][init_pieces(base, "spielbergesque")].mean(0))
    lines = (tmp_path / "u" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert lines[slots[0]] == "spielbergesque" and len(lines) == base.size
    assert _auto_tokenizer(tmp_path / "u").tokenize("spielbergesque 北 drewesque") == ["spielbergesque", "北", "drew", "##esque"]


def test_use_unused_refuses_more_tokens_than_slots(mlm_untied, tmp_path):
    base = WordPiece.read(mlm_untied)
    with pytest.raises(ConfigError, match=f"9 tokens but only {UNUSED} \\[unusedN\\] slots"):
        extend_checkpoint(base, [f"tok{i}" for i in range(9)], tmp_path / "x", use_unused=True)
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------------- refusals


def test_refusals_are_one_line_config_errors(tiny_bert, tmp_path):
    base = WordPiece.read(tiny_bert)
    with pytest.raises(ConfigError, match="already in the vocabulary: 'drew'"):
        extend_checkpoint(base, ["drew"], tmp_path / "a")
    with pytest.raises(ConfigError, match="is the base model"):
        extend_checkpoint(base, ["newword"], tiny_bert)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not an empty directory"):
        extend_checkpoint(base, ["newword"], tmp_path / "full")
    with pytest.raises(ConfigError, match="init must be one of mean, random"):
        extend_checkpoint(base, ["newword"], tmp_path / "b", init="zeros")
    with pytest.raises(ConfigError, match="no tokenizer.json"):
        WordPiece.read(tmp_path / "full")
    with pytest.raises(ConfigError, match="no such model directory"):
        WordPiece.read(tmp_path / "missing")
    roberta = build_checkpoint("roberta", tmp_path / "roberta")
    with pytest.raises(ConfigError, match="the tokenizer is BPE, not WordPiece"):
        WordPiece.read(roberta)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "roberta"]  # nothing half-written
