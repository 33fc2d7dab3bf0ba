"""Contracts of the labelled-text reader (``data/texts.py``): which column is the label and which are
the text, in what order text columns are joined and with what, when a first row is a header, how
blank rows, quotes, CRLF and a BOM are read, which line an example (or an error) is on, and what
JSONL multi-label rows give. Each test states its rule; the data is built so that a reader that
breaks the rule (a leftmost label instead of the first label name, sorted columns instead of the
order asked, an off-by-one line) gives a different answer."""
from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune.data import read_texts, sniff_text_format
from entitune.errors import DataFormatError


def _write(tmp_path, name: str, content: str):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8"))  # bytes: no newline translation, CR kept where written
    return path


def _read(path, **kwargs) -> list[tuple[str, tuple[str, ...], int]]:
    return [(e.text, e.labels, e.line) for e in read_texts(path, **kwargs).examples]


# ---------------------------------------------------------------- headerless rows


def test_without_a_header_column_0_is_the_label_and_the_rest_are_joined_in_column_order_by_one_space(tmp_path):
    """No header: the label is column 0; every other column, stripped, joined by one space in column
    order; an empty (or blank) field adds nothing (no double space). ``label_names`` is sorted, not
    the first-seen order (here b, a, c)."""
    path = _write(tmp_path, "d.csv", 'b,  first  ,,third part,4\na,x, ,y,z\nc,only,,,\n')
    assert _read(path) == [("first third part 4", ("b",), 1), ("x y z", ("a",), 2), ("only", ("c",), 3)]
    data = read_texts(path)
    assert data.label_names == ["a", "b", "c"] and data.format == "csv" and not data.multi_label


def test_a_label_column_that_is_not_first_is_taken_out_of_the_text(tmp_path):
    """``label_column`` by index (a last or middle column): that column is the label, the others
    (columns before it and after it) are the text, in column order."""
    path = _write(tmp_path, "d.csv", "one,two,pos,three\nfour,five,neg,six\n")
    assert _read(path, label_column=2) == [("one two three", ("pos",), 1), ("four five six", ("neg",), 2)]
    assert _read(path, label_column=-1) == [("one two pos", ("three",), 1), ("four five neg", ("six",), 2)]
    assert _read(path, label_column="1") == [("one pos three", ("two",), 1), ("four neg six", ("five",), 2)]


def test_a_first_row_that_names_no_label_column_is_data_even_with_text_like_words(tmp_path):
    """A first row is a header only when it names a label column (label, labels, class, category,
    target) or a column asked for by name. ``pos,text`` names none: it is the first example."""
    path = _write(tmp_path, "d.csv", "pos,text\nneg,body\n")
    assert _read(path) == [("text", ("pos",), 1), ("body", ("neg",), 2)]
    assert read_texts(path).label_names == ["neg", "pos"]


@pytest.mark.parametrize("index, ok", [(2, True), (-3, True), (3, False), (-4, False)])
def test_a_column_index_must_lie_in_minus_width_to_width_minus_one(tmp_path, index, ok):
    """Rows of 3 fields: indices -3..2 are columns (-3 is column 0), 3 and -4 are refused at line 1
    saying how wide the rows are; the same rule for a text column given as a digit string."""
    path = _write(tmp_path, "d.csv", "l0,t1,t2\nm0,u1,u2\n")
    if ok:
        expected = {2: ["t2", "u2"], -3: ["l0", "m0"]}[index]
        assert [e.text for e in read_texts(path, text_columns=[index]).examples] == expected
        assert [e.text for e in read_texts(path, text_columns=[str(index)]).examples] == expected
    else:
        for spec in (index, str(index)):
            with pytest.raises(DataFormatError) as err:
                read_texts(path, text_columns=[spec])
            assert err.value.line == 1 and err.value.why == f"text column {index} is out of range: the rows have 3 fields"
        with pytest.raises(DataFormatError, match=f"label column {index} is out of range"):
            read_texts(path, label_column=index)


# ---------------------------------------------------------------- headers


MULTI = ('ID, Title ,Body,Label,Source\n'
         '7,Fears for pension,"Unions say, ""disappointed""\nafter talks.",business,web\n'
         '8,Race is On,A second team,sci,wire\n')


