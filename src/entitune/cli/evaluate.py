"""``entitune evaluate``: flags -> ``EvaluateConfig`` -> ``recipes.evaluate``."""
from __future__ import annotations

from ..options import EvaluateConfig


def evaluate(config: EvaluateConfig) -> None:
    """Score a trained model on an annotated file: entity P/R/F1 per type and token micro F1 for a
    tagger; accuracy, macro/micro F1, per-class scores and the confusion matrix for a classifier."""
    from ..recipes.inference import evaluate as run  # torch loads when a verb runs

    run(config)
