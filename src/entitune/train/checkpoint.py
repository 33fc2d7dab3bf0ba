"""Training checkpoints that a killed run resumes from exactly.

A checkpoint is one file ``step-NNNNNNNN.pt`` in the run's ``checkpoints/`` directory, written to
a temporary name, fsynced, then renamed (and the directory fsynced), so a file with the final
name is always complete; a crash leaves at most a ``.tmp`` file, which is ignored and cleaned up.
It holds what the loop needs to continue bit for bit: weights (the compact embedding table
included), optimizer, gradient scaler, python/numpy/torch RNG states, the position in the data
order (epoch and optimizer steps done in it), the best dev weights so far and the epoch results.

Files are written with ``torch.save`` and read with ``torch.load(weights_only=True)``: tensors and
plain containers only, so loading never runs pickled code. These are entitune's own files; user
data is never read this way.
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError

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


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(obj: dict, path: Path) -> None:
    """``torch.save`` to ``path`` so that ``path`` is either absent or complete."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


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


def load_latest(directory: Path) -> dict | None:
    """The newest complete checkpoint in ``directory``, or None when there is none."""
    found = checkpoints(directory)
    if not found:
        return None
    try:
        return torch.load(found[-1], map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file is the user's to know about
        raise ConfigError(f"{found[-1]}: cannot read this checkpoint ({exc}); delete it to resume from an older one") from None
