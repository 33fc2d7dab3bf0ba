"""Training checkpoints that a killed run resumes from exactly.

A checkpoint is one file ``step-NNNNNNNN.pt`` in the run's ``checkpoints/`` directory, written to
a temporary name, fsynced, then renamed (and the directory fsynced), so a file with the final
name is always complete; a crash leaves at most a ``.tmp`` file, which is ignored and cleaned up. A
write that fails (a full disk, a read-only or vanished directory) removes its temporary file and
raises ``OutputError``: the checkpoints written before stay as they were. On resume, a newest file
that cannot be read (cut short by a full disk or a copy) is set aside as ``*.pt.damaged`` with a
notice and the newest readable one is used.
It holds what the loop needs to continue bit for bit: weights (the compact embedding table
included), optimizer, gradient scaler, python/numpy/torch RNG states, the position in the data
order (epoch and optimizer steps done in it), the best dev weights so far and the epoch results.

Files are written with ``torch.save`` and read with ``torch.load(weights_only=True)``: tensors and
plain containers only, so loading never runs pickled code. These are entitune's own files; user
data is never read this way.
"""
from __future__ import annotations

import io
import os
import random
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..errors import output_error
from ..files import atomic_write_bytes

PATTERN = re.compile(r"^step-(\d{8})\.pt$")
BEST = "best.pt"


def rng_state() -> dict:
    """Python, numpy and torch RNG states as tensors and plain values."""
    version, state, gauss = random.getstate()
    np_state = np.random.get_state()
    return {
        "python": [version, list(state), gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict) -> None:
    version, inner, gauss = state["python"]
    random.setstate((version, tuple(inner), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])


def atomic_save(obj: dict, path: Path) -> None:
    """``torch.save`` to ``path`` so that ``path`` is either absent or complete.

    The object is serialised in memory first and written with plain file writes, so a full disk is
    an ``OSError`` with its errno (torch's own writer turns it into a bare RuntimeError); on any
    failure the temporary file is removed and ``OutputError`` names the file and the reason."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(buffer.getbuffer(), path)


def checkpoints(directory: Path) -> list[Path]:
    """Complete step checkpoints in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if PATTERN.match(p.name)]
    return sorted(found, key=lambda p: int(PATTERN.match(p.name).group(1)))  # type: ignore[union-attr]


def save_step(obj: dict, directory: Path, step: int, keep: int) -> Path:
    """Write the checkpoint of ``step``, then drop all but the newest ``keep`` and stray temp files."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step-{step:08d}.pt"
    atomic_save(obj, path)
    for old in checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    for tmp in directory.glob("*.tmp"):
        tmp.unlink(missing_ok=True)
    return path


DAMAGED = ".damaged"


def load_latest(directory: Path, notice: Callable[[str], None] | None = None) -> dict | None:
    """The newest readable checkpoint in ``directory``, or None when there is none.

    A newer file that cannot be read is renamed ``*.pt.damaged`` (kept for a look, out of the way
    of later saves and resumes) and ``notice`` hears one line about it."""
    for path in reversed(checkpoints(directory)):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is skipped the same way
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            damaged = path.with_name(path.name + DAMAGED)
            try:
                os.replace(path, damaged)
            except OSError as move:
                raise output_error(path, move) from None
            if notice is not None:
                notice(f"{path.name} cannot be read ({reason[:200]}); set aside as {damaged.name}, "
                       "resuming from the newest readable checkpoint")
    return None
