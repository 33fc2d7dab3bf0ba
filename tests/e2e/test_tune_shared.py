"""A ``tune`` study shared by several workers through a real PostgreSQL server (started by the test
in a temporary folder, ``tests.helpers.postgres``): two ``entitune tune`` processes on the tiny
random BERT search one study of 6 trials; one is killed with SIGKILL in the middle of a trial and
started again. Afterwards the study holds exactly 6 finished trials, the killed trial's parameters
ran again exactly once (Optuna's heartbeats found it cut off), no finished trial ran twice or was
lost, and ``tune --report`` writes the table and best.toml from the study alone."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from tests.helpers.data import TINY_SENTENCES, write_bio
from tests.helpers.postgres import postgres_server

#: small trials on one thread each; 24 sentences and 1-2 epochs last a few seconds, long enough to be cut
FIXED = ["--set", "max_length=16", "--set", "stride=4", "--set", "batch_size=2", "--set", "precision=fp32",
         "--set", "device=cpu", "--set", "threads=1", "--set", "format=bio", "--set", "head_lr=0.01"]
SPACE = "lr: {type: float, low: 0.0005, high: 0.003, log: true}\nepochs: {type: int, low: 1, high: 2}\n"
TRIALS = 6
HEARTBEAT = 2
STUDY = "shared-search"


@pytest.fixture(scope="module")
def database():
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_bert) -> dict:
    d = tmp_path_factory.mktemp("tune-shared")
    (d / "space.yaml").write_text(SPACE)
    return {"d": d, "bert": tiny_bert, "space": d / "space.yaml",
            "train": write_bio(d / "train.bio", TINY_SENTENCES * 4), "dev": write_bio(d / "dev.bio", TINY_SENTENCES),
            "test": write_bio(d / "test.bio", TINY_SENTENCES)}


def worker_argv(files, database, out: Path, *extra) -> list[str]:
    return [str(a) for a in [
        sys.executable, "-m", "entitune", "tune", "--train", files["train"], "--dev", files["dev"], "--model",
        files["bert"], "--space", files["space"], "--trials", TRIALS, "--storage", database, "--study", STUDY,
        "--heartbeat-seconds", HEARTBEAT, "--out", out, *FIXED, *extra]]


def start(argv: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen(argv, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)


def study_trials(database):
    """The study's trials; none before a worker has made it."""
    from entitune.recipes.studies import _database_url

    try:
        return optuna.load_study(study_name=STUDY, storage=_database_url(database)).get_trials(deepcopy=True)
    except KeyError:
        return []


def running_in(database, out: Path):
    """A trial running in the worker whose --out is ``out`` (its directory recorded), or None."""
    for t in study_trials(database):
        if t.state == optuna.trial.TrialState.RUNNING and t.user_attrs.get("out", "").startswith(str(out)):
            return t
    return None


def wait(proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"worker did not end: {log.read_text()[-3000:]}") from None
    assert code == 0, log.read_text()[-3000:]


@pytest.fixture(scope="module")
def search(files, database) -> dict:
    """Two workers on one study; worker b killed (SIGKILL) while a trial of its own runs, then
    started again; both run to the end."""
    d = files["d"]
    outs = {name: (d / name).resolve() for name in ("a", "b")}
    logs = {name: d / f"{name}.log" for name in outs}
    procs = {name: start(worker_argv(files, database, out), logs[name]) for name, out in outs.items()}
    try:
        killed = None
        deadline = time.monotonic() + 300
        while killed is None:
            assert time.monotonic() < deadline, "worker b never ran a trial: " + logs["b"].read_text()[-3000:]
            assert procs["b"].poll() is None, "worker b ended before it could be cut: " + logs["b"].read_text()[-3000:]
            trial = running_in(database, outs["b"])
            if trial is None:
                time.sleep(0.05)
                continue
            procs["b"].send_signal(signal.SIGKILL)
            procs["b"].wait()
            after = next(t for t in study_trials(database) if t.number == trial.number)
            if after.state == optuna.trial.TrialState.RUNNING:  # cut in the middle, as wanted
                killed = after
            else:  # it ended between the look and the kill: start b again and cut its next trial
                procs["b"] = start(worker_argv(files, database, outs["b"]), logs["b"])
        procs["b"] = start(worker_argv(files, database, outs["b"]), logs["b"])
        for name, proc in procs.items():
            wait(proc, logs[name])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return {"outs": outs, "logs": logs, "killed": killed, "trials": study_trials(database)}


