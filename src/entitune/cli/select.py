"""``entitune select``: flags -> ``SelectConfig`` -> ``recipes.curation.select``."""
from __future__ import annotations

from ..options import SelectConfig


def select(config: SelectConfig) -> None:
    """Pick the unlabelled inputs worth annotating next (the model's uncertainty, optionally spread over
    clusters, capped per document); writes them with the model's pre-annotations as Label Studio tasks
    and as JSONL."""
    from ..recipes.curation import select as run

    run(config)
