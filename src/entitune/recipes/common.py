"""Small steps every recipe shares: thread settings and loading an annotated file with its notices."""
from __future__ import annotations

from pathlib import Path

from ..backends import torch_backend
from ..data import Dataset, load_annotated
from ..data.texts import read_labelled_texts, text_options  # noqa: F401  (the recipes' names for them)
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


