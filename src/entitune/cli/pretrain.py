"""``entitune pretrain``: flags (and ``--config FILE``) -> ``PretrainConfig`` -> ``recipes.pretrain``."""
from __future__ import annotations

from ..errors import require_training
from ..options import PretrainConfig


def pretrain(config: PretrainConfig) -> None:
    """Pretrain an encoder further as a masked language model on your domain's text (15% of sub-tokens
    masked, new masks each epoch) and save it for 'entitune train --model'; reports dev masked-token
    accuracy and perplexity before training and after each epoch."""
    require_training("pretrain")
    from ..recipes.pretraining import pretrain as run  # torch loads when a verb runs

    run(config)
