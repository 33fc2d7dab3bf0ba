"""Refusals of the labelled-text reader (``data/texts.py``), word for word: each bad file is one
``DataFormatError`` whose text is exactly ``path:line: why`` (the path, the line and the words are
what a user reads) and its valid neighbour is read. Also the header rules these refusals sit next
to: a header found only through a column named in ``text_columns``, a column name made of a letter
and digits, the text names that count (``title`` is not one of them), and quoted CRLF kept as written."""

from __future__ import annotations

import json

import pytest

from entitune.data import read_texts, sniff_text_format
from entitune.errors import ConfigError, DataFormatError


def _write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _refusal(path, **kwargs) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        read_texts(path, **kwargs)
    return info.value


def _read(path, **kwargs) -> list[tuple[str, tuple[str, ...], int]]:
    return [(e.text, e.labels, e.line) for e in read_texts(path, **kwargs).examples]


#: (file name, content, read_texts arguments, line, why)
REFUSALS = [
    (
        "d.csv",
        "label,text\n",
        {},
        None,
        "no texts found: only blank lines, or a header row with no rows under it",
    ),
    (
        "d.jsonl",
        "\n  \n",
        {"format": "jsonl"},
        None,
        "no texts found: only blank lines",
    ),
    ("d.csv", "\n \n", {}, None, "empty file: no texts found"),
    (
        "d.csv",
        b"pos,ok\n\xe9t\xe9,x\n",
        {},
        2,
        "not valid UTF-8 (byte 0xE9 at byte 1 of the line); save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8, naming its encoding)",
    ),
    (
        "d.csv",
        b"\n\xe9,x\n",
        {},
        2,
        "not valid UTF-8 (byte 0xE9 at byte 1 of the line); save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8, naming its encoding)",
    ),
    (
        "d.csv",
        b"pos,ok\nneg,b\xe9\n",
        {},
        2,
        "not valid UTF-8 (byte 0xE9 at byte 6 of the line); save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8, naming its encoding)",
    ),
    (
        "d.csv",
        "label,text\npos,a\n",
        {"text_columns": ["body"]},
        1,
        "text column 'body' is not a column name (label, text)",
    ),
    (
        "d.csv",
        "pos,a\n",
        {"label_column": "label"},
        1,
        "label column 'label' is not a column name (no header row)",
    ),
    (
        "d.csv",
        "pos,a\n",
        {"label_column": 2},
        1,
        "label column 2 is out of range: the rows have 2 fields",
    ),
    (
        "d.csv",
        "pos,a\n",
        {"text_columns": [-3]},
        1,
        "text column -3 is out of range: the rows have 2 fields",
    ),
    (
        "d.csv",
        'pos,a\nneg,"never closed\n',
        {},
        2,
        "unbalanced quotes: a quoted field on this row is never closed",
    ),
    (
        "d.csv",
        'pos,a\nneg,"b"c\n',
        {},
        2,
        "unbalanced quotes: a quoted field on this row closes in the middle of a field (',' expected after '\"')",
    ),
    (
        "d.csv",
        "pos,a\nneg," + "b" * 131_073 + "\n",
        {},
        2,
        "not valid CSV (field larger than field limit (131072))",
    ),
    (
        "d.tsv",
        "pos\ta\nneg\t" + "b" * 131_073 + "\n",
        {},
        2,
        "not valid TSV (field larger than field limit (131072))",
    ),
    (
        "d.csv",
        "\nonly one field\n",
        {},
        2,
        "expected a label and a text separated by a comma, found one field",
    ),
    (
        "d.tsv",
        "a\tb\n",
        {"format": "tsv", "text_columns": [1], "label_column": 0},
        None,
        None,
    ),  # the valid neighbour
    ("d.csv", "label,text\npos,a\nneg,b,c\n", {}, 3, "has 3 fields, the header has 2"),
    (
        "d.csv",
        "pos,a\nneg\n",
        {"format": "csv"},
        2,
        "has 1 fields, the first row has 2",
    ),
    ("d.csv", "pos,a\n ,b\n", {}, 2, "missing label"),
    ("d.csv", "pos,a\nneg, \n", {}, 2, "empty text"),
]


@pytest.mark.parametrize(
    "name, content, kwargs, line, why",
    REFUSALS,
    ids=[f"{r[0]}-{r[4]}"[:50] for r in REFUSALS],
)
def test_each_delimited_refusal_is_exactly_path_line_and_why(
    tmp_path, name, content, kwargs, line, why
):
    path = _write(tmp_path, name, content)
    if why is None:
        assert _read(path, **kwargs) == [("b", ("a",), 1)]
        return
    err = _refusal(path, **kwargs)
    assert (err.path, err.line, err.why) == (str(path), line, why)
    assert str(err) == (
        f"{path}:{line}: {why}" if line is not None else f"{path}: {why}"
    )


