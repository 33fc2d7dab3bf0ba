"""The labelled-text reader as the verbs call it (``data/texts.py``): ``text_options`` turns the
flags' forms (``--format``, a comma-separated ``--text-columns``) into ``read_texts`` arguments, and
``read_labelled_texts`` reads the file with them and names each label by ``--label-names``: a label
named already stays, any other is one ``path:line: why`` error. Called here directly (the verbs
reach them through ``recipes``)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitune.data import read_texts
from entitune.data.texts import TEXT_FORMATS, read_labelled_texts, text_options
from entitune.errors import DataFormatError
from entitune.types import TextExample


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_a_text_format_is_passed_on(fmt):
    assert text_options(fmt, None) == (fmt, None)


@pytest.mark.parametrize("fmt", ["auto", "conll", "labelstudio", "doccano", "CSV", ""])
def test_any_other_format_is_sniffed(fmt):
    assert text_options(fmt, None) == ("auto", None)


@pytest.mark.parametrize(
    ("flag", "columns"),
    [
        ("title,description", ["title", "description"]),
        (" title , body ", ["title", "body"]),
        ("text", ["text"]),
        ("a b,c", ["a b", "c"]),
        ("", None),
        (None, None),
    ],
)
def test_text_columns_are_split_at_commas_and_stripped(flag, columns):
    assert text_options("csv", flag) == ("csv", columns)


@given(
    st.lists(
        st.text(alphabet="abc xyz_1", min_size=1).filter(str.strip),
        min_size=1,
        max_size=4,
    )
)
def test_text_columns_round_trip(names):
    assert text_options("tsv", ",".join(names)) == ("tsv", [n.strip() for n in names])


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_read_labelled_texts_without_names_is_read_texts(tmp_path):
    path = _write(tmp_path, "d.csv", "label,title,body\n0,hello,world\n1,good,day\n")
    data = read_labelled_texts(path, "csv", "title,body", "label")
    assert data == read_texts(path, "csv", ["title", "body"], "label")
    assert [(e.text, e.labels, e.line) for e in data.examples] == [
        ("hello world", ("0",), 2),
        ("good day", ("1",), 3),
    ]
    assert (data.path, data.multi_label, data.format) == (str(path), False, "csv")


def test_the_flags_reach_read_texts(tmp_path):
    # a header-less file: the label column and the text columns given by index are used as given
    path = _write(tmp_path, "d.txt", "x\tpos\thi\n")
    data = read_labelled_texts(path, "tsv", "2", "1")
    assert [(e.text, e.labels) for e in data.examples] == [("hi", ("pos",))]
    assert data.format == "tsv"
    assert read_labelled_texts(path, "tsv", "0,2", "1").examples[0].text == "x hi"


def test_a_non_text_format_is_sniffed(tmp_path):
    path = _write(tmp_path, "d.jsonl", json.dumps({"text": "a", "label": "x"}) + "\n")
    assert read_labelled_texts(path, "conll").format == "jsonl"


@pytest.mark.parametrize("names", [None, {}])
def test_no_label_names_keeps_the_labels(tmp_path, names):
    path = _write(tmp_path, "d.csv", "label,text\n0,a\n")
    assert read_labelled_texts(path, label_names=names).examples == [
        TextExample("a", ("0",), 2)
    ]


def test_label_names_rename_ids_and_keep_names(tmp_path):
    path = _write(tmp_path, "d.csv", "label,text\n0,a\nneg,b\n1,c\n")
    data = read_labelled_texts(path, label_names={"0": "neg", "1": "pos"})
    assert data.examples == [
        TextExample("a", ("neg",), 2),
        TextExample("b", ("neg",), 3),
        TextExample("c", ("pos",), 4),
    ]
    assert (data.path, data.multi_label, data.format) == (str(path), False, "csv")
    assert data.label_names == ["neg", "pos"]


def test_label_names_on_multi_label_texts(tmp_path):
    lines = [{"text": "a", "labels": ["0", "pos"]}, {"text": "b", "labels": []}]
    path = _write(tmp_path, "d.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    data = read_labelled_texts(path, label_names={"0": "neg", "1": "pos"})
    assert data.examples == [
        TextExample("a", ("neg", "pos"), 1),
        TextExample("b", (), 2),
    ]
    assert data.multi_label is True


def test_a_label_without_a_name_is_refused_at_its_line(tmp_path):
    path = _write(tmp_path, "d.csv", "label,text\n0,a\n2,b\n")
    with pytest.raises(DataFormatError) as info:
        read_labelled_texts(path, label_names={"1": "pos", "0": "neg"})
    assert (
        str(info.value)
        == f"{path}:3: label '2' has no name in --label-names (named: 0, 1)"
    )
    assert (info.value.path, info.value.line) == (str(path), 3)


def test_a_label_that_is_a_key_and_not_a_name_is_renamed(tmp_path):
    path = _write(tmp_path, "d.csv", "label,text\nb,x\n")
    assert read_labelled_texts(path, label_names={"b": "c"}).examples[0].labels == (
        "c",
    )


def test_every_text_format_is_a_read_texts_format():
    assert {text_options(f, None)[0] for f in TEXT_FORMATS} <= set(TEXT_FORMATS)


def test_the_format_flag_overrides_sniffing(tmp_path):
    # tab-separated, so sniffed as TSV; --format csv splits it at the commas instead
    path = _write(tmp_path, "d.txt", "0\ta,b\n1\tc,d\n")
    assert [(e.text, e.labels) for e in read_labelled_texts(path).examples] == [
        ("a,b", ("0",)),
        ("c,d", ("1",)),
    ]
    data = read_labelled_texts(path, "csv")
    assert (data.format, [(e.text, e.labels) for e in data.examples]) == (
        "csv",
        [("b", ("0\ta",)), ("d", ("1\tc",))],
    )
