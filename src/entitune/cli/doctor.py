"""``entitune doctor``: flags -> ``DoctorConfig`` -> ``recipes.doctor``."""
from __future__ import annotations

from ..errors import require_training
from ..options import DoctorConfig


def doctor(config: DoctorConfig) -> None:
    """Check data before training: counts (entities per type, or texts per class and imbalance),
    invalid tag sequences, sub-word lengths against --max-length, [UNK] share, labels missing from
    train, train/test duplicates."""
    require_training("doctor")
    from ..recipes.data_tools import doctor as run

    run(config)
