"""``entitune.load(DIR).evaluate``: a labelled file is read as the format named says, as
``entitune evaluate --format`` reads it, not as sniffing would guess."""
from __future__ import annotations

import json

import entitune
from entitune.data import load_annotated
from entitune.data.sniff import sniff_format

#: a doccano export whose first text has no entity yet: its first line has the shape of span JSONL
#: (``text`` and an empty ``entities``), so sniffing takes it for span JSONL, whose entities name
#: ``start`` / ``end``, not doccano's ``start_offset`` / ``end_offset``
DOCCANO = [
    {"text": "show me films", "entities": []},
    {"text": "films with drew barrymore", "entities": [{"start_offset": 11, "end_offset": 25, "label": "ACTOR"}]},
    {"text": "movies from the 1980s", "entities": [{"start_offset": 16, "end_offset": 21, "label": "YEAR"}]},
]


def test_a_tagger_evaluates_a_file_in_the_format_named_not_the_one_sniffed(tiny_tagger_dir, tmp_path):
    """Named ``doccano``, the file is read as doccano: the report is the one of its sentences given
    directly (and the tiny tagger finds both entities). Broken (the format not passed on), the file
    is sniffed, read as span JSONL and refused at its second line."""
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in DOCCANO))
    assert sniff_format(path) == "jsonl"  # what makes the named format matter here
    sentences = load_annotated(path, "doccano").sentences
    assert [s.tags for s in sentences] == [("O",) * 3, ("O", "O", "B-ACTOR", "I-ACTOR"), ("O", "O", "O", "B-YEAR")]
    predictor = entitune.load(str(tiny_tagger_dir))
    report = predictor.evaluate(path, "doccano")
    assert report == predictor.evaluate(sentences)
    assert report["words"] == 11 and report["entity"]["f1"] == 1.0
