"""The networks a saved model's settings describe (``artifact.settings``): its head, for either task,
and (``encode.build_word_encoder``, where an export's runtime builds it too) its word encoder."""
from __future__ import annotations

from torch import nn

from ..artifact.settings import ClassifierSettings, TaggerSettings, word_feature_size
from ..encode import build_word_encoder  # noqa: F401 - where the model builds it
from ..tags import allowed_transitions
from .heads import ClassificationHead, build_head, constraint_tensors


def build_tagging_head(settings: TaggerSettings, hidden_size: int, num_hidden_layers: int) -> tuple[nn.Module, int]:
    """The head ``settings`` describe, for an encoder of ``hidden_size`` and ``num_hidden_layers``,
    and how many hidden layers the features use: the last four, or all hidden states (embeddings
    included) of a smaller encoder."""
    constraints = constraint_tensors(*allowed_transitions(settings.labels)) if settings.constrained else None
    n_layers = min(4, num_hidden_layers + 1)
    hidden = hidden_size * (n_layers if settings.features == "frozen-concat4" else 1) + word_feature_size(settings)
    head = build_head(settings.head, hidden, len(settings.labels), settings.dropout, constraints, settings.lstm_hidden)
    return head, n_layers


def build_classification_head(settings: ClassifierSettings, hidden_size: int,
                              class_weights: tuple[float, ...] | None = None) -> ClassificationHead:
    """The pooling head ``settings`` describe for an encoder of ``hidden_size``."""
    return ClassificationHead(hidden_size, len(settings.labels), settings.pooling, settings.dropout,
                              pooler=settings.pooler, multi_label=settings.multi_label, class_weights=class_weights)


def build_head_for(settings: TaggerSettings | ClassifierSettings, hidden_size: int, num_hidden_layers: int) -> nn.Module:
    """The head of a saved model of either task (what an export's scorer needs)."""
    if isinstance(settings, ClassifierSettings):
        return build_classification_head(settings, hidden_size)
    return build_tagging_head(settings, hidden_size, num_hidden_layers)[0]
