"""``entitune serve``: flags -> ``ServeConfig`` -> ``recipes.serve``."""
from __future__ import annotations

from ..options import ServeConfig


def serve(config: ServeConfig) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, GET /info, and a page at /."""
    from ..recipes.inference import serve as run  # torch and FastAPI load when a verb runs

    run(config)
