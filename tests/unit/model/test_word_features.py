"""``--word-features``: each word's shape and characters, read as written, beside the encoder's
vector. Shape classes on examples; ids carried to the right word through windows and batches; a
tagger with each option trains, saves, reloads and predicts the same, with every head and frozen
features; and the features matter: on sentences whose lowercased text is the same but whose labels
follow capitalisation, a tagger with shapes learns the rule where an uncased one cannot beat chance."""
from __future__ import annotations

import json
import random
import zlib

import numpy as np
import pytest
import torch

from entitune import Predictor, Tagger, TorchScorer, TrainConfig, fit
from entitune.encode import (
    CharVocabulary,
    WordEncoder,
    WordFeaturizer,
    char_vocabulary,
    collate,
    word_shape,
)
from entitune.encode.word_features import (
    AUTO_WORD_FEATURES,
    choose_word_features,
    CHAR_BUCKETS,
    MAX_WORD_CHARS,
    SHAPE_IDS,
    SHAPES,
    clip_word,
    shape_id,
    tokenizer_lowercases,
)
from entitune.errors import ConfigError
from entitune.curate.doctor import diagnose, format_doctor
from entitune.model.word_features import WordFeatureNet
from entitune.tags import label_set
from entitune.types import Sentence
from tests.helpers.data import TINY_SENTENCES, WORDS, write_bio

MODES = ("shape", "chars", "shape+chars")


# -------------------------------------------------------------------------------------------
# shapes and character ids


@pytest.mark.parametrize("word, shape", [
    ("paris", "lower"), ("o'neil", "lower"), ("Paris", "capitalized"), ("I", "capitalized"),
    ("O'Neil", "capitalized"), ("Jean-Pierre", "capitalized"), ("USA", "upper"), ("U.S.", "upper"),
    ("NASA's", "mixed"), ("iPhone", "mixed"), ("McDonald", "mixed"), ("1980", "number"), ("3.5", "number"),
    ("12/05/1999", "number"), ("1,000", "number"), ("1980s", "has-digit"), ("A4", "has-digit"), ("B-52", "has-digit"),
    (",", "punct"), ("--", "punct"), ("$", "punct"), ("", "punct"), ("北京", "other"), ("Ünal", "capitalized"),
    ("ÉCOLE", "upper"), ("straße", "lower"),
])
def test_shape_classes(word, shape):
    assert word_shape(word) == shape


def test_shape_ids_are_distinct_and_mark_the_first_word():
    ids = {shape_id(w, initial) for w in ("a", "A", "AB", "aB", "1", "a1", ".", "北") for initial in (False, True)}
    assert ids == set(range(1, SHAPE_IDS))  # 0 is padding; every class and flag has its own id
    assert shape_id("Paris", True) != shape_id("Paris", False)  # a capital at the start says less
    assert shape_id("paris", False) != shape_id("Paris", False)
    assert len(SHAPES) == 8


def test_character_ids():
    vocab = CharVocabulary("aAb")
    assert vocab.size == 1 + CHAR_BUCKETS + 3
    assert vocab.word_ids("Aab") == (1 + CHAR_BUCKETS + 1, 1 + CHAR_BUCKETS, 1 + CHAR_BUCKETS + 2)
    # outside the vocabulary: a hashed id, the same in every process (no PYTHONHASHSEED)
    assert vocab.char_id("é") == 1 + zlib.crc32("é".encode()) % CHAR_BUCKETS
    assert all(1 <= vocab.char_id(c) <= CHAR_BUCKETS for c in "xyz€北")
    long = "Supercalifragilisticexpialidocious"
    assert len(vocab.word_ids(long)) == MAX_WORD_CHARS and clip_word(long) == long[:10] + long[-10:]
    with pytest.raises(ValueError, match="once"):
        CharVocabulary("aa")


