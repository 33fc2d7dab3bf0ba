"""Every refusal of the annotation-tool readers (``data/annotations.py``) is one ``DataFormatError``
naming the file, the line where the bad task starts (Label Studio) or the bad JSON line (doccano),
and the words a user sees; and the valid neighbour of each bad input is read.

The bad task is never the first: it follows a task written over several lines and a blank line (a
blank JSONL line in doccano), so a line that is counted from the wrong place, or not at all, is a
different number. Messages are compared in full (``str(error)`` is ``path:line: why``)."""

from __future__ import annotations

import json

import pytest

from entitune.data import annotations as ann
from entitune.errors import DataFormatError

#: a task every reader takes: a text and an annotation without results (no entities, no class)
GOOD_TASK = {"id": 1, "data": {"text": "fine words"}, "annotations": [{"result": []}]}
NOTE = {
    "type": "textarea",
    "value": {"text": ["a note"]},
}  # a result no reader uses: puts the bad one at k = 1


def _task(text="ab", *results, **data_extra):
    return {
        "data": {"text": text, **data_extra},
        "annotations": [{"was_cancelled": False, "result": list(results)}],
    }


def _span(start, end, label="X", kind="labels"):
    return {
        "type": kind,
        "from_name": "label",
        "to_name": "text",
        "value": {"start": start, "end": end, "labels": [label]},
    }


def _choices(*names):
    return {"type": "choices", "value": {"choices": list(names)}}


def _ls_export(tmp_path, task) -> tuple:
    """A Label Studio export whose second element is ``task``; its path and the line where it starts."""
    head = "[\n" + json.dumps(GOOD_TASK, indent=2) + ",\n\n"
    path = tmp_path / "export.json"
    path.write_text(head + json.dumps(task, indent=2) + "\n]\n", encoding="utf-8")
    return path, head.count("\n") + 1


def _doccano(tmp_path, line: str) -> tuple:
    """A doccano JSONL file whose bad ``line`` follows a good line, a blank line and a line of spaces."""
    path = tmp_path / "data.jsonl"
    path.write_text(
        json.dumps({"text": "fine words", "label": []}) + "\n\n   \n" + line + "\n",
        encoding="utf-8",
    )
    return path, 4


def _refused(reader, path, line, why):
    with pytest.raises(DataFormatError) as err:
        result = reader(path)
        list(result) if not isinstance(result, tuple) else result
    assert (err.value.path, err.value.line, err.value.why) == (str(path), line, why), (
        str(err.value)
    )
    assert str(err.value) == f"{path}:{line}: {why}"


def _ner(path):
    return list(ann.read_labelstudio(path))


def _ner_doccano(path):
    return list(ann.read_doccano(path))


# ----------------------------------------------------------------------------- Label Studio, NER

NOT_A_CLASS_FILE = "this task holds a class ('choices'), not entities: a classification export (train it with --task classify)"
BAD_RESULT = "result 1: expected value with start, end and one label in 'labels'"