def test_text_columns_by_header_name_are_joined_in_the_order_given_not_the_column_order(tmp_path):
    """A header with several columns: ``text_columns`` by name (any case, spaces around ignored)
    are joined in the order asked (Body before Title here), by one space; the label is the
    ``label`` column, wherever it stands; the header row is not an example; quoted commas, doubled
    quotes and newlines stay inside their field."""
    path = _write(tmp_path, "d.csv", MULTI)
    assert _read(path, text_columns=["body", " TITLE "]) == [
        ('Unions say, "disappointed"\nafter talks. Fears for pension', ("business",), 2),
        ("A second team Race is On", ("sci",), 4),
    ]
    by_index = _read(path, text_columns=[2, 1])
    by_mixed = _read(path, text_columns=["2", "title"])
    by_negative = _read(path, text_columns=[-3, -4])
    assert by_index == by_mixed == by_negative == _read(path, text_columns=["body", "title"])
    assert _read(path, text_columns=["source"], label_column="id") == [("web", ("7",), 2), ("wire", ("8",), 4)]


def test_without_text_columns_a_header_with_no_text_name_joins_every_other_column(tmp_path):
    """A header names the label but no text column (text, sentence, content, body, review): every
    column but the label is the text, in column order (AG News' ``title, description`` both)."""
    path = _write(tmp_path, "d.csv", "description,title,label\nsecond half,first half,x\n")
    assert _read(path) == [("second half first half", ("x",), 2)]
    path = _write(tmp_path, "e.csv", "ID,Title,Label,Source\n8,Race is On,sci,wire\n")
    assert _read(path) == [("8 Race is On wire", ("sci",), 2)]
    path = _write(tmp_path, "f.csv", MULTI)  # Body is a text name: it alone is the text
    assert _read(path)[1] == ("A second team", ("sci",), 4)


def test_without_text_columns_the_first_text_name_in_priority_order_is_the_only_text(tmp_path):
    """Several text-like names: ``text`` wins over ``review`` whatever their column order, and only
    that column is read."""
    path = _write(tmp_path, "d.csv", "review,id,text,label\nlong review,9,short text,pos\n")
    assert _read(path) == [("short text", ("pos",), 2)]
    path = _write(tmp_path, "e.csv", "Label,Review,Title\npos,the review,the title\n")
    assert _read(path) == [("the review", ("pos",), 2)]


def test_the_label_column_is_the_first_label_name_in_priority_order_not_the_leftmost(tmp_path):
    """A header with ``target`` left of ``class``: ``class`` comes first in the names' priority
    (label, labels, class, category, target), so it is the label and ``target`` is not the text
    either (the ``text`` column is)."""
    path = _write(tmp_path, "d.csv", "target,text,class\nt1,hello there,c1\n")
    assert _read(path) == [("hello there", ("c1",), 2)]


def test_a_header_is_recognised_by_the_columns_asked_for_by_name(tmp_path):
    """``sentiment,review`` names no label column: without options it is data; naming
    ``sentiment`` as the label column makes it the header (and ``review`` the text by its name)."""
    path = _write(tmp_path, "d.csv", "sentiment,review\npos,great film\n")
    assert _read(path) == [("review", ("sentiment",), 1), ("great film", ("pos",), 2)]
    assert _read(path, label_column="sentiment") == [("great film", ("pos",), 2)]
    assert _read(path, text_columns=["review"], label_column=0) == [("great film", ("pos",), 2)]


def test_a_name_that_is_no_column_is_refused_with_the_columns_or_no_header(tmp_path):
    path = _write(tmp_path, "d.csv", "label,text\npos,a\n")
    with pytest.raises(DataFormatError) as err:
        read_texts(path, text_columns=["txt"])
    assert err.value.line == 1 and err.value.why == "text column 'txt' is not a column name (label, text)"
    headerless = _write(tmp_path, "e.csv", "pos,a\nneg,b\n")
    with pytest.raises(DataFormatError, match=r"label column 'label' is not a column name \(no header row\)"):
        read_texts(headerless, label_column="label", text_columns=[1])


