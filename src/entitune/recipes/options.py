"""``FinetuneConfig``: every option of ``entitune train``, in a module that imports no torch, so
that the command line can build its help and check its input files before the heavy libraries load
(a FIFO or a missing file is refused in a fraction of a second). Validation that needs the model
and training settings imports them when a config is made."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..data import FORMATS, TEXT_FORMATS
from ..errors import ConfigError, check_choice

if TYPE_CHECKING:
    from ..train import TrainConfig

DEVICES = ("auto", "cpu", "cuda")
#: ``--precision`` for training: auto (bf16 where the hardware runs it fast, see backends.precision) or as asked
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
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
    precision: str = "auto"
    seed: int = 42
    save_every: int = 0
    keep_checkpoints: int = 2
    keep_checkpoints_after: bool = False
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
        from ..model.settings import POOLINGS, check_model_options  # torch: only once a run is made
        from ..train import CheckpointOptions

        check_model_options(self.head, self.features, self.scheme)
        check_choice("device", self.device, DEVICES)
        check_choice("precision", self.precision, PRECISION_CHOICES)
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

    def train_config(self, precision: str | None = None) -> "TrainConfig":
        """The training loop's part of these options; ``precision``: the one ``auto`` resolved to
        (``backends.choose_precision``), else the one asked for (fp32 stands in for ``auto``)."""
        from ..train import TrainConfig

        chosen = precision or (self.precision if self.precision != "auto" else "fp32")
        return TrainConfig(epochs=self.epochs, lr=self.lr, head_lr=self.head_lr, batch_size=self.batch_size,
                           warmup=self.warmup, weight_decay=self.weight_decay, seed=self.seed,
                           accumulate=self.accumulate, precision=chosen, batch_tokens=self.batch_tokens)


__all__ = ["CLASS_WEIGHTS", "DEVICES", "TASK_CHOICES", "FinetuneConfig"]