LS_NER = [  # (id, bad task, its valid neighbour, why)
    (
        "not a task",
        "text",
        GOOD_TASK,
        "each element of the array must be a task object",
    ),
    (
        "not a task (a list)",
        [GOOD_TASK],
        GOOD_TASK,
        "each element of the array must be a task object",
    ),
    (
        "annotations not a list",
        {"data": {"text": "ab"}, "annotations": {"result": []}},
        {"data": {"text": "ab"}, "annotations": [{"result": []}]},
        "'annotations' must be a list",
    ),
    (
        "completions not a list",
        {"data": {"text": "ab"}, "completions": "x"},
        {"data": {"text": "ab"}, "completions": []},
        "'annotations' must be a list",
    ),
    (
        "annotation not an object",
        {"data": {"text": "ab"}, "annotations": ["x"]},
        {"data": {"text": "ab"}, "annotations": [{}]},
        "each annotation must be an object with a 'result' list",
    ),
    (
        "result not a list",
        {"data": {"text": "ab"}, "annotations": [{"result": 5}]},
        {"data": {"text": "ab"}, "annotations": [{"result": []}]},
        "an annotation's 'result' must be a list of objects",
    ),
    (
        "result holds a non-object",
        {"data": {"text": "ab"}, "annotations": [{"result": [1]}]},
        {"data": {"text": "ab"}, "annotations": [{"result": [{}]}]},
        "an annotation's 'result' must be a list of objects",
    ),
    (
        "no data",
        {"annotations": [{"result": []}]},
        {"data": {"text": "ab"}, "annotations": [{"result": []}]},
        'task without a \'data\' object (expected {"data": {"text": ...}})',
    ),
    (
        "data not an object",
        {"data": "ab", "annotations": [{"result": []}]},
        {"data": {"text": "ab"}, "annotations": [{"result": []}]},
        'task without a \'data\' object (expected {"data": {"text": ...}})',
    ),
    ("text not a string", _task(5), _task("5"), "'text' must be a string"),
    ("text null", _task(None), _task(""), "'text' must be a string"),
    (
        "no text, two strings",
        {"data": {"title": "x", "body": "y"}, "annotations": [{"result": []}]},
        {"data": {"n": 1, "body": "y"}, "annotations": [{"result": []}]},
        "task data has no 'text' field (and not exactly one string to take instead)",
    ),
    (
        "no text, no string",
        {"data": {"n": 1}, "annotations": [{"result": []}]},
        {"data": {"n": 1, "body": "y"}, "annotations": [{"result": []}]},
        "task data has no 'text' field (and not exactly one string to take instead)",
    ),
    (
        "a class in an NER export",
        _task("ab", _choices("news")),
        _task("ab", NOTE),
        NOT_A_CLASS_FILE,
    ),
    (
        "a class after an entity",
        _task("ab", _span(0, 1), _choices("news")),
        _task("ab", _span(0, 1)),
        NOT_A_CLASS_FILE,
    ),
    (
        "value null",
        _task("ab", NOTE, {"type": "labels", "value": None}),
        _task("ab", NOTE, _span(0, 1)),
        BAD_RESULT,
    ),
    (
        "value a string",
        _task("ab", NOTE, {"type": "labels", "value": "X"}),
        _task("ab", NOTE, _span(0, 1)),
        BAD_RESULT,
    ),
    (
        "labels missing",
        _task("ab", NOTE, {"type": "labels", "value": {"start": 0, "end": 1}}),
        _task("ab", NOTE, _span(0, 1)),
        BAD_RESULT,
    ),
    (
        "labels a string",
        _task(
            "ab",
            NOTE,
            {"type": "labels", "value": {"start": 0, "end": 1, "labels": "X"}},
        ),
        _task("ab", NOTE, _span(0, 1)),
        BAD_RESULT,
    ),
    (
        "two labels",
        _task(
            "ab",
            NOTE,
            {"type": "labels", "value": {"start": 0, "end": 1, "labels": ["X", "Y"]}},
        ),
        _task("ab", NOTE, _span(0, 1, "X")),
        BAD_RESULT,
    ),
    (
        "no label",
        _task(
            "ab",
            NOTE,
            {"type": "labels", "value": {"start": 0, "end": 1, "labels": []}},
        ),
        _task("ab", NOTE, _span(0, 1, "X")),
        BAD_RESULT,
    ),
    (
        "hypertext labels checked too",
        _task("ab", NOTE, {"type": "hypertextlabels", "value": {"start": 0, "end": 1}}),
        _task("ab", NOTE, _span(0, 1, kind="hypertextlabels")),
        BAD_RESULT,
    ),
    (
        "start a string",
        _task("ab", NOTE, _span("0", 2)),
        _task("ab", NOTE, _span(0, 2)),
        "entity 1: start and end must be integers, found '0', 2",
    ),
    (
        "end a float",
        _task("ab", NOTE, _span(0, 2.0)),
        _task("ab", NOTE, _span(0, 2)),
        "entity 1: start and end must be integers, found 0, 2.0",
    ),
    (
        "start a bool",
        _task("ab", NOTE, _span(True, 2)),
        _task("ab", NOTE, _span(1, 2)),
        "entity 1: start and end must be integers, found True, 2",
    ),
    (
        "start missing",
        _task("ab", NOTE, {"type": "labels", "value": {"end": 2, "labels": ["X"]}}),
        _task("ab", NOTE, _span(0, 2)),
        "entity 1: start and end must be integers, found None, 2",
    ),
    (
        "long start shortened",
        _task("ab", NOTE, _span("9" * 100, 2)),
        _task("ab", NOTE, _span(0, 2)),
        "entity 1: start and end must be integers, found '"
        + "9" * 58
        + "… (102 characters), 2",
    ),
    (
        "empty label",
        _task("ab", NOTE, _span(0, 2, "")),
        _task("ab", NOTE, _span(0, 2, "Y")),
        "entity 1: label must be a non-empty string without spaces, found ''",
    ),
    (
        "blank label",
        _task("ab", NOTE, _span(0, 2, "  ")),
        _task("ab", NOTE, _span(0, 2, "Y")),
        "entity 1: label must be a non-empty string without spaces, found '  '",
    ),
    (
        "label with a space",
        _task("ab", NOTE, _span(0, 2, "NEW YORK")),
        _task("ab", NOTE, _span(0, 2, "NEW_YORK")),
        "entity 1: label must be a non-empty string without spaces, found 'NEW YORK'",
    ),
    (
        "label with a tab at its end",
        _task("ab", NOTE, _span(0, 2, "LOC\t")),
        _task("ab", NOTE, _span(0, 2, "LOC")),
        "entity 1: label must be a non-empty string without spaces, found 'LOC\\t'",
    ),
    (
        "label a number",
        _task("ab", NOTE, _span(0, 2, 7)),
        _task("ab", NOTE, _span(0, 2, "7")),
        "entity 1: label must be a non-empty string without spaces, found 7",
    ),
    (
        "end past the text",
        _task("ab", NOTE, _span(0, 3)),
        _task("ab", NOTE, _span(0, 2)),
        "entity 1 [0, 3) is out of range for a text of 2 characters",
    ),
    (
        "negative start",
        _task("ab", NOTE, _span(-1, 1)),
        _task("ab", NOTE, _span(0, 1)),
        "entity 1 [-1, 1) is out of range for a text of 2 characters",
    ),
    (
        "empty span",
        _task("ab", NOTE, _span(1, 1)),
        _task("ab", NOTE, _span(1, 2)),
        "entity 1 [1, 1) is out of range for a text of 2 characters",
    ),
    (
        "end before start",
        _task("ab", NOTE, _span(2, 1)),
        _task("ab", NOTE, _span(1, 2)),
        "entity 1 [2, 1) is out of range for a text of 2 characters",
    ),
    (
        "multi-byte text counts characters",
        _task("東京", NOTE, _span(0, 3)),
        _task("東京", NOTE, _span(0, 2)),
        "entity 1 [0, 3) is out of range for a text of 2 characters",
    ),
    (
        "spaces only",
        _task("a  b", NOTE, _span(1, 3)),
        _task("a  b", NOTE, _span(1, 4)),
        "entity 1 covers only spaces",
    ),
    (
        "spaces only at the end",
        _task("a  ", NOTE, _span(1, 3)),
        _task("a  ", NOTE, _span(0, 3)),
        "entity 1 covers only spaces",
    ),
    (
        "spaces only at the start",
        _task(" \nb", NOTE, _span(0, 2)),
        _task(" \nb", NOTE, _span(0, 3)),
        "entity 1 covers only spaces",
    ),
    (
        "overlap",
        _task("abc de", _span(0, 3, "X"), _span(2, 6, "Y")),
        _task("abc de", _span(0, 3, "X"), _span(4, 6, "Y")),
        "entities [0, 3) and [2, 6) overlap",
    ),
    (
        "overlap, listed in any order",
        _task("abc de", _span(2, 6, "Y"), _span(0, 3, "X")),
        _task("abc de", _span(4, 6, "Y"), _span(0, 3, "X")),
        "entities [0, 3) and [2, 6) overlap",
    ),
    (
        "overlap of trimmed spans",
        _task("ab c", _span(0, 3, "X"), _span(1, 4, "Y")),
        _task("a b", _span(0, 2, "X"), _span(1, 3, "Y")),
        "entities [0, 2) and [1, 4) overlap",
    ),
    (
        "same span twice",
        _task("ab", _span(0, 2, "X"), _span(0, 2, "X")),
        _task("ab", _span(0, 2, "X")),
        "entities [0, 2) and [0, 2) overlap",
    ),
]


