"""Errors that users can cause, each rendered as one line without a traceback.

Bugs in entitune itself raise ordinary Python exceptions; only the classes here are
caught by the CLI and printed as ``path:line: what is wrong``.
"""
from __future__ import annotations


class EntituneError(Exception):
    """Base class for every error a user can cause (bad data, bad config, bad paths)."""


class DataFormatError(EntituneError):
    """A data file that cannot be read: ``path:line: why``.

    Args:
        path: the file being read.
        line: 1-based line number, or None when the problem is the file as a whole.
        why: what is wrong and, where it helps, what was expected.
    """

    def __init__(self, path: str, line: int | None, why: str) -> None:
        self.path = str(path)
        self.line = line
        self.why = why
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {why}")


class TagSchemeError(EntituneError):
    """A tag or tag sequence that does not fit the expected scheme."""


class ConfigError(EntituneError):
    """A setting or a model directory that cannot be used as given."""