def test_a_row_of_the_wrong_width_names_the_header_or_the_first_row(tmp_path):
    path = _write(tmp_path, "d.csv", "label,text\npos,a\n\nneg,b,c\n")
    with pytest.raises(DataFormatError) as err:
        read_texts(path)
    assert (err.value.line, err.value.why) == (4, "has 3 fields, the header has 2")
    path = _write(tmp_path, "e.csv", "pos,a,b\nneg,b\n")
    with pytest.raises(DataFormatError) as err:
        read_texts(path)
    assert (err.value.line, err.value.why) == (2, "has 2 fields, the first row has 3")


def test_a_file_of_one_column_is_refused_at_its_first_row(tmp_path):
    path = _write(tmp_path, "d.csv", "\n\njust a text\nanother\n")
    with pytest.raises(DataFormatError) as err:
        read_texts(path)
    assert err.value.line == 3 and "found one field" in err.value.why and "a comma" in err.value.why


def test_a_header_with_no_rows_under_it_is_no_texts(tmp_path):
    with pytest.raises(DataFormatError, match="no texts found"):
        read_texts(_write(tmp_path, "d.csv", "label,text\n\n"))


# ---------------------------------------------------------------- lines, blanks, quotes, encodings


def test_line_numbers_count_blank_lines_and_the_lines_inside_quoted_fields(tmp_path):
    """An example's line is the line its row starts on: blank lines before the header and between
    rows count, and a quoted field spanning lines moves every later row down."""
    content = '\n\nlabel,text\n\na,"one\ntwo\nthree"\n\nb,four\n\n\n'
    path = _write(tmp_path, "d.csv", content)
    assert _read(path) == [("one\ntwo\nthree", ("a",), 5), ("four", ("b",), 9)]
    bad = _write(tmp_path, "e.csv", content + "c,\n")
    with pytest.raises(DataFormatError) as err:
        read_texts(bad)
    assert (err.value.line, err.value.why) == (12, "empty text")


def test_rows_of_blank_fields_and_trailing_newlines_are_not_rows(tmp_path):
    """A row whose fields are all blank (``" ,  "``) is skipped like an empty line; a row with a
    blank label and a text is an error at its line."""
    path = _write(tmp_path, "d.csv", "a,x\n \t, \nb,y\n\n\n")
    assert _read(path) == [("x", ("a",), 1), ("y", ("b",), 3)]
    path = _write(tmp_path, "e.csv", "a,x\n  ,y\n")
    with pytest.raises(DataFormatError) as err:
        read_texts(path)
    assert (err.value.line, err.value.why) == (2, "missing label")


def test_crlf_line_endings_and_a_bom_are_invisible(tmp_path):
    """CRLF files give the same examples as LF files (no ``\\r`` in a label or text); a UTF-8 BOM
    before the header does not hide its ``label`` column."""
    lf = "label,text\npos,good film\nneg,bad film\n"
    expected = [("good film", ("pos",), 2), ("bad film", ("neg",), 3)]
    assert _read(_write(tmp_path, "lf.csv", lf)) == expected
    assert _read(_write(tmp_path, "crlf.csv", lf.replace("\n", "\r\n"))) == expected
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + lf.encode())
    assert _read(bom) == expected


def test_tsv_is_sniffed_from_the_first_non_blank_line_and_reads_quoted_tabs(tmp_path):
    """A tab in the first non-blank line makes the file TSV (blank lines first do not matter); TSV
    fields may be quoted, a quoted tab or comma staying in its field; a header works as in CSV."""
    path = _write(tmp_path, "d.tsv", '\n\ntext\tlabel\n"a\tb, c"\tpos\nplain, with comma\tneg\n')
    assert sniff_text_format(str(path)) == "tsv"
    data = read_texts(path)
    assert data.format == "tsv"
    assert _read(path) == [("a\tb, c", ("pos",), 4), ("plain, with comma", ("neg",), 5)]
    assert _read(_write(tmp_path, "e.tsv", "x\tone\tmore\n")) == [("one more", ("x",), 1)]
    with pytest.raises(DataFormatError, match="separated by a tab, found one field"):
        read_texts(_write(tmp_path, "f.tsv", "just, text\n"), format="tsv")


