"""One score everywhere: a trained model's test score in ``train_log.json`` and its model card equals
what ``entitune evaluate`` prints (the command line, default flags, another process) and what
``entitune.load(DIR).evaluate(FILE)`` returns in Python, exactly, for a tagger and a classifier.

Broken: a path that scores with other settings (``evaluate``'s precision ``auto`` picking bf16 on a
machine that runs it fast, another batch size, a predictor that reads the file otherwise) gives
another number, so a user's score depends on where they look.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard

import entitune
from entitune.recipes import Console, FinetuneConfig, finetune
from tests.helpers.data import REPO, TINY_SENTENCES, TINY_TEXTS, write_bio

#: the tagger's test sentences: the training words in other sentences, so the score is neither 0 nor 1
TEST_SENTENCES = [
    (["films", "with", "bruce", "willis", "from", "the", "1980s"], ["O", "O", "B-ACTOR", "I-ACTOR", "O", "O", "B-YEAR"]),
    (["steven", "spielberg", "movies", "in", "paris"], ["B-DIRECTOR", "I-DIRECTOR", "O", "O", "O"]),
    (["drew", "barrymore", "films", "directed", "by", "spielberg"], ["B-ACTOR", "I-ACTOR", "O", "O", "O", "B-DIRECTOR"]),
    (["what", "movies", "from", "the", "1980s", "star", "drew", "barrymore"],
     ["O", "O", "O", "O", "B-YEAR", "O", "B-ACTOR", "I-ACTOR"]),
]
TEST_TEXTS = [("films with bruce willis", "actor"), ("movies steven spielberg directed", "director"),
              ("films from the 1980s", "year"), ("drew barrymore in paris", "actor"),
              ("spielberg films of the 1980s", "director"), ("a movie from paris", "year")]


def _train(tmp_path, tiny_bert, train, test, **options) -> tuple:
    threads = torch.get_num_threads()
    try:
        finetune(FinetuneConfig(train=str(train), test=str(test), out=str(tmp_path / "run"), model=str(tiny_bert),
                                epochs=6, lr=1e-3, head_lr=1e-2, batch_size=4, max_length=32, stride=4, threads=1,
                                seed=3, **options), Console(quiet=True))
    finally:
        torch.set_num_threads(threads)
    out = tmp_path / "run"
    return out, json.loads((out / "train_log.json").read_text())


def _cli_evaluate(model, data, json_out) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-m", "entitune", "evaluate", str(model), str(data), "--json", str(json_out)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(json_out.read_text())


def _card_metrics(model) -> dict:
    card = ModelCard.load(model / "README.md")
    return {r.metric_name: r.metric_value for r in card.data.eval_results}


def test_tagger_card_cli_and_python_give_one_score(tmp_path, tiny_bert):
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 3)
    test = write_bio(tmp_path / "test.bio", TEST_SENTENCES)
    model, log = _train(tmp_path, tiny_bert, train, test)
    cli = _cli_evaluate(model, test, tmp_path / "eval.json")
    python = entitune.load(str(model)).evaluate(test)
    assert 0 < log["test"]["entity"]["f1"] < 1 or 0 < log["test"]["token_micro_f1"] < 1  # a score that can differ
    for key in ("entity", "per_type", "entity_conlleval", "token_micro_f1", "words", "invalid_sequences"):
        assert log["test"][key] == cli[key] == python[key], key
    card = _card_metrics(model)
    assert card["entity F1 (strict, micro)"] == pytest.approx(round(cli["entity"]["f1"], 4), abs=0)
    assert card["token micro F1"] == pytest.approx(round(cli["token_micro_f1"], 4), abs=0)


def test_classifier_card_cli_and_python_give_one_score(tmp_path, tiny_bert):
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in TINY_TEXTS * 2))
    test.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in TEST_TEXTS))
    model, log = _train(tmp_path, tiny_bert, train, test)
    assert log["task"] == "classify"
    cli = _cli_evaluate(model, test, tmp_path / "eval.json")
    python = entitune.load(str(model)).evaluate(test)
    for key in ("accuracy", "macro_f1", "micro_f1", "per_class", "confusion"):
        if key in cli:
            assert log["test"][key] == cli[key] == python[key], key
    assert _card_metrics(model)["accuracy"] == pytest.approx(round(cli["accuracy"], 4), abs=0)
