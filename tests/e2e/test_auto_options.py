"""``--word-features auto`` (the default of ``entitune train`` for NER) and ``--context auto``: each
resolves from the training data (and the encoder's tokenizer), the choice and its reason are printed
and kept under ``auto`` in ``train_log.json``, and the saved model carries the resolved values."""
from __future__ import annotations

import json

import pytest
import torch

from entitune.recipes import Console, FinetuneConfig, finetune
from entitune.options import AUTO_CONTEXT
from tests.helpers.data import TINY_SENTENCES, write_bio


def _conll(path, documents) -> str:
    """CoNLL-2003-style columns, a ``-DOCSTART-`` line before each document."""
    lines = []
    for doc in documents:
        lines.append("-DOCSTART- -X- -X- O\n\n")
        for words, tags in doc:
            lines.extend(f"{w} NN O {t}\n" for w, t in zip(words, tags))
            lines.append("\n")
    path.write_text("".join(lines))
    return str(path)


def _cased(sentences):
    """The tiny sentences with their entity words capitalised (as CoNLL writes names)."""
    return [([w.title() if t != "O" else w for w, t in zip(words, tags)], tags) for words, tags in sentences]


def _train(tmp_path, tiny_bert, train, **options):
    notes = []

    class Notes(Console):
        def note(self, text: str) -> None:
            notes.append(text)

    threads = torch.get_num_threads()
    try:
        result = finetune(FinetuneConfig(train=train, out=str(tmp_path / "run"), model=str(tiny_bert), epochs=1,
                                         batch_size=4, max_length=32, stride=4, threads=1, **options),
                          Notes(quiet=True))
    finally:
        torch.set_num_threads(threads)
    log = json.loads((tmp_path / "run" / "train_log.json").read_text())
    return result, log, notes


def test_cased_documents_turn_both_on(tmp_path, tiny_bert):
    cased = _cased(TINY_SENTENCES)
    train = _conll(tmp_path / "train.txt", [cased[:3], cased[3:]])
    _, log, notes = _train(tmp_path, tiny_bert, train, context="auto")
    assert log["config"]["word_features"] == "auto" and log["config"]["context"] == "auto"
    assert log["auto"]["word_features"]["chosen"] == "shape+chars" == log["model"]["word_features"]
    assert log["auto"]["context"]["chosen"] == AUTO_CONTEXT == log["model"]["context"]
    assert "2 documents" in log["auto"]["context"]["reason"]
    assert any(n.startswith("word features shape+chars: the tokenizer lowercases") for n in notes)
    assert any(n.startswith(f"document context {AUTO_CONTEXT}: ") for n in notes)
    assert log["model"]["char_vocab"]  # the character CNN got its vocabulary from the training words


def test_lowercase_single_document_turns_both_off(tmp_path, tiny_bert):
    train = str(write_bio(tmp_path / "train.bio", TINY_SENTENCES))
    _, log, notes = _train(tmp_path, tiny_bert, train, context="auto")
    assert log["auto"]["word_features"]["chosen"] == "none" == log["model"]["word_features"]
    assert log["auto"]["context"]["chosen"] == 0 == log["model"]["context"]
    assert "one document" in log["auto"]["context"]["reason"]
    assert any(n.startswith("word features none: 0% of training words") for n in notes)


@pytest.mark.parametrize("options", [{"word_features": "none", "context": 0}, {"word_features": "shape", "context": "8"}])
def test_explicit_values_are_kept_and_nothing_is_chosen(tmp_path, tiny_bert, options):
    cased = _cased(TINY_SENTENCES)
    train = _conll(tmp_path / "train.txt", [cased[:3], cased[3:]])
    _, log, notes = _train(tmp_path, tiny_bert, train, **options)
    assert "auto" not in log
    assert log["model"]["word_features"] == options["word_features"]
    assert log["model"]["context"] == int(options["context"])
    assert not any(n.startswith(("word features ", "document context ")) for n in notes)


def test_a_classifier_ignores_both(tmp_path, tiny_bert):
    from tests.helpers.data import TINY_TEXTS

    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in TINY_TEXTS))
    _, log, _ = _train(tmp_path, tiny_bert, str(train))
    assert log["task"] == "classify" and "auto" not in log


def test_context_is_off_by_default(tmp_path, tiny_bert):
    """Document context costs about 6x the CPU time (the windows fill up): opt-in, even for data
    with documents; the word features' choice is still made."""
    cased = _cased(TINY_SENTENCES)
    _, log, _ = _train(tmp_path, tiny_bert, _conll(tmp_path / "train.txt", [cased[:3], cased[3:]]))
    assert log["config"]["context"] == 0 == log["model"]["context"] and "context" not in log["auto"]
    assert log["auto"]["word_features"]["chosen"] == "shape+chars"
