"""``entitune package``: flags -> ``PackageConfig`` -> ``recipes.package``."""
from __future__ import annotations

from ..options import PackageConfig


def package(config: PackageConfig) -> None:
    """Pack a model directory into one .tar.gz to ship: the model's files and its card, a SHA256SUMS
    manifest, no checkpoints (and no logs unless --with-logs)."""
    from ..recipes.packaging import package as run

    run(config)
