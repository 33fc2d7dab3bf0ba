"""``entitune tune`` on the tiny random BERT: trials run into OUT/trials/NNNN, the trial table and
best.toml are written, ``entitune train --config best.toml`` trains the best trial again to the same
dev score, a killed search resumes without repeating finished trials, the median pruner stops a
hopeless trial, and bad input is one line with exit status 2."""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import importlib
import io
import json
import sys
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from entitune.cli import main
from tests.helpers.data import TINY_SENTENCES, write_bio

#: small, fast trials: one thread, fp32 on the CPU, short windows, tiny batches
FIXED = ["--set", "max_length=16", "--set", "stride=4", "--set", "batch_size=4", "--set", "precision=fp32",
         "--set", "device=cpu", "--set", "threads=1", "--set", "format=bio", "--set", "head_lr=0.01"]
SPACE = "lr:\n  type: float\n  low: 0.0005\n  high: 0.003\n  log: true\nepochs:\n  type: int\n  low: 1\n  high: 2\n"


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in argv])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def ok(result):
    code, out, err = result
    assert code == 0, err[-3000:]
    return out, err


def refused(result, *words) -> str:
    code, _, err = result
    assert code == 2, (code, err[-3000:])
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and all(w in last for w in words), last
    return last


def rows(out: Path) -> list[dict]:
    with open(out / "trials.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_bert) -> dict:
    d = tmp_path_factory.mktemp("tune")
    space = d / "space.yaml"
    space.write_text(SPACE)
    return {"d": d, "bert": tiny_bert, "space": space,
            "train": write_bio(d / "train.bio", TINY_SENTENCES * 4), "dev": write_bio(d / "dev.bio", TINY_SENTENCES[:5]),
            "test": write_bio(d / "test.bio", TINY_SENTENCES)}


def tune_argv(files, out, trials: int, *extra, space=None) -> list:
    return ["tune", "--train", files["train"], "--dev", files["dev"], "--out", out, "--model", files["bert"],
            "--trials", trials, "--space", space or files["space"], "--seed", 7, *FIXED, *extra]


@pytest.fixture(scope="module")
def search(files) -> Path:
    out = files["d"] / "search"
    ok(run(tune_argv(files, out, 2)))
    return out


def test_trials_run_and_the_table_and_best_config_are_written(search):
    table = rows(search)
    assert [r["number"] for r in table] == ["0", "1"] and {r["state"] for r in table} == {"COMPLETE"}
    assert set(table[0]) >= {"number", "state", "dev_score", "seconds", "lr", "epochs"}
    for r in table:
        log = json.loads((search / "trials" / f"{int(r['number']):04d}" / "train_log.json").read_text())
        assert log["config"]["lr"] == pytest.approx(float(r["lr"])) and log["config"]["epochs"] == int(r["epochs"])
        assert log["train"]["best_score"] == pytest.approx(float(r["dev_score"]))
        assert log["config"]["test"] is None  # the test file is not seen by the trials
    assert "| number | state | dev_score |" in (search / "trials.md").read_text()
    best = tomllib.loads((search / "best.toml").read_text())
    assert best["max_length"] == 16 and best["seed"] == 7  # --seed seeds the trials' training too
    assert best["out"] == str(search / "best")


def test_train_from_best_toml_reproduces_the_best_trial(search, files):
    best = tomllib.loads((search / "best.toml").read_text())
    number = min(rows(search), key=lambda r: (-float(r["dev_score"]), int(r["number"])))["number"]
    trial_log = json.loads((search / "trials" / f"{int(number):04d}" / "train_log.json").read_text())
    assert best["lr"] == trial_log["config"]["lr"] and best["epochs"] == trial_log["config"]["epochs"]
    again = files["d"] / "again"
    ok(run(["train", "--config", search / "best.toml", "--out", again]))
    log = json.loads((again / "train_log.json").read_text())
    assert log["train"]["best_score"] == trial_log["train"]["best_score"]
    assert [e["train_loss"] for e in log["train"]["epochs"]] == [e["train_loss"] for e in trial_log["train"]["epochs"]]


def test_a_killed_search_resumes_without_repeating_finished_trials(search, files):
    import optuna

    trial_logs = sorted((search / "trials").glob("*/train_log.json"))
    before = {p: p.stat().st_mtime_ns for p in trial_logs}
    # the search killed while a trial ran: the study holds a RUNNING trial that never finished
    study = optuna.load_study(study_name="entitune-tune", storage=f"sqlite:///{search / 'tune.db'}")
    cut = study.ask()
    cut.suggest_float("lr", 0.0005, 0.003, log=True)
    cut.suggest_int("epochs", 1, 2)
    out, err = ok(run(tune_argv(files, search, 3, "--test", files["test"])))
    assert "trial 2 was cut off" in err
    table = rows(search)
    assert [(r["number"], r["state"]) for r in table] == [("0", "COMPLETE"), ("1", "COMPLETE"), ("2", "FAIL"),
                                                          ("3", "COMPLETE")]
    assert float(table[3]["lr"]) == pytest.approx(cut.params["lr"])  # the cut trial's parameters, tried again
    assert {p: p.stat().st_mtime_ns for p in trial_logs} == before  # finished trials were not run again
    assert sorted(p.name for p in (search / "trials").iterdir()) == ["0000", "0001", "0003"]
    assert "test: " in out and (search / "test.json").is_file()  # the best model, scored on test at the end
    # all wanted trials finished: another run starts none
    ok(run(tune_argv(files, search, 3)))
    assert len(rows(search)) == 4


def test_the_median_pruner_stops_a_hopeless_trial(files, monkeypatch):
    tune_module = importlib.import_module("entitune.recipes.tuning")

    heard = tune_module.PruningListener.on_evaluation

    def rigged(self, result):  # trial 2 scores nothing, whatever it learns
        heard(self, dataclasses.replace(result, score=-1.0) if self.trial.number == 2 else result)

    monkeypatch.setattr(tune_module.PruningListener, "on_evaluation", rigged)
    (files["d"] / "one-epoch.yaml").write_text("lr: {type: float, low: 0.001, high: 0.002}\nepochs: 1\n")
    out = files["d"] / "pruned"
    ok(run(tune_argv(files, out, 3, space=files["d"] / "one-epoch.yaml")))
    table = rows(out)
    assert [r["state"] for r in table] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert not (out / "trials" / "0002" / "train_log.json").exists()
    assert not (out / "trials" / "0002" / "checkpoints").exists()


def test_bad_input_is_one_line(files):
    d = files["d"]
    common = ["tune", "--train", files["train"], "--model", files["bert"], "--trials", "1"]
    refused(run([*common, "--out", d / "bad1", "--set", "dev_fraction=0"]), "dev")
    (d / "bad.yaml").write_text("lr: {type: gaussian, low: 1, high: 2}\n")
    refused(run([*common, "--out", d / "bad2", "--space", d / "bad.yaml"]), "bad.yaml", "lr", "type")
    (d / "unknown.yaml").write_text("learning_rate: {type: float, low: 0.1, high: 0.2}\n")
    refused(run([*common, "--out", d / "bad3", "--space", d / "unknown.yaml"]), "learning_rate")
    (d / "broken.yaml").write_text("lr: [unclosed\n")
    refused(run([*common, "--out", d / "bad4", "--space", d / "broken.yaml"]), "broken.yaml")
    (d / "inverted.json").write_text('{"lr": {"type": "float", "low": 0.2, "high": 0.1}}')
    refused(run([*common, "--out", d / "bad5", "--space", d / "inverted.json"]), "low <= high")
    refused(run([*common, "--out", d / "bad6", "--set", "lr"]), "NAME=VALUE")
    refused(run([*common, "--out", d / "bad7", "--trials", "0"]), "trials")
    assert not (d / "bad1" / "tune.db").exists()  # refused before any study was made


def test_no_trial_starts_once_the_budget_is_spent(files):
    out = files["d"] / "spent"
    _, err = ok(run(tune_argv(files, out, 3, "--budget-minutes", "0.000001")))
    assert "the budget of 1e-06 min is spent: 0 of 3 trials finished" in err and "no trial completed" in err
    assert rows(out) == [] and not (out / "best.toml").exists()


def test_storage_problems_are_one_line(files, monkeypatch):
    """--storage: a URL that is none, an unknown database, a missing driver (what to install) and
    --report of a study that is not there are the user's to fix (exit 2); a database that cannot be
    reached is the environment's (exit 1). Each is one line, and no study or --out is made."""
    d = files["d"]
    common = ["tune", "--train", files["train"], "--model", files["bert"], "--trials", "1", "--out", d / "st"]
    refused(run([*common, "--storage", "not a url"]), "--storage", "database URL")
    refused(run([*common, "--storage", "nosuchdb://host/x"]), "--storage", "nosuchdb")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # the driver not installed
    refused(run([*common, "--storage", "postgresql://tune@127.0.0.1:1/search"]), "driver is missing",
            "entitune[tune-postgres]")
    monkeypatch.undo()
    refused(run(["tune", "--report", "--storage", f"sqlite:///{d / 'empty.db'}", "--study", "nope", "--out", d / "st"]),
            "no study 'nope'")
    refused(run(["tune", "--report", "--out", d / "st"]), "no search here")
    code, _, err = run([*common, "--storage", "postgresql://tune:secret@127.0.0.1:1/search"])
    assert code == 1 and "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: --storage") and "cannot be used" in last and "secret" not in last, last
    assert not (d / "st").exists()
