"""``entitune predict``: flags -> ``PredictConfig`` -> ``recipes.predict``."""
from __future__ import annotations

from ..options import PredictConfig


def predict(config: PredictConfig) -> None:
    """Tag raw text or pre-split words (a tagger), or classify texts (a classifier), one input per
    line; JSONL out (words, tags, entities; or text, label, score), or CoNLL for a tagger."""
    from ..recipes.inference import predict as run  # torch loads when a verb runs

    run(config)
