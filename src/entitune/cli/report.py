"""``entitune report``: flags -> ``ReportConfig`` -> ``recipes.report``."""
from __future__ import annotations

from ..options import ReportConfig


def report(config: ReportConfig) -> None:
    """Write one self-contained HTML page on a run: training and dev curves, precision/recall/F1 per
    type (or class), the confusion matrix, and the errors of an evaluation, gold against predicted."""
    from ..recipes.run_report import report as run

    run(config)
