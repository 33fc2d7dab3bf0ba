"""``entitune train``: flags (and ``--config FILE``) -> ``FinetuneConfig`` -> ``recipes.finetune``."""
from __future__ import annotations

from ..errors import require_training
from ..options import FinetuneConfig


def train(config: FinetuneConfig) -> None:
    """Fine-tune an encoder for NER (a tagging head) or text classification (a pooling head) and save
    the best model (by dev entity F1, or accuracy)."""
    require_training("train")
    from ..recipes.training import finetune  # torch loads when a verb runs, not for --help or a refusal

    finetune(config)
