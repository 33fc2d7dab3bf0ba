"""``PretrainConfig``: every option of ``entitune pretrain``, in a module that imports no torch (as
``options.FinetuneConfig``), so the command line answers ``--help`` and refuses bad input files
before the heavy libraries load."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..data.corpus import CORPUS_FORMATS
from ..errors import ConfigError, check_choice
from .options import DEVICES, PRECISION_CHOICES

if TYPE_CHECKING:
    from ..train import TrainConfig

#: share of the texts held out as dev when no dev file is given
DEFAULT_DEV_FRACTION = 0.05


@dataclass(frozen=True)
class PretrainConfig:
    """Every option of a masked-LM pretraining run. The fields are ``entitune pretrain``'s flags
    (``mlm_probability`` is ``--mlm-probability``; ``text`` the ``--text`` files); see ``entitune
    pretrain --help`` for each one's meaning."""

    text: list[str]
    out: str
    dev_text: str | None = None
    dev_fraction: float | None = None  # None: DEFAULT_DEV_FRACTION, or none with dev_text
    model: str | None = None
    format: str = "auto"
    mlm_probability: float = 0.15
    whole_word_mask: bool = False
    max_length: int = 128
    epochs: int = 3
    eval_every: int = 0
    patience: int = 0
    lr: float = 1e-4
    head_lr: float | None = None  # None: lr for the checkpoint's own head, 1e-3 for a new head
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
        texts = [self.text] if isinstance(self.text, (str, Path)) else list(self.text or ())
        object.__setattr__(self, "text", [str(t) for t in texts])
        for name in ("out", "dev_text", "model"):  # paths are kept as strings
            value = getattr(self, name)
            if isinstance(value, Path):
                object.__setattr__(self, name, str(value))
        from ..train import CheckpointOptions  # torch: only once a run is made

        if not self.text:
            raise ConfigError("text: give at least one text file to pretrain on")
        check_choice("format", self.format, CORPUS_FORMATS)
        check_choice("device", self.device, DEVICES)
        check_choice("precision", self.precision, PRECISION_CHOICES)
        if not 0.0 < self.mlm_probability < 1.0:
            raise ConfigError(f"mlm_probability must be between 0 and 1, got {self.mlm_probability}")
        if self.dev_text is not None and self.dev_fraction is not None:
            raise ConfigError("give dev_text (a dev file) or dev_fraction (a share of the texts held out), not both")
        if self.dev_fraction is not None and not 0.0 <= self.dev_fraction < 1.0:
            raise ConfigError(f"dev_fraction must be at least 0 and below 1, got {self.dev_fraction}")
        if self.patience and self.held_out == 0.0 and self.dev_text is None:
            raise ConfigError("patience stops on the dev loss: give dev_text or a dev_fraction above 0")
        if self.nproc < 1:
            raise ConfigError(f"nproc must be >= 1, got {self.nproc}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        CheckpointOptions(Path(self.out) / "checkpoints", self.save_every, self.keep_checkpoints, self.resume)
        self.train_config()

    @property
    def held_out(self) -> float:
        """The share of the texts held out as dev (0 with a dev file)."""
        if self.dev_text is not None:
            return 0.0
        return DEFAULT_DEV_FRACTION if self.dev_fraction is None else self.dev_fraction

    def train_config(self, precision: str | None = None) -> "TrainConfig":
        """The training loop's part of these options (``precision``: what ``auto`` resolved to, as
        ``FinetuneConfig.train_config``); the word embedding trains densely (see ``train.pretraining``)."""
        from ..train import TrainConfig

        chosen = precision or (self.precision if self.precision != "auto" else "fp32")
        return TrainConfig(epochs=self.epochs, lr=self.lr, head_lr=self.head_lr, batch_size=self.batch_size,
                           warmup=self.warmup, weight_decay=self.weight_decay, seed=self.seed,
                           accumulate=self.accumulate, precision=chosen, batch_tokens=self.batch_tokens,
                           compact_embeddings=False, eval_every=self.eval_every, patience=self.patience)


__all__ = ["DEFAULT_DEV_FRACTION", "PretrainConfig"]
