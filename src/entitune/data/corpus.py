"""Text for masked-LM pretraining: the words of every text in a file, whatever kind of file it is.

- plain text (``text``): one text per line, blank lines skipped, split into words by
  ``text.split_words``, as classification and raw-text prediction split text;
- an annotated file the readers understand (CoNLL columns, ``TAG<TAB>word``, JSONL with tokens,
  spans or just ``text``, GMB, Weibo, KLUE, KMOU): the words of each sentence as its reader gives them;
- labelled texts (CSV / TSV with a label column): each text, split as classification splits it.

Words are never joined back into a string. Fine-tuning hands the tokenizer pre-split words
(``is_split_into_words``), so pretraining does the same and a word gets the same sub-tokens in both;
character-level Chinese and Korean data (Weibo, KLUE; CJK ideographs in plain text) stay one
character per word, as their taggers read them. Nothing here imports torch.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataFormatError, check_choice
from ..tags import TAG_PATTERN
from ._lines import iter_lines, split_fields
from .read import READERS, read_sentences
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
    """The words of every text in ``path`` (see the module docstring); ``auto`` tells the kind of
    file from its first lines (``sniff_corpus_format``). A file with no text is a ``DataFormatError``."""
    check_choice("format", format, CORPUS_FORMATS)
    path = str(path)
    if format == "auto":
        format = sniff_corpus_format(path)
    if format == "text":
        texts = [tuple(w for w, _, _ in split_words(line)) for _, line in iter_lines(path)]
    elif format in ("csv", "tsv"):
        texts = [tuple(w for w, _, _ in split_words(e.text)) for e in read_texts(path, format).examples]
    else:
        texts = [s.words for s in read_sentences(path, format)]
    texts = [t for t in texts if t]
    if not texts:
        raise DataFormatError(path, None, "no text found: only blank lines" if format == "text" else
                              f"no text found in this {format} file")
    return Corpus(path, texts, format)


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

