"""Character-level and morpheme-level Asian formats: Weibo NER, KLUE-NER, KMOU (2016klp).

- Weibo (``weiboNER_2nd_conll``): ``char+digit<TAB>tag``, the digit being the character's position
  in its jieba word; the digit is dropped. Plain ``char<TAB>tag`` files are CoNLL and read there.
- KLUE-NER: ``## `` comment lines; ``## <id><TAB><marked sentence>`` opens a sentence; then one
  ``char<TAB>tag`` line per character, spaces included. Spaces are kept in ``Sentence.text`` but
  are not words (they have no sub-tokens); a ``B-`` that sat on a space moves to the next character.
- KMOU: ``; <raw sentence>``, ``$<marked sentence>``, then ``index<TAB>morpheme<TAB>POS<TAB>tag``
  rows with tags ``B_TYPE``, a bare ``I`` (continuing the open entity) and ``O``; CRLF line ends.
  Tags are rewritten to IOB2 (``B-TYPE``, ``I-TYPE``).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import DataFormatError, shorten
from ..types import Sentence
from ._lines import iter_lines, split_fields
from .columns import _column_rows, _sentences, check_tag


def read_weibo(path: str | Path) -> Iterator[Sentence]:
    """Read Weibo NER ``char+position-digit<TAB>tag`` lines; the digit is removed from each word."""
    path = str(path)

    def pick(number: int, text: str, fields: list[str]) -> tuple[str, str]:
        if len(fields) < 2:
            raise DataFormatError(path, number, f"expected 'CHARDIGIT<TAB>TAG', found {shorten(text)!r}")
        token = fields[0]
        if len(token) < 2 or not token[-1].isdigit():
            raise DataFormatError(path, number, f"token {shorten(token)!r} lacks the trailing word-position digit of Weibo NER")
        return token[:-1], fields[-1]

    return _sentences(path, _column_rows(path, pick))


def read_klue(path: str | Path) -> Iterator[Sentence]:
    """Read KLUE-NER ``.tsv``: a ``## id<TAB>sentence`` line, then ``char<TAB>tag`` per character."""
    path = str(path)
    chars: list[str] = []
    tags: list[str] = []
    first = 0

    def flush() -> Iterator[Sentence]:
        if not chars:
            return
        text = "".join(chars)
        words: list[str] = []
        word_tags: list[str] = []
        offsets: list[tuple[int, int]] = []
        carry_b = None  # a B- tag found on a space, moved to the next character of that type
        for i, (c, t) in enumerate(zip(chars, tags)):
            if c.isspace():
                if t.startswith("B-"):
                    carry_b = t
                continue
            if carry_b is not None and t == "I-" + carry_b[2:]:
                t = carry_b
            carry_b = None
            words.append(c)
            word_tags.append(t)
            offsets.append((i, i + 1))
        if words:
            yield Sentence(tuple(words), tuple(word_tags), first, 0, text, tuple(offsets))

    for number, line in iter_lines(path):
        if line.startswith("## "):
            if "\t" in line:  # a sentence header
                yield from flush()
                chars, tags, first = [], [], number + 1
            continue
        if not line:
            yield from flush()
            chars, tags = [], []
            continue
        char, sep, tag = line.partition("\t")
        if not sep or len(char) != 1:
            raise DataFormatError(path, number, f"expected 'CHAR<TAB>TAG' with one character, found {shorten(line)!r}")
        if not chars:
            first = number
        chars.append(char)
        tags.append(check_tag(tag.strip(), path, number))
    yield from flush()


def read_kmou(path: str | Path) -> Iterator[Sentence]:
    """Read the KMOU Korean set: ``;`` raw line, ``$`` marked line, then morpheme rows."""
    path = str(path)
    words: list[str] = []
    tags: list[str] = []
    raw: str | None = None
    first = 0
    open_type: str | None = None

    def flush() -> Iterator[Sentence]:
        if words:
            yield Sentence(tuple(words), tuple(tags), first, 0, raw)

    for number, line in iter_lines(path):
        if line.startswith(";"):
            yield from flush()
            words, tags, raw, first, open_type = [], [], line[1:].strip(), number, None
            continue
        if line.startswith("$") or not line.strip():
            continue
        fields = split_fields(line)
        if len(fields) != 4 or not fields[0].isdigit():
            raise DataFormatError(path, number, f"expected 'INDEX<TAB>MORPHEME<TAB>POS<TAB>TAG', found {shorten(line)!r}")
        if raw is None:
            raise DataFormatError(path, number, "morpheme row before any '; sentence' line")
        tag = fields[3]
        if tag.startswith("B_") and len(tag) > 2:
            open_type = tag[2:]
            tag = f"B-{open_type}"
        elif tag == "I":
            if open_type is None:
                raise DataFormatError(path, number, "tag 'I' continues no entity (no B_TYPE before it)")
            tag = f"I-{open_type}"
        elif tag == "O":
            open_type = None
        else:
            raise DataFormatError(path, number, f"tag {shorten(tag)!r} is none of B_TYPE, I, O (KMOU tags)")
        words.append(fields[1])
        tags.append(check_tag(tag, path, number))
    yield from flush()