def test_the_study_ends_with_the_wanted_trials_each_run_once(search):
    """Exactly --trials finished trials in all (never more), none left running or queued; every
    finished trial's run is in one worker's --out, once; no parameters ran twice."""
    from optuna.trial import TrialState

    trials = [t for t in search["trials"] if not t.user_attrs.get("surplus")]
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == TRIALS
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [search["killed"].number]
    # each finished trial ran in one worker, into trials/NNNN of its --out; a complete one left its log there
    runs = {out: sorted(p.name for p in (out / "trials").iterdir()) if (out / "trials").is_dir() else []
            for out in search["outs"].values()}
    for t in finished:
        run_dir = Path(t.user_attrs["out"])
        assert run_dir.name == f"{t.number:04d}" and run_dir.parent.parent in runs
        holders = [out for out, names in runs.items() if run_dir.name in names]
        assert holders == [run_dir.parent.parent], (t.number, holders)
        if t.state == TrialState.COMPLETE:
            log = json.loads((run_dir / "train_log.json").read_text())
            assert log["config"]["lr"] == pytest.approx(t.params["lr"]) and log["train"]["best_score"] == pytest.approx(t.value)
    params = [tuple(sorted(t.params.items())) for t in finished]
    assert len(set(params)) == len(params), "two finished trials ran the same parameters"
    # trials given up in a race for the last places (if any) never sampled or ran anything
    for t in search["trials"]:
        if t.user_attrs.get("surplus"):
            assert not t.params and "out" not in t.user_attrs


def test_the_killed_trial_ran_again_exactly_once(search):
    """The trial cut off by SIGKILL is failed (its heartbeat went silent) and its parameters ran once
    more, as a new trial that finished; the restarted worker said so or the other one did."""
    from optuna.trial import TrialState

    killed = search["killed"]
    again = [t for t in search["trials"] if t.system_attrs.get("failed_trial") == killed.number]
    assert len(again) == 1 and again[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert again[0].params == killed.params and again[0].number > killed.number
    said = "".join(log.read_text() for log in search["logs"].values())
    assert f"trial {killed.number} (on " in said and "was cut off: marked failed, its parameters queued again" in said


def test_every_worker_writes_the_whole_table(search):
    """Each worker, at its end, writes the study's table (all workers' trials), not its own trials only."""
    tables = {}
    for name, out in search["outs"].items():
        with open(out / "trials.csv", newline="") as fh:
            tables[name] = [(r["number"], r["state"]) for r in csv.DictReader(fh)]
    assert tables["a"] == tables["b"]
    assert len(tables["a"]) == TRIALS + 1  # the killed trial is in it, failed


def test_report_writes_the_table_and_best_toml_from_the_study_alone(search, database, files):
    """``tune --report`` with only the database, the study and an --out: no trial starts, the table
    and best.toml (the best trial's options, wherever it ran) are written."""
    out = files["d"] / "report"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "entitune", "tune", "--report", "--storage", database, "--study", STUDY,
                        "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not (out / "trials").exists() and not (out / "tune.db").exists()
    with open(out / "trials.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == TRIALS + 1
    best = max((t for t in search["trials"] if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: t.value)
    toml = tomllib.loads((out / "best.toml").read_text())
    assert toml["lr"] == best.params["lr"] and toml["epochs"] == best.params["epochs"]
    assert toml["train"] == str(files["train"]) and toml["out"] == str(out / "best")
    assert len(study_trials(database)) == len(search["trials"])  # nothing new was started


def test_a_worker_with_another_search_is_refused(database, files):
    """Joining the study with another space is one line, exit 2; the study is left as it was."""
    other = files["d"] / "other-space.yaml"
    other.write_text("lr: {type: float, low: 0.1, high: 0.2}\n")
    before = len(study_trials(database))
    argv = worker_argv(files, database, files["d"] / "other")
    argv[argv.index("--space") + 1] = str(other)
    r = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "searches otherwise (the search space)" in r.stderr.strip().splitlines()[-1]
    assert len(study_trials(database)) == before