GOOD = json.dumps({"text": "ok", "label": "x"})

JSONL_REFUSALS = [
    (
        '{"text": "a", "label": "x"',
        "not valid JSON (Expecting ',' delimiter at column 27)",
    ),
    ('["a", "x"]', 'expected an object like {"text": "...", "label": "..."}'),
    ('{"text": 3, "label": "x"}', "'text' must be a string"),
    ('{"text": " \\n", "label": "x"}', "empty text"),
    (
        '{"text": "a", "label": "x", "labels": ["x"]}',
        "give exactly one of 'label' (a string) or 'labels' (a list of strings)",
    ),
    (
        '{"text": "a"}',
        "give exactly one of 'label' (a string) or 'labels' (a list of strings)",
    ),
    (
        '{"text": "a", "labels": ["x"]}',
        "mixes 'label' and 'labels' lines; use one of them in the whole file",
    ),
    (
        '{"text": "a", "label": " "}',
        "missing label ('label' must be a non-empty string)",
    ),
    (
        '{"text": "a\\udc00", "label": "x"}',
        "a JSON string contains a lone surrogate (U+DC00) at character 1: not a Unicode character (a \\uD800-\\uDFFF escape without its pair)",
    ),
]


@pytest.mark.parametrize(
    "bad, why", JSONL_REFUSALS, ids=[w[:40] for _, w in JSONL_REFUSALS]
)
def test_each_jsonl_refusal_is_exactly_path_line_and_why(tmp_path, bad, why):
    """Each bad line comes after a good one and a blank line: it is line 3."""
    path = _write(tmp_path, "d.jsonl", f"{GOOD}\n\n{bad}\n")
    err = _refusal(path)
    assert (err.path, err.line, err.why) == (str(path), 3, why)
    assert str(err) == f"{path}:3: {why}"


def test_a_multi_label_file_names_its_own_refusal(tmp_path):
    path = _write(
        tmp_path,
        "d.jsonl",
        '{"text": "ok", "labels": ["x"]}\n{"text": "a", "labels": "x"}\n',
    )
    err = _refusal(path)
    assert str(err) == f"{path}:2: 'labels' must be a list of non-empty strings"


def test_an_unknown_format_is_refused_by_its_option_name(tmp_path):
    path = _write(tmp_path, "d.csv", "pos,a\n")
    with pytest.raises(ConfigError) as info:
        read_texts(path, format="xml")
    assert (
        str(info.value)
        == "format must be one of auto, csv, tsv, jsonl, labelstudio, doccano, got 'xml'"
    )


def test_the_dataset_names_its_file_and_format(tmp_path):
    path = _write(tmp_path, "d.tsv", "pos\ta\n")
    data = read_texts(path)
    assert (data.path, data.format, data.multi_label) == (str(path), "tsv", False)
    assert sniff_text_format(str(path)) == "tsv"


def test_a_column_named_in_text_columns_makes_the_first_row_a_header_and_the_label_column_0(
    tmp_path,
):
    """``sentiment,review``: no label name, but ``review`` is asked for, so row 1 is a header; with
    no label name in it, the label is column 0."""
    path = _write(tmp_path, "d.csv", "sentiment,review\npos,great film\n")
    assert _read(path, text_columns=["review"]) == [("great film", ("pos",), 2)]


def test_a_column_name_of_a_letter_and_digits_is_a_name_not_an_index(tmp_path):
    """Only an optional minus sign followed by digits is an index: ``X0`` is a header name."""
    path = _write(tmp_path, "d.csv", "label,X0,X1\npos,first,second\n")
    assert _read(path, text_columns=["X1", "x0"]) == [("second first", ("pos",), 2)]
    assert _read(path, text_columns=["-1"]) == [("second", ("pos",), 2)]


def test_title_is_not_a_text_name_so_every_other_column_is_the_text(tmp_path):
    """The text names that pick one column are text, sentence, content, body, review; a header with
    ``title`` (and ``description``) but none of those joins every column but the label."""
    path = _write(tmp_path, "d.csv", "title,label,extra\nthe title,pos,more words\n")
    assert _read(path) == [("the title more words", ("pos",), 2)]


def test_a_quoted_field_keeps_its_crlf_and_rows_end_at_crlf(tmp_path):
    path = _write(tmp_path, "d.csv", b'pos,"one\r\ntwo"\r\nneg,three\r\n')
    assert _read(path) == [("one\r\ntwo", ("pos",), 1), ("three", ("neg",), 3)]


def test_a_bare_cr_ends_a_row_as_lf_and_crlf_do(tmp_path):
    """Old Mac line ends (``\\r`` alone) end rows, and each counts as a line."""
    path = _write(tmp_path, "d.csv", b"pos,a\rneg,b\r\nmid,c\n")
    assert _read(path) == [("a", ("pos",), 1), ("b", ("neg",), 2), ("c", ("mid",), 3)]
