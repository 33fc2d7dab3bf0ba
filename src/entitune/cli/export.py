"""``entitune export``: flags -> ``ExportConfig`` -> ``recipes.export``."""
from __future__ import annotations

from ..errors import require_training
from ..options import ExportConfig


def export(config: ExportConfig) -> None:
    """Export a model to ONNX (optionally int8), re-score it against the PyTorch model, keep it only if
    its score (entity F1, or accuracy for a classifier) is within --max-drop points."""
    require_training("export")
    from ..recipes.exporting import export as run  # torch loads when a verb runs

    run(config)
