"""Readers and writers for every input format; ``read_sentences`` picks one by name or by sniffing.

Each reader is a generator of raw ``Sentence`` objects (tags shape-checked, scheme untouched) and
raises ``DataFormatError(path, line, why)`` for anything it cannot read.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import ConfigError
from ..types import Sentence
from .chars import read_klue, read_kmou, read_weibo
from .columns import read_bio, read_conll
from .gmb import read_gmb
from .jsonl import read_jsonl, sentence_entities, spans_to_words, write_jsonl
from .sniff import sniff_format
from .write import write_bio, write_conll, write_sentences

#: Reader per format name; ``conll`` also takes word and tag columns.
READERS: dict[str, Callable[..., Iterator[Sentence]]] = {
    "conll": read_conll,
    "bio": read_bio,
    "jsonl": read_jsonl,
    "gmb": read_gmb,
    "weibo": read_weibo,
    "klue": read_klue,
    "kmou": read_kmou,
}
FORMATS = ("auto", *READERS)


def read_sentences(path: str | Path, format: str = "auto", word_column: int = 0, tag_column: int = -1) -> list[Sentence]:
    """Read an annotated file into raw sentences (tags shape-checked, scheme untouched)."""
    if format == "auto":
        format = sniff_format(path)
    if format == "conll":
        return list(read_conll(path, word_column, tag_column))
    if format not in READERS:
        raise ConfigError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    return list(READERS[format](path))


__all__ = [
    "FORMATS", "READERS", "read_bio", "read_conll", "read_gmb", "read_jsonl", "read_klue", "read_kmou",
    "read_sentences", "read_weibo", "sentence_entities", "sniff_format", "spans_to_words", "write_bio",
    "write_conll", "write_jsonl", "write_sentences",
]