@pytest.mark.parametrize(
    "bad, good, why", [c[1:] for c in LS_NER], ids=[c[0] for c in LS_NER]
)
def test_labelstudio_ner_refusals_name_the_task_line(tmp_path, bad, good, why):
    path, line = _ls_export(tmp_path, bad)
    _refused(_ner, path, line, why)
    path, _ = _ls_export(tmp_path, good)
    assert _ner(path)[0].words == ("fine", "words")


def test_the_result_index_is_the_results_own_position(tmp_path):
    """``result k`` / ``entity k``: k counts every result of the annotation (notes included)."""
    path, line = _ls_export(
        tmp_path, _task("ab", _span(0, 1), NOTE, NOTE, {"type": "labels", "value": {}})
    )
    _refused(
        _ner,
        path,
        line,
        "result 3: expected value with start, end and one label in 'labels'",
    )
    path, line = _ls_export(tmp_path, _task("ab", _span(0, 1), _span(1, 1)))
    _refused(
        _ner, path, line, "entity 1 [1, 1) is out of range for a text of 2 characters"
    )
    path, line = _ls_export(tmp_path, _task("ab", _span(0, 3)))
    _refused(
        _ner, path, line, "entity 0 [0, 3) is out of range for a text of 2 characters"
    )


# ----------------------------------------------------------------------------- Label Studio, classes