def test_character_vocabulary_keeps_frequent_characters_in_order():
    # twice each: P a r i s; once (hashed): p A R I S x; case is kept apart
    assert char_vocabulary([["Paris", "paris", "PARIS"], ["x"]]) == "Pairs"
    assert char_vocabulary([["aaa", "bb", "cc"]]) == "abc"  # most frequent first, ties by code point


# -------------------------------------------------------------------------------------------
# ids aligned to words, through windows and batches


MIXED = ["Show", "me", "FILMS", "with", "Drew", "Barrymore", "from", "the", "1980s", ",", "what", "movies",
         "star", "Bruce", "WILLIS", "directed", "by", "Steven", "spielberg", "in", "Paris", "3.5", "a", "McOf"]


def test_every_word_gets_its_own_features_in_every_window(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    featurizer = WordFeaturizer("shape+chars", char_vocabulary([MIXED]))
    encoder = WordEncoder(tokenizer, max_length=10, stride=3, features=featurizer)
    sentences = [MIXED, MIXED[:3], [], MIXED[::-1]]
    windows = encoder.encode(sentences)
    assert sum(w.sentence == 0 for w in windows) >= 3  # a long sentence: several overlapping windows
    batch = collate(windows, tokenizer.pad_token_id)
    for row, w in enumerate(windows):
        words = sentences[w.sentence]
        for k in range(w.n_words):
            i = w.first_word + k
            assert w.shape_ids[k] == shape_id(words[i], i == 0)  # the sentence's first word, not the window's
            assert w.char_ids[k] == featurizer.vocabulary.word_ids(words[i])
            assert batch["word_shapes"][row, k] == w.shape_ids[k]
            chars = batch["word_chars"][row, k]
            assert chars[: len(words[i])].tolist() == list(w.char_ids[k]) and not chars[len(words[i]):].any()
        assert not batch["word_shapes"][row, w.n_words:].any() and not batch["word_chars"][row, w.n_words:].any()
    assert batch["word_shapes"].shape == batch["word_mask"].shape
    assert batch["word_chars"].shape[:2] == batch["word_mask"].shape
    assert batch["word_chars"].shape[2] == max(len(w) for w in MIXED)
    # without features, windows and batches are as before
    plain = WordEncoder(tokenizer, max_length=10, stride=3).encode(sentences)
    assert [(w.input_ids, w.word_starts) for w in plain] == [(w.input_ids, w.word_starts) for w in windows]
    assert plain[0].shape_ids is None and "word_shapes" not in collate(plain, 0)


def test_character_cnn_does_not_depend_on_padding():
    torch.manual_seed(0)
    vocab = CharVocabulary("abcdefgh")
    net = WordFeatureNet(True, vocab.size, char_filters=8).eval()
    words = ["Abc", "de", "fghhgfedcba"]

    def ids(word_list, width):
        rows = [list(vocab.word_ids(w)) + [0] * (width - len(w)) for w in word_list]
        return torch.tensor([rows]), torch.tensor([[shape_id(w, False) for w in word_list]])

    chars, shapes = ids(words, 11)
    wide_chars, _ = ids(words, 30)
    alone = [net(*reversed(ids([w], len(w))))[0, 0] for w in words]
    together = net(shapes, chars)[0]
    wide = net(shapes, wide_chars)[0]
    for k in range(len(words)):
        assert torch.allclose(together[k], alone[k], atol=1e-6) and torch.allclose(wide[k], alone[k], atol=1e-6)
    # a padding word (no characters) gives zeros from the CNN, not -inf
    padded = net(torch.tensor([[0]]), torch.zeros(1, 1, 4, dtype=torch.long))
    assert padded.shape == (1, 1, net.size) and torch.isfinite(padded).all() and not padded.any()


# -------------------------------------------------------------------------------------------
# a tagger with word features: train, save, reload, predict


def _labels():
    return label_set([t for _, ts in TINY_SENTENCES for t in ts])


def _tiny_cased():
    """TINY_SENTENCES with a mix of capitalisation (entities capitalised, one title in capitals)."""
    out = []
    for words, tags in TINY_SENTENCES:
        cased = [w.upper() if w == "films" else w.title() if t != "O" else w for w, t in zip(words, tags)]
        out.append(Sentence(tuple(cased), tuple(tags)))
    return out


INPUTS = [
    ["Show", "me", "FILMS", "with", "Drew", "Barrymore"],
    ["movies", "from", "the", "1980s"],
    MIXED * 2,  # longer than 16 sub-tokens: windows
    ["x"],
    [],
]


@pytest.mark.parametrize("mode, head, features", [
    ("shape", "linear", "finetune"), ("chars", "crf", "finetune"), ("shape+chars", "bilstm-crf", "finetune"),
    ("shape+chars", "linear", "frozen-concat4"), ("shape", "crf", "frozen-sum4"),
])
def test_tagger_with_word_features_trains_saves_reloads_and_predicts_the_same(tiny_bert, tmp_path, mode, head, features):
    train = _tiny_cased()
    tagger = Tagger.from_encoder(tiny_bert, _labels(), head=head, features=features, max_length=16, stride=4,
                                 word_features=mode, char_vocab=char_vocabulary(s.words for s in train))
    net = tagger.word_feature_net
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fit(tagger, train * 2, None, TrainConfig(epochs=2, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0))
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())  # the features trained
    # the head reads the encoder's vector and the features
    layers = tagger.n_layers if features == "frozen-concat4" else 1
    hidden = tagger.encoder.config.hidden_size * layers + net.size
    first = tagger.head.lstm if head == "bilstm-crf" else tagger.head.classifier
    assert (first.input_size if head == "bilstm-crf" else first.in_features) == hidden
    tagger.save(tmp_path / "m")
    settings = json.loads((tmp_path / "m" / "entitune.json").read_text())
    assert settings["word_features"] == mode and (settings["char_vocab"] != "") == ("chars" in mode)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config.get("architectures") is None  # transformers does not compute this model
    again = Tagger.load(tmp_path / "m")
    assert again.settings == tagger.settings
    for k, v in net.state_dict().items():
        assert torch.equal(again.word_feature_net.state_dict()[k], v)
    expected = Predictor(TorchScorer(tagger, fast=False)).tag(INPUTS)
    assert Predictor(TorchScorer(again, fast=False)).tag(INPUTS) == expected
    # batched as one-by-one (padding of words and characters changes nothing beyond float32 rounding:
    # batched matmuls sum in another order, which moved a probability by 1.007e-5 in one training)
    one = Predictor(TorchScorer(again, fast=False), batch_size=1).tag(INPUTS)
    assert [t.tags for t in one] == [t.tags for t in expected]
    for a, b in zip(one, expected):
        assert a.scores == pytest.approx(b.scores, abs=5e-5)


