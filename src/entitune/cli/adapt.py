"""``entitune adapt``: flags (and ``--config FILE``) -> ``AdaptConfig`` -> ``recipes.adapt``."""
from __future__ import annotations

from ..options import AdaptConfig


def adapt(config: AdaptConfig) -> None:
    """Adapt an encoder to your text in one run: add the text's most useful words or characters to its
    vocabulary, pretrain it as a masked language model on that text for a budget of steps or minutes,
    and save it for 'entitune train --model OUT'."""
    from ..recipes.adapt import adapt as run  # torch loads when a verb runs

    run(config)
