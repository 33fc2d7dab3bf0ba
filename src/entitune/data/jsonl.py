"""JSON Lines, one sentence per line, in either of two shapes:

- tokens: ``{"tokens": ["Jane", "Doe"], "tags": ["B-PER", "I-PER"]}``
- spans: ``{"text": "Jane Doe", "entities": [{"start": 0, "end": 8, "label": "PER"}]}``, the shape
  labelling tools export (character offsets, ``end`` exclusive).

Spans become words and IOB2 tags with ``text.split_words`` (tokenizer-independent), after cutting
the text at every entity boundary, so an entity is always a whole number of words and spans ->
tags -> spans gives back the same character offsets. Overlapping, out-of-range, empty or
whitespace-edged spans are errors with the line number.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ..errors import DataFormatError, shorten
from ..tags import spans_from_tags
from .text import join_words, split_words
from ..types import Sentence
from ._lines import iter_lines, json_line
from .columns import check_tag


def spans_to_words(text: str, entities: Sequence[tuple[int, int, str]]) -> tuple[list[str], list[str], list[tuple[int, int]]]:
    """Words, IOB2 tags and word offsets for a text and its ``(start, end, label)`` entities.

    Entities must be sorted-able, non-overlapping, inside the text, and start and end on a
    non-space character (checked by ``read_jsonl``).

    >>> spans_to_words("Jane Doe's cat", [(0, 8, "PER")])
    (['Jane', 'Doe', "'", 's', 'cat'], ['B-PER', 'I-PER', 'O', 'O', 'O'], [(0, 4), (5, 8), (8, 9), (9, 10), (11, 14)])
    """
    cuts = sorted({0, len(text), *(s for s, _, _ in entities), *(e for _, e, _ in entities)})
    words: list[str] = []
    offsets: list[tuple[int, int]] = []
    for a, b in zip(cuts, cuts[1:]):
        for w, s, e in split_words(text[a:b]):
            words.append(w)
            offsets.append((a + s, a + e))
    tags = ["O"] * len(words)
    starts = {s: i for i, (s, _) in enumerate(offsets)}
    for start, end, label in sorted(entities):
        i = starts[start]
        tags[i] = f"B-{label}"
        i += 1
        while i < len(words) and offsets[i][1] <= end:
            tags[i] = f"I-{label}"
            i += 1
    return words, tags, offsets


def _check_entities(path: str, number: int, text: str, raw: object) -> list[tuple[int, int, str]]:
    if not isinstance(raw, list):
        raise DataFormatError(path, number, "'entities' must be a list of {start, end, label} objects")
    out: list[tuple[int, int, str]] = []
    for k, ent in enumerate(raw):
        if not isinstance(ent, dict) or not {"start", "end", "label"} <= ent.keys():
            raise DataFormatError(path, number, f"entity {k} must be an object with start, end and label")
        start, end, label = ent["start"], ent["end"], ent["label"]
        if type(start) is not int or type(end) is not int:
            raise DataFormatError(path, number, f"entity {k}: start and end must be integers, found {shorten(repr(start))}, {shorten(repr(end))}")
        if not isinstance(label, str) or not label.strip() or any(c.isspace() for c in label):
            raise DataFormatError(path, number, f"entity {k}: label must be a non-empty string without spaces, found {shorten(repr(label))}")
        if not 0 <= start < end <= len(text):
            raise DataFormatError(path, number, f"entity {k} [{start}, {end}) is out of range for a text of {len(text)} characters")
        if text[start].isspace() or text[end - 1].isspace():
            raise DataFormatError(path, number, f"entity {k} {shorten(text[start:end])!r} starts or ends with whitespace; trim the span")
        out.append((start, end, label))
    out.sort()
    for (s1, e1, _), (s2, e2, _) in zip(out, out[1:]):
        if s2 < e1:
            raise DataFormatError(path, number, f"entities [{s1}, {e1}) and [{s2}, {e2}) overlap")
    return out


def read_jsonl(path: str | Path) -> Iterator[Sentence]:
    """Read token JSONL or span JSONL (each line may use either shape); blank lines are skipped.
    An optional ``doc`` field (any JSON value) names the document a line belongs to: lines with
    the same value are numbered alike in ``Sentence.doc`` (1, 2... in order of first appearance; 0
    for lines without one, so a file without ``doc`` fields is one document)."""
    path = str(path)
    doc_ids: dict[str, int] = {}
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            obj = json_line(line, path, number)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise DataFormatError(path, number, f"not valid JSON ({getattr(exc, 'msg', 'nested too deeply')})") from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, number, "expected a JSON object with tokens+tags or text+entities")
        doc = doc_ids.setdefault(json.dumps(obj["doc"], sort_keys=True), len(doc_ids) + 1) if "doc" in obj else 0
        if "tokens" in obj:
            tokens, tags = obj["tokens"], obj.get("tags")
            if not isinstance(tokens, list) or not all(isinstance(t, str) and t.strip() for t in tokens):
                raise DataFormatError(path, number, "'tokens' must be a list of strings, none empty or only spaces")
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise DataFormatError(path, number, "'tags' must be a list of strings, one per token")
            if len(tags) != len(tokens):
                raise DataFormatError(path, number, f"{len(tokens)} tokens but {len(tags)} tags")
            if tokens:
                yield Sentence(tuple(tokens), tuple(check_tag(t, path, number) for t in tags), number, doc)
        elif "text" in obj:
            text = obj["text"]
            if not isinstance(text, str):
                raise DataFormatError(path, number, "'text' must be a string")
            entities = _check_entities(path, number, text, obj.get("entities", []))
            words, tags, offsets = spans_to_words(text, entities)
            if words:
                yield Sentence(tuple(words), tuple(tags), number, doc, text, tuple(offsets))
        else:
            raise DataFormatError(path, number, "expected keys tokens+tags or text+entities")


def sentence_entities(sentence: Sentence) -> tuple[str, list[dict]]:
    """The text of a sentence (its own, or its words joined by spaces) and its entities as
    ``{"start", "end", "label"}`` character spans."""
    if sentence.text is not None and sentence.offsets is not None:
        text, offsets = sentence.text, list(sentence.offsets)
    else:
        text, offsets = join_words(list(sentence.words))
    entities = [
        {"start": offsets[s.start][0], "end": offsets[s.end - 1][1], "label": s.label}
        for s in spans_from_tags(sentence.tags or ())
    ]
    return text, entities


def write_jsonl(sentences: Iterable[Sentence], shape: str = "tokens") -> str:
    """Render sentences as token JSONL (``shape="tokens"``) or span JSONL (``shape="spans"``)."""
    lines: list[str] = []
    for s in sentences:
        if shape == "tokens":
            obj: dict = {"tokens": list(s.words), "tags": list(s.tags or ())}
        elif shape == "spans":
            text, entities = sentence_entities(s)
            obj = {"text": text, "entities": entities}
        else:
            raise ValueError(f"shape must be 'tokens' or 'spans', got {shape!r}")
        lines.append(json.dumps(obj, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)