NOT_AN_NER_FILE = "this task holds entities ('labels'), not a class: an NER export (train it with --task ner)"
BAD_CHOICES = "result 1: 'choices' must be a list of non-empty strings"

LS_CLASSES = [
    (
        "entities in a class export",
        _task("ab", _span(0, 1)),
        _task("ab", _choices("news")),
        NOT_AN_NER_FILE,
    ),
    (
        "hypertext entities",
        _task("ab", _span(0, 1, kind="hypertextlabels")),
        _task("ab", _choices("news")),
        NOT_AN_NER_FILE,
    ),
    (
        "entities after a class",
        _task("ab", _choices("news"), _span(0, 1)),
        _task("ab", _choices("news"), NOTE),
        NOT_AN_NER_FILE,
    ),
    (
        "choices empty",
        _task("ab", NOTE, _choices()),
        _task("ab", NOTE, _choices("news")),
        BAD_CHOICES,
    ),
    (
        "choices a string",
        _task("ab", NOTE, {"type": "choices", "value": {"choices": "news"}}),
        _task("ab", NOTE, _choices("news")),
        BAD_CHOICES,
    ),
    (
        "choices missing",
        _task("ab", NOTE, {"type": "choices", "value": {}}),
        _task("ab", NOTE, _choices("news")),
        BAD_CHOICES,
    ),
    (
        "value null",
        _task("ab", NOTE, {"type": "choices", "value": None}),
        _task("ab", NOTE, _choices("news")),
        BAD_CHOICES,
    ),
    (
        "value a string",
        _task("ab", NOTE, {"type": "choices", "value": "news"}),
        _task("ab", NOTE, _choices("news")),
        BAD_CHOICES,
    ),
    (
        "value a list",
        _task("ab", NOTE, {"type": "choices", "value": ["news"]}),
        _task("ab", NOTE, _choices("news")),
        BAD_CHOICES,
    ),
    (
        "a blank choice",
        _task("ab", NOTE, _choices("news", "  ")),
        _task("ab", NOTE, _choices("news", " x ")),
        BAD_CHOICES,
    ),
    (
        "an empty choice",
        _task("ab", NOTE, _choices("")),
        _task("ab", NOTE, _choices("x")),
        BAD_CHOICES,
    ),
    (
        "a number",
        _task("ab", NOTE, _choices("news", 3)),
        _task("ab", NOTE, _choices("news", "3")),
        BAD_CHOICES,
    ),
    (
        "empty text",
        _task("", _choices("news")),
        _task("a", _choices("news")),
        "empty text",
    ),
    (
        "blank text",
        _task(" \n\t", _choices("news")),
        _task(" a ", _choices("news")),
        "empty text",
    ),
    ("blank text without a class", _task("  "), _task(" a "), "empty text"),
    (
        "text not a string",
        _task(["ab"], _choices("news")),
        _task("ab", _choices("news")),
        "'text' must be a string",
    ),
    ("not a task", 3, GOOD_TASK, "each element of the array must be a task object"),
    (
        "annotations not a list",
        {"data": {"text": "ab"}, "annotations": "x"},
        {"data": {"text": "ab"}},
        "'annotations' must be a list",
    ),
    (
        "no data",
        {"annotations": [{"result": [_choices("news")]}]},
        {"data": {"text": "ab"}, "annotations": [{"result": [_choices("news")]}]},
        'task without a \'data\' object (expected {"data": {"text": ...}})',
    ),
]


@pytest.mark.parametrize(
    "bad, good, why", [c[1:] for c in LS_CLASSES], ids=[c[0] for c in LS_CLASSES]
)
def test_labelstudio_class_refusals_name_the_task_line(tmp_path, bad, good, why):
    path, line = _ls_export(tmp_path, bad)
    _refused(ann.read_labelstudio_texts, path, line, why)
    path, _ = _ls_export(tmp_path, good)
    ann.read_labelstudio_texts(path)


# ----------------------------------------------------------------------------- Label Studio, the file


def _bad_file(tmp_path, content: str | bytes):
    path = tmp_path / "export.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


