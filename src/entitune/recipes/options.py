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
#: ``epochs = "auto"``: train up to ``max_epochs`` (the length the learning-rate schedule decays over),
#: evaluating at each epoch end (and every ``eval_every`` steps if set), until dev has not improved for
#: ``patience`` evaluations (AUTO_PATIENCE unless given)
AUTO_EPOCHS = "auto"
AUTO_PATIENCE = 3
#: ``context = "auto"`` (NER): this many sub-words of neighbouring sentences per side where the training
#: data comes in several documents (CoNLL ``-DOCSTART-``, JSONL ``doc`` fields), else none. Measured
#: with the bundled MiniLM on CoNLL-2003, 3 epochs, with word features: test entity F1 0.884 -> 0.891
#: (max length 128; 0.890 and 0.893 on two seeds at 256); without word features 0.870 -> 0.874
#: (``bench/results/gpu_h200_sweeps.json``). Not the default: the windows fill up to the max length,
#: so on a 2-core CPU an epoch took 5.8x as long (``bench/results/conll2003_cpu_cost.json``).
AUTO_CONTEXT = 64
#: ``probe_epochs`` None: this many epochs of the head alone on the frozen encoder's vectors before a
#: classifier fine-tunes (linear probe, then fine-tune); a tagger gets none. Measured on the AG News
#: split with the bundled MiniLM, 3 fine-tuning epochs, five seeds: see docs/benchmarks.md.
CLASSIFY_PROBE_EPOCHS = 3


@dataclass(frozen=True)
class FinetuneConfig:
    """Every option of a fine-tuning run. The fields are ``entitune train``'s flags (``batch_size``
    is ``--batch-size``); see ``entitune train --help`` for each one's meaning."""

    train: str | tuple[str, ...]  # one file, or several read one after another as one training set
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
    probe_epochs: int | None = None  # classify: head-alone epochs before fine-tuning; None: CLASSIFY_PROBE_EPOCHS (NER: 0)
    head: str = "linear"
    augment_mentions: int = 0  # NER: copies of each training sentence with entities, mentions swapped (data.replace_mentions)
    features: str = "finetune"
    word_features: str = "auto"  # or one of encode.WORD_FEATURES; auto: encode.choose_word_features (NER)
    scheme: str = "IOB2"
    unconstrained: bool = False
    max_length: int = 128
    stride: int = 32
    dropout: float = 0.1
    context: int | str = 0  # document context, sub-words of neighbouring sentences per side (NER); or "auto"
    context_dropout: float = 0.5  # with context: share of sentences read without it, each epoch
    epochs: int | str = 3  # or "auto" (AUTO_EPOCHS)
    max_epochs: int = 10  # epochs "auto": at most this many, and the schedule's length
    eval_every: int = 0
    patience: int | None = None  # None: off (0), AUTO_PATIENCE with epochs "auto"
    average_last: int = 0
    layer_decay: float = 1.0
    time_budget_minutes: float | None = None
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
        object.__setattr__(self, "train", parse_train(self.train))
        for name in ("out", "dev", "test", "model"):  # paths are kept as strings
            value = getattr(self, name)
            if isinstance(value, Path):
                object.__setattr__(self, name, str(value))
        object.__setattr__(self, "scheme", self.scheme.upper())
        object.__setattr__(self, "epochs", parse_epochs(self.epochs))
        object.__setattr__(self, "context", parse_context(self.context))
        from ..encode import WORD_FEATURES
        from ..encode.word_features import AUTO
        from ..model.settings import POOLINGS, check_model_options  # torch: only once a run is made
        from ..train import CheckpointOptions

        check_model_options(self.head, self.features, self.scheme)
        check_choice("word_features", self.word_features, (AUTO, *WORD_FEATURES))
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
        if self.augment_mentions < 0:
            raise ConfigError(f"augment_mentions must be >= 0, got {self.augment_mentions}")
        if self.probe_epochs is not None and self.probe_epochs < 0:
            raise ConfigError(f"probe_epochs must be >= 0, got {self.probe_epochs}")
        if not 0.0 <= self.context_dropout < 1.0:
            raise ConfigError(f"context_dropout must be at least 0 and below 1, got {self.context_dropout}")
        if self.max_epochs < 1:
            raise ConfigError(f"max_epochs must be >= 1, got {self.max_epochs}")
        if self.time_budget_minutes is not None and self.time_budget_minutes <= 0:
            raise ConfigError(f"time_budget_minutes must be > 0, got {self.time_budget_minutes}")
        if self.dev is None and self.dev_fraction == 0.0 and (self.epochs == AUTO_EPOCHS or self.patience):
            raise ConfigError("epochs auto and patience stop on dev scores: give a dev file or a dev_fraction above 0")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        CheckpointOptions(Path(self.out) / "checkpoints", self.save_every, self.keep_checkpoints, self.resume)
        self.train_config()

    @property
    def train_files(self) -> tuple[str, ...]:
        """The training files, in the order they are read."""
        return (self.train,) if isinstance(self.train, str) else self.train

    @property
    def train_name(self) -> str:
        """The training files as messages name them: ``a.conll`` or ``a.conll + b.conll``."""
        return " + ".join(self.train_files)

    def resolved_probe_epochs(self) -> int:
        """Epochs of the head alone before a classifier fine-tunes: as given, else CLASSIFY_PROBE_EPOCHS."""
        return CLASSIFY_PROBE_EPOCHS if self.probe_epochs is None else self.probe_epochs

    def train_config(self, precision: str | None = None) -> "TrainConfig":
        """The training loop's part of these options; ``precision``: the one ``auto`` resolved to
        (``backends.choose_precision``), else the one asked for (fp32 stands in for ``auto``)."""
        from ..train import TrainConfig

        chosen = precision or (self.precision if self.precision != "auto" else "fp32")
        auto = self.epochs == AUTO_EPOCHS
        patience = self.patience if self.patience is not None else (AUTO_PATIENCE if auto else 0)
        budget = None if self.time_budget_minutes is None else self.time_budget_minutes * 60.0
        return TrainConfig(epochs=self.max_epochs if auto else self.epochs, lr=self.lr, head_lr=self.head_lr,
                           batch_size=self.batch_size, warmup=self.warmup, weight_decay=self.weight_decay,
                           seed=self.seed, accumulate=self.accumulate, precision=chosen,
                           batch_tokens=self.batch_tokens, eval_every=self.eval_every, patience=patience,
                           average_last=self.average_last, layer_decay=self.layer_decay, time_budget_s=budget)

    @property
    def selects_on_dev(self) -> bool:
        """Whether dev chooses something in this run: the best of several evaluations (several
        epochs, ``eval_every``), where to stop (``patience``, ``epochs`` auto) or whether to keep an
        average (``average_last``)."""
        return (self.epochs == AUTO_EPOCHS or self.epochs > 1 or bool(self.eval_every) or bool(self.patience)
                or bool(self.average_last))


