"""What training reports as it goes: per-epoch and whole-run results, the listener protocol, and the
two logs every run can write (JSON Lines, TensorBoard)."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Protocol


@dataclass
class EpochResult:
    """What one epoch did: mean loss, time, throughput, padding, and dev scores: the whole dev
    report, and the score that selects the best epoch under its ``metric`` name (``entity_f1``,
    ``accuracy``, ``micro_f1``)."""

    epoch: int
    train_loss: float
    seconds: float
    subwords: int
    positions: int
    subwords_per_s: float
    dev: dict | None
    is_best: bool
    eval_seconds: float = 0.0
    metric: str = ""
    score: float | None = None


@dataclass
class TrainResult:
    epochs: list[EpochResult] = field(default_factory=list)
    best_epoch: int = 0

    @property
    def train_seconds(self) -> float:
        return sum(e.seconds for e in self.epochs)

    @property
    def subwords_per_s(self) -> float:
        return sum(e.subwords for e in self.epochs) / max(self.train_seconds, 1e-9)

    @property
    def padding_overhead(self) -> float:
        real = sum(e.subwords for e in self.epochs)
        return sum(e.positions for e in self.epochs) / real - 1.0 if real else 0.0

    def to_dict(self) -> dict:
        return {
            "best_epoch": self.best_epoch,
            "train_seconds": self.train_seconds,
            "subwords_per_s": self.subwords_per_s,
            "padding_overhead": self.padding_overhead,
            "epochs": [asdict(e) for e in self.epochs],
        }


class TrainListener(Protocol):
    def on_start(self, total_steps: int, steps_per_epoch: int) -> None: ...
    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None: ...
    def on_epoch(self, result: EpochResult) -> None: ...


class Silent:
    """A listener that does nothing."""

    def on_start(self, total_steps: int, steps_per_epoch: int) -> None:
        pass

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        pass

    def on_epoch(self, result: EpochResult) -> None:
        pass


class Listeners:
    """Several listeners as one."""

    def __init__(self, *listeners: TrainListener) -> None:
        self.listeners = listeners

    def on_start(self, total_steps: int, steps_per_epoch: int) -> None:
        for x in self.listeners:
            x.on_start(total_steps, steps_per_epoch)

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        for x in self.listeners:
            x.on_step(step, loss, subwords_per_s, lr)

    def on_epoch(self, result: EpochResult) -> None:
        for x in self.listeners:
            x.on_epoch(result)


class JsonlLog:
    """Training log as JSON Lines: one ``{"event": "step", step, loss, lr, subwords_per_s}`` per
    optimizer step and one ``{"event": "epoch", ...}`` (with dev scores) per epoch; flushed as written."""

    def __init__(self, path, append: bool = False) -> None:
        self.file = open(path, "a" if append else "w", encoding="utf-8")

    def _write(self, obj: dict) -> None:
        self.file.write(json.dumps(obj) + "\n")
        self.file.flush()

    def on_start(self, total_steps: int, steps_per_epoch: int) -> None:
        self._write({"event": "start", "total_steps": total_steps, "steps_per_epoch": steps_per_epoch, "time": time.time()})

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        self._write({"event": "step", "step": step, "loss": loss, "lr": lr, "subwords_per_s": subwords_per_s})

    def on_epoch(self, result: EpochResult) -> None:
        self._write({"event": "epoch", **asdict(result)})

    def close(self) -> None:
        self.file.close()


class TensorBoardLog:
    """The same events as ``JsonlLog`` as TensorBoard scalars (``train/loss``, ``train/lr``,
    ``train/subwords_per_s`` per step; ``train/epoch_loss`` and ``dev/<metric>`` (``dev/entity_f1``,
    ``dev/accuracy``...) per epoch)."""

    def __init__(self, directory) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(directory))
        self.step = 0

    def on_start(self, total_steps: int, steps_per_epoch: int) -> None:
        pass

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        self.step = step
        self.writer.add_scalar("train/loss", loss, step)
        self.writer.add_scalar("train/lr", lr, step)
        self.writer.add_scalar("train/subwords_per_s", subwords_per_s, step)

    def on_epoch(self, result: EpochResult) -> None:
        self.writer.add_scalar("train/epoch_loss", result.train_loss, self.step)
        if result.dev:
            self.writer.add_scalar(f"dev/{result.metric}", result.score, self.step)
            if "token_micro_f1" in result.dev:
                self.writer.add_scalar("dev/token_micro_f1", result.dev["token_micro_f1"], self.step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def tensorboard_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None
