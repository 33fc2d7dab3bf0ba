"""Read a run's ``log.jsonl`` (written by ``train.progress.JsonlLog``) into the series the report
plots. Pure Python: the report never imports the training code or torch.

>>> import io
>>> log = parse_run_log(io.StringIO('{"event": "start", "total_steps": 2, "steps_per_epoch": 2}\\n'
...                                 '{"event": "step", "step": 1, "loss": 2.0, "lr": 0.1}\\n'
...                                 '{"event": "epoch", "epoch": 1, "train_loss": 2.0, "score": 0.5}\\n'))
>>> [s["loss"] for s in log.steps], [e["score"] for e in log.epochs], log.steps_per_epoch
([2.0], [0.5], 2)
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataFormatError


@dataclass(frozen=True)
class RunLog:
    """A run's events: ``steps`` (``step``, ``loss``, ``lr``, ``subwords_per_s``) in step order, one
    per step (a resumed run's later events replace the dead run's), ``epochs`` (the
    ``EpochResult`` fields: ``epoch``, ``train_loss``, ``dev``, ``is_best``, ``metric``, ``score``...),
    ``steps_per_epoch`` from the last start event (0 if none) and ``starts``, how many times the
    run started (1 plus its resumes)."""

    steps: tuple[dict, ...]
    epochs: tuple[dict, ...]
    steps_per_epoch: int
    starts: int

    @property
    def metric(self) -> str:
        """The dev metric that chose the best epoch (``entity_f1``, ``accuracy``...), '' if none."""
        return next((e["metric"] for e in reversed(self.epochs) if e.get("metric")), "")

    @property
    def best(self) -> dict | None:
        """The epoch event marked best (the last one marked, after a resume), else None."""
        return next((e for e in reversed(self.epochs) if e.get("is_best")), None)


def parse_run_log(lines: Iterable[str], path: str | Path = "log.jsonl") -> RunLog:
    """The events of a ``log.jsonl``. A last line cut short (a run killed while writing) is
    skipped; any other line that is not a JSON object is a ``DataFormatError`` at its line."""
    steps: dict[int, dict] = {}
    epochs: dict[int, dict] = {}
    steps_per_epoch = starts = 0
    pending: DataFormatError | None = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if pending is not None:
            raise pending
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            pending = DataFormatError(path, number, "not a JSON object; expected one training event per line")
            continue
        kind = event.get("event")
        if kind == "start":
            starts += 1
            steps_per_epoch = int(event.get("steps_per_epoch") or 0)
        elif kind == "step" and isinstance(event.get("step"), int):
            steps[event["step"]] = event
        elif kind == "epoch" and isinstance(event.get("epoch"), int):
            epochs[event["epoch"]] = event
    return RunLog(tuple(steps[k] for k in sorted(steps)), tuple(epochs[k] for k in sorted(epochs)),
                  steps_per_epoch, starts)


def read_run_log(path: str | Path) -> RunLog:
    """``parse_run_log`` of the file at ``path`` (UTF-8; undecodable bytes replaced)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_run_log(fh, path)