def test_an_explicit_format_overrides_the_sniffed_one(tmp_path):
    """``format="csv"`` splits on commas even when the first line holds a tab (which sniffs TSV)."""
    path = _write(tmp_path, "d.txt", 'pos,"a\tb"\nneg,c\n')
    assert sniff_text_format(str(path)) == "tsv"
    assert _read(path, format="csv") == [("a\tb", ("pos",), 1), ("c", ("neg",), 2)]
    assert read_texts(path, format="csv").format == "csv"


# ---------------------------------------------------------------- JSONL


def test_jsonl_multi_label_rows_keep_first_seen_label_order_without_duplicates(tmp_path):
    """``labels`` lists: labels stripped, duplicates dropped, first-seen order kept; an empty list is
    a text with no label; the text is kept as written; ``label_names`` is every label, sorted; blank
    lines count in line numbers; other keys are ignored."""
    rows = [{"id": 1, "text": " spaced  text ", "labels": ["zeta", " alpha", "zeta", "alpha "]},
            None, {"text": "none", "labels": []}, {"text": "b", "labels": ["mid"], "extra": [1]}]
    path = _write(tmp_path, "m.jsonl", "\n".join("" if r is None else json.dumps(r) for r in rows) + "\n\n")
    data = read_texts(path)
    assert data.multi_label and data.format == "jsonl"
    assert [(e.text, e.labels, e.line) for e in data.examples] == [
        (" spaced  text ", ("zeta", "alpha"), 1), ("none", (), 3), ("b", ("mid",), 4)]
    assert data.label_names == ["alpha", "mid", "zeta"]


def test_jsonl_single_label_rows_are_not_multi_label(tmp_path):
    path = _write(tmp_path, "s.jsonl", json.dumps({"text": "a", "label": " x "}) + "\n")
    data = read_texts(path)
    assert not data.multi_label and data.examples[0].labels == ("x",)


@pytest.mark.parametrize("row, why", [
    ({"text": "a", "label": "x", "labels": ["x"]}, "give exactly one of 'label'"),
    ({"text": "a", "labels": "x"}, "'labels' must be a list of non-empty strings"),
    ({"text": "a", "labels": ["x", " "]}, "'labels' must be a list of non-empty strings"),
    ({"text": "a", "label": " "}, "missing label"),
    ({"text": " \n", "label": "x"}, "empty text"),
    ({"text": 3, "label": "x"}, "'text' must be a string"),
    (["a", "x"], "expected an object"),
])
def test_jsonl_bad_rows_are_errors_at_their_line(tmp_path, row, why):
    multi = isinstance(row, dict) and "labels" in row and "label" not in row
    first = {"text": "ok", "labels": ["x"]} if multi else {"text": "ok", "label": "x"}  # same kind: no "mixes" error
    path = _write(tmp_path, "b.jsonl", json.dumps(first) + "\n\n" + json.dumps(row) + "\n")
    with pytest.raises(DataFormatError) as err:
        read_texts(path)
    assert err.value.line == 3 and why in err.value.why


# ---------------------------------------------------------------- property: whatever csv writes, it reads

_FIELD = st.text(alphabet="ab ,\"\n'", min_size=0, max_size=8)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="xyz ,\"", min_size=0, max_size=4), _FIELD, _FIELD), min_size=1, max_size=6),
       st.sampled_from(["\n", "\r\n"]))
def test_any_rows_csv_writes_read_back_with_their_label_text_and_start_line(tmp_path_factory, rows, newline):
    """Rows written by Python's csv writer (quotes, commas and newlines in fields, LF or CRLF rows)
    read back as label = field 0 stripped, text = the other non-blank fields stripped and joined by
    one space, line = the line the row starts on; rows of blank fields are skipped."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=newline)
    expected = []
    for label, *texts in rows:
        line = buffer.getvalue().count("\n") + 1
        writer.writerow([label, *texts])
        if not label.strip() and not any(t.strip() for t in texts):
            continue
        body = " ".join(t.strip() for t in texts if t.strip())
        expected.append((body, (label.strip(),), line))
    if any(not label or not body for body, (label,), _ in expected) or not expected:
        return  # an error row; errors have their own tests
    path = tmp_path_factory.mktemp("csv") / "d.csv"
    path.write_bytes(buffer.getvalue().encode())
    assert _read(path, format="csv") == expected