NOT_AN_ARRAY = (
    "expected a JSON array of tasks ('[' first), as Label Studio's JSON export writes"
)
TASK = json.dumps({"data": {"text": "a b"}, "annotations": [{"result": []}]})

LS_FILES = [  # (id, content, line, why); the valid neighbour of each is in LS_FILES_READ
    ("an object", '{"data": {}}', 1, NOT_AN_ARRAY),
    ("an object after blank lines", '\n \n\t{"data": {}}', 3, NOT_AN_ARRAY),
    ("an array after a letter", "x[]", 1, NOT_AN_ARRAY),
    ("an array after a letter on line 2", "\nX[]", 2, NOT_AN_ARRAY),
    ("empty", "", 1, NOT_AN_ARRAY),
    ("spaces only", "\n\n  ", 3, NOT_AN_ARRAY),
    (
        "bad JSON in a task",
        '[\n  {"data": {"text": "a"},\n   "annotations": [}\n]\n',
        3,
        "not valid JSON (Expecting value at column 20)",
    ),
    (
        "bad JSON on the first line",
        "[{]",
        1,
        "not valid JSON (Expecting property name enclosed in double quotes at column 3)",
    ),
    ("an unclosed array", "[", 1, "not valid JSON (Expecting value at column 2)"),
    (
        "an unclosed array after a task",
        "[\n" + TASK,
        2,
        "expected ',' or ']' after a task",
    ),
    (
        "a comma and nothing",
        "[\n" + TASK + ",\n\n",
        4,
        "not valid JSON (Expecting value at column 1)",
    ),
    (
        "a letter after the tasks",
        "[" + TASK + "]x",
        1,
        "unexpected data after the array of tasks",
    ),
    (
        "a letter after an empty array",
        "[]x",
        1,
        "unexpected data after the array of tasks",
    ),
    ("a second array", "[]\n\n[]", 3, "unexpected data after the array of tasks"),
    (
        "data after the array, lines before and after it",
        "\n[]\n\nx\n\n",
        4,
        "unexpected data after the array of tasks",
    ),
    (
        "no comma, lines before the array",
        "\n[\n" + TASK + "\n\n  " + TASK + "\n]\n\n",
        5,
        "expected ',' or ']' after a task",
    ),
    (
        "a bracket after the tasks",
        "[\n" + TASK + "\n]\n]",
        4,
        "unexpected data after the array of tasks",
    ),
    (
        "no comma",
        "[\n" + TASK + "\n\n  " + TASK + "\n]",
        4,
        "expected ',' or ']' after a task",
    ),
    (
        "a colon for a comma",
        "[" + TASK + ":" + TASK + "]",
        1,
        "expected ',' or ']' after a task",
    ),
    (
        "a letter before a task",
        "[\n\nx" + TASK + "]",
        3,
        "not valid JSON (Expecting value at column 1)",
    ),
]

LS_FILES_READ = [  # (content, words of the sentences read)
    ("[]", []),
    ("\n \n\t[ ]\n\n", []),
    ("[\n" + TASK + "\n]", [("a", "b")]),
    ("[" + TASK + "," + TASK + "]", [("a", "b"), ("a", "b")]),
    ("[\n" + TASK + ",\n\n  " + TASK + "\n]\n\n", [("a", "b"), ("a", "b")]),
]


@pytest.mark.parametrize(
    "content, line, why", [c[1:] for c in LS_FILES], ids=[c[0] for c in LS_FILES]
)
def test_labelstudio_file_refusals_name_their_line(tmp_path, content, line, why):
    path = _bad_file(tmp_path, content)
    _refused(_ner, path, line, why)
    _refused(ann.read_labelstudio_texts, path, line, why)


@pytest.mark.parametrize("content, words", LS_FILES_READ)
def test_labelstudio_files_that_are_arrays_of_tasks_are_read(tmp_path, content, words):
    assert [s.words for s in _ner(_bad_file(tmp_path, content))] == words


def test_invalid_utf8_names_its_line(tmp_path):
    """A byte that is not UTF-8 is reported at its own line (the newlines before it, plus one), not
    at the task's or the file's last line."""
    content = b'\n[\n  {"data": {"text": "caf\xe9"},\n   "annotations": []}\n]\n'
    _refused(
        _ner, _bad_file(tmp_path, content), 3, "not valid UTF-8; save the file as UTF-8"
    )
    _refused(
        _ner,
        _bad_file(tmp_path, b"[\xff]"),
        1,
        "not valid UTF-8; save the file as UTF-8",
    )
    _refused(
        _ner,
        _bad_file(tmp_path, b'[\n\n\n\n  "\xc3"\n]\n\n\n'),
        5,
        "not valid UTF-8; save the file as UTF-8",
    )
    good = content.replace(b"\xe9", "é".encode())
    assert _ner(_bad_file(tmp_path, good)) == []  # not annotated: skipped, but read


