"""``entitune adapt`` end to end on the tiny random BERT and a tiny text: the vocabulary extended with
the text's words, the extended encoder pretrained for the step budget on the text and the training
file's words, ``adapt.json`` saying what each step did and what it changed for a measured file,
the result fine-tuned by ``entitune train --model OUT``; ``--max-new 0`` pretrains the base as it
is; ``--resume`` reuses the extension; bad input is one line and exit status 2."""
from __future__ import annotations

import json
import lzma
from pathlib import Path

import pytest
import torch

from tests.helpers.cli import run_main
from tests.helpers.data import TINY_SENTENCES, write_bio

#: words the tiny vocabulary splits into letters: what the extension should add
NEW_WORDS = ("tarantino", "kubrick", "fellini", "kurosawa")


def _run(args: list[str]) -> tuple[int, str, str]:
    threads = torch.get_num_threads()
    try:
        return run_main([str(a) for a in args])
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("adapt")
    lines = [f"films by {w} with {v}" for w in NEW_WORDS for v in NEW_WORDS] * 2
    (d / "corpus.txt.xz").write_bytes(lzma.compress(("\n".join(lines) + "\n").encode()))
    write_bio(d / "train.bio", TINY_SENTENCES * 2)
    (d / "test.txt").write_text("show me tarantino films\nkurosawa with kubrick\n")
    return {"corpus": d / "corpus.txt.xz", "train": d / "train.bio", "test": d / "test.txt", "dir": d}


def _common(tiny_bert, out) -> list:
    return ["--model", tiny_bert, "--out", out, "--max-length", "16", "--batch-size", "4", "--device", "cpu",
            "--precision", "fp32", "--threads", "1"]


def test_adapt_extends_pretrains_and_saves_an_encoder_train_reads(tiny_bert, files):
    out = files["dir"] / "adapted"
    code, _, err = _run(["adapt", "--text", files["corpus"], "--train", files["train"], "--max-new", "6", "--unit",
                         "word", "--max-steps", "3", "--measure", files["test"], *_common(tiny_bert, out)])
    assert code == 0, err[-3000:]
    record = json.loads((out / "adapt.json").read_text())
    extension = record["extension"]
    assert extension["added"] == 4 and set(extension["tokens"]) == set(NEW_WORDS)  # only the words it splits
    assert record["pretraining"]["stopped"]["reason"] == "max_steps" and record["pretraining"]["stopped"]["step"] == 3
    assert record["pretraining"]["data"]["train"] + record["pretraining"]["data"]["dev"] == 32 + 12  # text + train
    (measured,) = record["measured"]
    assert measured["file"] == str(files["test"])
    assert measured["after"]["subwords_per_word"] < measured["before"]["subwords_per_word"]
    vocab = json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]
    assert set(NEW_WORDS) <= set(vocab)
    log = json.loads((out / "train_log.json").read_text())
    assert log["config"]["model"] == str(out / "extended") and log["config"]["text"] == [str(files["corpus"]),
                                                                                          str(files["train"])]
    assert not (out / "extended").exists()  # removed once done (no --keep-checkpoints-after)
    assert "fine-tune it with: entitune train --model" in err
    code, _, err = _run(["train", "--train", files["train"], "--model", out, "--out", files["dir"] / "tagger",
                         "--epochs", "1", "--batch-size", "4", "--max-length", "16", "--stride", "4"])
    assert code == 0, err[-3000:]


def test_max_new_0_pretrains_the_base_and_resume_reuses_the_extension(tiny_bert, files):
    out = files["dir"] / "plain"
    code, _, err = _run(["adapt", "--train", files["train"], "--max-new", "0", "--max-steps", "2",
                         *_common(tiny_bert, out)])
    assert code == 0, err[-3000:]
    record = json.loads((out / "adapt.json").read_text())
    assert record["extension"] is None and "the vocabulary is kept as it is" in err
    assert json.loads((out / "train_log.json").read_text())["config"]["model"] == str(tiny_bert)

    out = files["dir"] / "kept"
    args = ["adapt", "--text", files["corpus"], "--max-new", "4", "--unit", "word", "--max-steps", "2",
            "--keep-checkpoints-after", *_common(tiny_bert, out)]
    code, _, err = _run(args)
    assert code == 0 and (out / "extended" / "vocab_extension.json").is_file(), err[-3000:]
    code, _, err = _run([*args, "--resume"])
    assert code == 0 and "reusing the extended vocabulary" in err and "has finished" in err, err[-3000:]


@pytest.mark.parametrize("args, words", [
    ([], ["--text FILE", "--train FILE"]),
    (["--text", "missing.txt"], ["missing.txt", "no such file"]),
    (["--train", "{train}", "--max-steps", "0"], ["--max-steps"]),
])
def test_bad_input_is_one_line_and_exit_2(tiny_bert, files, args, words):
    out = files["dir"] / "bad"
    code, _, err = _run(["adapt", *[a.format(**files) for a in args], "--model", tiny_bert, "--out", out])
    last = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err and last.startswith("error: "), err[-2000:]
    assert all(w in last for w in words), last
    assert not out.exists()
