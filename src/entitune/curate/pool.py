"""The pool ``select`` picks from: unlabelled inputs, each with its words, the line it came from, the
document it belongs to (for the cap per document) and the fields to keep with it.

- ``text``: one input a line, split into words as raw text is (``data.split_words``); a blank line
  ends a document.
- ``jsonl``: objects with ``text`` (split as raw text) or ``tokens`` (words as given); ``doc``
  names the document; every field but the labels is kept with the input.
- ``labelstudio``: a Label Studio export or task list: each task's ``data.text``, its ``data``
  kept (tasks already annotated are left out: they are not in need of a label).
- ``conll`` / ``bio``: an annotated file's sentences (tags ignored), documents from ``-DOCSTART-``.

Errors are ``DataFormatError(path, line, why)``, as every reader's.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..data import read_sentences, split_words
from ..data._lines import iter_lines, json_line
from ..data.annotations import iter_json_array
from ..data.sniff import head_lines, sniff_format
from ..errors import DataFormatError

#: fields of a JSONL input that are labels, not kept with it
LABEL_FIELDS = ("tags", "entities", "label", "labels")


@dataclass(frozen=True)
class PoolItem:
    """One unlabelled input: its ``text`` (None for pre-split words), ``words``, the ``line`` it
    starts at, its document and the fields kept with it."""

    text: str | None
    words: tuple[str, ...]
    line: int
    doc: object = 0
    fields: dict = field(default_factory=dict)


def sniff_pool(path: str) -> str:
    """``labelstudio``, ``jsonl``, ``conll``, ``bio`` or ``text`` from the file's first lines."""
    first = next((line for line in head_lines(path) if line.strip()), "")
    if not first:
        raise DataFormatError(path, None, "empty file: no inputs to select from")
    stripped = first.lstrip()
    if stripped.startswith("["):
        return "labelstudio"
    if stripped.startswith("{"):
        return "jsonl"
    try:
        guess = sniff_format(path)
    except DataFormatError:
        return "text"
    return guess if guess in ("conll", "bio") else "text"


def read_pool(path: str | Path, format: str = "auto") -> list[PoolItem]:
    """The inputs of a pool file (see the module docstring); none at all is a ``DataFormatError``."""
    path = str(path)
    if format == "auto":
        format = sniff_pool(path)
    items: list[PoolItem] = []
    if format == "text":
        doc = 0
        for number, line in iter_lines(path):
            if not line.strip():
                doc += 1
                continue
            items.append(PoolItem(line, tuple(w for w, _, _ in split_words(line)), number, doc))
    elif format == "jsonl":
        for number, line in iter_lines(path):
            if not line.strip():
                continue
            try:
                obj = json_line(line, path, number)
            except (json.JSONDecodeError, RecursionError):
                raise DataFormatError(path, number, "not valid JSON") from None
            if not isinstance(obj, dict) or not ({"text", "tokens"} & obj.keys()):
                raise DataFormatError(path, number, "expected an object with 'text' or 'tokens'")
            kept = {k: v for k, v in obj.items() if k not in LABEL_FIELDS}
            if "tokens" in obj:
                tokens = obj["tokens"]
                if not isinstance(tokens, list) or not all(isinstance(t, str) and t.strip() for t in tokens):
                    raise DataFormatError(path, number, "'tokens' must be a list of strings, none empty")
                items.append(PoolItem(None, tuple(tokens), number, json.dumps(obj.get("doc")), kept))
            else:
                if not isinstance(obj["text"], str):
                    raise DataFormatError(path, number, "'text' must be a string")
                words = tuple(w for w, _, _ in split_words(obj["text"]))
                items.append(PoolItem(obj["text"], words, number, json.dumps(obj.get("doc")), kept))
    elif format == "labelstudio":
        for number, task in iter_json_array(path):
            if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
                raise DataFormatError(path, number, "expected a task object with 'data'")
            if any(isinstance(a, dict) and not a.get("was_cancelled") for a in task.get("annotations") or []):
                continue
            text = task["data"].get("text")
            if not isinstance(text, str):
                raise DataFormatError(path, number, "task data has no 'text' string")
            kept = {"data": {k: v for k, v in task["data"].items() if k != "meta"},
                    **({"id": task["id"]} if "id" in task else {})}
            items.append(PoolItem(text, tuple(w for w, _, _ in split_words(text)), number,
                                  json.dumps(task["data"].get("doc")), kept))
    else:
        for s in read_sentences(path, format):
            items.append(PoolItem(None, s.words, s.line, s.doc))
    if not items:
        raise DataFormatError(path, None, "no inputs to select from")
    return items
