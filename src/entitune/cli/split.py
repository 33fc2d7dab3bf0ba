"""``entitune split``: flags -> ``SplitConfig`` -> ``recipes.split``."""
from __future__ import annotations

from ..options import SplitConfig


def split(config: SplitConfig) -> None:
    """Seeded train/dev/test split of one annotated file, written as three files."""
    from ..recipes.data_tools import split as run

    run(config)
