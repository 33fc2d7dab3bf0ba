"""Label Studio's JSON export and doccano's JSONL: spans and classes as every reader gives them, the
format and the task told from the file, and each mistake one ``DataFormatError`` at its line."""
from __future__ import annotations

import json

import pytest

from entitune.data import load_annotated, read_sentences, read_texts, sniff_format, sniff_task
from entitune.data.texts import sniff_text_format
from entitune.errors import DataFormatError


def _ls_task(text, spans=(), choices=None, cancelled=False, annotated=True, **extra):
    result = [{"type": "labels", "from_name": "label", "to_name": "text", "id": f"r{i}",
               "value": {"start": s, "end": e, "text": text[s:e], "labels": [label]}} for i, (s, e, label) in enumerate(spans)]
    if choices is not None:
        result.append({"type": "choices", "from_name": "topic", "to_name": "text", "value": {"choices": choices}})
    annotations = [{"was_cancelled": cancelled, "result": result}] if annotated else []
    return {"data": {"text": text}, "annotations": annotations, "predictions": [], **extra}


def _write(path, tasks, indent=2):
    path.write_text(json.dumps(tasks, indent=indent))
    return path


def test_labelstudio_entities_become_words_and_tags_with_the_task_line(tmp_path):
    """Each annotated task is a sentence starting at its task's line; spaces at a span's edges are
    trimmed; cancelled and unannotated tasks are skipped; predictions are never labels."""
    tasks = [
        _ls_task("Jane Doe visits Paris", [(0, 8, "PER"), (15, 21, "LOC")]),  # " Paris": a leading space
        _ls_task("skipped", annotated=False),
        _ls_task("cancelled one", [(0, 9, "X")], cancelled=True),
        {**_ls_task("Rome is far"), "predictions": [{"result": [{"type": "labels", "value": {
            "start": 0, "end": 4, "labels": ["LOC"]}}]}]},
    ]
    path = _write(tmp_path / "export.json", tasks)
    assert sniff_format(path) == "labelstudio" and sniff_task(path) == "ner"
    sentences = read_sentences(path)
    assert [s.words for s in sentences] == [("Jane", "Doe", "visits", "Paris"), ("Rome", "is", "far")]
    assert [s.tags for s in sentences] == [("B-PER", "I-PER", "O", "B-LOC"), ("O", "O", "O")]
    text = path.read_text().splitlines()
    assert text[sentences[0].line - 1].strip() == "{" and '"Rome is far"' in "".join(
        text[sentences[1].line - 1: sentences[1].line + 3])
    assert sentences[1].line > sentences[0].line
    assert load_annotated(path).sentences == sentences


def test_labelstudio_on_one_line_counts_lines_too(tmp_path):
    path = _write(tmp_path / "one.json", [_ls_task("a b", [(0, 1, "X")]), _ls_task("c d", [(2, 3, "Y")])], indent=None)
    assert [s.line for s in read_sentences(path)] == [1, 1]


@pytest.mark.parametrize("tasks, line, words", [
    ({"not": "an array"}, 1, "expected a JSON array"),
    ([_ls_task("a b c", [(0, 3, "X"), (2, 5, "Y")])], 2, "overlap"),
    ([_ls_task("ab", [(0, 9, "X")])], 2, "out of range"),
    ([_ls_task("a  b", [(1, 3, "X")])], 2, "covers only spaces"),
    ([_ls_task("ok", [(0, 2, "X")]), "text"], None, "must be a task object"),
    ([_ls_task("a b", choices=["news"])], 2, "classification export"),
    ([{"data": {"a": 1, "b": 2}, "annotations": [{"result": []}]}], 2, "no 'text' field"),
])
def test_labelstudio_errors_name_the_task_line(tmp_path, tasks, line, words):
    path = _write(tmp_path / "bad.json", tasks)
    if line is None:  # the line of the element that is not a task
        line = path.read_text().splitlines().index('  "text"') + 1
    with pytest.raises(DataFormatError) as err:
        read_sentences(path, "labelstudio")
    assert err.value.line == line and words in err.value.why, str(err.value)