def test_a_lone_surrogate_is_refused_at_its_task(tmp_path):
    path, line = _ls_export(tmp_path, _task("a\ud800b"))
    why = (
        "a JSON string contains a lone surrogate (U+D800) at character 1: not a Unicode character "
        "(a \\uD800-\\uDFFF escape without its pair)"
    )
    _refused(_ner, path, line, why)
    path, _ = _ls_export(tmp_path, _task("a\U0001f600b"))  # a pair: one character
    assert _ner(path)[1].text == "a\U0001f600b"


def test_nesting_too_deep_is_refused_at_its_task(tmp_path):
    path = _bad_file(
        tmp_path, "[\n" + TASK + ",\n\n" + "[" * 100_000 + "]" * 100_000 + "\n]"
    )
    _refused(_ner, path, 4, "not valid JSON (nested too deeply)")


def test_a_check_of_a_task_that_nests_too_deep_is_refused_at_its_task(
    tmp_path, monkeypatch
):
    """The per-task checks (lone surrogates) run on a task JSON could decode; if they exceed the
    recursion limit it is the same error at the same line."""

    def deep(*_):
        raise RecursionError

    monkeypatch.setattr(ann, "json_line", deep)
    path, line = _ls_export(tmp_path, GOOD_TASK)
    _refused(_ner, path, 2, "not valid JSON (nested too deeply)")
    assert line > 2


# ----------------------------------------------------------------------------- doccano

CLASS_NAMES_IN_NER = (
    "'label' holds class names, not [start, end, label] spans: a classification file "
    "(train it with --task classify)"
)

