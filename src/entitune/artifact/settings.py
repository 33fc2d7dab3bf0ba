"""Settings: everything besides weights that a saved model needs to be used exactly as trained,
validated in one place (``TaggerSettings`` for NER, ``ClassifierSettings`` for classification) and
saved as ``entitune.json`` (``model_dir``). Plain data: the networks they describe are built by
``model.build``."""
from __future__ import annotations

from dataclasses import dataclass, field

from .._version import __version__
from ..errors import ConfigError, check_choice
from ..options.choices import FEATURES, HEADS, POOLINGS, TASKS, TRAIN_SCHEMES, WORD_FEATURES

#: Which windows of a long text a classifier reads: all (combined) or only the first.
WINDOWS = ("all", "first")


def check_model_options(head: str, features: str, scheme: str) -> None:
    """The one check of a tagger's head, feature mode and training scheme (raises ``ConfigError``)."""
    check_choice("head", head, HEADS)
    check_choice("features", features, FEATURES)
    check_choice("scheme", scheme, TRAIN_SCHEMES)


@dataclass(frozen=True)
class TaggerSettings:
    """Everything besides weights that a saved model needs to be used exactly as trained."""

    labels: tuple[str, ...]
    head: str = "linear"
    features: str = "finetune"
    scheme: str = "IOB2"
    max_length: int = 128
    stride: int = 32
    constrained: bool = True
    dropout: float = 0.1
    lstm_hidden: int = 256
    encoder: str = ""  # the encoder's name (older models: its directory's path)
    encoder_sha256: str = ""  # SHA-256 of the encoder's model.safetensors ("": not recorded)
    #: features of each word as written, beside the encoder's vector (``encode.word_features``):
    #: none | shape | chars | shape+chars, the character vocabulary (one character per id) and sizes
    word_features: str = "none"
    char_vocab: str = ""
    shape_dim: int = 16
    char_dim: int = 24
    char_filters: int = 48
    #: document context (``encode.windows``): most sub-tokens of neighbouring sentences read on each side
    context: int = 0
    task: str = "ner"
    version: str = field(default=__version__)

    def __post_init__(self) -> None:
        check_model_options(self.head, self.features, self.scheme)
        check_choice("word_features", self.word_features, WORD_FEATURES)
        check_choice("task", self.task, ("ner",))
        for name in ("shape_dim", "char_dim", "char_filters"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.context < 0:
            raise ConfigError(f"context must be >= 0 sub-tokens per side, got {self.context}")


@dataclass(frozen=True)
class ClassifierSettings:
    """A text classifier's settings: its labels, pooling, whether it is multi-label (and the
    probability threshold chosen on dev), how long texts are windowed and combined."""

    labels: tuple[str, ...]
    pooling: str = "cls"
    pooler: bool = True
    multi_label: bool = False
    threshold: float = 0.5
    windows: str = "all"
    #: the data's labels -> the names the model learned (``--label-names``; empty: the labels as written)
    label_names: dict[str, str] = field(default_factory=dict)
    dropout: float = 0.1
    max_length: int = 128
    stride: int = 32
    encoder: str = ""
    encoder_sha256: str = ""
    task: str = "classify"
    version: str = field(default=__version__)

    def __post_init__(self) -> None:
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("windows", self.windows, WINDOWS)
        check_choice("task", self.task, ("classify",))
        if len(self.labels) < 2 and not self.multi_label:
            raise ConfigError(f"a classifier needs at least two labels, got {list(self.labels)}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must be between 0 and 1, got {self.threshold}")


#: settings class per task
SETTINGS = {"ner": TaggerSettings, "classify": ClassifierSettings}


def word_feature_size(settings: TaggerSettings | ClassifierSettings) -> int:
    """How many numbers the word features (``model.word_features``) add to each word's vector."""
    mode = getattr(settings, "word_features", "none")
    return (settings.shape_dim if "shape" in mode else 0) + (settings.char_filters if "chars" in mode else 0)
