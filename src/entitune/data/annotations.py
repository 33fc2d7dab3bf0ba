"""What annotation tools export: Label Studio's JSON export and doccano's JSONL, for NER (character
spans) and text classification (choices), read into the same ``Sentence`` and ``TextExample`` values
as every other reader, with the same ``DataFormatError(path, line, why)`` errors.

- Label Studio (``labelstudio``): the project export "JSON", one JSON array of tasks, each
  ``{"data": {"text": ...}, "annotations": [{"result": [...]}], ...}``. A result of ``type``
  ``labels`` is an entity (``value``: ``start``, ``end``, ``labels``); one of type ``choices`` a
  class (``value.choices``). A task's first annotation that was not cancelled is read; a task
  with none is skipped (an export of a project still being labelled holds them). ``predictions``
  are never read as labels. The line of an error is the line where its task starts. Offsets are
  code points; an older export's UTF-16 offsets are converted where the result's ``text`` shows them.
- doccano (``doccano``): JSON Lines, one text a line. Sequence labelling:
  ``{"text": ..., "label": [[start, end, "TYPE"], ...]}`` (also ``labels``), or
  ``{"text": ..., "entities": [{"start_offset", "end_offset", "label"}, ...]}`` from projects with
  relations. Text classification: ``{"text": ..., "label": ["Sports"]}`` (a list of names;
  several make a multi-label file).

Entities become words and IOB2 tags as span JSONL does (``jsonl.spans_to_words``). Spaces at
the edges of a span (a selection in a tool easily takes one) are trimmed; an empty,
out-of-range or overlapping span is an error. Written with the ``json`` module; no torch.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import DataFormatError, shorten
from ..types import Sentence, TextExample
from ._lines import iter_lines, json_line, read_bytes
from .jsonl import spans_to_words

#: the task kinds a file's results can hold: entities (``ner``) or classes (``classify``)
NER, CLASSIFY = "ner", "classify"


# ------------------------------------------------------------------------------- shared checks


def _trimmed(path: str, line: int, text: str, start: object, end: object, label: object, k: int) -> tuple[int, int, str]:
    """One entity as ``(start, end, label)`` inside ``text``, spaces at its edges trimmed."""
    if type(start) is not int or type(end) is not int:
        raise DataFormatError(path, line, f"entity {k}: start and end must be integers, found "
                                          f"{shorten(repr(start))}, {shorten(repr(end))}")
    if not isinstance(label, str) or not label.strip() or any(c.isspace() for c in label):
        raise DataFormatError(path, line, f"entity {k}: label must be a non-empty string without spaces, found "
                                          f"{shorten(repr(label))}")
    if not 0 <= start < end <= len(text):
        raise DataFormatError(path, line, f"entity {k} [{start}, {end}) is out of range for a text of "
                                          f"{len(text)} characters")
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start == end:
        raise DataFormatError(path, line, f"entity {k} covers only spaces")
    return start, end, label


def _sentence(path: str, line: int, text: str, entities: list[tuple[int, int, str]]) -> Sentence | None:
    """The sentence of ``text`` with ``entities`` (overlaps refused), or None for a text without words."""
    entities.sort()
    for (s1, e1, _), (s2, e2, _) in zip(entities, entities[1:]):
        if s2 < e1:
            raise DataFormatError(path, line, f"entities [{s1}, {e1}) and [{s2}, {e2}) overlap")
    words, tags, offsets = spans_to_words(text, entities)
    if not words:
        return None
    return Sentence(tuple(words), tuple(tags), line, 0, text, tuple(offsets))


def _text(path: str, line: int, value: object) -> str:
    if not isinstance(value, str):
        raise DataFormatError(path, line, "'text' must be a string")
    return value


# ------------------------------------------------------------------------------- Label Studio


def iter_json_array(path: str | Path) -> Iterator[tuple[int, object]]:
    """``(line, value)`` for each element of the JSON array a file holds, ``line`` the 1-based line
    where the element starts. Not an array, bad JSON (with its line), or nesting too deep: a
    ``DataFormatError``."""
    path = str(path)
    data = read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, data.count(b"\n", 0, exc.start) + 1, "not valid UTF-8; save the file as UTF-8") from None
    decoder = json.JSONDecoder()
    pos, line = _skip(text, 0), 1
    if not text.startswith("[", pos):
        raise DataFormatError(path, text.count("\n", 0, pos) + 1, "expected a JSON array of tasks ('[' first), "
                                                                   "as Label Studio's JSON export writes")
    pos = _skip(text, pos + 1)
    line = text.count("\n", 0, pos) + 1
    counted = pos
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            line += text.count("\n", counted, pos)
            counted = pos
            try:
                value, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise DataFormatError(path, exc.lineno, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            except RecursionError:
                raise DataFormatError(path, line, "not valid JSON (nested too deeply)") from None
            try:  # the checks json_line makes on a line of JSONL (lone surrogates), on one task
                json_line(text[pos:end], path, line)
            except RecursionError:
                raise DataFormatError(path, line, "not valid JSON (nested too deeply)") from None
            yield line, value
            pos = _skip(text, end)
            if text.startswith(",", pos):
                pos = _skip(text, pos + 1)
                continue
            if text.startswith("]", pos):
                pos += 1
                break
            raise DataFormatError(path, text.count("\n", 0, pos) + 1, "expected ',' or ']' after a task")
    rest = _skip(text, pos)
    if rest < len(text):
        raise DataFormatError(path, text.count("\n", 0, rest) + 1, "unexpected data after the array of tasks")


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _task_text(path: str, line: int, task: dict) -> str:
    data = task.get("data")
    if not isinstance(data, dict):
        raise DataFormatError(path, line, "task without a 'data' object (expected {\"data\": {\"text\": ...}})")
    if "text" in data:
        return _text(path, line, data["text"])
    strings = [v for v in data.values() if isinstance(v, str)]
    if len(strings) != 1:
        raise DataFormatError(path, line, "task data has no 'text' field (and not exactly one string to take instead)")
    return strings[0]


def _annotation(path: str, line: int, task: dict) -> list | None:
    """The results of the task's first annotation that was not cancelled, or None."""
    annotations = task.get("annotations", task.get("completions", []))
    if not isinstance(annotations, list):
        raise DataFormatError(path, line, "'annotations' must be a list")
    for annotation in annotations:
        if not isinstance(annotation, dict):
            raise DataFormatError(path, line, "each annotation must be an object with a 'result' list")
        if annotation.get("was_cancelled"):
            continue
        result = annotation.get("result", [])
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise DataFormatError(path, line, "an annotation's 'result' must be a list of objects")
        return result
    return None