def test_word_features_learn_at_the_heads_rate(tiny_bert):
    """They are new layers beside the head: the head's learning rate, not the pretrained encoder's."""
    from entitune.train import build_optimizer

    tagger = Tagger.from_encoder(tiny_bert, _labels(), max_length=16, stride=4, word_features="shape+chars",
                                 char_vocab="abc")
    optimizer = build_optimizer(tagger, TrainConfig(lr=1e-4), 5e-3)
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert {lr_of[id(p)] for p in tagger.word_feature_net.parameters()} == {5e-3}
    assert {lr_of[id(p)] for p in tagger.encoder.parameters()} == {1e-4}


def test_the_lean_forward_runs_with_word_features(tiny_bert):
    tagger = Tagger.from_encoder(tiny_bert, _labels(), max_length=16, stride=4, word_features="shape+chars",
                                 char_vocab=char_vocabulary(s.words for s in _tiny_cased()))
    fast = TorchScorer(tagger)
    assert fast.fast is not None  # the features do not turn the lean BERT forward off
    batch = collate(tagger.word_encoder.encode(INPUTS), tagger.pad_id)
    assert np.allclose(fast.score_windows(batch), TorchScorer(tagger, fast=False).score_windows(batch), atol=1e-5)


def test_chars_need_a_vocabulary_and_modes_are_checked(tiny_bert):
    with pytest.raises(ConfigError, match="character vocabulary"):
        Tagger.from_encoder(tiny_bert, _labels(), word_features="chars")
    with pytest.raises(ConfigError, match="word_features"):
        Tagger.from_encoder(tiny_bert, _labels(), word_features="case")
    tagger = Tagger.from_encoder(tiny_bert, _labels(), max_length=16, stride=4, word_features="chars", char_vocab="ab")
    plain = WordEncoder(tagger.tokenizer, 16, 4).encode([["a"]])  # windows made without the model's features
    with pytest.raises(ValueError, match="no word_chars"):
        TorchScorer(tagger, fast=False).score_windows(collate(plain, 0))