DOCCANO_NER = [  # (id, bad line, its valid neighbour, why)
    (
        "not JSON",
        "{oops",
        '{"text": "oops"}',
        "not valid JSON (Expecting property name enclosed in double quotes)",
    ),
    (
        "cut JSON",
        '{"text": "ab"',
        '{"text": "ab"}',
        "not valid JSON (Expecting ',' delimiter)",
    ),
    (
        "nested too deeply",
        "[" * 100_000 + "]" * 100_000,
        '{"text": "' + "[" * 1000 + '"}',
        "not valid JSON (nested too deeply)",
    ),
    (
        "an array",
        '["ab"]',
        '{"text": "ab"}',
        "expected a JSON object with 'text' and 'label'",
    ),
    (
        "a string",
        '"ab"',
        '{"text": "ab"}',
        "expected a JSON object with 'text' and 'label'",
    ),
    (
        "no text",
        '{"label": []}',
        '{"text": "", "label": []}',
        "'text' must be a string",
    ),
    ("text a number", '{"text": 5}', '{"text": "5"}', "'text' must be a string"),
    (
        "entities an object",
        '{"text": "ab", "entities": {}}',
        '{"text": "ab", "entities": []}',
        "'entities' must be a list of {start_offset, end_offset, label}",
    ),
    (
        "entities a number",
        '{"text": "ab", "entities": 5}',
        '{"text": "ab", "entities": []}',
        "'entities' must be a list of {start_offset, end_offset, label}",
    ),
    (
        "entities a string",
        '{"text": "ab", "entities": "x"}',
        '{"text": "ab", "entities": []}',
        "'entities' must be a list of {start_offset, end_offset, label}",
    ),
    (
        "an entity not an object",
        '{"text": "ab", "entities": [[0, 1, "X"]]}',
        '{"text": "ab", "entities": [{"start_offset": 0, "end_offset": 1, "label": "X"}]}',
        "'entities' must be a list of {start_offset, end_offset, label}",
    ),
    (
        "entity offsets missing",
        (
            '{"text": "ab", "entities": [{"start_offset": 0, "end_offset": 1, "label": "X"}, '
            '{"start": 1, "end": 2, "label": "X"}]}'
        ),
        '{"text": "ab", "entities": [{"start_offset": 0, "end_offset": 1, "label": "X"}]}',
        "entity 1: start and end must be integers, found None, None",
    ),
    (
        "entity label missing",
        '{"text": "ab", "entities": [{"start_offset": 0, "end_offset": 1}]}',
        '{"text": "ab", "entities": [{"start_offset": 0, "end_offset": 1, "label": "X"}]}',
        "entity 0: label must be a non-empty string without spaces, found None",
    ),
    (
        "entity out of range",
        (
            '{"text": "ab", "entities": [{"start_offset": 1, "end_offset": 2, "label": "X"}, '
            '{"start_offset": 0, "end_offset": 3, "label": "Y"}]}'
        ),
        '{"text": "ab", "entities": [{"start_offset": 1, "end_offset": 2, "label": "X"}]}',
        "entity 1 [0, 3) is out of range for a text of 2 characters",
    ),
    (
        "entities overlap",
        (
            '{"text": "abc", "entities": [{"start_offset": 1, "end_offset": 3, "label": "X"}, '
            '{"start_offset": 0, "end_offset": 2, "label": "Y"}]}'
        ),
        (
            '{"text": "abc", "entities": [{"start_offset": 2, "end_offset": 3, "label": "X"}, '
            '{"start_offset": 0, "end_offset": 2, "label": "Y"}]}'
        ),
        "entities [0, 2) and [1, 3) overlap",
    ),
    (
        "label a string",
        '{"text": "ab", "label": "X"}',
        '{"text": "ab", "label": []}',
        "'label' must be a list of [start, end, label] triples",
    ),
    (
        "label an object",
        '{"text": "ab", "label": {"0": "X"}}',
        '{"text": "ab", "label": [[0, 1, "X"]]}',
        "'label' must be a list of [start, end, label] triples",
    ),
    (
        "labels a string",
        '{"text": "ab", "labels": "X"}',
        '{"text": "ab", "labels": [[0, 1, "X"]]}',
        "'label' must be a list of [start, end, label] triples",
    ),
    (
        "class names",
        '{"text": "ab", "label": ["news"]}',
        '{"text": "ab", "label": [[0, 2, "news"]]}',
        CLASS_NAMES_IN_NER,
    ),
    (
        "a class name after a span",
        '{"text": "ab", "label": [[0, 1, "X"], "news"]}',
        '{"text": "ab", "label": [[0, 1, "X"]]}',
        CLASS_NAMES_IN_NER,
    ),
    (
        "class names under labels",
        '{"text": "ab", "labels": ["news"]}',
        '{"text": "ab", "labels": []}',
        CLASS_NAMES_IN_NER,
    ),
    (
        "a pair",
        '{"text": "ab", "label": [[0, 1]]}',
        '{"text": "ab", "label": [[0, 1, "X"]]}',
        "label 0: expected [start, end, label]",
    ),
    (
        "a quadruple",
        '{"text": "ab", "label": [[0, 1, "X"], [1, 2, "Y", 1]]}',
        '{"text": "ab", "label": [[0, 1, "X"], [1, 2, "Y"]]}',
        "label 1: expected [start, end, label]",
    ),
    (
        "an object for a triple",
        '{"text": "ab", "label": [{"start": 0}]}',
        '{"text": "ab", "label": []}',
        "label 0: expected [start, end, label]",
    ),
    (
        "start a string",
        '{"text": "ab", "label": [[0, 1, "X"], ["1", 2, "Y"]]}',
        '{"text": "ab", "label": [[0, 1, "X"], [1, 2, "Y"]]}',
        "entity 1: start and end must be integers, found '1', 2",
    ),
    (
        "end a string",
        '{"text": "ab", "label": [[0, "1", "X"]]}',
        '{"text": "ab", "label": [[0, 1, "X"]]}',
        "entity 0: start and end must be integers, found 0, '1'",
    ),
    (
        "label with spaces",
        '{"text": "ab", "label": [[0, 1, "X"], [1, 2, "A B"]]}',
        '{"text": "ab", "label": [[0, 1, "X"], [1, 2, "A-B"]]}',
        "entity 1: label must be a non-empty string without spaces, found 'A B'",
    ),
    (
        "span of spaces",
        '{"text": "a   b", "label": [[1, 4, "X"]]}',
        '{"text": "a   b", "label": [[1, 5, "X"]]}',
        "entity 0 covers only spaces",
    ),
    (
        "overlap",
        '{"text": "abcd", "label": [[0, 3, "X"], [2, 4, "Y"]]}',
        '{"text": "abcd", "label": [[0, 2, "X"], [2, 4, "Y"]]}',
        "entities [0, 3) and [2, 4) overlap",
    ),
    (
        "lone surrogate",
        '{"text": "a\\udc00", "label": []}',
        '{"text": "a\\ud83d\\ude00", "label": []}',
        (
            "a JSON string contains a lone surrogate (U+DC00) at character 1: not a Unicode character "
            "(a \\uD800-\\uDFFF escape without its pair)"
        ),
    ),
]


