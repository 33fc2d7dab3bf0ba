"""Text classification through the CLI as a user runs it: the task inferred from the data, train,
evaluate --json, predict JSONL with --all-scores, export re-scored, doctor, one-line errors for
malformed files, and an exact resume after SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from entitune.recipes import CLASSIFY_PROBE_EPOCHS
from tests.helpers.data import TINY_TEXTS, write_texts_csv


def run(*args, stdin=None, timeout=600):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "entitune", *map(str, args)], input=stdin, capture_output=True,
                          text=True, env=env, timeout=timeout)


# the probe off: on a random 2-layer encoder, 3 probe epochs at the head's 1e-2 saturate the pooler and
# 40 epochs then fit 11 of the 12 texts (the probe's default runs in the probe and resume tests below)
ARGS = ["--epochs", 40, "--lr", "1e-3", "--head-lr", "1e-2", "--batch-size", 8, "--max-length", 16, "--stride", 4,
        "--warmup", "0", "--probe-epochs", 0]


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    d = tmp_path_factory.mktemp("classify-cli")
    train = write_texts_csv(d / "train.csv", TINY_TEXTS * 4)
    test = write_texts_csv(d / "test.csv", TINY_TEXTS, header=True)
    out = d / "run"
    r = run("train", "--train", train, "--dev", test, "--test", test, "--out", out, "--model", tiny_bert, *ARGS)
    assert r.returncode == 0, r.stderr
    return d, out, test, r


def test_train_infers_the_task_and_reports(trained):
    _, out, _, r = trained
    assert "classifier (cls pooling through the pretrained pooler), 3 single-label labels" in r.stderr
    assert "accuracy" in r.stdout and "confusion matrix" in r.stdout
    assert "linear probe" not in r.stderr  # --probe-epochs 0: off
    log = json.loads((out / "train_log.json").read_text())
    assert log["task"] == "classify" and log["test"]["accuracy"] == 1.0 and len(log["train"]["epochs"]) == 40


def test_evaluate_json_keys(trained):
    d, out, test, _ = trained
    r = run("evaluate", out, test, "--json", d / "eval.json")
    assert r.returncode == 0, r.stderr
    report = json.loads((d / "eval.json").read_text())
    assert {"accuracy", "macro_f1", "micro_f1", "per_class", "confusion_matrix", "labels"} <= set(report)
    assert report["labels"] == ["actor", "director", "year"] and report["per_class"]["year"]["support"] == 4


def test_predict_jsonl_with_all_scores(trained):
    _, out, _, _ = trained
    r = run("predict", out, "--all-scores", stdin="films directed by steven spielberg\nmovies from the 1980s\n")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["label"] for x in lines] == ["director", "year"]
    assert set(lines[0]) == {"text", "label", "score", "scores"} and sum(lines[0]["scores"].values()) == pytest.approx(1, abs=1e-5)
    r = run("predict", out, stdin="films\n")
    assert set(json.loads(r.stdout)) == {"text", "label", "score"}
    r = run("predict", out, "--output", "conll", stdin="films\n")
    assert r.returncode == 2 and "output conll is for taggers" in r.stderr


def test_export_is_rescored_on_accuracy(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    _, out, test, _ = trained
    r = run("export", out, "--onnx", tmp_path / "onnx", "--eval", test, "--quantize", "int8", "--accept-drop")
    assert r.returncode == 0, r.stderr
    assert "accuracy: PyTorch 1.0000" in r.stdout
    report = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert report["metric"] == "accuracy" and "onnx_score" in report
    r = run("predict", tmp_path / "onnx", stdin="films directed by steven spielberg\n")
    assert r.returncode == 0 and json.loads(r.stdout)["label"] == "director"


def test_doctor_on_texts(trained, tiny_bert):
    d, _, test, _ = trained
    r = run("doctor", d / "train.csv", test, "--model", tiny_bert, "--max-length", 8, "--json", d / "doc.json")
    assert r.returncode == 0, r.stderr
    report = json.loads((d / "doc.json").read_text())
    assert report["task"] == "classify" and report["texts"] == 5 * len(TINY_TEXTS)
    train_file, test_file = report["files"]
    assert train_file["classes"] == {"actor": 16, "director": 16, "year": 16} and train_file["imbalance"] == 1.0
    assert test_file["duplicates_of_train"]["count"] == len(TINY_TEXTS)
    assert train_file["subword_lengths"]["texts_needing_windows"] > 0 and "unk_words" in train_file
    assert "read in several windows" in r.stdout


@pytest.mark.parametrize("content, expected", [
    ('"actor","drew barrymore"\n"director","a quote that\nnever closes\n', ":2: unbalanced quotes"),
    ('"actor","drew barrymore"\n"","no label"\n', ":2: missing label"),
    ('"actor","drew barrymore"\n"year",""\n', ":2: empty text"),
])
def test_malformed_csv_is_one_line_exit_2(tmp_path, tiny_bert, content, expected):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    r = run("train", "--train", bad, "--out", tmp_path / "o", "--model", tiny_bert, "--task", "classify")
    assert r.returncode == 2 and expected in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_unknown_label_at_test_time_is_one_line(trained, tmp_path):
    _, out, _, _ = trained
    bad = write_texts_csv(tmp_path / "t.csv", [("films in paris", "actor"), ("movies of paris", "place")])
    r = run("evaluate", out, bad)
    assert r.returncode == 2 and "t.csv:2: label 'place' is not one of the model's labels" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def _steps(out):
    log = out / "log.jsonl"
    return sum('"event": "step"' in line for line in log.read_text().splitlines()) if log.exists() else 0


def test_killed_classification_run_resumes_to_identical_weights(tmp_path, tiny_bert):
    train = write_texts_csv(tmp_path / "train.csv", TINY_TEXTS * 3)
    args = ["train", "--train", train, "--model", tiny_bert, "--epochs", 3, "--batch-size", 4, "--max-length", 16,
            "--stride", 4, "--lr", "1e-3", "--seed", 3, "--save-every", 1]
    r = run(*args, "--out", tmp_path / "ref")
    assert r.returncode == 0, r.stderr
    expected = load_file(str(tmp_path / "ref" / "model.safetensors"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for trial, kill_after in enumerate((4, 13)):  # inside epoch 1, and inside epoch 2 after an epoch-end checkpoint
        out = tmp_path / f"t{trial}"
        proc = subprocess.Popen([sys.executable, "-m", "entitune", *map(str, args), "--out", str(out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while _steps(out) < kill_after and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        r = run(*args, "--out", out, "--resume")
        assert r.returncode == 0, r.stderr
        got = load_file(str(out / "model.safetensors"))
        for name in expected:
            assert torch.equal(got[name], expected[name]), f"trial {trial}: {name} differs"


def test_probe_epochs_run_before_fine_tuning_and_only_for_classification(tmp_path, tiny_bert):
    train = write_texts_csv(tmp_path / "train.csv", TINY_TEXTS * 2)
    args = [a for a in ARGS[:-2]]  # without --probe-epochs: the classification default
    args[args.index("--epochs") + 1] = 2
    r = run("train", "--train", train, "--out", tmp_path / "run", "--model", tiny_bert, "--dev-fraction", 0, *args)
    assert r.returncode == 0, r.stderr
    assert (f"linear probe: the head alone trained {CLASSIFY_PROBE_EPOCHS} epoch(s) on the frozen encoder's vectors"
            in r.stdout + r.stderr)
    log = json.loads((tmp_path / "run" / "train_log.json").read_text())
    assert len(log["train"]["epochs"]) == 2  # the fine-tuning epochs; the probe's are its own
    r = run("train", "--train", train, "--out", tmp_path / "one", "--model", tiny_bert, "--dev-fraction", 0, *args,
            "--probe-epochs", 1)
    assert r.returncode == 0 and "linear probe: the head alone trained 1 epoch(s)" in r.stderr, r.stderr
    bio = tmp_path / "tagged.bio"
    bio.write_text("B-ACTOR drew\nI-ACTOR barrymore\nO films\n\nO show\nB-GENRE comedies\n\n" * 4)
    r = run("train", "--train", bio, "--out", tmp_path / "ner", "--model", tiny_bert, "--probe-epochs", 1, "--epochs", 1)
    assert r.returncode == 2 and "--probe-epochs is for text classification" in r.stderr
    assert "Traceback" not in r.stderr


def test_label_names_name_the_classes_everywhere(tiny_bert, tmp_path):
    """--label-names: the model learns and predicts the names, id2label holds them, and a labelled
    file written with the data's own labels is read through the names (evaluate, the test score),
    so the test score and evaluate's agree. Broken, AG News-style data predicts '1'..'4'."""
    raw = [(text, {"actor": "1", "director": "2", "year": "3"}[label]) for text, label in TINY_TEXTS]
    train = write_texts_csv(tmp_path / "train.csv", raw * 4)
    test = write_texts_csv(tmp_path / "test.csv", raw, header=True)
    names = tmp_path / "names.txt"
    names.write_text("1\tActor\n2\tDirector\n\n3\tYear\n")
    out = tmp_path / "run"
    r = run("train", "--train", train, "--dev", test, "--test", test, "--out", out, "--model", tiny_bert,
            "--label-names", names, *ARGS)
    assert r.returncode == 0, r.stderr
    config = json.loads((out / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(3)] == ["Actor", "Director", "Year"]
    log = json.loads((out / "train_log.json").read_text())
    r = run("evaluate", out, test, "--json", tmp_path / "eval.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "eval.json").read_text())["accuracy"] == log["test"]["accuracy"]
    r = run("predict", out, stdin=raw[0][0] + "\n")
    assert json.loads(r.stdout)["label"] in {"Actor", "Director", "Year"}
    # a label the names do not cover is one line at its place; pairs on the command line work too
    write_texts_csv(tmp_path / "odd.csv", [*raw, ("a text of a fourth class", "4")], header=True)
    r = run("evaluate", out, tmp_path / "odd.csv")
    assert r.returncode == 2 and "label '4' has no name in --label-names" in r.stderr and "odd.csv:" in r.stderr
    r = run("train", "--train", train, "--out", tmp_path / "bad", "--label-names", "1=Actor,2=Actor")
    assert r.returncode == 2 and r.stderr.strip() == "error: --label-names: 'Actor' names two labels ('1', '2')"
