"""Labelled texts for classification: CSV/TSV (with a header or without), JSONL and ``label<TAB>text``.

- CSV / TSV: a header row is one that names a ``label`` (or ``labels``) column; without one the
  label is column 0 and the text the other columns joined by a space (AG News: ``label,title,
  description``). ``label_column`` and ``text_columns`` (indices or header names) say otherwise.
  Every row has as many fields as the first; fields may be quoted (RFC 4180), and a quote that
  never closes is an error at the row where it opens.
- JSONL: ``{"text": ..., "label": ...}`` per line, or ``{"text": ..., "labels": [...]}`` for
  multi-label data (a text may then have no label); other keys (ids) are ignored.
- ``label<TAB>text`` lines are TSV without a header.
- Label Studio's JSON export and doccano's JSONL (``annotations``): their ``choices`` and class names.

Every problem is ``DataFormatError(path, line, why)``: a missing label, an empty text, a row of the
wrong width, bad JSON, text that is not UTF-8. Nothing is half-read: a reader returns all rows or
raises. Written with the ``csv`` and ``json`` modules; no torch.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import DataFormatError, check_choice
from ..types import TextExample
from ._lines import iter_lines, json_line, not_utf8, read_bytes
from .annotations import read_doccano_texts, read_labelstudio_texts
from .sniff import head_lines, json_head_kind

TEXT_FORMATS = ("auto", "csv", "tsv", "jsonl", "labelstudio", "doccano")
#: header names taken as the label column, in this order
LABEL_NAMES = ("label", "labels", "class", "category", "target")
#: header names taken as the text column(s) when no ``text_columns`` are given
TEXT_NAMES = ("text", "sentence", "content", "body", "review", "title", "description")


@dataclass(frozen=True)
class TextDataset:
    """Labelled texts of one file; ``multi_label`` when the file gives lists of labels."""

    path: str
    examples: list[TextExample]
    multi_label: bool
    format: str

    @property
    def label_names(self) -> list[str]:
        """Every label used, sorted."""
        return sorted({label for e in self.examples for label in e.labels or ()})


def read_texts(path: str | Path, format: str = "auto", text_columns: Sequence[int | str] | None = None,
               label_column: int | str | None = None) -> TextDataset:
    """Read a file of labelled texts (see the module docstring)."""
    check_choice("format", format, TEXT_FORMATS)
    path = str(path)
    if format == "auto":
        format = sniff_text_format(path)
    if format == "jsonl":
        examples, multi = _read_jsonl(path)
    elif format == "labelstudio":
        examples, multi = read_labelstudio_texts(path)
    elif format == "doccano":
        examples, multi = read_doccano_texts(path)
    else:
        examples, multi = _read_delimited(path, "\t" if format == "tsv" else ",", text_columns, label_column), False
    if not examples:
        raise DataFormatError(path, None, "no texts found: only blank lines" + ("" if format == "jsonl" else
                                                                                ", or a header row with no rows under it"))
    return TextDataset(path, examples, multi, format)


def sniff_text_format(path: str) -> str:
    """``labelstudio``, ``doccano``, ``jsonl``, ``tsv`` or ``csv`` from the file's first non-empty line."""
    first = next((line for line in head_lines(path) if line.strip()), "")
    if not first:
        raise DataFormatError(path, None, "empty file: no texts found")
    if (kind := json_head_kind(first)) is not None:
        return kind
    return "tsv" if "\t" in first else "csv"


def _decode(path: str) -> str:
    data = read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        raise not_utf8(path, line, data[line_start : exc.start + 1], exc.start - line_start) from None


def _column(spec: int | str, names: list[str] | None, width: int, path: str, what: str) -> int:
    """A column given as an index or a header name, checked against the row width."""
    if isinstance(spec, str) and not spec.lstrip("-").isdigit():
        if names is None or spec.strip().lower() not in names:
            found = ", ".join(names) if names else "no header row"
            raise DataFormatError(path, 1, f"{what} {spec!r} is not a column name ({found})")
        return names.index(spec.strip().lower())
    index = int(spec)
    if not -width <= index < width:
        raise DataFormatError(path, 1, f"{what} {index} is out of range: the rows have {width} fields")
    return index % width


@dataclass(frozen=True)
class DelimitedLayout:
    """A CSV/TSV file as its reader sees it: each non-blank row with its first and last line
    (``(first, last, fields)``; a quoted field may span lines), whether the first row is a header,
    the label's column and the text's columns."""

    rows: list[tuple[int, int, list[str]]]
    has_header: bool
    label_at: int
    text_at: list[int]


