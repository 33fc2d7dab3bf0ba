"""Kill training with SIGKILL at random points, resume, and get bit-identical final weights."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from entitune.train.checkpoint import atomic_save, checkpoints, load_latest, save_step

from tests.helpers.data import TINY_SENTENCES, write_bio

ARGS = ["--epochs", "3", "--batch-size", "2", "--max-length", "16", "--stride", "4", "--lr", "1e-3",
        "--seed", "5", "--save-every", "1", "--keep-checkpoints", "2"]


def _cmd(train, out, model, *extra):
    return [sys.executable, "-m", "entitune", "train", "--train", str(train), "--out", str(out), "--model", str(model), *ARGS, *extra]


def _env():
    return {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}


def _steps_logged(out):
    log = out / "log.jsonl"
    if not log.exists():
        return 0
    return sum('"event": "step"' in line for line in log.read_text().splitlines())


def _weights(out):
    return load_file(str(out / "model.safetensors"))


def test_killed_runs_resume_to_identical_weights(tmp_path, tiny_bert):
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 4)
    ref = tmp_path / "ref"
    r = subprocess.run(_cmd(train, ref, tiny_bert), capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr
    expected = _weights(ref)
    total = _steps_logged(ref)
    assert total > 20
    rng = random.Random(1234)
    for trial in range(3):
        out = tmp_path / f"trial{trial}"
        kill_after = rng.randrange(1, total - 1)
        proc = subprocess.Popen(_cmd(train, out, tiny_bert), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        deadline = time.time() + 300
        while _steps_logged(out) < kill_after and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.random() * 0.2)  # land anywhere: in a step, in a checkpoint write, in evaluation
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        r = subprocess.run(_cmd(train, out, tiny_bert, "--resume"), capture_output=True, text=True, env=_env(), timeout=600)
        assert r.returncode == 0, r.stderr
        # (a run killed after it wrote train_log.json, its last file, had finished: nothing to resume)
        assert any(note in r.stderr for note in ("resuming from", "starting from the beginning", "has finished"))
        got = _weights(out)
        assert got.keys() == expected.keys()
        for name in expected:
            assert torch.equal(got[name], expected[name]), f"trial {trial} (killed after step {kill_after}): {name} differs"
        # the resumed run finished: its checkpoints are gone with it (--keep-checkpoints-after keeps them)
        assert not (out / "checkpoints").exists()
        # the log holds each step once: what the killed run wrote after its checkpoint is dropped
        events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        assert [e["step"] for e in events if e["event"] == "step"] == list(range(1, total + 1)), f"trial {trial}"
        assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2, 3], f"trial {trial}"
        assert not (out / ".entitune.lock").exists()


def test_resume_without_checkpoints_starts_a_fresh_log(tmp_path, tiny_bert):
    """``--resume`` into an unfinished run whose checkpoints were deleted starts over with a fresh
    log.jsonl. Broken: the new run's steps were appended to the old ones, so every step appeared twice."""
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES)
    out = tmp_path / "run"
    r = subprocess.run(_cmd(train, out, tiny_bert, "--epochs", "1"), capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr
    # as a run killed before its first checkpoint leaves it: a log, no checkpoint, no train_log.json
    assert not (out / "checkpoints").exists()
    (out / "train_log.json").unlink()
    r = subprocess.run(_cmd(train, out, tiny_bert, "--epochs", "1", "--resume"), capture_output=True, text=True,
                       env=_env(), timeout=600)
    assert r.returncode == 0 and "starting from the beginning" in r.stderr, r.stderr
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("start") == 1
    assert [e["step"] for e in events if e["event"] == "step"] == list(range(1, events[0]["total_steps"] + 1))


def test_resume_with_other_settings_is_refused(tmp_path, tiny_bert):
    """Of a finished run (its checkpoints removed, its train_log.json there), as of a killed one."""
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 2)
    out = tmp_path / "run"
    r = subprocess.run(_cmd(train, out, tiny_bert), capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(_cmd(train, out, tiny_bert, "--resume", "--warmup", "0.2"), capture_output=True, text=True,
                       env=_env(), timeout=600)
    assert r.returncode == 2 and "other training settings" in r.stderr and "Traceback" not in r.stderr


def test_resume_of_a_finished_run_leaves_it_as_it_is(tmp_path, tiny_bert):
    """``--resume`` after a run finished (its checkpoints removed): nothing to resume, exit 0, the
    model and logs untouched, so a job that re-runs its command after an interruption is safe.
    ``--keep-checkpoints-after`` keeps them; a new run (no ``--resume``) clears an earlier run's."""
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES)
    out = tmp_path / "run"
    r = subprocess.run(_cmd(train, out, tiny_bert, "--epochs", "1"), capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr
    assert not (out / "checkpoints").exists() and f"training checkpoints removed from {out / 'checkpoints'}" in r.stderr
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert "README.md" in files and "train_log.json" in files
    r = subprocess.run(_cmd(train, out, tiny_bert, "--epochs", "1", "--resume", "--threads", "1"), capture_output=True,
                       text=True, env=_env(), timeout=600)
    assert r.returncode == 0 and "has finished" in r.stderr and "nothing to resume" in r.stderr, r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files
    r = subprocess.run(_cmd(train, out, tiny_bert, "--epochs", "1", "--keep-checkpoints-after"), capture_output=True,
                       text=True, env=_env(), timeout=600)
    assert r.returncode == 0 and f"training checkpoints kept in {out / 'checkpoints'}" in r.stderr, r.stderr
    assert 1 <= len(checkpoints(out / "checkpoints")) <= 2
    r = subprocess.run(_cmd(train, out, tiny_bert, "--epochs", "1"), capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0 and "removed the checkpoints of an earlier run" in r.stderr, r.stderr
    assert not (out / "checkpoints").exists()


def test_partial_files_are_never_picked_up(tmp_path):
    save_step({"step": 1}, tmp_path, 1, keep=2)
    save_step({"step": 2}, tmp_path, 2, keep=2)
    (tmp_path / "step-00000003.pt.tmp").write_bytes(b"half a file")
    assert load_latest(tmp_path)["step"] == 2
    save_step({"step": 4}, tmp_path, 4, keep=2)
    assert [p.name for p in checkpoints(tmp_path)] == ["step-00000002.pt", "step-00000004.pt"]
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "step-00000005.pt").write_bytes(b"damaged")
    assert load_latest(tmp_path)["step"] == 4  # set aside, see test_faults


def test_rng_states_round_trip(tmp_path):
    import numpy as np

    from entitune.train.checkpoint import rng_state, set_rng_state

    random_state = rng_state()
    atomic_save({"rng": random_state}, tmp_path / "r.pt")
    a = (random.random(), float(np.random.rand()), torch.rand(3))
    set_rng_state(torch.load(tmp_path / "r.pt", weights_only=True)["rng"])
    b = (random.random(), float(np.random.rand()), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
