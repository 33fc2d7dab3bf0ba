"""Shared fixtures: a tiny random BERT with its own WordPiece vocab, a tiny trained tagger, tiny
files. Data and helpers live in ``tests/helpers``."""
from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers.data import TINY_SENTENCES, WORDS, tiny_sentences, write_bio

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

if os.environ.get("MUTANT_UNDER_TEST"):  # under mutmut (scripts/mutation.py): the `entitune` processes tests
    import entitune  # start import the mutated copy this process imports, with the same mutant switched on

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(entitune.__file__).resolve().parents[1]),
                                                             os.environ.get("PYTHONPATH")]))

# timings on a shared 2-core machine vary too much for per-example deadlines
settings.register_profile("entitune", deadline=None, derandomize=True)
settings.load_profile("entitune")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A random 2-layer BERT (hidden 32) with a WordPiece vocab of the test words and characters."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory = tmp_path_factory.mktemp("tiny-bert")
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *chars, *[f"##{c}" for c in chars]]
    tokenizer = BertTokenizerFast(vocab={tok: i for i, tok in enumerate(dict.fromkeys(vocab))}, do_lower_case=True)
    tokenizer.save_pretrained(str(directory))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(dict.fromkeys(vocab)), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(str(directory), safe_serialization=True)
    return directory


@pytest.fixture(scope="session")
def tiny_tagger_dir(tiny_bert, tmp_path_factory) -> Path:
    """A tiny tagger trained on TINY_SENTENCES until it tags them (strict entity F1 1.0, every type;
    about a second of training), and saved. It really tags, so tests that compare entities across
    paths compare real spans (``tests.helpers.data.gold_entities``); tests/unit/test_fixtures.py
    fails if it ever stops tagging. (Trained 3 epochs, as it once was, it tagged every word O.)"""
    import torch

    from entitune import Tagger, TrainConfig, fit, label_set

    sentences = tiny_sentences()
    tagger = Tagger.from_encoder(tiny_bert, label_set([t for s in sentences for t in s.tags]), max_length=16, stride=4)
    # one thread: a model this small trains 10-20x slower on two threads of a busy 2-core machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # no dev set: keep the last epoch's weights, not the first to reach F1 1.0 (about epoch 7),
        # which still put stray tags on unseen punctuation after an entity
        fit(tagger, sentences * 4, None, TrainConfig(epochs=30, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0))
    finally:
        torch.set_num_threads(threads)
    out = tmp_path_factory.mktemp("tiny-tagger")
    tagger.save(out)
    return out


@pytest.fixture
def tiny_files(tmp_path) -> tuple[Path, Path]:
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 3)
    test = write_bio(tmp_path / "test.bio", TINY_SENTENCES)
    return train, test


@pytest.fixture(scope="session")
def tiny_classifier_dir(tiny_bert, tmp_path_factory) -> Path:
    """A tiny classifier trained on TINY_TEXTS until it classifies them, and saved."""
    from entitune import Classifier, TrainConfig
    from entitune.train import fit_classifier
    from tests.helpers.data import tiny_texts

    examples = tiny_texts()
    model = Classifier.from_encoder(tiny_bert, sorted({e.labels[0] for e in examples}), max_length=16, stride=4)
    fit_classifier(model, examples * 4, examples, TrainConfig(epochs=40, lr=1e-3, head_lr=1e-2, batch_size=8, warmup=0.0))
    out = tmp_path_factory.mktemp("tiny-classifier")
    model.save(out)
    return out
