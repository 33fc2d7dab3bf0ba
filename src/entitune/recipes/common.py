"""Small steps every recipe shares: thread settings and loading an annotated file with its notices."""
from __future__ import annotations

from pathlib import Path

from ..data import Dataset, load_annotated
from .console import Console


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads for this process (None: leave torch's choice)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def load_data(path: str | Path, format: str, console: Console, word_column: int = 0, tag_column: int = -1) -> Dataset:
    """An annotated file in IOB2 (``data.load_annotated``), its notices shown on the console."""
    data = load_annotated(path, format, word_column, tag_column)
    for notice in data.notices:
        console.note(f"notice: {notice}")
    return data
