"""Small steps every recipe shares: thread settings and loading an annotated file with its notices."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..backends import torch_backend
from ..data import Dataset, TextDataset, load_annotated, read_texts
from ..errors import DataFormatError
from ..terminal import Console


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads for this process (None: leave torch's choice), for the verbs that run
    torch (train, export): through the PyTorch backend, which loads torch (``backends.torch_backend``).
    The verbs on an export never call it: onnxruntime takes its threads per session."""
    if threads:
        torch_backend().set_threads(threads)


def load_data(path: str | Path, format: str, console: Console, word_column: int = 0, tag_column: int = -1) -> Dataset:
    """An annotated file in IOB2 (``data.load_annotated``), its notices shown on the console."""
    data = load_annotated(path, format, word_column, tag_column)
    for notice in data.notices:
        console.note(f"notice: {notice}")
    return data


def text_options(format: str, text_columns: str | None) -> tuple[str, list[str] | None]:
    """The flags' forms as ``data.read_texts`` takes them: ``format`` when it is a text format (else
    ``auto``, sniffed), the comma-separated ``text_columns`` as a list."""
    fmt = format if format in ("csv", "tsv", "jsonl") else "auto"
    return fmt, [c.strip() for c in text_columns.split(",")] if text_columns else None


def read_labelled_texts(path: str | Path, format: str = "auto", text_columns: str | None = None,
                        label_column: str | None = None, label_names: dict[str, str] | None = None) -> TextDataset:
    """A file of labelled texts (``data.read_texts``) from the flags' forms (``text_options``), each
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
