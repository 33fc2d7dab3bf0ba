"""The Label Studio loop: ``entitune select`` writes tasks with pre-annotations, Label Studio's own
converter (``label-studio-converter``, the test extra) reads them once annotators have submitted
them unchanged, exports them (JSON-MIN with character spans, CoNLL-2003), and entitune reads both
the export and the converter's CoNLL back with the same entities."""
from __future__ import annotations

import json

import pytest

from entitune.data import read_sentences, sentence_entities
from tests.helpers.cli import run_main


def _submitted(tasks: list[dict]) -> list[dict]:
    """What Label Studio's JSON export holds once an annotator submits each pre-annotation as it is:
    the prediction's result as the task's annotation, the task numbered."""
    out = []
    for k, task in enumerate(tasks, start=1):
        result = task["predictions"][0]["result"]
        out.append({**task, "id": k, "annotations": [{"id": 100 + k, "completed_by": 1, "result": result,
                                                      "was_cancelled": False, "ground_truth": False,
                                                      "created_at": "2024-01-01T00:00:00Z", "lead_time": 1.0}]})
    return out


def test_select_tasks_round_trip_through_label_studios_converter(tiny_tagger_dir, tmp_path):
    converter = pytest.importorskip("label_studio_converter", reason="label-studio-converter is in the test extra")
    pool = tmp_path / "pool.txt"
    pool.write_text("show me films with drew barrymore\nwhat movies star bruce willis\n"
                    "films directed by steven spielberg\nmovies from the 1980s\ndrew barrymore movies of the 1980s\n")
    out = tmp_path / "picked"
    code, _, err = run_main(["select", "--model", str(tiny_tagger_dir), "--pool", str(pool), "--n", "4",
                             "--out", str(out)])
    assert code == 0, err
    selected = [json.loads(line) for line in (out / "selected.jsonl").read_text().splitlines()]
    ours = [[(e["start"], e["end"], e["label"]) for e in line["entities"]] for line in selected]
    assert sum(map(len, ours)) >= 4, "the tiny tagger tags these sentences: the loop carries real spans"

    export = tmp_path / "export.json"
    export.write_text(json.dumps(_submitted(json.loads((out / "tasks.json").read_text())), indent=2))
    ls = converter.Converter(config=str(out / "label_config.xml"), project_dir=None)

    # JSON-MIN: Label Studio's reading of the results, character spans by task
    ls.convert(str(export), str(tmp_path / "min"), "JSON_MIN", is_dir=False)
    records = json.loads((tmp_path / "min" / "result.json").read_text())
    theirs = [sorted((r["start"], r["end"], r["labels"][0]) for r in rec.get("label", [])) for rec in records]
    assert theirs == ours

    # CoNLL-2003 as Label Studio writes it, read by entitune: the same entities, word for word
    ls.convert(str(export), str(tmp_path / "conll"), "CONLL2003", is_dir=False)
    conll = read_sentences(tmp_path / "conll" / "result.conll", "conll")
    from entitune.tags import spans_from_tags

    found = [[(" ".join(s.words[x.start:x.end]), x.label) for x in spans_from_tags(s.tags)] for s in conll]
    expected = [[(line["text"][a:b], label) for a, b, label in spans] for line, spans in zip(selected, ours)]
    assert found == expected

    # the export itself, read by entitune for training: the same character spans
    sentences = read_sentences(export)
    assert [[(e["start"], e["end"], e["label"]) for e in sentence_entities(s)[1]] for s in sentences] == ours