def delimited_layout(path: str, delimiter: str, text_columns=None, label_column=None) -> DelimitedLayout | None:
    """The rows and columns of a labelled CSV/TSV file (see the module docstring for the rules),
    or None for a file of blank lines."""
    text = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            if any(field.strip() for field in row):
                rows.append((start, reader.line_num, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end" in str(exc):
            why = "unbalanced quotes: a quoted field on this row is never closed"
        elif "expected after" in str(exc):
            why = f"unbalanced quotes: a quoted field on this row closes in the middle of a field ({exc})"
        else:
            why = f"not valid {'TSV' if delimiter == chr(9) else 'CSV'} ({exc})"
        raise DataFormatError(path, start, why) from None
    if not rows:
        return None
    first_line, _, first = rows[0]
    lowered = [f.strip().lower() for f in first]
    named = {str(c).strip().lower() for c in [*(text_columns or []), label_column] if isinstance(c, str)}
    has_header = any(name in lowered for name in LABEL_NAMES) or bool(named & set(lowered))
    names = lowered if has_header else None
    width = len(first)
    if width < 2:
        raise DataFormatError(path, first_line, f"expected a label and a text separated by {'a tab' if delimiter == chr(9) else 'a comma'}, found one field")
    if label_column is not None:
        label_at = _column(label_column, names, width, path, "label column")
    elif names is not None:
        label_at = next(names.index(n) for n in LABEL_NAMES if n in names) if any(n in names for n in LABEL_NAMES) else 0
    else:
        label_at = 0
    if text_columns:
        text_at = [_column(c, names, width, path, "text column") for c in text_columns]
    elif names is not None and any(n in names for n in TEXT_NAMES[:5]):
        text_at = [names.index(next(n for n in TEXT_NAMES[:5] if n in names))]
    else:
        text_at = [i for i in range(width) if i != label_at]
    return DelimitedLayout(rows, has_header, label_at, text_at)


def _read_delimited(path: str, delimiter: str, text_columns, label_column) -> list[TextExample]:
    layout = delimited_layout(path, delimiter, text_columns, label_column)
    if layout is None:
        return []
    has_header, label_at, text_at = layout.has_header, layout.label_at, layout.text_at
    rows = [(line, row) for line, _, row in layout.rows]
    width = len(rows[0][1])
    examples: list[TextExample] = []
    for line, row in rows[1:] if has_header else rows:
        if len(row) != width:
            raise DataFormatError(path, line, f"has {len(row)} fields, the {'header' if has_header else 'first row'} has {width}")
        label = row[label_at].strip()
        if not label:
            raise DataFormatError(path, line, "missing label")
        body = " ".join(row[i].strip() for i in text_at if row[i].strip())
        if not body:
            raise DataFormatError(path, line, "empty text")
        examples.append(TextExample(body, (label,), line))
    return examples


def _read_jsonl(path: str) -> tuple[list[TextExample], bool]:
    examples: list[TextExample] = []
    multi: bool | None = None
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            obj = json_line(line, path, number)
        except json.JSONDecodeError as exc:
            raise DataFormatError(path, number, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, number, 'expected an object like {"text": "...", "label": "..."}')
        text = obj.get("text")
        if not isinstance(text, str):
            raise DataFormatError(path, number, "'text' must be a string")
        if not text.strip():
            raise DataFormatError(path, number, "empty text")
        if ("label" in obj) == ("labels" in obj):
            raise DataFormatError(path, number, "give exactly one of 'label' (a string) or 'labels' (a list of strings)")
        this_multi = "labels" in obj
        if multi is not None and this_multi != multi:
            raise DataFormatError(path, number, "mixes 'label' and 'labels' lines; use one of them in the whole file")
        multi = this_multi
        raw = obj["labels"] if this_multi else [obj["label"]]
        if not isinstance(raw, list) or not all(isinstance(x, str) and x.strip() for x in raw):
            what = "'labels' must be a list of non-empty strings" if this_multi else "missing label ('label' must be a non-empty string)"
            raise DataFormatError(path, number, what)
        examples.append(TextExample(text, tuple(dict.fromkeys(x.strip() for x in raw)), number))
    return examples, bool(multi)


def text_options(format: str, text_columns: str | None) -> tuple[str, list[str] | None]:
    """The flags' forms as ``data.read_texts`` takes them: ``format`` when it is a text format (else
    ``auto``, sniffed), the comma-separated ``text_columns`` as a list."""
    fmt = format if format in ("csv", "tsv", "jsonl") else "auto"
    return fmt, [c.strip() for c in text_columns.split(",")] if text_columns else None


def read_labelled_texts(path: str | Path, format: str = "auto", text_columns: str | None = None,
                        label_column: str | None = None, label_names: dict[str, str] | None = None) -> TextDataset:
    """A file of labelled texts (``read_texts``) from the flags' forms (``text_options``), each
    label named by ``label_names`` (a classifier's ``--label-names``); a label it names already
    (the data written with the names) stays, any other is a one-line error at its line."""
    fmt, columns = text_options(format, text_columns)
    data = read_texts(path, fmt, columns, label_column)
    if not label_names:
        return data
    names = set(label_names.values())
    examples = []
    for example in data.examples:
        labels = example.labels or ()
        for label in labels:
            if label not in label_names and label not in names:
                raise DataFormatError(path, example.line or None, f"label {label!r} has no name in --label-names "
                                      f"(named: {', '.join(sorted(label_names))})")
        examples.append(replace(example, labels=tuple(label_names.get(x, x) for x in labels) if example.labels else
                                example.labels))
    return replace(data, examples=examples)
