"""Input hardening as a user meets it on the command line: a FIFO, a device or a UTF-16 file given to
any verb is one line and exit 2 at once; empty predict input is a note and exit 0; training refuses
nothing-to-learn data in one line; doctor shortens huge words.

Each test's docstring says what breaking the behaviour looks like to a user.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.helpers.data import TINY_SENTENCES, write_bio

#: ``entitune``'s own ``main`` (what the console script calls), writing to the file in argv[1]
#: which heavy libraries were loaded when it ended. A refusal before torch loads is a refusal at
#: once (about 0.2-0.3 s from launch on this machine against 2 s and more with torch); asserting
#: what was imported instead of seconds keeps the test free of timings.
TIMED = ("import sys\nfrom entitune import cli\ntry:\n    cli.main(sys.argv[2:])\n"
         "finally:\n    open(sys.argv[1], 'w').write(' '.join(m for m in ('torch', 'transformers') if m in sys.modules))\n")
#: a hang on a refused input is caught here (a refusal takes a fraction of a second)
TIMEOUT = 15
#: commands that load a model and predict take longer on a busy 2-core machine
SLOW = 300


def run(*args, stdin=None, timing=None, timeout=SLOW):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-c", TIMED, str(timing)] if timing else [sys.executable, "-m", "entitune"]
    start = time.perf_counter()
    r = subprocess.run([*command, *map(str, args)], stdin=stdin, capture_output=True, text=True, env=env,
                       timeout=timeout)
    r.elapsed = time.perf_counter() - start
    return r


def one_line_error(r, expected: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.strip() == f"error: {expected}", r.stderr


@pytest.fixture
def files(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    os.mkfifo(tmp_path / "pipe.toml")
    ok = write_bio(tmp_path / "ok.bio", TINY_SENTENCES)
    yield tmp_path, tmp_path / "pipe", ok
    for name in ("pipe", "pipe.toml"):  # let a reader stuck in open() (a broken check) go
        try:
            os.close(os.open(tmp_path / name, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


COMMANDS = {
    "train --train": lambda d, p, ok: ["train", "--train", p, "--out", d / "o"],
    "train --dev": lambda d, p, ok: ["train", "--train", ok, "--dev", p, "--out", d / "o"],
    "train --test": lambda d, p, ok: ["train", "--train", ok, "--dev", ok, "--test", p, "--out", d / "o"],
    "train --config": lambda d, p, ok: ["train", "--config", d / "pipe.toml"],
    "evaluate": lambda d, p, ok: ["evaluate", d / "model", p],
    "doctor": lambda d, p, ok: ["doctor", p],
    "doctor (second file)": lambda d, p, ok: ["doctor", ok, p],
    "convert": lambda d, p, ok: ["convert", p, "--out", d / "x.conll"],
    "split": lambda d, p, ok: ["split", p, "--out", d / "parts"],
    "predict --input": lambda d, p, ok: ["predict", d / "model", "--input", p],
    "export --eval": lambda d, p, ok: ["export", d / "model", "--onnx", d / "onnx", "--eval", p],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_fifo_input_is_one_line_exit_2_at_once(files, command):
    """Broken: the command hangs for ever on a named pipe (killed here after 15 s), prints a
    traceback, or loads torch, data or a model first (seconds, not a fraction of one)."""
    d, pipe, ok = files
    args = COMMANDS[command](d, pipe, ok)
    r = run(*args, timing=d / "loaded", timeout=TIMEOUT)
    print(f"{command}: {r.elapsed:.2f} s from launch")
    shown = d / "pipe.toml" if command == "train --config" else pipe
    one_line_error(r, f"{shown}: not a regular file (a FIFO); give a file")
    assert (d / "loaded").read_text() == "", "refused only after loading torch/transformers"
    assert not (d / "o").exists() and not (d / "parts").exists() and not (d / "x.conll").exists()


@pytest.mark.parametrize("args", [["predict", "model", "--input", "/dev/zero"], ["convert", "/dev/zero", "--out", "x"],
                                  ["evaluate", "model", "/dev/zero"], ["doctor", "/dev/zero"]])
def test_dev_zero_is_refused_not_read(tmp_path, args):
    """Broken: ``predict --input /dev/zero`` (or any verb) reads without bound until MemoryError."""
    r = run(*args, timing=tmp_path / "loaded", timeout=TIMEOUT)
    one_line_error(r, "/dev/zero: not a regular file (a character device); give a file")
    assert (tmp_path / "loaded").read_text() == ""


def test_stdin_from_dev_zero_is_bounded(tmp_path):
    """Broken: ``predict MODEL < /dev/zero`` (or a stream without line ends) reads standard input
    without bound until MemoryError."""
    with open("/dev/zero", "rb") as zero:
        r = run("predict", tmp_path / "model", stdin=zero)
    one_line_error(r, "<stdin>: looks like a binary file (100% NUL bytes), not text; give a UTF-8 text file")
    with open(tmp_path / "one-line", "wb") as fh:  # 3 MiB without a line end, as `yes | tr -d '\n'` gives
        fh.write(b"y" * (3 << 20))
    with open(tmp_path / "one-line", "rb") as fh:
        r = run("predict", tmp_path / "model", stdin=fh)
    one_line_error(r, "<stdin>:1: line longer than 1 MiB; is this the right file? (set ENTITUNE_MAX_LINE_MB to "
                      "raise the limit)")


def test_size_limit_from_the_environment(tmp_path):
    """Broken: ENTITUNE_MAX_INPUT_MB is not honoured by the CLI, or a bad value is a traceback."""
    data = write_bio(tmp_path / "d.bio", TINY_SENTENCES * 50)
    os.environ["ENTITUNE_MAX_INPUT_MB"] = "0.001"
    try:
        r = run("convert", data, "--out", tmp_path / "x.conll")
        assert r.returncode == 2 and "more than the 1,048 bytes allowed for one input; set ENTITUNE_MAX_INPUT_MB" in r.stderr
        os.environ["ENTITUNE_MAX_INPUT_MB"] = "big"
        r = run("convert", data, "--out", tmp_path / "x.conll")
        one_line_error(r, "ENTITUNE_MAX_INPUT_MB must be a positive number of megabytes (MiB), got 'big'")
    finally:
        del os.environ["ENTITUNE_MAX_INPUT_MB"]


def test_utf16_file_is_named_on_the_cli(tmp_path):
    """Broken: a UTF-16 file gets "cannot tell the format" with no word about its encoding."""
    path = tmp_path / "excel.bio"
    path.write_bytes("O\tshow\nB-ACTOR\tdrew\n".encode("utf-16"))
    for args in (["convert", path, "--out", tmp_path / "x"], ["doctor", path], ["split", path, "--out", tmp_path / "p"]):
        one_line_error(run(*args), f"{path}: looks like UTF-16 (byte-order mark); save it as UTF-8")


def test_doctor_shortens_huge_words(tmp_path, tiny_bert):
    """Broken: doctor prints a 300 KB word (or entity type) in full in its plain-text report."""
    word = "w" * 300_000
    kind = "T" * 300_000
    path = tmp_path / "d.bio"
    path.write_text(f"O\tshow\nO\t{word}\nB-{kind}\tdrew\n\nB-ACTOR\tdrew\n\n")
    r = run("doctor", path, "--model", tiny_bert, "--json", tmp_path / "d.json")
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) < 300
    assert f"{'w' * 39}… (300,000 characters)" in r.stdout and f"{'T' * 39}… (300,000 characters) 1" in r.stdout
    report = json.loads((tmp_path / "d.json").read_text())  # the JSON keeps them whole
    assert word in report["files"][0]["unk_words"]["examples"] and kind in report["files"][0]["entities"]


def test_predict_empty_input_says_so_and_exits_0(tmp_path, tiny_tagger_dir):
    """Broken: ``predict`` on an empty file (or stdin) prints nothing at all, so a user cannot tell
    an empty input from a broken model; or it fails although nothing was wrong. (Blank lines are
    inputs: each gets an empty answer, see test_predict_stream.)"""
    path = tmp_path / "empty.txt"
    path.write_text("")
    r = run("predict", tiny_tagger_dir, "--input", path)
    assert (r.returncode, r.stdout, r.stderr.strip()) == (0, "", f"no input lines in {path}")
    r = run("predict", tiny_tagger_dir, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stdout, r.stderr.strip()) == (0, "", "no input lines in standard input")
    r = run("predict", tiny_tagger_dir, "--input", "-", stdin=open(path))
    assert (r.returncode, r.stdout, r.stderr.strip()) == (0, "", "no input lines in standard input")


def test_predict_input_file_reads_like_data_files(tmp_path, tiny_tagger_dir):
    """Broken: ``--input`` is split on U+2028 (Python's splitlines) into two inputs, CRLF leaves a
    CR in the text, or invalid UTF-8 is a traceback instead of file:line."""
    path = tmp_path / "in.txt"
    path.write_bytes("drew barrymore\r\nshow\u2028me films\n".encode())
    r = run("predict", tiny_tagger_dir, "--input", path)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["text"] for x in r.stdout.split("\n") if x] == ["drew barrymore", "show\u2028me films"]
    path.write_bytes(b"drew\ncaf\xe9\n")
    r = run("predict", tiny_tagger_dir, "--input", path)
    assert r.returncode == 2 and f"{path}:2: not valid UTF-8 (byte 0xE9 at byte 4 of the line)" in r.stderr


@pytest.mark.parametrize("name, content, extra, expected", [
    ("t.jsonl", '{"tokens": [], "tags": []}\n', [],
     "{path}: no sentences found: every line is blank or has no words (an empty 'tokens' list, or a 'text' without words)"),
    ("t.bio", "O\tshow\nB-ACTOR\tdrew\n", ["--epochs", "2"],
     "no training sentences left after reading {path}: the dev split took all 1 of them; give more data, a --dev "
     "FILE, or --dev-fraction 0"),
    ("t.bio", "O\tshow\nO\tme\n\nO\tfilms\n", [],
     "{path}: every training tag is O, so there is no entity to learn; a tagger needs B-TYPE / I-TYPE tags of at "
     "least one type"),
    ("t.csv", "label,text\npos,good film\npos,great film\n", [],
     "{path}: a classifier needs at least two labels, found ['pos']"),
    ("t.jsonl", '{"text": "a film", "labels": ["x"]}\n{"text": "b film", "labels": ["x"]}\n', ["--dev-fraction", "0"],
     "{path}: every training text has the same labels (x), so there is nothing to learn"),
])
def test_training_refuses_nothing_to_learn(tmp_path, tiny_bert, name, content, extra, expected):
    """Broken: training starts on 0 sentences or a single label (a crash deep in the loop, or a
    model that can only say O), instead of one line saying why, exit 2."""
    path = tmp_path / name
    path.write_text(content)
    r = run("train", "--train", path, "--out", tmp_path / "o", "--model", tiny_bert, "--epochs", "1", *extra)
    one_line_error(r, expected.format(path=path))
