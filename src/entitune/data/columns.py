"""Column-per-token readers: CoNLL (word first, tag in a chosen column) and MIT ``.bio``
(tag first). One token a line, a blank line between sentences, ``-DOCSTART-`` lines skipped.

Readers yield raw ``Sentence`` objects: every tag has been checked for its shape (``O`` or
``PREFIX-TYPE``) with the line it came from; scheme detection and conversion happen later.

Every token line of a file has as many columns as its first token line (a line with more or fewer
is an error naming both counts, not a line whose extra columns are dropped unseen), and no more
than ``MAX_COLUMNS``.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import DataFormatError, shorten
from ..tags import TAG_PATTERN
from ..types import Sentence
from ._lines import iter_lines, split_fields


def check_tag(tag: str, path: str, line: int) -> str:
    """Return ``tag`` if it has a valid shape, else raise ``DataFormatError`` for that line."""
    if not TAG_PATTERN.match(tag):
        raise DataFormatError(path, line, f"tag {shorten(tag)!r} is neither 'O' nor B-TYPE / I-TYPE")
    return tag


DOCSTART = "-DOCSTART-"
#: Columns a token line may have: CoNLL files have a handful (CoNLL-2003: 4; CoNLL-U: 10).
MAX_COLUMNS = 100


def _sentences(path: str, rows: Iterator[tuple[int, str | None, str | None]]) -> Iterator[Sentence]:
    """Group ``(line, word, tag)`` rows into sentences; ``word is None`` marks a boundary, and a
    boundary whose tag is ``DOCSTART`` also starts a new document."""
    words: list[str] = []
    tags: list[str] = []
    first = 0
    doc = 0
    doc_has_sentences = False
    for number, word, tag in rows:
        if word is None:
            if words:
                yield Sentence(tuple(words), tuple(tags), first, doc)
                doc_has_sentences = True
            words, tags = [], []
            if tag == DOCSTART and doc_has_sentences:
                doc += 1
                doc_has_sentences = False
            continue
        if not words:
            first = number
        words.append(word)
        tags.append(check_tag(tag or "", path, number))
    if words:
        yield Sentence(tuple(words), tuple(tags), first, doc)


def _column_rows(path: str, pick) -> Iterator[tuple[int, str | None, str | None]]:
    """``(line, word, tag)`` per token line, ``(line, None, None)`` at blank and ``-DOCSTART-`` lines;
    ``pick(number, text, fields)`` returns a token line's (word, tag) or raises ``DataFormatError``;
    then a line whose column count differs from the first token line's is an error (see the module
    docstring), as is one with more than ``MAX_COLUMNS``."""
    width = first_line = 0
    for number, text in iter_lines(path):
        fields = split_fields(text)
        if not fields:
            yield number, None, None
            continue
        if fields[0] == DOCSTART:
            yield number, None, DOCSTART
            continue
        if len(fields) > MAX_COLUMNS:
            raise DataFormatError(path, number, f"has {len(fields):,} columns, more than the {MAX_COLUMNS} a token "
                                  "line may have ('word ... TAG'); is this a column file?")
        word, tag = pick(number, text, fields)
        if not width:
            width, first_line = len(fields), number
        elif len(fields) != width:
            raise DataFormatError(path, number, f"has {len(fields)} columns, but the first token line (line "
                                  f"{first_line}) has {width}; every token line needs the same columns")
        yield number, word, tag


def read_conll(path: str | Path, word_column: int = 0, tag_column: int = -1) -> Iterator[Sentence]:
    """Read a CoNLL column file: ``word ... TAG`` (columns configurable, 0-based, negative from
    the end), space or tab separated, ``-DOCSTART-`` lines and blank lines as boundaries."""
    path = str(path)

    def pick(number: int, text: str, fields: list[str]) -> tuple[str, str]:
        if len(fields) < 2:
            raise DataFormatError(path, number, f"missing tag column: expected 'word ... TAG', found {shorten(text)!r}")
        try:
            return fields[word_column], fields[tag_column]
        except IndexError:
            raise DataFormatError(
                path, number, f"has {len(fields)} columns; word column {word_column} or tag column "
                f"{tag_column} is out of range"
            ) from None

    return _sentences(path, _column_rows(path, pick))


def read_bio(path: str | Path) -> Iterator[Sentence]:
    """Read an MIT-style ``.bio`` file: ``TAG<TAB>word`` per line, blank line between sentences."""
    path = str(path)

    def pick(number: int, text: str, fields: list[str]) -> tuple[str, str]:
        if len(fields) < 2 or not fields[1]:
            raise DataFormatError(path, number, f"expected 'TAG<TAB>word', found {shorten(text)!r}")
        return fields[1], fields[0]

    return _sentences(path, _column_rows(path, pick))