@pytest.mark.parametrize(
    "bad, good, why", [c[1:] for c in DOCCANO_NER], ids=[c[0] for c in DOCCANO_NER]
)
def test_doccano_ner_refusals_name_their_line(tmp_path, bad, good, why):
    path, line = _doccano(tmp_path, bad)
    _refused(_ner_doccano, path, line, why)
    path, _ = _doccano(tmp_path, good)
    assert _ner_doccano(path)[0].words == ("fine", "words")


BAD_CLASS_NAMES = "'label' must be a list of class names (non-empty strings)"

DOCCANO_CLASSES = [
    (
        "not JSON",
        "{oops",
        '{"text": "oops", "label": []}',
        "not valid JSON (Expecting property name enclosed in double quotes)",
    ),
    (
        "nested too deeply",
        '{"text": "a", "label": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"text": "a", "label": ["[[[["]}',
        "not valid JSON (nested too deeply)",
    ),
    (
        "an array",
        '["ab", "news"]',
        '{"text": "ab", "label": ["news"]}',
        "expected a JSON object with 'text' and 'label'",
    ),
    (
        "a number",
        "7",
        '{"text": "7", "label": []}',
        "expected a JSON object with 'text' and 'label'",
    ),
    (
        "no text",
        '{"label": ["news"]}',
        '{"text": "x", "label": ["news"]}',
        "'text' must be a string",
    ),
    (
        "text null",
        '{"text": null, "label": ["news"]}',
        '{"text": "null", "label": ["news"]}',
        "'text' must be a string",
    ),
    (
        "empty text",
        '{"text": "", "label": ["news"]}',
        '{"text": ".", "label": ["news"]}',
        "empty text",
    ),
    (
        "blank text",
        '{"text": " \\t\\n ", "label": ["news"]}',
        '{"text": " x ", "label": ["news"]}',
        "empty text",
    ),
    (
        "blank text, no label",
        '{"text": "  "}',
        '{"text": " x ", "label": []}',
        "empty text",
    ),
    ("no label", '{"text": "ab"}', '{"text": "ab", "label": []}', BAD_CLASS_NAMES),
    (
        "a number label",
        '{"text": "ab", "label": [1]}',
        '{"text": "ab", "label": ["1"]}',
        BAD_CLASS_NAMES,
    ),
    (
        "a blank label",
        '{"text": "ab", "label": ["a", " "]}',
        '{"text": "ab", "label": ["a", " b "]}',
        BAD_CLASS_NAMES,
    ),
    (
        "an empty label string",
        '{"text": "ab", "label": ""}',
        '{"text": "ab", "label": "a"}',
        BAD_CLASS_NAMES,
    ),
    (
        "an object",
        '{"text": "ab", "label": {"a": 1}}',
        '{"text": "ab", "label": ["a"]}',
        BAD_CLASS_NAMES,
    ),
    (
        "a span",
        '{"text": "ab", "label": [[0, 1, "X"]]}',
        '{"text": "ab", "label": ["X"]}',
        BAD_CLASS_NAMES,
    ),
    (
        "labels a number",
        '{"text": "ab", "labels": 3}',
        '{"text": "ab", "labels": "3"}',
        BAD_CLASS_NAMES,
    ),
    (
        "cats a number",
        '{"text": "ab", "cats": 3}',
        '{"text": "ab", "cats": "3"}',
        BAD_CLASS_NAMES,
    ),
]


@pytest.mark.parametrize(
    "bad, good, why",
    [c[1:] for c in DOCCANO_CLASSES],
    ids=[c[0] for c in DOCCANO_CLASSES],
)
def test_doccano_class_refusals_name_their_line(tmp_path, bad, good, why):
    path, line = _doccano(tmp_path, bad)
    _refused(ann.read_doccano_texts, path, line, why)
    path, _ = _doccano(tmp_path, good)
    ann.read_doccano_texts(path)


def test_doccano_invalid_utf8_names_its_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(
        b'{"text": "ok", "label": []}\n\n{"text": "caf\xe9", "label": []}\n{"text": "x", "label": []}\n'
    )
    with pytest.raises(DataFormatError) as err:
        list(ann.read_doccano(path))
    assert (err.value.path, err.value.line) == (
        str(path),
        3,
    ) and err.value.why.startswith("not valid UTF-8")
