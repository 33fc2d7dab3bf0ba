"""Readers of labelled texts: CSV/TSV with and without a header, chosen columns, JSONL (single and
multi-label), ``label<TAB>text``; task sniffing; and one clear line for every malformed row."""
from __future__ import annotations

import json

import pytest

from entitune.data import read_texts, sniff_task
from entitune.errors import DataFormatError
from tests.helpers.data import TINY_SENTENCES, write_bio


def test_headerless_csv_joins_title_and_description(tmp_path):
    path = tmp_path / "ag.csv"
    path.write_text('"3","Fears for pension","Unions say, ""disappointed"" after talks."\n"4","Race is On","A second\nteam"\n')
    data = read_texts(path)
    assert data.format == "csv" and not data.multi_label and data.label_names == ["3", "4"]
    first, second = data.examples
    assert first.text == 'Fears for pension Unions say, "disappointed" after talks.' and first.labels == ("3",)
    assert second.text == "Race is On A second\nteam" and second.line == 2  # a quoted newline: one row


def test_header_names_the_columns(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("id,text,label,source\n1,good film,pos,web\n2,bad film,neg,web\n")
    data = read_texts(path)
    assert [(e.text, e.labels) for e in data.examples] == [("good film", ("pos",)), ("bad film", ("neg",))]
    assert [e.line for e in data.examples] == [2, 3]
    chosen = read_texts(path, text_columns=["source", "text"], label_column="id")
    assert chosen.examples[0].text == "web good film" and chosen.examples[0].labels == ("1",)
    by_index = read_texts(path, text_columns=["1"], label_column="2")
    assert by_index.examples[1].labels == ("neg",)


def test_label_tab_text_and_jsonl(tmp_path):
    tsv = tmp_path / "t.txt"
    tsv.write_text("sports\tthe match ended\nworld\tleaders met, again\n")
    assert [e.labels[0] for e in read_texts(tsv).examples] == ["sports", "world"]
    single = tmp_path / "s.jsonl"
    single.write_text(json.dumps({"id": 7, "text": "a text", "label": "x"}) + "\n\n" + json.dumps({"text": "b", "label": "y"}) + "\n")
    assert [e.labels for e in read_texts(single).examples] == [("x",), ("y",)]
    multi = tmp_path / "m.jsonl"
    multi.write_text(json.dumps({"text": "a", "labels": ["x", "y"]}) + "\n" + json.dumps({"text": "b", "labels": []}) + "\n")
    data = read_texts(multi)
    assert data.multi_label and [e.labels for e in data.examples] == [("x", "y"), ()]


@pytest.mark.parametrize("name, content, line, why", [
    ("q.csv", '"1","ok text"\n"2","this quote never\ncloses\n"3","x"\n', 2, "unbalanced quotes"),
    ("r.csv", '"1","ok text"\n"2","this quote never closes\n', 2, "unbalanced quotes: a quoted field on this row is never closed"),
    ("l.csv", '"1","ok"\n"","no label here"\n', 2, "missing label"),
    ("e.csv", '"1","ok"\n"2","  "\n', 2, "empty text"),
    ("w.csv", '"1","a","b"\n"2","c"\n', 2, "has 2 fields, the first row has 3"),
    ("j.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "labels": ["x"]}\n', 2, "mixes 'label' and 'labels'"),
    ("k.jsonl", '{"text": "a"}\n', 1, "give exactly one of 'label'"),
    ("n.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": 3}\n', 2, "missing label"),
    ("b.jsonl", '{"text": "a", "label": "x"\n', 1, "not valid JSON"),
])
def test_malformed_rows_are_one_line_errors(tmp_path, name, content, line, why):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataFormatError) as err:
        read_texts(path)
    assert err.value.line == line and why in err.value.why and "\n" not in str(err.value)


def test_bad_bytes_and_empty_files(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b'"1","ok"\n"2","caf\xe9"\n')
    with pytest.raises(DataFormatError, match=r"latin.csv:2: not valid UTF-8"):
        read_texts(path)
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(DataFormatError, match="empty file"):
        read_texts(tmp_path / "empty.csv")


def test_sniff_task(tmp_path):
    (tmp_path / "t.csv").write_text('"1","a text"\n')
    (tmp_path / "t.jsonl").write_text('{"text": "a", "labels": ["x"]}\n')
    (tmp_path / "n.jsonl").write_text('{"tokens": ["a"], "tags": ["O"]}\n')
    write_bio(tmp_path / "n.bio", TINY_SENTENCES)
    assert [sniff_task(tmp_path / n) for n in ("t.csv", "t.jsonl", "n.jsonl", "n.bio")] == ["classify", "classify", "ner", "ner"]
    (tmp_path / "x.txt").write_text("just one line of words\n")
    with pytest.raises(DataFormatError, match="cannot tell the task"):
        sniff_task(tmp_path / "x.txt")
