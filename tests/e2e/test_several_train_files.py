"""Several training files (``--train a --train b``, ``train = [...]`` in a config) train exactly as
one file holding their sentences in that order; documents never span two files; files of different
tasks are refused in one line; a finished run of several files resumes as finished."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from entitune.errors import ConfigError
from entitune.recipes import FinetuneConfig
from entitune.recipes.tasks import read_all
from entitune.types import Sentence
from tests.helpers.cli import run_main
from tests.helpers.data import TINY_SENTENCES, TINY_TEXTS, write_bio, write_texts_csv


def _conll(path, sentences):
    """``(words, tags)`` as CoNLL columns (word first), another format than ``write_bio``'s."""
    path.write_text("".join("".join(f"{w} {t}\n" for w, t in zip(ws, ts)) + "\n" for ws, ts in sentences))
    return path


def _train(tmp_path, tiny_bert, out, *train_flags):
    threads = torch.get_num_threads()
    try:
        return run_main(["train", *train_flags, "--out", str(tmp_path / out), "--model", str(tiny_bert),
                         "--epochs", "2", "--dev-fraction", "0", "--lr", "1e-3", "--batch-size", "4",
                         "--max-length", "16", "--stride", "4", "--seed", "3", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)


def test_two_files_train_as_their_concatenation(tmp_path, tiny_bert):
    first, second = TINY_SENTENCES * 2, TINY_SENTENCES[::-1]
    a = write_bio(tmp_path / "a.bio", first)
    b = _conll(tmp_path / "b.conll", second)  # formats are sniffed per file
    both = write_bio(tmp_path / "both.bio", first + second)

    code, out, err = _train(tmp_path, tiny_bert, "two", "--train", str(a), "--train", str(b))
    assert code == 0, err
    code, _, err = _train(tmp_path, tiny_bert, "one", "--train", str(both))
    assert code == 0, err
    two, one = load_file(str(tmp_path / "two" / "model.safetensors")), load_file(str(tmp_path / "one" / "model.safetensors"))
    assert two.keys() == one.keys() and all(torch.equal(two[k], one[k]) for k in two)

    log = json.loads((tmp_path / "two" / "train_log.json").read_text())
    assert log["config"]["train"] == [str(a), str(b)]
    assert log["data"]["train"] == len(first) + len(second)
    assert f"train {len(first) + len(second)} sentences" in out + err
    card = (tmp_path / "two" / "README.md").read_text()
    assert "a.bio + b.conll" in card

    # --resume of the finished run, same files: nothing to resume (the log's list equals the tuple)
    code, out, err = _train(tmp_path, tiny_bert, "two", "--train", str(a), "--train", str(b), "--resume")
    assert code == 0, err
    assert "nothing to resume" in out + err
    # the other order is another training set: refused, and said
    code, out, err = _train(tmp_path, tiny_bert, "two", "--train", str(b), "--train", str(a), "--resume")
    assert code == 2 and "other training settings" in err and "train:" in err

    # the log's config goes back in as a config file, files and all
    threads = torch.get_num_threads()
    try:
        code, _, err = run_main(["train", "--config", str(tmp_path / "two" / "train_log.json"), "--out",
                                 str(tmp_path / "again")])
    finally:
        torch.set_num_threads(threads)
    assert code == 0, err
    again = load_file(str(tmp_path / "again" / "model.safetensors"))
    assert all(torch.equal(two[k], again[k]) for k in two)


def test_files_of_different_tasks_are_refused(tmp_path):
    a = write_bio(tmp_path / "a.bio", TINY_SENTENCES)
    texts = write_texts_csv(tmp_path / "texts.csv", TINY_TEXTS, header=True)
    code, out, err = run_main(["train", "--train", str(a), "--train", str(texts), "--out", str(tmp_path / "o")])
    assert code == 2 and "Traceback" not in err
    assert err.strip() == f"error: the training files are for different tasks: {a}: ner, {texts}: classify"
    assert not (tmp_path / "o").exists()


def test_a_missing_second_file_is_refused_before_anything_runs(tmp_path):
    a = write_bio(tmp_path / "a.bio", TINY_SENTENCES)
    code, _, err = run_main(["train", "--train", str(a), "--train", str(tmp_path / "gone.bio"), "--out", str(tmp_path / "o")])
    assert code == 2 and "gone.bio" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_documents_never_span_files():
    files = {"a": [Sentence(("x",), ("O",), 1, 0), Sentence(("y",), ("O",), 3, 1)],
             "b": [Sentence(("z",), ("O",), 1, 0), Sentence(("w",), ("O",), 3, 0)],
             "c": [Sentence(("v",), ("O",), 1, 2)]}
    read = read_all(("a", "b", "c"), files.__getitem__)
    assert [s.words[0] for s in read] == ["x", "y", "z", "w", "v"]
    assert [s.doc for s in read] == [0, 1, 2, 2, 5]  # b's one document follows a's two; c's keeps its number gap
    assert [s.line for s in read] == [1, 3, 1, 3, 1]  # lines stay those of each file


def test_config_takes_a_list_and_keeps_one_file_a_string(tmp_path):
    cfg = FinetuneConfig(train=["a.bio", tmp_path / "b.bio"], out=str(tmp_path / "o"))
    assert cfg.train == ("a.bio", str(tmp_path / "b.bio")) and cfg.train_files == cfg.train
    assert cfg.train_name == f"a.bio + {tmp_path / 'b.bio'}"
    one = FinetuneConfig(train=["a.bio"], out="o")
    assert one.train == "a.bio" and one.train_files == ("a.bio",) and one.train_name == "a.bio"
    with pytest.raises(ConfigError, match="at least one file"):
        FinetuneConfig(train=[], out="o")
    with pytest.raises(ConfigError, match="a file or a list of files"):
        FinetuneConfig(train=["a.bio", 3], out="o")
