"""Where recipes talk to the user: notes on stderr (one line each, silenced on other ranks than 0
of a distributed run, or with ``quiet``), results on stdout, and the progress bars of training and
batch prediction (rich) on a terminal."""
from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..train import EpochResult, Evaluation


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

    def line_progress(self, description: str = "predict") -> "LineProgress":
        """A counter of lines answered: a bar with lines/s on stderr when it is a terminal."""
        return LineProgress(description, show_bar=not self.quiet and sys.stderr.isatty())


#: seconds between the progress lines of a run whose stderr is not a terminal (a log file, a pipe)
PROGRESS_LINE_EVERY_S = 60.0


def eta_text(seconds: float) -> str:
    """A remaining time as progress lines write it.

    >>> eta_text(59), eta_text(3725), eta_text(200000)
    ('0:00:59', '1:02:05', '2 d 7:33:20')
    """
    seconds = max(0, int(round(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    text = f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days} d {text}" if days else text


class TrainProgress:
    """Training progress: a rich bar with loss, sub-words/s and the time left on a terminal; elsewhere
    (a log file, a pipe) a line with the same every ``PROGRESS_LINE_EVERY_S`` seconds; epoch lines
    always."""

    def __init__(self, console: Console, show_bar: bool, line_every_s: float = PROGRESS_LINE_EVERY_S) -> None:
        self.console = console
        self.show_bar = show_bar
        self.bar = None
        self.task = None
        self.line_every_s = line_every_s
        self.total = self.start_step = 0
        self.started = self.last_line = 0.0

    def on_start(self, total_steps: int, steps_per_epoch: int, start_step: int = 0) -> None:
        self.console.note(f"training: {total_steps} steps ({steps_per_epoch} per epoch)"
                          + (f", {total_steps - start_step} to go" if start_step else ""))
        self.total, self.start_step = total_steps, start_step
        self.started = self.last_line = time.monotonic()
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
            return
        now = time.monotonic()
        if self.console.quiet or now - self.last_line < self.line_every_s or step >= self.total:
            return
        self.last_line = now
        done = step - self.start_step
        left = (now - self.started) / max(done, 1) * (self.total - step)
        self.console.note(f"step {step:,}/{self.total:,} ({step / max(self.total, 1):.0%}) | loss {loss:.4f} | "
                          f"{subwords_per_s:,.0f} sub-words/s | {eta_text(left)} left")

    def on_epoch(self, r: EpochResult) -> None:
        names = {"entity_f1": "entity F1", "micro_f1": "micro F1"}
        dev = f" | dev {names.get(r.metric, r.metric)} {r.score:.4f}" if r.dev else ""
        if r.dev and "perplexity" in r.dev:  # masked-LM pretraining: the score is minus the masked-token loss
            dev = f" | dev masked accuracy {r.dev['masked_accuracy']:.4f}, perplexity {r.dev['perplexity']:.2f}"
        best = " (best)" if r.is_best and r.dev else ""
        msg = (f"epoch {r.epoch}: loss {r.train_loss:.4f} | {r.seconds:.1f} s | "
               f"{r.subwords_per_s:,.0f} sub-words/s | padding {r.positions / max(r.subwords, 1) - 1:.1%}{dev}{best}")
        self._print(msg)

    def on_evaluation(self, r: Evaluation) -> None:
        """A line for each evaluation between epoch ends (``eval_every``); the epoch lines show the others."""
        if r.epoch_end or not r.dev:
            return
        names = {"entity_f1": "entity F1", "micro_f1": "micro F1", "neg_masked_loss": "masked loss"}
        score = -r.score if r.metric == "neg_masked_loss" else r.score
        self._print(f"step {r.step} (epoch {r.epoch}): dev {names.get(r.metric, r.metric)} {score:.4f}"
                    + (" (best)" if r.is_best else ""))

    def _print(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.console.print(msg)
        else:
            self.console.note(msg)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class LineProgress:
    """Lines answered so far and lines/s, as a rich bar on stderr (``show_bar``), else nothing; a
    context manager. The bar never touches stdout, where the answers go, and is gone when it closes."""

    def __init__(self, description: str, show_bar: bool) -> None:
        self.description = description
        self.show_bar = show_bar
        self.done = 0
        self.bar = None
        self.task = None
        self.start = 0.0

    def __enter__(self) -> "LineProgress":
        self.start = time.perf_counter()
        if self.show_bar:
            from rich.console import Console as RichConsole
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} lines"),
                TextColumn("{task.fields[speed]:,.0f} lines/s"), TimeElapsedColumn(),
                console=RichConsole(stderr=True), transient=True, redirect_stdout=False, redirect_stderr=False,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=None, speed=0.0)
        return self

    def advance(self, lines: int) -> None:
        self.done += lines
        if self.bar is not None:
            speed = self.done / max(time.perf_counter() - self.start, 1e-9)
            self.bar.update(self.task, completed=self.done, speed=speed)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
