"""What training reports as it goes: per-epoch, per-evaluation and whole-run results, the listener
protocol, and the two logs every run can write (JSON Lines, TensorBoard)."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
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
class Evaluation:
    """One dev evaluation: after optimizer step ``step`` of epoch ``epoch``, at the epoch's end
    (``epoch_end``) or every ``eval_every`` steps (or where training stopped); ``score`` under its
    ``metric`` name (None without dev), ``is_best``: better than every evaluation before it."""

    step: int
    epoch: int
    epoch_end: bool
    metric: str
    score: float | None
    is_best: bool
    seconds: float = 0.0
    dev: dict | None = None

    def summary(self) -> dict:
        """The evaluation without its dev report (``train_log.json``; ``log.jsonl`` has the report)."""
        return {k: v for k, v in asdict(self).items() if k != "dev"}


@dataclass
class TrainResult:
    """Every epoch's result, every dev evaluation's, which weights were kept (``best_epoch`` /
    ``best_step`` of the best evaluation, its ``best_score`` and report ``best_dev``; the average's
    when ``average`` says it was kept), why training stopped (``stopped``: ``reason`` completed,
    patience or time_budget, at ``step`` and ``epoch``), and (where a task measures it) the dev
    report of the starting weights, before any training (``dev_before``)."""

    epochs: list[EpochResult] = field(default_factory=list)
    best_epoch: int = 0
    dev_before: dict | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    best_step: int = 0
    best_score: float | None = None
    best_dev: dict | None = None
    stopped: dict | None = None
    average: dict | None = None
    probe: dict | None = None  # a classifier's linear probe before fine-tuning: epochs, seconds (outside train_seconds)

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
            "best_step": self.best_step,
            "best_score": self.best_score,
            "stopped": self.stopped,
            "train_seconds": self.train_seconds,
            "subwords_per_s": self.subwords_per_s,
            "padding_overhead": self.padding_overhead,
            "epochs": [asdict(e) for e in self.epochs],
            "evaluations": [e.summary() for e in self.evaluations],
            **({"average": self.average} if self.average is not None else {}),
            **({"dev_before": self.dev_before} if self.dev_before is not None else {}),
            **({"probe": self.probe} if self.probe is not None else {}),
        }


class TrainListener(Protocol):
    """Hears a run's progress. ``on_start`` comes once, after any resume: ``start_step`` is the step
    the run continues after (0 for a fresh run). ``on_evaluation`` (optional: the loop asks for it
    with ``getattr``) hears every dev evaluation, the epoch-end ones included (before ``on_epoch``)."""

    def on_start(self, total_steps: int, steps_per_epoch: int, start_step: int = 0) -> None: ...
    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None: ...
    def on_epoch(self, result: EpochResult) -> None: ...
    def on_evaluation(self, result: Evaluation) -> None: ...


def tell_evaluation(listener, result: Evaluation) -> None:
    """``listener.on_evaluation(result)`` where the listener has it (listeners written before it do not)."""
    hear = getattr(listener, "on_evaluation", None)
    if hear is not None:
        hear(result)


class Silent:
    """A listener that does nothing."""

    def on_start(self, total_steps: int, steps_per_epoch: int, start_step: int = 0) -> None:
        pass

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        pass

    def on_epoch(self, result: EpochResult) -> None:
        pass

    def on_evaluation(self, result: Evaluation) -> None:
        pass


class ProgressBar:
    """A tqdm bar over a run's optimizer steps (with the time left), the loss, sub-words/s and the
    last dev score, and one line per epoch: what a run started from Python shows when someone
    watches (``default_listener``).
    ``tqdm.auto`` draws a widget in a notebook and a text bar on a terminal."""

    def __init__(self, stream=None) -> None:
        self.stream = stream
        self.bar = None
        self.dev = ""

    def on_start(self, total_steps: int, steps_per_epoch: int, start_step: int = 0) -> None:
        from tqdm.auto import tqdm  # a dependency of transformers and huggingface_hub

        self.close()
        self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", file=self.stream,
                        dynamic_ncols=True, leave=True)

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix_str(f"loss {loss:.4f}, {subwords_per_s:,.0f} sub-words/s{self.dev}", refresh=False)

    def on_epoch(self, result: EpochResult) -> None:
        if self.bar is not None:
            score = f", dev {result.metric} {result.score:.4f}" if result.score is not None else ""
            self.bar.write(f"epoch {result.epoch}: loss {result.train_loss:.4f}{score}", file=self.stream or sys.stderr)

    def on_evaluation(self, result: Evaluation) -> None:
        if result.score is not None:
            self.dev = f", dev {result.score:.4f}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def watched() -> bool:
    """Whether someone watches this process: stderr is a terminal, or it runs in a notebook kernel."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def default_listener() -> TrainListener:
    """The listener of a run started from Python without one: a ``ProgressBar`` when someone watches
    (``watched``), else ``Silent`` (a script's log stays clean)."""
    return ProgressBar() if watched() else Silent()


