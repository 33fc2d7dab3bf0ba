"""Settings of the training loop (``TrainConfig``) and of its checkpoints (``CheckpointOptions``).
Both are frozen and validated when made; every error is a one-line ``ConfigError``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from ..errors import ConfigError, check_choice
from ..options import AUTO_EPOCHS, LoopOptions
from ..options.inference import SCORING_BATCH
from ..options.declare import check_value
from ..options.training import check_averaging


def _default(name: str):
    """The declared default of loop option ``name`` (``options.LoopOptions``)."""
    return LoopOptions.__dataclass_fields__[name].default


@dataclass(frozen=True)
class TrainConfig:
    """The training loop's settings: the loop options (``options.LoopOptions``, whose declarations
    give the defaults and the allowed values) with ``epochs``, ``patience``, ``precision`` and the
    time budget resolved (``LoopOptions.loop_settings``), and a few settings of the loop's own."""

    epochs: int = _default("epochs")  # resolved: a number of epochs (``auto``: max_epochs)
    lr: float = _default("lr")
    head_lr: float | None = None  # None: the head's measured default (optim.DEFAULT_HEAD_LR)
    batch_size: int = _default("batch_size")
    warmup: float = _default("warmup")
    weight_decay: float = _default("weight_decay")
    max_grad_norm: float = 1.0
    seed: int = _default("seed")
    eval_batch_size: int = SCORING_BATCH  # how dev and test files are scored (options.inference.SCORING_RULE)
    compact_embeddings: bool = True  # train only the embedding rows the data uses (exact; see compact.py)
    accumulate: int = _default("accumulate")  # micro-batches of batch_size per optimizer step
    batch_tokens: int | None = None  # instead of batch_size: padded sub-words per micro-batch (x accumulate per step)
    precision: str = "fp32"  # resolved: fp32 | bf16 | fp16 (autocast; fp16 with a gradient scaler)
    eval_every: int = _default("eval_every")
    patience: int = 0  # resolved: evaluations without a better dev score before stopping (0: never)
    average_last: int = _default("average_last")
    layer_decay: float = _default("layer_decay")
    time_budget_s: float | None = None  # stop cleanly once training has run this long (None: no limit)
    max_steps: int | None = _default("max_steps")  # stop after this many optimizer steps; the schedule's length

    @classmethod
    def of(cls, options: LoopOptions, precision: str | None = None) -> "TrainConfig":
        """The loop's settings from a run's options (``FinetuneConfig``, ``PretrainConfig``): every loop
        option of the same name, with ``epochs`` auto (``max_epochs``), ``patience`` and the time
        budget resolved; ``precision``: the one ``auto`` resolved to (``backends.choose_precision``),
        else the one asked for (fp32 stands in for ``auto``)."""
        shared = {f.name: getattr(options, f.name) for f in fields(cls) if hasattr(options, f.name)}
        shared.update(
            epochs=options.max_epochs if options.epochs == AUTO_EPOCHS else options.epochs,
            patience=options.resolved_patience,
            precision=precision or (options.precision if options.precision != "auto" else "fp32"),
            time_budget_s=None if options.time_budget_minutes is None else options.time_budget_minutes * 60.0,
            compact_embeddings=options.COMPACT_EMBEDDINGS,
        )
        return cls(**shared)

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"epochs must be a whole number >= 1, got {self.epochs!r}")
        declared = LoopOptions.__dataclass_fields__
        for name in ("lr", "head_lr", "batch_size", "warmup", "weight_decay", "seed", "accumulate", "batch_tokens",
                     "eval_every", "patience", "average_last", "layer_decay", "max_steps"):
            check_value(name, getattr(self, name), declared[name].metadata["entitune"])
        check_choice("precision", self.precision, PRECISIONS)
        check_averaging(self.average_last, self.patience)
        if self.time_budget_s is not None and not self.time_budget_s > 0:
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
