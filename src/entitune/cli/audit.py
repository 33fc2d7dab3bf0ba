"""``entitune audit``: flags (the train options of the folds into ``base``) -> ``AuditConfig`` ->
``recipes.curation.audit``."""
from __future__ import annotations

from ..options import AuditConfig


def audit(config: AuditConfig) -> None:
    """Find likely annotation errors in a labelled file: each of --folds folds is judged by a model
    trained on the others (or --model judges it all), and cleanlab ranks the disagreements; writes
    issues.jsonl, summary.json and audit.html. With --fix-from REVIEWED.jsonl: write the file with the
    accepted fixes."""
    from ..recipes.curation import audit as run  # torch loads when a verb runs, not for --help or a refusal

    run(config)
