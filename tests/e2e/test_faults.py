"""Faults of the environment and of files, injected for real where the machine allows it: a full
disk and a read-only output (a small tmpfs mounted in a private user + mount namespace with
``unshare``), two runs on one ``--out``, a stale lock, damaged weights and checkpoints. Each
failure must be one line on stderr, the documented exit status, and nothing lost: no ``.tmp``
left, earlier checkpoints still load.

Where ``unshare`` cannot mount a tmpfs the same faults are injected into the writer by patching
(``test_failed_write_*``), so the behaviour is covered on every machine; the tmpfs tests then skip
with that reason.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from entitune.errors import OutputError
from entitune.files import LOCK_FILE, RunLock, atomic_write_bytes
from entitune.train.checkpoint import checkpoints, load_latest, save_step

from tests.helpers.data import TINY_SENTENCES, write_bio

ARGS = ["--epochs", "2", "--batch-size", "2", "--max-length", "16", "--stride", "4", "--lr", "1e-3", "--seed", "5"]


def _env():
    return {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "PYTHONPATH": str(Path(__file__).parents[2])}


def _train_cmd(train, out, model, *extra):
    return [sys.executable, "-m", "entitune", "train", "--train", str(train), "--out", str(out), "--model", str(model),
            *ARGS, *extra]


def _one_line_error(stderr: str) -> str:
    """The error line; fails when there is a traceback or more than one error line."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                        "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs \"$d\""], capture_output=True)
    return r.returncode == 0


TMPFS = pytest.mark.skipif(not _can_mount_tmpfs(), reason="unshare cannot mount a tmpfs here; "
                           "the patched-writer tests cover the same faults")


def _in_tmpfs(tmp_path: Path, script: str, size: str, options: str = "") -> dict:
    """Run ``script`` (Python, with ``MNT`` the mount point) in a private mount namespace with a
    tmpfs of ``size`` at ``MNT``; it prints one JSON line, returned here."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(f"MNT = {str(mnt)!r}\n" + textwrap.dedent(script))
    opts = f"size={size}" + (f",{options}" if options else "")
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                        f"mount -t tmpfs -o {opts} tmpfs {mnt} && exec {sys.executable} {driver}"],
                       capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@TMPFS
def test_disk_full_mid_training_is_one_line_and_loses_nothing(tmp_path, tiny_bert):
    """A disk that fills while checkpoints are written: exit 1, one line naming the file and 'no space
    left on device', no ``.tmp`` left behind, the checkpoint written before still loads. Broken, this
    was a RuntimeError traceback from torch's writer and a partial ``.tmp`` keeping the disk full."""
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 4)
    script = f"""
        import json, os, subprocess, sys, torch
        out = os.path.join(MNT, "run")
        # leave room for a checkpoint or two (about 0.7 MB each for the tiny model), not for the whole run
        with open(os.path.join(MNT, "filler"), "wb") as fh:
            fh.write(b"x" * (3 * 1024 * 1024 - 1100 * 1024))
        cmd = {_train_cmd(train, "OUT", tiny_bert, "--save-every", "1", "--keep-checkpoints", "3")!r}
        r = subprocess.run([out if c == "OUT" else c for c in cmd], capture_output=True, text=True)
        ckpt = os.path.join(out, "checkpoints")
        names = sorted(os.listdir(ckpt)) if os.path.isdir(ckpt) else []
        loads = [torch.load(os.path.join(ckpt, n), weights_only=True)["step"] for n in names if n.endswith(".pt")]
        tmp = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs if f.endswith(".tmp")]
        print(json.dumps({{"rc": r.returncode, "stderr": r.stderr, "names": names, "steps": loads, "tmp": tmp,
                          "lock": os.path.exists(os.path.join(out, {LOCK_FILE!r}))}}))
    """
    got = _in_tmpfs(tmp_path, script, "3m")
    assert got["rc"] == 1, got["stderr"]
    line = _one_line_error(got["stderr"])
    assert got["tmp"] == [] and not got["lock"]
    # the checkpoints that fitted are complete and readable; the error names the next one
    steps = got["steps"]
    assert steps and steps == list(range(1, len(steps) + 1)), got
    assert f"step-{len(steps) + 1:08d}.pt: cannot write (no space left on device)" in line