def test_a_model_whose_weights_lack_its_features_is_refused(tiny_bert, tmp_path):
    from entitune.artifact import model_dir

    tagger = Tagger.from_encoder(tiny_bert, _labels(), max_length=16, stride=4, word_features="shape")
    tagger.save(tmp_path / "m")
    path = tmp_path / "m" / model_dir.WEIGHTS_FILE
    state = model_dir.load_safetensors(path)
    model_dir.save_safetensors({k: v for k, v in state.items() if not k.startswith("word_features.")}, path)
    with pytest.raises(ConfigError, match="word feature weights"):
        Tagger.load(tmp_path / "m")


# -------------------------------------------------------------------------------------------
# the features matter: capitalisation an uncased encoder never sees


def _case_rule_sentences(count: int, seed: int) -> list[Sentence]:
    """Sentences of the tiny words where each word is capitalised or not at random, and tagged
    B-ENT exactly when it is: the lowercased text says nothing about the tags."""
    rng = random.Random(seed)
    letters_only = [w for w in WORDS if w.isalpha()]  # "1980S" and "1980s" share a shape
    out = []
    for _ in range(count):
        words = rng.sample(letters_only, 5)
        caps = [rng.random() < 0.5 for _ in words]
        out.append(Sentence(tuple(w.title() if c else w for w, c in zip(words, caps)),
                            tuple("B-ENT" if c else "O" for c in caps)))
    return out


def _flipped(sentence: Sentence) -> Sentence:
    """The same words with every word's capitalisation (and so its tag) the other way round."""
    words = tuple(w.lower() if w[0].isupper() else w.title() for w in sentence.words)
    return Sentence(words, tuple("O" if t == "B-ENT" else "B-ENT" for t in sentence.tags))


def _word_accuracy(tagger, sentences) -> float:
    tagged = Predictor(TorchScorer(tagger)).tag([s.words for s in sentences])
    pairs = [(p, g) for t, s in zip(tagged, sentences) for p, g in zip(t.tags, s.tags)]
    return sum(p == g for p, g in pairs) / len(pairs)


@pytest.fixture(scope="module")
def case_data():
    train = _case_rule_sentences(60, seed=1)
    test = _case_rule_sentences(15, seed=2)
    # each test sentence beside its case-flipped twin: the same lowercased text, every tag the other way
    return train, [s for t in test for s in (t, _flipped(t))]


@pytest.mark.parametrize("mode", ["none", "shape", "chars"])
def test_word_features_learn_what_capitalisation_says(tiny_bert, case_data, mode):
    train, test = case_data
    assert tokenizer_lowercases(Tagger.from_encoder(tiny_bert, ["O", "B-ENT"]).tokenizer)  # an uncased tokenizer
    torch.manual_seed(0)
    tagger = Tagger.from_encoder(tiny_bert, label_set([t for s in train for t in s.tags]), features="frozen-sum4",
                                 max_length=16, stride=4, word_features=mode,
                                 char_vocab=char_vocabulary(s.words for s in train) if mode == "chars" else None)
    fit(tagger, train, None, TrainConfig(epochs=25, lr=1e-3, head_lr=2e-2, batch_size=8, warmup=0.0))
    accuracy = _word_accuracy(tagger, test)
    if mode == "none":
        # the encoder reads each pair as the same text, so it tags both alike: one of the two is wrong
        # for every word, whatever it learned (chance, by construction)
        assert accuracy <= 0.5
    else:
        assert accuracy >= 0.95, accuracy


