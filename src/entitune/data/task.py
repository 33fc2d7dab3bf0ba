"""Which task a data file is for: tagged words (``ner``) or labelled texts (``classify``), told apart
from the file's first lines when that is unambiguous."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataFormatError
from .annotations import doccano_kind
from .sniff import head_lines, sniff_format

TASKS = ("ner", "classify")


def sniff_task(path: str | Path) -> str:
    """``ner`` for a file the tagged-word readers recognise, ``classify`` for labelled texts (JSONL
    with ``label``/``labels``, or CSV/TSV rows of a label and a text); else ``DataFormatError``."""
    path = str(path)
    rows = [line for line in head_lines(path) if line.strip()]
    first = rows[0] if rows else ""
    if not first:
        raise DataFormatError(path, None, "empty file: nothing to tell the task from")
    if first.lstrip().startswith("["):  # a Label Studio export: its results say
        head = "\n".join(rows)
        kinds = [k for k, marks in (("ner", ('"labels"',)), ("classify", ('"choices"',)))
                 if any(f'"type": {m}' in head or f'"type":{m}' in head for m in marks)]
        if len(kinds) == 1:
            return kinds[0]
        raise DataFormatError(path, 1, "cannot tell the task of this Label Studio export from its first tasks "
                                       "(entity 'labels' or 'choices'); pass --task")
    if first.lstrip().startswith("{"):
        try:
            keys = set(json.loads(first))
        except (json.JSONDecodeError, TypeError):
            keys = set()
        if keys & {"tokens", "entities", "tags"}:
            return "ner"
        if "label" in keys and (kind := doccano_kind(json.loads(first))) is not None:
            return kind
        if keys & {"label", "labels"}:
            return "classify"
        raise DataFormatError(path, 1, "cannot tell the task: a JSON line needs tokens/tags, text/entities or "
                                       "text/label(s); pass --task")
    try:
        sniff_format(path)
        return "ner"
    except DataFormatError:
        pass
    if all(("\t" in r or "," in r) for r in rows[:20]):
        return "classify"
    raise DataFormatError(path, None, "cannot tell the task: neither tagged words nor 'label, text' rows; pass --task")