@TMPFS
def test_read_only_output_is_one_line(tmp_path, tiny_bert):
    """Training into a read-only file system stops before any work with one line and exit 1 (broken:
    a traceback after the data and model were loaded)."""
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES)
    script = f"""
        import json, os, subprocess
        cmd = {_train_cmd(train, "OUT", tiny_bert)!r}
        r = subprocess.run([os.path.join(MNT, "run") if c == "OUT" else c for c in cmd], capture_output=True, text=True)
        print(json.dumps({{"rc": r.returncode, "stderr": r.stderr}}))
    """
    got = _in_tmpfs(tmp_path, script, "1m", "ro")
    assert got["rc"] == 1, got["stderr"]
    assert "read-only file system" in _one_line_error(got["stderr"])


def test_failed_write_removes_its_temporary_file(tmp_path, monkeypatch):
    """The same fault patched into the writer (every machine): a write that fails with ENOSPC after
    bytes reached the disk leaves no ``.tmp``, raises ``OutputError`` with exit status 1, and the
    checkpoints written before stay loadable. Broken: the partial file stays and keeps the disk full."""
    save_step({"step": 1, "w": torch.ones(3)}, tmp_path, 1, keep=2)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("entitune.files.os.fsync", full)
    with pytest.raises(OutputError) as caught:
        save_step({"step": 2, "w": torch.zeros(3)}, tmp_path, 2, keep=2)
    assert caught.value.exit_code == 1 and "no space left on device" in str(caught.value)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000001.pt"]
    assert load_latest(tmp_path)["step"] == 1


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    """Overwriting a file (a saved model) that fails half-way leaves the old file as it was."""
    target = tmp_path / "model.safetensors"
    atomic_write_bytes(b"old weights", target)
    monkeypatch.setattr("entitune.files.os.replace", lambda a, b: (_ for _ in ()).throw(OSError(errno.EROFS, "Read-only file system")))
    with pytest.raises(OutputError, match="read-only file system") as caught:
        atomic_write_bytes(b"new", target)
    assert caught.value.exit_code == 1
    assert target.read_bytes() == b"old weights" and not list(tmp_path.glob("*.tmp"))


