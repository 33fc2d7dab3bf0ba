"""Contracts of task detection (``data/task.py``): which first lines mean ``ner`` and which
``classify`` (each JSON key on its own, indented JSON, tab or comma rows, only the first 20 rows
looked at), and each refusal word for word with its path and line, since it tells the user to pass
``--task``."""

from __future__ import annotations

import json

import pytest

from entitune.data.task import sniff_task
from entitune.errors import DataFormatError


def _file(tmp_path, content: str, name: str = "d.txt"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8"))
    return path


def _ls(*types: str) -> str:
    tasks = [
        {
            "data": {"text": "a b"},
            "annotations": [{"result": [{"type": t, "value": {}}]}],
        }
        for t in types
    ]
    return "  " + json.dumps(tasks, indent=1)


@pytest.mark.parametrize(
    "content, task",
    [
        ('{"tokens": ["a"]}\n', "ner"),
        ('{"text": "a", "entities": []}\n', "ner"),
        ('{"tags": ["O"], "words": ["a"]}\n', "ner"),
        ('  {"text": "a", "label": "pos"}\n', "classify"),
        ('{"text": "a", "labels": ["pos", "neg"]}\n', "classify"),
        ('{"text": "a b", "label": [[0, 1, "PER"]]}\n', "ner"),
        (_ls("labels"), "ner"),
        (_ls("choices", "choices"), "classify"),
        ("pos\tgreat film\nneg\tbad one\n", "classify"),
        ("pos,great film\n" * 20 + "a last row without a separator\n", "classify"),
        ("Paris\tB-LOC\nis\tO\n", "ner"),
    ],
)
def test_the_first_lines_tell_the_task(tmp_path, content, task):
    assert sniff_task(_file(tmp_path, content)) == task


@pytest.mark.parametrize(
    "content, line, why",
    [
        ("\n  \n", None, "empty file: nothing to tell the task from"),
        (
            _ls("labels", "choices"),
            1,
            "cannot tell the task of this Label Studio export from its first tasks (entity 'labels' or 'choices'); pass --task",
        ),
        (
            _ls("rating"),
            1,
            "cannot tell the task of this Label Studio export from its first tasks (entity 'labels' or 'choices'); pass --task",
        ),
        (
            '{"text": "a", "id": 3}\n',
            1,
            "cannot tell the task: a JSON line needs tokens/tags, text/entities or text/label(s); pass --task",
        ),
        (
            "{not json\n",
            1,
            "cannot tell the task: a JSON line needs tokens/tags, text/entities or text/label(s); pass --task",
        ),
        (
            "pos,great film\n" * 19 + "a row without a separator\n",
            None,
            "cannot tell the task: neither tagged words nor 'label, text' rows; pass --task",
        ),
    ],
)
def test_each_refusal_is_exactly_path_line_and_why(tmp_path, content, line, why):
    path = _file(tmp_path, content)
    with pytest.raises(DataFormatError) as info:
        sniff_task(path)
    err = info.value
    assert (err.path, err.line, err.why) == (str(path), line, why)
    assert str(err) == (f"{path}: {why}" if line is None else f"{path}:{line}: {why}")