def _tasks(path: str) -> Iterator[tuple[int, str, list]]:
    """``(line, text, results)`` of every annotated task of a Label Studio export."""
    for line, task in iter_json_array(path):
        if not isinstance(task, dict):
            raise DataFormatError(path, line, "each element of the array must be a task object")
        results = _annotation(path, line, task)
        if results is None:
            continue
        yield line, _task_text(path, line, task), results


def _code_points(text: str, start: object, end: object, shown: object) -> tuple[object, object]:
    """``start``/``end`` as code-point offsets of ``text``. Older Label Studio versions (its front end is
    JavaScript) counted UTF-16 units, so every span after an emoji or another character beyond the
    Basic Multilingual Plane is shifted by one per such character. Where the result's own ``text``
    does not match the code-point slice but does match the UTF-16 slice, the offsets are converted;
    anything else is returned as given (and checked by ``_trimmed``)."""
    if (type(start) is not int or type(end) is not int or not isinstance(shown, str) or not 0 <= start <= end
            or text[start:end] == shown):
        return start, end
    units = text.encode("utf-16-le")
    try:
        s, e = len(units[:2 * start].decode("utf-16-le")), len(units[:2 * end].decode("utf-16-le"))
    except UnicodeDecodeError:  # an offset inside a surrogate pair: not UTF-16 offsets either
        return start, end
    return (s, e) if text[s:e] == shown else (start, end)


def read_labelstudio(path: str | Path) -> Iterator[Sentence]:
    """The annotated tasks of a Label Studio JSON export with entity (``labels``) results, as sentences.
    A ``choices`` result is an error saying the file is for classification."""
    path = str(path)
    for line, text, results in _tasks(path):
        entities = []
        for k, r in enumerate(results):
            kind = r.get("type")
            if kind == "choices":
                raise DataFormatError(path, line, "this task holds a class ('choices'), not entities: a "
                                                  "classification export (train it with --task classify)")
            if kind not in ("labels", "hypertextlabels"):
                continue  # relations, ratings, text areas: nothing to tag
            value = r.get("value")
            if not isinstance(value, dict) or not isinstance(value.get("labels"), list) or len(value["labels"]) != 1:
                raise DataFormatError(path, line, f"result {k}: expected value with start, end and one label in 'labels'")
            start, end = _code_points(text, value.get("start"), value.get("end"), value.get("text"))
            entities.append(_trimmed(path, line, text, start, end, value["labels"][0], k))
        if (sentence := _sentence(path, line, text, entities)) is not None:
            yield sentence


