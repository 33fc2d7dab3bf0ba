"""``finetune``: the whole ``entitune train`` run, callable from Python with the same result.

Reads top to bottom: settings -> the task's data (dev split, labels) and model -> logs and
checkpoints -> the one training loop -> save -> test evaluation -> ``train_log.json``. The task
(tagging or classification, ``tasks``) contributes its data, model, fit and report; everything else
is the same for both. ``FinetuneConfig`` holds every option; ``entitune train`` only turns flags
(and ``--config FILE``) into one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import config_dict
from ..data import FORMATS, TEXT_FORMATS
from ..errors import ConfigError, check_choice
from ..model.encoder_model import EncoderModel
from ..model.settings import POOLINGS, check_model_options
from ..train import CheckpointOptions, JsonlLog, Listeners, TensorBoardLog, TrainConfig, tensorboard_available
from ..train.checkpoint import checkpoints as list_checkpoints
from ..train.distributed import barrier, init_from_env, shutdown
from .common import set_threads
from .console import Console
from .tasks import TASK_RUNS, resolve_task

DEVICES = ("auto", "cpu", "cuda")
TASK_CHOICES = ("auto", "ner", "classify")
CLASS_WEIGHTS = ("none", "balanced")


@dataclass(frozen=True)
class FinetuneConfig:
    """Every option of a fine-tuning run. The fields are ``entitune train``'s flags (``batch_size``
    is ``--batch-size``); see ``entitune train --help`` for each one's meaning."""

    train: str
    out: str
    dev: str | None = None
    test: str | None = None
    model: str | None = None
    task: str = "auto"
    format: str = "auto"
    text_columns: str | None = None
    label_column: str | None = None
    dev_fraction: float | None = None
    pooling: str = "cls"
    class_weights: str = "none"
    head: str = "linear"
    features: str = "finetune"
    scheme: str = "IOB2"
    unconstrained: bool = False
    max_length: int = 128
    stride: int = 32
    dropout: float = 0.1
    epochs: int = 3
    lr: float = 1e-4
    head_lr: float | None = None
    batch_size: int = 32
    batch_tokens: int | None = None
    accumulate: int = 1
    warmup: float = 0.1
    weight_decay: float = 0.01
    precision: str = "fp32"
    seed: int = 42
    save_every: int = 0
    keep_checkpoints: int = 2
    resume: bool = False
    device: str = "auto"
    nproc: int = 1
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("train", "out", "dev", "test", "model"):  # paths are kept as strings
            value = getattr(self, name)
            if isinstance(value, Path):
                object.__setattr__(self, name, str(value))
        object.__setattr__(self, "scheme", self.scheme.upper())
        check_model_options(self.head, self.features, self.scheme)
        check_choice("device", self.device, DEVICES)
        check_choice("task", self.task, TASK_CHOICES)
        check_choice("format", self.format, tuple(dict.fromkeys([*FORMATS, *TEXT_FORMATS])))
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("class_weights", self.class_weights, CLASS_WEIGHTS)
        if self.dev_fraction is not None and not 0.0 <= self.dev_fraction < 1.0:
            raise ConfigError(f"dev_fraction must be at least 0 and below 1, got {self.dev_fraction}")
        if self.nproc < 1:
            raise ConfigError(f"nproc must be >= 1, got {self.nproc}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        CheckpointOptions(Path(self.out) / "checkpoints", self.save_every, self.keep_checkpoints, self.resume)
        self.train_config()

    def train_config(self) -> TrainConfig:
        """The training loop's part of these options."""
        return TrainConfig(epochs=self.epochs, lr=self.lr, head_lr=self.head_lr, batch_size=self.batch_size,
                           warmup=self.warmup, weight_decay=self.weight_decay, seed=self.seed,
                           accumulate=self.accumulate, precision=self.precision, batch_tokens=self.batch_tokens)


@dataclass
class FinetuneResult:
    """What a run left: its directory, its ``train_log.json`` content, and (in this process) the
    trained model, or None when the run went to other processes (``nproc`` > 1)."""

    out: Path
    log: dict
    model: EncoderModel | None = field(default=None, repr=False)

    @property
    def test(self) -> dict | None:
        return self.log.get("test")


def finetune(config: FinetuneConfig, console: Console | None = None) -> FinetuneResult:
    """Fine-tune an encoder for the run's task (``config.task``, or what the training file is for)
    on ``config.train``, keep the best dev epoch, save the model to ``config.out``, score it on
    ``config.test``, and write ``train_log.json``."""
    console = console or Console()
    if config.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _launch(config, console)
    set_threads(config.threads)
    world = init_from_env(config.device)
    if not world.is_main:  # one voice: only rank 0 prints, logs and saves
        console = Console(quiet=True)
    train_config = config.train_config()
    task = TASK_RUNS[resolve_task(config)](config, console)

    # ---- data and model: the task's own
    train_data, dev_data, test_data = task.load()
    model = task.build().to(world.device)

    # ---- logs and checkpoints
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoints = CheckpointOptions(out / "checkpoints", config.save_every, config.keep_checkpoints, config.resume)
    if config.resume:
        found = list_checkpoints(checkpoints.directory)
        console.note(f"resuming from {found[-1]}" if found else
                     f"--resume: no checkpoint in {checkpoints.directory}; starting from the beginning")
    if world.distributed:
        console.note(f"distributed: {world.size} processes, device {world.device}, global batch {config.batch_size}")
    progress = console.progress()
    logs: list = []
    if world.is_main:
        logs.append(JsonlLog(out / "log.jsonl", append=config.resume))
        if tensorboard_available():
            logs.append(TensorBoardLog(out / "tensorboard"))
            console.note(f"logging to {out / 'log.jsonl'} and TensorBoard ({out / 'tensorboard'})")

    # ---- train
    try:
        result = task.fit(model, train_data, dev_data, train_config, Listeners(progress, *logs), checkpoints)
    finally:
        progress.close()
        for log_writer in logs:
            log_writer.close()
    if not world.is_main:
        barrier(world)
        shutdown()
        return FinetuneResult(out, {}, model)

    # ---- save, test, log
    task.after_fit(model, dev_data)
    model.save(out)
    log = {"config": config_dict(config), "task": task.name, "training": asdict(train_config),
           "model": asdict(model.settings),
           "data": {"train": len(train_data), "dev": len(dev_data), "test": len(test_data or [])},
           "train": result.to_dict()}
    console.note(f"saved best model (epoch {result.best_epoch}) to {out}")
    if test_data is not None:
        log["test"] = task.evaluate(model, test_data)
        console.result(f"test: {config.test}")
        console.result(task.format(log["test"]))
    (out / "train_log.json").write_text(json.dumps(log, indent=2) + "\n")
    barrier(world)
    shutdown()
    return FinetuneResult(out, log, model)


def _launch(config: FinetuneConfig, console: Console) -> FinetuneResult:
    """Run ``config`` in ``config.nproc`` data-parallel processes on this machine under torchrun
    (``entitune train --config`` with these exact options), and read back its log."""
    with tempfile.TemporaryDirectory(prefix="entitune-launch-") as tmp:
        resolved = Path(tmp) / "config.json"
        resolved.write_text(json.dumps(config_dict(config), indent=2))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={config.nproc}",
               "-m", "entitune", "train", "--config", str(resolved)]
        console.note(f"launching: {' '.join(cmd)}")
        code = subprocess.call(cmd)
    if code:
        raise SystemExit(code)
    log_path = Path(config.out) / "train_log.json"
    return FinetuneResult(Path(config.out), json.loads(log_path.read_text()) if log_path.is_file() else {})


__all__ = ["DEVICES", "FinetuneConfig", "FinetuneResult", "finetune"]