def test_labelstudio_bad_json_names_its_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"data": {"text": "a"},\n   "annotations": [}\n]\n')
    with pytest.raises(DataFormatError) as err:
        read_sentences(path, "labelstudio")
    assert err.value.line == 3 and "not valid JSON" in err.value.why


def test_labelstudio_choices_are_classes(tmp_path):
    path = _write(tmp_path / "topics.json", [_ls_task("stocks fell", choices=["business"]),
                                             _ls_task("not yet", annotated=False),
                                             _ls_task("a goal and a merger", choices=["sports", "business"])])
    assert sniff_task(path) == "classify" and sniff_text_format(str(path)) == "labelstudio"
    data = read_texts(path)
    assert [(e.text, e.labels) for e in data.examples] == [("stocks fell", ("business",)),
                                                          ("a goal and a merger", ("sports", "business"))]
    assert data.multi_label and data.format == "labelstudio" and data.examples[0].line == 2


def test_doccano_both_span_shapes_and_errors(tmp_path):
    path = tmp_path / "doccano.jsonl"
    path.write_text(json.dumps({"id": 1, "text": "Jane Doe visits Paris", "label": [[0, 8, "PER"], [16, 21, "LOC"]]})
                    + "\n\n" + json.dumps({"text": "Visit Rome ", "entities": [
                        {"id": 1, "label": "LOC", "start_offset": 6, "end_offset": 11}], "relations": []}) + "\n")
    assert sniff_format(path) == "doccano" and sniff_task(path) == "ner"
    sentences = read_sentences(path)
    assert [(s.words, s.tags, s.line) for s in sentences] == [
        (("Jane", "Doe", "visits", "Paris"), ("B-PER", "I-PER", "O", "B-LOC"), 1),
        (("Visit", "Rome"), ("O", "B-LOC"), 3)]
    bad = tmp_path / "bad.jsonl"
    for line, why in ((json.dumps({"text": "ab", "label": [[0, 1]]}), "expected [start, end, label]"),
                      (json.dumps({"text": "ab", "label": ["news"]}), "classification file"),
                      (json.dumps({"text": "ab", "label": [[0, 1, "X"], [0, 2, "Y"]]}), "overlap"),
                      ("{oops", "not valid JSON")):
        bad.write_text(json.dumps({"text": "fine", "label": []}) + "\n" + line + "\n")
        with pytest.raises(DataFormatError) as err:
            read_sentences(bad, "doccano")
        assert err.value.line == 2 and why in err.value.why, str(err.value)


def test_doccano_classes(tmp_path):
    path = tmp_path / "cls.jsonl"
    path.write_text(json.dumps({"id": 1, "text": "stocks fell", "label": ["business"]}) + "\n"
                    + json.dumps({"id": 2, "text": "unlabelled", "label": []}) + "\n"
                    + json.dumps({"id": 3, "text": "a goal", "label": ["sports"]}) + "\n")
    assert sniff_task(path) == "classify" and sniff_text_format(str(path)) == "doccano"
    data = read_texts(path)
    assert [(e.text, e.labels, e.line) for e in data.examples] == [("stocks fell", ("business",), 1),
                                                                  ("a goal", ("sports",), 3)]
    assert not data.multi_label
    path.write_text(json.dumps({"text": "x", "label": [1]}) + "\n")
    with pytest.raises(DataFormatError, match=r":1: 'label' must be a list of class names"):
        read_texts(path)


def test_entitune_span_jsonl_is_still_jsonl(tmp_path):
    """A line of entitune's own JSONL (text + entities with start/end, or a label string) is not
    taken for doccano."""
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps({"text": "Visit Rome", "entities": [{"start": 6, "end": 10, "label": "LOC"}]}) + "\n")
    assert sniff_format(path) == "jsonl"
    path.write_text(json.dumps({"text": "stocks fell", "label": "business"}) + "\n")
    assert sniff_text_format(str(path)) == "jsonl" and sniff_task(path) == "classify"
