"""``read_sentences``: one reader per format, picked by name or by sniffing the file's first lines.

Each reader is a generator of raw ``Sentence`` objects (tags shape-checked, scheme untouched) and
raises ``DataFormatError(path, line, why)`` for anything it cannot read.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import check_choice
from ..types import Sentence
from .annotations import read_doccano, read_labelstudio
from .chars import read_klue, read_kmou, read_weibo
from .columns import read_bio, read_conll
from .gmb import read_gmb
from .jsonl import read_jsonl
from .sniff import sniff_format

#: Reader per format name; ``conll`` also takes word and tag columns.
READERS: dict[str, Callable[..., Iterator[Sentence]]] = {
    "conll": read_conll,
    "bio": read_bio,
    "jsonl": read_jsonl,
    "gmb": read_gmb,
    "weibo": read_weibo,
    "klue": read_klue,
    "kmou": read_kmou,
    "labelstudio": read_labelstudio,
    "doccano": read_doccano,
}
FORMATS = ("auto", *READERS)


def read_sentences(path: str | Path, format: str = "auto", word_column: int = 0, tag_column: int = -1) -> list[Sentence]:
    """Read an annotated file into raw sentences (tags shape-checked, scheme untouched)."""
    check_choice("format", format, FORMATS)
    if format == "auto":
        format = sniff_format(path)
    if format == "conll":
        return list(read_conll(path, word_column, tag_column))
    return list(READERS[format](path))