class Listeners:
    """Several listeners as one."""

    def __init__(self, *listeners: TrainListener) -> None:
        self.listeners = listeners

    def on_start(self, total_steps: int, steps_per_epoch: int, start_step: int = 0) -> None:
        for x in self.listeners:
            x.on_start(total_steps, steps_per_epoch, start_step)

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        for x in self.listeners:
            x.on_step(step, loss, subwords_per_s, lr)

    def on_epoch(self, result: EpochResult) -> None:
        for x in self.listeners:
            x.on_epoch(result)

    def on_evaluation(self, result: Evaluation) -> None:
        for x in self.listeners:
            tell_evaluation(x, result)


class JsonlLog:
    """Training log as JSON Lines: one ``{"event": "start", ...}`` per run or resume, one
    ``{"event": "step", step, loss, lr, subwords_per_s}`` per optimizer step, one
    ``{"event": "evaluation", step, epoch, score, dev...}`` per dev evaluation and one
    ``{"event": "epoch", ...}`` (with dev scores) per epoch; flushed as written.

    A resumed run (``on_start`` with ``start_step`` > 0) keeps the events up to that step and drops
    those written after it by the run that died, so each step appears once; a fresh run starts an
    empty file."""

    def __init__(self, path) -> None:
        self.path = Path(path)
        self.file = None

    def _write(self, obj: dict) -> None:
        assert self.file is not None, "on_start opens the log"
        self.file.write(json.dumps(obj) + "\n")
        self.file.flush()

    def on_start(self, total_steps: int, steps_per_epoch: int, start_step: int = 0) -> None:
        kept = _events_until(self.path, start_step) if start_step else []
        self.file = open(self.path, "w", encoding="utf-8")
        self.file.writelines(kept)
        event = {"event": "start", "total_steps": total_steps, "steps_per_epoch": steps_per_epoch, "time": time.time()}
        self._write({**event, "resumed_after_step": start_step} if start_step else event)

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        self._write({"event": "step", "step": step, "loss": loss, "lr": lr, "subwords_per_s": subwords_per_s})

    def on_epoch(self, result: EpochResult) -> None:
        self._write({"event": "epoch", **asdict(result)})

    def on_evaluation(self, result: Evaluation) -> None:
        self._write({"event": "evaluation", **asdict(result)})

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _events_until(path: Path, step: int) -> list[str]:
    """The lines of an earlier log up to (not including) its first step event after ``step``; a
    line cut short by the crash ends the kept part."""
    if not path.is_file():
        return []
    kept = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                event = json.loads(line)
            except ValueError:
                break
            if event.get("event") == "step" and event.get("step", 0) > step:
                break
            kept.append(line if line.endswith("\n") else line + "\n")
    return kept


class TensorBoardLog:
    """The same events as ``JsonlLog`` as TensorBoard scalars (``train/loss``, ``train/lr``,
    ``train/subwords_per_s`` per step; ``train/epoch_loss`` and ``dev/<metric>`` (``dev/entity_f1``,
    ``dev/accuracy``...; masked LM: ``dev/masked_accuracy`` and ``dev/perplexity`` too) per epoch,
    and ``dev/<metric>`` at the step of each evaluation between epoch ends)."""

    def __init__(self, directory) -> None:
        self.directory = str(directory)
        self.writer = None
        self.step = 0

    def on_start(self, total_steps: int, steps_per_epoch: int, start_step: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # a resumed run purges what the dead run wrote after the checkpoint's step
        self.writer = SummaryWriter(log_dir=self.directory, purge_step=start_step + 1 if start_step else None)
        self.step = start_step

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        self.step = step
        self.writer.add_scalar("train/loss", loss, step)
        self.writer.add_scalar("train/lr", lr, step)
        self.writer.add_scalar("train/subwords_per_s", subwords_per_s, step)

    def on_epoch(self, result: EpochResult) -> None:
        self.writer.add_scalar("train/epoch_loss", result.train_loss, self.step)
        if result.dev:
            self.writer.add_scalar(f"dev/{result.metric}", result.score, self.step)
            for key in ("token_micro_f1", "masked_accuracy", "perplexity"):  # NER's second score; masked LM's
                if key in result.dev:
                    self.writer.add_scalar(f"dev/{key}", result.dev[key], self.step)
        self.writer.flush()

    def on_evaluation(self, result: Evaluation) -> None:
        if result.dev and not result.epoch_end:  # the epoch-end ones come with on_epoch
            self.writer.add_scalar(f"dev/{result.metric}", result.score, result.step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def tensorboard_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None
