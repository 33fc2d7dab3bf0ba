"""Label Studio offsets count code points (current versions); older exports counted UTF-16 units, so
every span after an emoji was shifted by one per emoji. The reader converts a span's offsets only
where the result's own ``text`` matches the UTF-16 reading and not the code-point one, and leaves
every other span as given."""

from __future__ import annotations

import json

import pytest

from entitune.data import annotations as ann
from entitune.errors import DataFormatError

TEXT = "😀 Jane 🎉🎉 visits Paris"


def _utf16(text: str, start: int, end: int) -> tuple[int, int]:
    """Where ``text[start:end]`` lies in UTF-16 units, as JavaScript counts."""
    return len(text[:start].encode("utf-16-le")) // 2, len(text[:end].encode("utf-16-le")) // 2


def _read(tmp_path, spans, text=TEXT):
    result = [{"type": "labels", "from_name": "label", "to_name": "text",
               "value": {"start": s, "end": e, **({"text": shown} if shown is not None else {}), "labels": [label]}}
              for s, e, shown, label in spans]
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"data": {"text": text}, "annotations": [{"result": result}]}]), encoding="utf-8")
    [sentence] = ann.read_labelstudio(path)
    return dict(zip(sentence.words, sentence.tags))


def test_code_point_offsets_are_read_as_given(tmp_path):
    jane, paris = TEXT.index("Jane"), TEXT.index("Paris")
    tags = _read(tmp_path, [(jane, jane + 4, "Jane", "PER"), (paris, paris + 5, "Paris", "LOC")])
    assert tags["Jane"] == "B-PER" and tags["Paris"] == "B-LOC"


def test_utf16_offsets_of_an_older_export_are_converted(tmp_path):
    jane, paris = TEXT.index("Jane"), TEXT.index("Paris")
    spans = [(*_utf16(TEXT, jane, jane + 4), "Jane", "PER"), (*_utf16(TEXT, paris, paris + 5), "Paris", "LOC")]
    assert spans[1][:2] != (paris, paris + 5)  # three emoji before it: shifted by three units
    tags = _read(tmp_path, spans)
    assert tags["Jane"] == "B-PER" and tags["Paris"] == "B-LOC" and tags["visits"] == "O"


def test_without_the_span_text_offsets_are_taken_as_code_points(tmp_path):
    """Nothing to check the reading against: the offsets are code points, as today's exports write."""
    paris = TEXT.index("Paris")
    s, e = _utf16(TEXT, paris, paris + 5)
    with pytest.raises(DataFormatError, match=r"out of range"):
        _read(tmp_path, [(s, e, None, "LOC")])


def test_a_span_text_that_matches_neither_reading_changes_nothing(tmp_path):
    """Offsets that match no reading are kept (and trimmed as any span): the text shown can differ
    from the task's (Label Studio normalises line breaks), which is no reason to move a span."""
    jane = TEXT.index("Jane")
    tags = _read(tmp_path, [(jane, jane + 4, "Jean", "PER")])
    assert tags["Jane"] == "B-PER"


def test_offsets_inside_a_surrogate_pair_are_kept(tmp_path):
    """A UTF-16 offset between the two halves of an emoji is no UTF-16 reading: kept as given."""
    text = "a😀b c"
    tags = _read(tmp_path, [(2, 4, "bc", "X")], text=text)  # UTF-16 unit 2 is inside the emoji
    assert tags == {"a": "O", "😀": "O", "b": "B-X", "c": "O"}


def test_without_characters_beyond_the_bmp_nothing_is_converted(tmp_path):
    text = "Café Jane visits Paris"
    tags = _read(tmp_path, [(5, 9, "Paris", "PER")], text=text)
    assert tags["Jane"] == "B-PER" and tags["Paris"] == "O"
