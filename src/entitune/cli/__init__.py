"""The ``entitune`` command line: ``app`` (typer) and ``main`` (the console script), one module per
verb, each a thin call into ``entitune.recipes`` with the verb's config object."""
from .app import app, main

__all__ = ["app", "main"]
