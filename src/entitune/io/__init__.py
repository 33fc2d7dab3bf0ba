"""Readers for every input format; ``read_sentences`` picks one by name or by sniffing."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..types import Sentence
from .columns import read_bio, read_conll, sniff_format
from .write import write_conll

FORMATS = ("auto", "conll", "bio")


def read_sentences(path: str | Path, format: str = "auto", word_column: int = 0, tag_column: int = -1) -> list[Sentence]:
    """Read an annotated file into raw sentences (tags shape-checked, scheme untouched)."""
    if format == "auto":
        format = sniff_format(path)
    if format == "conll":
        return list(read_conll(path, word_column, tag_column))
    if format == "bio":
        return list(read_bio(path))
    raise ConfigError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "read_bio", "read_conll", "read_sentences", "sniff_format", "write_conll"]
