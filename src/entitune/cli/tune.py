"""``entitune tune``: flags -> ``TuneConfig`` (the train options in ``base``) -> ``recipes.tune``."""
from __future__ import annotations

from ..errors import require_training
from ..options import TuneConfig


def tune(config: TuneConfig) -> None:
    """Search training options with Optuna (seeded TPE, median pruning on dev scores): one 'train' run
    per trial, its best dev score the objective; writes the trial table and best.toml, the best trial's
    options for 'entitune train --config'."""
    require_training("tune")
    from ..recipes.tuning import tune as run  # Optuna and torch load when a verb runs

    run(config)
