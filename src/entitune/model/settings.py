"""``TaggerSettings``: everything besides weights that a saved tagger needs to be used exactly as
trained, validated in one place; and the head those settings describe."""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from .._version import __version__
from ..errors import check_choice
from ..tags import TRAIN_SCHEMES, allowed_transitions
from .heads import HEADS, build_head, constraint_tensors

#: How the head reads the encoder: fine-tune it, or freeze it and take the sum or the
#: concatenation of its last four layers.
FEATURES = ("finetune", "frozen-sum4", "frozen-concat4")
#: Tasks a saved model can be for (the ``task`` key of ``entitune.json``; absent means ``ner``).
TASKS = ("ner",)


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
    encoder: str = ""
    task: str = "ner"
    version: str = field(default=__version__)

    def __post_init__(self) -> None:
        check_model_options(self.head, self.features, self.scheme)
        check_choice("task", self.task, TASKS)


def build_tagging_head(settings: TaggerSettings, hidden_size: int, num_hidden_layers: int) -> tuple[nn.Module, int]:
    """The head ``settings`` describe, for an encoder of ``hidden_size`` and ``num_hidden_layers``,
    and how many hidden layers the features use: the last four, or all hidden states (embeddings
    included) of a smaller encoder."""
    constraints = constraint_tensors(*allowed_transitions(settings.labels)) if settings.constrained else None
    n_layers = min(4, num_hidden_layers + 1)
    hidden = hidden_size * (n_layers if settings.features == "frozen-concat4" else 1)
    head = build_head(settings.head, hidden, len(settings.labels), settings.dropout, constraints, settings.lstm_hidden)
    return head, n_layers
