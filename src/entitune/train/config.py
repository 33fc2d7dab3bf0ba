"""Settings of the training loop (``TrainConfig``) and of its checkpoints (``CheckpointOptions``).
Both are frozen and validated when made; every error is a one-line ``ConfigError``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import ConfigError, check_choice


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. Defaults were chosen by measurement on MIT Movie eng (see README)."""

    epochs: int = 3
    lr: float = 1e-4
    head_lr: float | None = None  # None: the head's measured default (optim.DEFAULT_HEAD_LR)
    batch_size: int = 32
    warmup: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 42
    eval_batch_size: int = 64
    compact_embeddings: bool = True  # train only the embedding rows the data uses (exact; see compact.py)
    accumulate: int = 1  # micro-batches of batch_size per optimizer step; equals one batch of accumulate * batch_size
    batch_tokens: int | None = None  # instead of batch_size: padded sub-words per micro-batch (x accumulate per step)
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 with a gradient scaler)
    eval_every: int = 0  # also evaluate on dev every N optimizer steps (0: at epoch ends only)
    patience: int = 0  # stop after this many evaluations in a row without a better dev score (0: never)
    average_last: int = 0  # keep the mean of the weights at the last K evaluations if dev scores it higher (0: off)
    layer_decay: float = 1.0  # encoder layer l of L trains at lr * layer_decay ** (L - l), see optim (1.0: off)
    time_budget_s: float | None = None  # stop cleanly once training has run this long (None: no limit)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0 or (self.head_lr is not None and self.head_lr <= 0):
            raise ConfigError("learning rates must be > 0")
        if not 0.0 <= self.warmup < 1.0:
            raise ConfigError(f"warmup is a fraction of all steps in [0, 1), got {self.warmup}")
        if self.accumulate < 1:
            raise ConfigError(f"accumulate must be >= 1, got {self.accumulate}")
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise ConfigError(f"batch_tokens must be >= 1, got {self.batch_tokens}")
        check_choice("precision", self.precision, PRECISIONS)
        for name in ("eval_every", "patience", "average_last"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.patience and self.average_last > self.patience:
            raise ConfigError(f"average_last ({self.average_last}) must be at most patience ({self.patience}): "
                              "the evaluations averaged before an early stop are those without improvement")
        if not 0.0 < self.layer_decay <= 1.0:
            raise ConfigError(f"layer_decay must be in (0, 1] (1.0: off), got {self.layer_decay}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ConfigError(f"time budget must be > 0, got {self.time_budget_s} s")


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class CheckpointOptions:
    """Where and how often the training loop writes resumable checkpoints (see ``checkpoint``).

    ``save_every`` steps (0: only at epoch ends) and at every epoch end; the newest ``keep`` are
    kept. With ``resume``, training continues from the newest readable checkpoint, if any;
    ``notice`` hears where it resumed from and which damaged files it set aside.
    """

    directory: Path
    save_every: int = 0
    keep: int = 2
    resume: bool = False
    notice: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.save_every < 0 or self.keep < 1:
            raise ConfigError(f"save_every must be >= 0 and keep_checkpoints >= 1, got {self.save_every} and {self.keep}")
