"""``entitune convert``: flags -> ``ConvertConfig`` -> ``recipes.convert``."""
from __future__ import annotations

from ..options import ConvertConfig


def convert(config: ConvertConfig) -> None:
    """Convert an annotated file to another format and tag scheme (the input's scheme is detected)."""
    from ..recipes.data_tools import convert as run

    run(config)
