"""GMB / Kaggle "Annotated Corpus for NER" CSV: ``Sentence #,Word,POS,Tag``.

The sentence number (``Sentence: N``) stands only on a sentence's first row; the other rows leave
that column empty. The file is latin-1 with CRLF and contains U+0085, so lines are split by the
``csv`` module only (never ``str.splitlines``). UTF-8 files in the same layout are read as UTF-8.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from ..errors import DataFormatError
from ..types import Sentence
from ._lines import read_bytes
from .columns import check_tag

#: Header names (case-insensitive) of the sentence, word and tag columns.
SENTENCE_COLUMN, WORD_COLUMN, TAG_COLUMN = "sentence #", "word", "tag"


def _decode(path: str) -> str:
    data = read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # the Kaggle file's encoding; every byte is valid


def read_gmb(path: str | Path) -> Iterator[Sentence]:
    """Read a GMB-style CSV into sentences (one per ``Sentence: N`` run of rows)."""
    path = str(path)
    text = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise DataFormatError(path, None, "empty file; expected a 'Sentence #,Word,POS,Tag' header")
        names = [h.strip().lower() for h in header]
        missing = [n for n in (SENTENCE_COLUMN, WORD_COLUMN, TAG_COLUMN) if n not in names]
        if missing:
            raise DataFormatError(path, 1, f"header {header!r} lacks column(s) {missing}; expected 'Sentence #,Word,POS,Tag'")
        s_col, w_col, t_col = (names.index(n) for n in (SENTENCE_COLUMN, WORD_COLUMN, TAG_COLUMN))
        words: list[str] = []
        tags: list[str] = []
        first = 0
        for row in reader:
            number = reader.line_num
            if not row or all(not f.strip() for f in row):
                continue
            if len(row) != len(header):
                raise DataFormatError(path, number, f"has {len(row)} fields, the header has {len(header)}")
            if row[s_col].strip():
                if words:
                    yield Sentence(tuple(words), tuple(tags), first)
                words, tags, first = [], [], number
            elif not words:
                raise DataFormatError(path, number, "first row of the file has no sentence number ('Sentence: N')")
            if not row[w_col]:
                raise DataFormatError(path, number, "empty word")
            words.append(row[w_col])
            tags.append(check_tag(row[t_col].strip(), path, number))
        if words:
            yield Sentence(tuple(words), tuple(tags), first)
    except csv.Error as exc:
        raise DataFormatError(path, reader.line_num, f"not valid CSV ({exc})") from None
