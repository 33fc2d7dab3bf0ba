"""The CLI as a user runs it: real subprocesses, exit codes, one-line errors."""
import json
import os
import subprocess
import sys

import pytest

from tests.helpers.data import TINY_SENTENCES, write_bio


def run(*args, stdin=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "entitune", *map(str, args)], input=stdin,
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    train = write_bio(d / "train.bio", TINY_SENTENCES * 4)
    test = write_bio(d / "test.bio", TINY_SENTENCES)
    out = d / "run"
    r = run("train", "--train", train, "--test", test, "--out", out, "--model", tiny_bert, "--epochs", 2,
            "--lr", "1e-3", "--batch-size", 4, "--max-length", 16, "--stride", 4)
    assert r.returncode == 0, r.stderr
    return d, out, test, r


def test_train_prints_split_epochs_and_test_table(trained):
    _, out, _, r = trained
    assert "held out from --train" in r.stderr and "epoch 2:" in r.stderr
    assert "entity (micro)" in r.stdout and "token micro F1" in r.stdout
    log = json.loads((out / "train_log.json").read_text())
    assert log["test"]["words_untagged"] == 0 and len(log["train"]["epochs"]) == 2


def test_evaluate_json(trained):
    d, out, test, _ = trained
    r = run("evaluate", out, test, "--json", d / "eval.json")
    assert r.returncode == 0, r.stderr
    report = json.loads((d / "eval.json").read_text())
    assert set(report) >= {"entity", "per_type", "token_micro_f1", "words", "words_untagged", "invalid_sequences"}
    assert set(report["entity"]) == {"precision", "recall", "f1"}
    assert set(report["per_type"]["ACTOR"]) == {"precision", "recall", "f1", "support"}
    assert report["words"] == sum(len(w) for w, _ in TINY_SENTENCES) and report["invalid_sequences"] == 0


def test_predict_stdin_text_and_words(trained):
    _, out, _, _ = trained
    r = run("predict", out, stdin='show me films with drew barrymore\n["drew", "barrymore"]\n')
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[0]["words"] == ["show", "me", "films", "with", "drew", "barrymore"]
    assert len(lines[0]["tags"]) == 6 and lines[1]["words"] == ["drew", "barrymore"]
    for line in lines:
        for e in line["entities"]:
            assert line["text"][e["start"] : e["end"]] == e["text"]
    r = run("predict", out, "--output", "conll", stdin="drew barrymore\n")
    assert r.stdout.splitlines()[0].startswith("drew\t")


@pytest.mark.parametrize(
    "content, expected",
    [
        ("O\tshow\nPERSON\tdrew\n", ":2: tag 'PERSON' is neither"),
        ("O\tshow\nB-ACTOR\n", ":2: expected 'TAG<TAB>word'"),
    ],
)
def test_bad_data_is_one_line_exit_2(tmp_path, tiny_bert, content, expected):
    bad = tmp_path / "bad.bio"
    bad.write_text(content)
    r = run("train", "--train", bad, "--out", tmp_path / "o", "--model", tiny_bert, "--format", "bio")
    assert r.returncode == 2
    assert expected in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_missing_model_and_file_errors(tmp_path, trained):
    _, out, test, _ = trained
    r = run("evaluate", tmp_path, test)
    assert r.returncode == 2 and "not an entitune model" in r.stderr and "Traceback" not in r.stderr
    r = run("evaluate", out, tmp_path / "missing.bio")
    assert r.returncode == 2 and "missing.bio: no such file" in r.stderr


def test_unknown_head_fails_before_reading_data(tmp_path):
    """An unknown head is refused before any data or model is read (an unreadable --train file is
    refused even earlier, while the arguments are parsed)."""
    train = tmp_path / "train.bio"
    train.write_text("O\tnot read\n\nO\tthis line is fine but\tthe column count is not\n")
    r = run("train", "--train", train, "--out", tmp_path / "o", "--head", "softmax")
    assert r.returncode == 2 and "head must be one of linear, crf, bilstm-crf" in r.stderr
    r = run("train", "--train", tmp_path / "missing.bio", "--out", tmp_path / "o", "--head", "softmax")
    assert r.returncode == 2 and "missing.bio: no such file" in r.stderr


def test_doctor_table_json_and_bad_file(tmp_path, tiny_bert):
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 2)
    test = tmp_path / "test.bio"
    test.write_text("B-PER\tjane\n\nO\tshow\nI-LOC\tparis\n\nB-FOOD\tpizza\n\nO\tfilms\nO\tin\nB-PLOT\tparis\n\n")
    r = run("doctor", train, test, "--model", tiny_bert, "--max-length", 8, "--json", tmp_path / "d.json")
    assert r.returncode == 0, r.stderr
    assert "invalid tag sequences: 1" in r.stdout and "line 4: I-LOC after O" in r.stdout
    report = json.loads((tmp_path / "d.json").read_text())
    assert report["sentences"] == 2 * len(TINY_SENTENCES) + 4
    t = report["files"][1]
    assert t["labels_not_in_train"] == ["B-FOOD", "B-LOC", "B-PER"] and t["duplicates_of_train"]["count"] == 1
    assert t["entities"] == {"FOOD": 1, "PER": 1, "PLOT": 1}  # the I-LOC start is listed as invalid, not counted
    assert sum(report["files"][0]["subword_lengths"]["histogram"].values()) == 2 * len(TINY_SENTENCES)
    assert "unk_words" in t and "zero_subword_words" in t
    bad = tmp_path / "bad.bio"
    bad.write_text("O\tok\nB-PER\n")
    r = run("doctor", bad, "--model", tiny_bert)
    assert r.returncode == 2 and r.stderr.strip().endswith("bad.bio:2: expected 'TAG<TAB>word', found 'B-PER'")
    assert "Traceback" not in r.stderr


def test_convert_and_split(tmp_path):
    src = write_bio(tmp_path / "d.bio", TINY_SENTENCES * 5)
    r = run("convert", src, "--out", tmp_path / "d.jsonl", "--to", "jsonl", "--scheme", "bioes")
    assert r.returncode == 0, r.stderr
    first = json.loads((tmp_path / "d.jsonl").read_text().splitlines()[0])
    assert first["tokens"] == list(TINY_SENTENCES[0][0])
    assert first["tags"][-2:] == ["B-ACTOR", "E-ACTOR"]
    r = run("split", tmp_path / "d.jsonl", "--out", tmp_path / "parts", "--ratios", "0.6,0.2,0.2", "--seed", 7)
    assert r.returncode == 0, r.stderr
    counts = [len(run_read(tmp_path / "parts" / f"{n}.conll")) for n in ("train", "dev", "test")]
    assert sum(counts) == 5 * len(TINY_SENTENCES) and counts[1] == counts[2] == round(0.2 * sum(counts))
    r = run("split", src, "--out", tmp_path / "p2", "--ratios", "a,b")
    assert r.returncode == 2 and "ratios must be three non-negative shares" in r.stderr


def run_read(path):
    from entitune.data import load_annotated

    return load_annotated(path).sentences
