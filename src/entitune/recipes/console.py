"""Where recipes talk to the user: notes on stderr (one line each, silenced on other ranks than 0
of a distributed run, or with ``quiet``), results on stdout, and the training progress bar (rich)
on a terminal."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..train import EpochResult


def prepare_process() -> None:
    """Process settings for a command-line run: no tokenizer thread pool fighting torch's threads."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def report_error(exc: Exception) -> None:
    """A user error as one line on stderr; in a distributed run only rank 0 says it."""
    if os.environ.get("RANK", "0") == "0":
        print(f"error: {exc}", file=sys.stderr, flush=True)


class Console:
    """Notes (``note``) go to stderr, results (``result``) to stdout; ``quiet`` silences both."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def note(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def result(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def progress(self) -> "TrainProgress":
        """A training listener printing through this console (with a bar on a terminal)."""
        return TrainProgress(self, show_bar=not self.quiet and sys.stderr.isatty())


class TrainProgress:
    """Training progress: a rich bar with loss and throughput on a terminal, epoch lines always."""

    def __init__(self, console: Console, show_bar: bool) -> None:
        self.console = console
        self.show_bar = show_bar
        self.bar = None
        self.task = None

    def on_start(self, total_steps: int, steps_per_epoch: int, start_step: int = 0) -> None:
        self.console.note(f"training: {total_steps} steps ({steps_per_epoch} per epoch)"
                          + (f", {total_steps - start_step} to go" if start_step else ""))
        if self.show_bar:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[progress.description]{task.description}"), BarColumn(),
                TextColumn("{task.completed}/{task.total}"), TextColumn("loss {task.fields[loss]:.4f}"),
                TextColumn("{task.fields[speed]:,.0f} sub-words/s"), TimeRemainingColumn(),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=total_steps, completed=start_step, loss=0.0, speed=0.0)

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, loss=loss, speed=subwords_per_s)

    def on_epoch(self, r: EpochResult) -> None:
        names = {"entity_f1": "entity F1", "micro_f1": "micro F1"}
        dev = f" | dev {names.get(r.metric, r.metric)} {r.score:.4f}" if r.dev else ""
        best = " (best)" if r.is_best and r.dev else ""
        msg = (f"epoch {r.epoch}: loss {r.train_loss:.4f} | {r.seconds:.1f} s | "
               f"{r.subwords_per_s:,.0f} sub-words/s | padding {r.positions / max(r.subwords, 1) - 1:.1%}{dev}{best}")
        if self.bar is not None:
            self.bar.console.print(msg)
        else:
            self.console.note(msg)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