def test_a_damaged_newest_checkpoint_is_set_aside(tmp_path):
    """A newest checkpoint cut short (a copy or a full disk) is skipped for the newest readable one,
    renamed ``*.damaged`` so later saves cannot prune the good ones around it, and a notice says so.
    Broken: resume stopped with 'delete it' (or loaded garbage)."""
    save_step({"step": 1}, tmp_path, 1, keep=3)
    save_step({"step": 2}, tmp_path, 2, keep=3)
    good = (tmp_path / "step-00000002.pt").read_bytes()
    (tmp_path / "step-00000003.pt").write_bytes(good[: len(good) // 2])
    heard: list[str] = []
    assert load_latest(tmp_path, heard.append)["step"] == 2
    assert len(heard) == 1 and "step-00000003.pt" in heard[0] and "resuming from the newest readable" in heard[0]
    assert [p.name for p in checkpoints(tmp_path)] == ["step-00000001.pt", "step-00000002.pt"]
    assert (tmp_path / "step-00000003.pt.damaged").is_file()
    (tmp_path / "step-00000002.pt").write_bytes(b"")
    (tmp_path / "step-00000001.pt").write_bytes(b"junk")
    assert load_latest(tmp_path, heard.append) is None and len(heard) == 3


def test_lock_names_its_live_owner_and_takes_over_a_dead_one(tmp_path):
    """A second lock on a held directory fails naming the owner; a lock file left by a dead run
    (no flock on it) is taken over with a notice; release removes the file."""
    held = RunLock(tmp_path).acquire()
    with pytest.raises(Exception, match=f"another run is writing here \\(pid {os.getpid()} on "):
        RunLock(tmp_path).acquire()
    held.release()
    assert not (tmp_path / LOCK_FILE).exists()
    (tmp_path / LOCK_FILE).write_text("pid 99999999 on elsewhere\n")
    heard: list[str] = []
    with RunLock(tmp_path, heard.append):
        assert "pid 99999999 on elsewhere" in heard[0] and "taking over" in heard[0]
        assert (tmp_path / LOCK_FILE).read_text().startswith(f"pid {os.getpid()} ")
    assert not (tmp_path / LOCK_FILE).exists()


def test_two_runs_on_one_out(tmp_path, tiny_bert):
    """A second training into an --out that a live run is writing: exit 2, one line naming the first
    run's pid; the first run finishes and its log.jsonl holds each step once. Broken: both wrote the
    same ``.tmp`` names, one crashed, and the log mixed the runs."""
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 8)
    out = tmp_path / "run"
    first = subprocess.Popen(_train_cmd(train, out, tiny_bert, "--epochs", "4", "--save-every", "1"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.time() + 120
    while not (out / LOCK_FILE).exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before the second could start"
    second = subprocess.run(_train_cmd(train, out, tiny_bert), capture_output=True, text=True, env=_env(), timeout=300)
    still_running = first.poll() is None
    _, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err
    assert still_running, "the first run ended before the second was refused: the test proved nothing"
    assert second.returncode == 2
    line = _one_line_error(second.stderr)
    assert "another run is writing here" in line and f"pid {first.pid} " in line
    events = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps == list(range(1, events[0]["total_steps"] + 1))
    assert not (out / LOCK_FILE).exists()


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_weights_are_one_line(tmp_path, tiny_tagger_dir, tiny_bert):
    """Half a model.safetensors, in a trained model (evaluate, predict, serve) and in a pretrained
    encoder (train --model): one line naming the file, exit 2. Broken: a safetensors traceback."""
    model = tmp_path / "model"
    shutil.copytree(tiny_tagger_dir, model)
    _truncate(model / "model.safetensors")
    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_bert, encoder)
    _truncate(encoder / "model.safetensors")
    test = write_bio(tmp_path / "test.bio", TINY_SENTENCES)
    commands = {
        "evaluate": ["evaluate", str(model), str(test)],
        "predict": ["predict", str(model), "--input", str(tmp_path / "in.txt")],
        "serve": ["serve", str(model), "--port", "0"],
        "train --model": ["train", "--train", str(test), "--out", str(tmp_path / "run"), "--model", str(encoder), "--epochs", "1"],
    }
    (tmp_path / "in.txt").write_text("alice visited paris\n")
    for name, args in commands.items():
        r = subprocess.run([sys.executable, "-m", "entitune", *args], capture_output=True, text=True, env=_env(), timeout=300)
        assert r.returncode == 2, (name, r.stderr)
        line = _one_line_error(r.stderr)
        assert "model.safetensors" in line, (name, line)


def _evil_folder(source: Path, target: Path, marker: Path) -> Path:
    """``source`` with an unknown model type, an ``auto_map`` to a Python file of its own and that
    file, which writes ``marker`` if it ever runs."""
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config.update(model_type="evilbert", auto_map={"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"})
    (target / "config.json").write_text(json.dumps(config))
    (target / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                    "from transformers import BertConfig as EvilConfig, BertModel as EvilModel\n")
    return target


def _run_on_a_terminal(args: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run ``entitune args`` with a pseudo-terminal as stdin/stdout/stderr, answering 'y' to any
    [y/N] prompt (what a hurried user would do); returns (exit status, everything it printed)."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.environ.update(_env())
        os.execv(sys.executable, [sys.executable, "-m", "entitune", *args])
    out, deadline = b"", time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if b"[y/N]" in out:
                os.write(fd, b"y\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def test_a_folder_that_asks_to_run_its_code_is_refused(tmp_path, tiny_bert, tiny_tagger_dir):
    """A config with an unknown ``model_type`` and an ``auto_map`` to the folder's own Python file,
    as a pretrained encoder (train --model, doctor --model) and as a trained model (predict), with a
    terminal attached: refused in one line, exit 2, and the folder's code never runs (its marker file
    never appears). Broken: transformers asked 'run the custom code? [y/N]' and 'y' ran it."""
    marker = tmp_path / "marker"
    encoder = _evil_folder(tiny_bert, tmp_path / "evil-encoder", marker)
    model = _evil_folder(tiny_tagger_dir, tmp_path / "evil-model", marker)
    data = write_bio(tmp_path / "train.bio", TINY_SENTENCES)
    (tmp_path / "in.txt").write_text("alice visited paris\n")
    for args in (["train", "--train", str(data), "--out", str(tmp_path / "run"), "--model", str(encoder), "--epochs", "1"],
                 ["doctor", str(data), "--model", str(encoder)],
                 ["predict", str(model), "--input", str(tmp_path / "in.txt")]):
        code, printed = _run_on_a_terminal(args)
        assert code == 2, (args[0], printed)
        line = _one_line_error(printed.replace("\r\n", "\n"))
        assert "never runs code from model folders" in line, (args[0], line)
        assert not marker.exists(), f"{args[0]} ran the folder's code"