def read_labelstudio_texts(path: str | Path) -> tuple[list[TextExample], bool]:
    """The annotated tasks of a Label Studio JSON export with ``choices`` results, as labelled texts,
    and whether any task has several classes (multi-label)."""
    path = str(path)
    examples: list[TextExample] = []
    multi = False
    for line, text, results in _tasks(path):
        labels: list[str] = []
        for k, r in enumerate(results):
            if r.get("type") in ("labels", "hypertextlabels"):
                raise DataFormatError(path, line, "this task holds entities ('labels'), not a class: an NER export "
                                                  "(train it with --task ner)")
            if r.get("type") != "choices":
                continue
            choices = (r.get("value") or {}).get("choices") if isinstance(r.get("value"), dict) else None
            if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c.strip() for c in choices):
                raise DataFormatError(path, line, f"result {k}: 'choices' must be a list of non-empty strings")
            labels.extend(c.strip() for c in choices)
        if not text.strip():
            raise DataFormatError(path, line, "empty text")
        if not labels:
            continue  # annotated without a class (skipped by the annotator)
        labels = list(dict.fromkeys(labels))
        multi = multi or len(labels) > 1
        examples.append(TextExample(text, tuple(labels), line))
    return examples, multi


# ------------------------------------------------------------------------------- doccano


def _doccano_lines(path: str) -> Iterator[tuple[int, dict]]:
    for number, raw in iter_lines(path):
        if not raw.strip():
            continue
        try:
            obj = json_line(raw, path, number)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise DataFormatError(path, number, f"not valid JSON ({getattr(exc, 'msg', 'nested too deeply')})") from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, number, "expected a JSON object with 'text' and 'label'")
        yield number, obj


def doccano_kind(obj: dict) -> str | None:
    """``ner`` or ``classify`` for one doccano line by the shape of its labels, None when it has none
    to tell (no label, or an empty list)."""
    if isinstance(obj.get("entities"), list) and obj["entities"]:
        return NER
    labels = obj.get("label", obj.get("labels"))
    if isinstance(labels, list) and labels:
        return NER if isinstance(labels[0], list) else CLASSIFY
    return None


def read_doccano(path: str | Path) -> Iterator[Sentence]:
    """doccano's sequence-labelling JSONL as sentences (see the module docstring)."""
    path = str(path)
    for number, obj in _doccano_lines(path):
        text = _text(path, number, obj.get("text"))
        entities = []
        if "entities" in obj:
            raw = obj["entities"]
            if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
                raise DataFormatError(path, number, "'entities' must be a list of {start_offset, end_offset, label}")
            for k, e in enumerate(raw):
                entities.append(_trimmed(path, number, text, e.get("start_offset"), e.get("end_offset"), e.get("label"), k))
        else:
            raw = obj.get("label", obj.get("labels", []))
            if not isinstance(raw, list):
                raise DataFormatError(path, number, "'label' must be a list of [start, end, label] triples")
            for k, e in enumerate(raw):
                if isinstance(e, str):
                    raise DataFormatError(path, number, "'label' holds class names, not [start, end, label] spans: "
                                                        "a classification file (train it with --task classify)")
                if not isinstance(e, list) or len(e) != 3:
                    raise DataFormatError(path, number, f"label {k}: expected [start, end, label]")
                entities.append(_trimmed(path, number, text, e[0], e[1], e[2], k))
        if (sentence := _sentence(path, number, text, entities)) is not None:
            yield sentence


def read_doccano_texts(path: str | Path) -> tuple[list[TextExample], bool]:
    """doccano's text-classification JSONL as labelled texts, and whether it is multi-label."""
    path = str(path)
    examples: list[TextExample] = []
    multi = False
    for number, obj in _doccano_lines(path):
        text = _text(path, number, obj.get("text"))
        if not text.strip():
            raise DataFormatError(path, number, "empty text")
        raw = obj.get("label", obj.get("labels", obj.get("cats")))
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(x, str) and x.strip() for x in raw):
            raise DataFormatError(path, number, "'label' must be a list of class names (non-empty strings)")
        if not raw:
            continue  # not labelled yet
        labels = tuple(dict.fromkeys(x.strip() for x in raw))
        multi = multi or len(labels) > 1
        examples.append(TextExample(text, labels, number))
    return examples, multi