def parse_train(value) -> str | tuple[str, ...]:
    """``train`` as given: one path (a string, kept as it is), or a list of them (a tuple; a list of
    one is that one path), each file read in turn into one training set.

    >>> parse_train("a.conll"), parse_train(["a.conll"]), parse_train(["a.conll", Path("b.conll")])
    ('a.conll', 'a.conll', ('a.conll', 'b.conll'))
    >>> parse_train([])
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: train needs at least one file, got []
    """
    if isinstance(value, (str, Path)):
        return str(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (str, Path)) for v in value):
        files = tuple(str(v) for v in value)
        return files[0] if len(files) == 1 else files
    if isinstance(value, (list, tuple)) and not value:
        raise ConfigError("train needs at least one file, got []")
    raise ConfigError(f"train takes a file or a list of files, got {value!r}")


def parse_context(value) -> int | str:
    """``context`` as given in a config file or on the command line: sub-words per side (0: off), or
    ``auto`` (``AUTO_CONTEXT`` where the training data has several documents).

    >>> parse_context("64"), parse_context(0), parse_context("AUTO")
    (64, 0, 'auto')
    >>> parse_context("-1")
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: context must be a whole number of sub-words per side (0: off) or 'auto', got '-1'
    """
    if (parsed := _whole_or_auto(value)) is not None and (parsed == "auto" or parsed >= 0):
        return parsed
    raise ConfigError(f"context must be a whole number of sub-words per side (0: off) or 'auto', got {value!r}")


def parse_epochs(value) -> int | str:
    """``epochs`` as given in a config file or on the command line: a whole number, or ``auto``.

    >>> parse_epochs("5"), parse_epochs(5), parse_epochs("Auto")
    (5, 5, 'auto')
    >>> parse_epochs("five")
    Traceback (most recent call last):
    ...
    entitune.errors.ConfigError: epochs must be a whole number or 'auto', got 'five'
    """
    if (parsed := _whole_or_auto(value)) is not None:
        return parsed
    raise ConfigError(f"epochs must be a whole number or 'auto', got {value!r}")


def _whole_or_auto(value) -> int | str | None:
    """``"auto"`` (any case, spaces around), a whole number written as text (``"5"``, ``"+5"``) or an
    int as is; None for anything else."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text.lstrip("+").isdigit():
            return int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


__all__ = ["AUTO_EPOCHS", "AUTO_PATIENCE", "CLASS_WEIGHTS", "DEVICES", "TASK_CHOICES", "FinetuneConfig", "parse_epochs"]
