"""Text for masked-LM pretraining: the words of every text in a file, whatever kind of file it is.

- plain text (``text``): one text per line, blank lines skipped, split into words by
  ``text.split_words``, as classification and raw-text prediction split text; the file may be
  compressed (xz, gzip or bzip2, told by its first bytes: ``_lines.iter_text_lines``), and it is
  streamed, one line at a time (``iter_corpus``), so a corpus of any size is never held in memory;
- an annotated file the readers understand (CoNLL columns, ``TAG<TAB>word``, JSONL with tokens,
  spans or just ``text``, GMB, Weibo, KLUE, KMOU): the words of each sentence as its reader gives them;
- labelled texts (CSV / TSV with a label column): each text, split as classification splits it.

Words are never joined back into a string. Fine-tuning hands the tokenizer pre-split words
(``is_split_into_words``), so pretraining does the same and a word gets the same sub-tokens in both;
character-level Chinese and Korean data (Weibo, KLUE; CJK ideographs in plain text) stay one
character per word, as their taggers read them. A compressed file holds plain text; one that
looks like an annotated file is refused with a line saying to decompress it. Nothing here imports
torch.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataFormatError, check_choice
from ..tags import TAG_PATTERN
from ._lines import compression_of, iter_text_lines, split_fields, text_head_lines
from .read import READERS, read_conll
from .sniff import head_lines, sniff_format
from .text import split_words
from .texts import LABEL_NAMES, read_texts

#: ``format`` values: auto, plain text, every annotated format, labelled CSV / TSV
CORPUS_FORMATS = ("auto", "text", *READERS, "csv", "tsv")
#: share of a head's rows that must carry a tag for a CoNLL / BIO guess to stand (else: plain text)
_TAGGED_SHARE = 0.9


@dataclass(frozen=True)
class Corpus:
    """The texts of one file as word sequences, and the format they were read as."""

    path: str
    texts: list[tuple[str, ...]]
    format: str

    @property
    def words(self) -> int:
        return sum(len(t) for t in self.texts)


def read_corpus(path: str | Path, format: str = "auto") -> Corpus:
    """The words of every text in ``path`` (see the module docstring), as a list: for files that fit
    in memory (``iter_corpus`` streams). ``auto`` tells the kind of file from its first lines
    (``sniff_corpus_format``). A file with no text is a ``DataFormatError``."""
    format = resolve_corpus_format(path, format)
    return Corpus(str(path), list(iter_corpus(path, format)), format)


def resolve_corpus_format(path: str | Path, format: str = "auto") -> str:
    """The format ``path`` is read in: ``format``, or for ``auto`` the one its first lines show; a
    compressed file is plain text (``text``), and asking for another format of one is a
    ``DataFormatError``."""
    check_choice("format", format, CORPUS_FORMATS)
    path = str(path)
    kind = compression_of(path)
    if kind is not None:
        if format not in ("auto", "text"):
            raise DataFormatError(path, None, f"a {kind}-compressed file is read as plain text (one text per line); "
                                              f"decompress it to read it as {format}")
        _check_compressed_text(path, kind)
        return "text"
    return sniff_corpus_format(path) if format == "auto" else format


def iter_corpus(path: str | Path, format: str = "auto") -> Iterator[tuple[str, ...]]:
    """The words of each text in ``path``, one text at a time (blank texts skipped): plain text,
    compressed or not, is streamed a line at a time; an annotated file sentence by sentence; labelled
    CSV / TSV (small by nature) is read whole first. A file with no text is a ``DataFormatError``
    once the stream ends."""
    path = str(path)
    format = resolve_corpus_format(path, format)
    if format == "text":
        texts: Iterator = (tuple(w for w, _, _ in split_words(line)) for _, line in iter_text_lines(path))
    elif format in ("csv", "tsv"):
        texts = (tuple(w for w, _, _ in split_words(e.text)) for e in read_texts(path, format).examples)
    else:
        texts = (s.words for s in (read_conll(path) if format == "conll" else READERS[format](path)))
    empty = True
    for text in texts:
        if text:
            empty = False
            yield tuple(text)
    if empty:
        raise DataFormatError(path, None, "no text found: only blank lines" if format == "text" else
                              f"no text found in this {format} file")


def _check_compressed_text(path: str, kind: str) -> None:
    """A compressed file must hold plain text: one whose head reads as tagged columns or JSON lines
    is refused (its tags or keys would be pretrained on as words)."""
    lines = [line for line in text_head_lines(path) if line.strip()]
    if not lines:
        raise DataFormatError(path, None, f"empty {kind}-compressed file: no text to read")
    rows = [split_fields(line) for line in lines[:500]]
    tagged = sum(len(r) >= 2 and bool(TAG_PATTERN.match(r[-1]) or TAG_PATTERN.match(r[0])) for r in rows)
    if lines[0].lstrip().startswith("{") or tagged >= _TAGGED_SHARE * len(rows):
        raise DataFormatError(path, None, f"this {kind}-compressed file looks like an annotated file, not plain "
                                          "text; decompress it and give the file itself")


def sniff_corpus_format(path: str) -> str:
    """JSONL (any of its shapes), GMB, KLUE, KMOU or Weibo when the first lines say so; CoNLL or
    BIO when nearly every row of the head carries a tag in its column; CSV / TSV when the header
    names a label column, or when every line of the head is the same number of quoted fields; else
    ``text`` (one text per line). Unquoted CSV without a header needs ``format="csv"``."""
    lines = [line for line in head_lines(path) if line.strip()]
    if not lines:
        raise DataFormatError(path, None, "empty file: no text to pretrain on")
    first = lines[0]
    if first.lstrip().startswith("{"):
        return "jsonl"
    try:
        guess = sniff_format(path)
    except DataFormatError:
        guess = "text"
    if guess in ("conll", "bio"):
        rows = [split_fields(line) for line in lines[:500]]
        rows = [r for r in rows if r and r[0] != "-DOCSTART-"]
        at = -1 if guess == "conll" else 0
        tagged = sum(len(r) >= 2 and bool(TAG_PATTERN.match(r[at])) for r in rows)
        return guess if tagged >= _TAGGED_SHARE * len(rows) else "text"
    if guess != "text":
        return guess
    for delimiter, name in (("\t", "tsv"), (",", "csv")):
        if delimiter in first and {f.strip().strip('"').lower() for f in first.split(delimiter)} & set(LABEL_NAMES):
            return name
    head = lines[:20]
    if all(line.startswith('"') for line in head):  # every field quoted, as AG News ships ("3","title","text")
        widths = {len(row) for row in csv.reader(head)}
        if len(widths) == 1 and widths.pop() >= 2:
            return "csv"
    return "text"