# -------------------------------------------------------------------------------------------
# doctor says when word features likely help


def _write(path, sentences):
    return write_bio(path, [(list(s.words), list(s.tags)) for s in sentences])


def test_doctor_advises_word_features_for_an_uncased_tokenizer_and_cased_data(tiny_bert, tmp_path):
    from transformers import AutoTokenizer

    uncased = WordEncoder(AutoTokenizer.from_pretrained(str(tiny_bert)), 16, 0)
    cased_file = _write(tmp_path / "cased.bio", _case_rule_sentences(10, seed=3))
    lower_file = write_bio(tmp_path / "lower.bio", TINY_SENTENCES)

    report = diagnose([cased_file, lower_file], "bio", uncased)
    assert 0.05 < report["files"][0]["uppercase_words"] < 0.95 and report["files"][1]["uppercase_words"] == 0.0
    (advice,) = report["advice"]
    assert "--word-features auto" in advice and "lowercases" in advice
    assert f"advice: {advice}" in format_doctor(report).splitlines()
    # all lowercase training data: case says nothing
    assert diagnose([lower_file, cased_file], "bio", uncased)["advice"] == []
    # a tokenizer that keeps case: the encoder sees it already
    from transformers import BertTokenizerFast

    vocab = AutoTokenizer.from_pretrained(str(tiny_bert)).get_vocab()
    vocab.update({w.title(): len(vocab) + i for i, w in enumerate(WORDS)})
    cased = BertTokenizerFast(vocab=vocab, do_lower_case=False)
    assert not tokenizer_lowercases(cased)
    assert diagnose([cased_file], "bio", WordEncoder(cased, 16, 0))["advice"] == []


def test_auto_word_features_follow_the_doctors_rule(tiny_bert):
    """``--word-features auto``: shape+chars exactly where doctor advises them (an uncased tokenizer
    and training words whose case varies), none for all-lowercase or all-capitals data or a cased
    tokenizer; the reason says which."""
    from transformers import AutoTokenizer, BertTokenizerFast

    uncased = AutoTokenizer.from_pretrained(str(tiny_bert))
    cased_words = [s.words for s in _case_rule_sentences(10, seed=3)]
    assert choose_word_features(cased_words, uncased) == (AUTO_WORD_FEATURES, choose_word_features(cased_words, uncased)[1])
    assert AUTO_WORD_FEATURES == "shape+chars"
    assert "lowercases" in choose_word_features(cased_words, uncased)[1]
    lower = [words for words, _ in TINY_SENTENCES]
    assert choose_word_features(lower, uncased)[0] == "none"
    assert choose_word_features([[w.upper() for w in s] for s in lower], uncased)[0] == "none"
    # the bounds are the doctor's: just inside 5% turns it on, just outside does not
    inside = [["Paris"] + ["x"] * 19]  # 1 of 20 words: 5%
    outside = [["Paris"] + ["x"] * 20]  # 1 of 21: below 5%
    assert choose_word_features(inside, uncased)[0] == AUTO_WORD_FEATURES
    assert choose_word_features(outside, uncased)[0] == "none"
    vocab = uncased.get_vocab()
    vocab.update({w.title(): len(vocab) + i for i, w in enumerate(WORDS)})
    cased = BertTokenizerFast(vocab=vocab, do_lower_case=False)
    mode, reason = choose_word_features(cased_words, cased)
    assert mode == "none" and "keeps case" in reason
