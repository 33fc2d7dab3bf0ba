"""Contracts of the character-level readers (``data/chars.py``): Weibo NER (``char+digit<TAB>tag``),
KLUE-NER (``## id<TAB>sentence`` headers, one ``char<TAB>tag`` line per character) and KMOU
(``; raw``, ``$marked``, ``index<TAB>morpheme<TAB>POS<TAB>tag``). Each refusal is one
``DataFormatError`` read word for word (``path:line: why``) next to its valid neighbour; every field
of each ``Sentence`` read is checked (words, tags, line, doc, text, offsets)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitune.data import read_klue, read_kmou, read_weibo
from entitune.errors import DataFormatError
from entitune.types import Sentence


def _file(tmp_path, content: str, name: str = "d.txt"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8"))
    return path


def _refusal(reader, path) -> str:
    with pytest.raises(DataFormatError) as info:
        list(reader(path))
    assert info.value.path == str(path)
    return str(info.value)


# ---- Weibo


def test_weibo_sentences_drop_the_digit_and_keep_the_last_field(tmp_path):
    path = _file(tmp_path, "中0\tx\tB-LOC\n国1\ty\tI-LOC\n\n人0\textra\tO\n")
    assert list(read_weibo(path)) == [
        Sentence(("中", "国"), ("B-LOC", "I-LOC"), 1, 0),
        Sentence(("人",), ("O",), 4, 0),
    ]


def test_weibo_keeps_a_multi_character_word(tmp_path):
    assert list(read_weibo(_file(tmp_path, "ab12\tO\n"))) == [
        Sentence(("ab1",), ("O",), 1, 0)
    ]


@pytest.mark.parametrize(
    ("content", "line", "why"),
    [
        ("中0\tO\n国1\n", 2, "expected 'CHARDIGIT<TAB>TAG', found '国1'"),
        (
            "中0\tO\n国\tO\n",
            2,
            "token '国' lacks the trailing word-position digit of Weibo NER",
        ),
        (
            "中0\tO\n国x\tO\n",
            2,
            "token '国x' lacks the trailing word-position digit of Weibo NER",
        ),
        (
            "中0\tO\n1\tO\n",
            2,
            "token '1' lacks the trailing word-position digit of Weibo NER",
        ),
        ("中0\tO\n国1\tLOC\n", 2, "tag 'LOC' is neither 'O' nor B-TYPE / I-TYPE"),
    ],
)
def test_weibo_refusals(tmp_path, content, line, why):
    path = _file(tmp_path, content)
    assert _refusal(read_weibo, path) == f"{path}:{line}: {why}"


# ---- KLUE


def test_klue_sentence_fields(tmp_path):
    content = "## 토큰 : \\t\n## id-0\t<김 철:PS> 가\n김\tB-PS\n \tI-PS\n철\tI-PS\n \tO\n가\tO\n"
    (s,) = read_klue(_file(tmp_path, content))
    assert s == Sentence(
        ("김", "철", "가"),
        ("B-PS", "I-PS", "O"),
        3,
        0,
        "김 철 가",
        ((0, 1), (2, 3), (4, 5)),
    )


def test_klue_a_header_ends_the_sentence_before_it(tmp_path):
    content = "## a\tx\nx\tO\n## b\ty\ny\tB-LC\n"
    got = list(read_klue(_file(tmp_path, content)))
    assert got == [
        Sentence(("x",), ("O",), 2, 0, "x", ((0, 1),)),
        Sentence(("y",), ("B-LC",), 4, 0, "y", ((0, 1),)),
    ]


def test_klue_a_comment_line_without_a_tab_is_skipped(tmp_path):
    content = "x\tO\n## note\ny\tO\n\nz\tO\n"
    got = list(read_klue(_file(tmp_path, content)))
    assert [(s.words, s.line, s.text) for s in got] == [
        (("x", "y"), 1, "xy"),
        (("z",), 5, "z"),
    ]


def test_klue_line_is_the_first_character_line(tmp_path):
    # a comment between the header and the first character: the sentence starts at the character
    content = "## a\tx\n## note\n\nx\tO\n"
    assert [s.line for s in read_klue(_file(tmp_path, content))] == [4]


def test_klue_a_b_on_a_space_moves_only_to_an_i_of_its_type(tmp_path):
    content = " \tB-PS\n김\tI-PS\n \tB-LC\n철\tI-PS\n \tB-LC\n"
    (s,) = read_klue(_file(tmp_path, content))
    assert s.tags == ("B-PS", "I-PS")
    assert s.text == " 김 철 " and s.offsets == ((1, 2), (3, 4))


def test_klue_a_carried_b_is_dropped_after_a_character(tmp_path):
    content = " \tB-PS\n가\tO\n김\tI-PS\n"
    (s,) = read_klue(_file(tmp_path, content))
    assert s.tags == ("O", "I-PS")


def test_klue_only_spaces_is_no_sentence(tmp_path):
    assert list(read_klue(_file(tmp_path, " \tO\n\nx\tO\n"))) == [
        Sentence(("x",), ("O",), 3, 0, "x", ((0, 1),))
    ]


@pytest.mark.parametrize(
    ("content", "line", "why"),
    [
        (
            "x\tO\nab\tO\n",
            2,
            "expected 'CHAR<TAB>TAG' with one character, found 'ab\\tO'",
        ),
        ("x\tO\ny\n", 2, "expected 'CHAR<TAB>TAG' with one character, found 'y'"),
        ("x\tO\n\tO\n", 2, "expected 'CHAR<TAB>TAG' with one character, found '\\tO'"),
        ("x\tO\ny\tO\tO\n", 2, "tag 'O\\tO' is neither 'O' nor B-TYPE / I-TYPE"),
        ("x\tO\ny\tPER\n", 2, "tag 'PER' is neither 'O' nor B-TYPE / I-TYPE"),
    ],
)
def test_klue_refusals(tmp_path, content, line, why):
    path = _file(tmp_path, content)
    assert _refusal(read_klue, path) == f"{path}:{line}: {why}"


@given(st.text(alphabet="가나 ab", min_size=1, max_size=12))
def test_klue_offsets_point_at_the_words(chars):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "k.tsv"
        path.write_text("".join(f"{c}\tO\n" for c in chars), encoding="utf-8")
        got = list(read_klue(path))
    if not chars.strip():
        assert got == []
        return
    (s,) = got
    assert s.text == chars and s.line == 1 and s.doc == 0
    assert s.words == tuple(c for c in chars if not c.isspace())
    assert all(s.text[a:b] == w for w, (a, b) in zip(s.words, s.offsets))


# ---- KMOU


def test_kmou_sentence_fields(tmp_path):
    content = ";raw one\r\n$<a:PS>\r\n1\ta\tNNP\tB_PS\r\n1\tb\tNNP\tI\r\n\r\n2\tc\tJKS\tO\r\n; two\r\n1\td\tNNP\tB_LC\r\n"
    got = list(read_kmou(_file(tmp_path, content)))
    assert got == [
        Sentence(("a", "b", "c"), ("B-PS", "I-PS", "O"), 1, 0, "raw one"),
        Sentence(("d",), ("B-LC",), 7, 0, "two"),
    ]


def test_kmou_a_raw_line_without_rows_is_no_sentence(tmp_path):
    content = "; empty\n; full\n1\ta\tNNP\tO\n"
    assert list(read_kmou(_file(tmp_path, content))) == [
        Sentence(("a",), ("O",), 2, 0, "full")
    ]


def test_kmou_a_new_sentence_closes_the_open_entity(tmp_path):
    path = _file(tmp_path, "; a\n1\ta\tNNP\tB_PS\n; b\n1\tb\tNNP\tI\n")
    assert (
        _refusal(read_kmou, path)
        == f"{path}:4: tag 'I' continues no entity (no B_TYPE before it)"
    )


def test_kmou_o_closes_the_open_entity(tmp_path):
    path = _file(tmp_path, "; a\n1\ta\tNNP\tB_PS\n1\tb\tNNP\tO\n1\tc\tNNP\tI\n")
    assert (
        _refusal(read_kmou, path)
        == f"{path}:4: tag 'I' continues no entity (no B_TYPE before it)"
    )


@pytest.mark.parametrize(
    ("content", "line", "why"),
    [
        ("1\ta\tNNP\tO\n", 1, "morpheme row before any '; sentence' line"),
        ("$x\n1\ta\tNNP\tO\n", 2, "morpheme row before any '; sentence' line"),
        ("1\ta\tNNP\tI\n", 1, "morpheme row before any '; sentence' line"),
        (
            "; a\n1\ta\tNNP\n",
            2,
            "expected 'INDEX<TAB>MORPHEME<TAB>POS<TAB>TAG', found '1\\ta\\tNNP'",
        ),
        (
            "; a\nx\ta\tNNP\tO\n",
            2,
            "expected 'INDEX<TAB>MORPHEME<TAB>POS<TAB>TAG', found 'x\\ta\\tNNP\\tO'",
        ),
        ("; a\n1\ta\tNNP\tI\n", 2, "tag 'I' continues no entity (no B_TYPE before it)"),
        ("; a\n1\ta\tNNP\tB_\n", 2, "tag 'B_' is none of B_TYPE, I, O (KMOU tags)"),
        ("; a\n1\ta\tNNP\tPER\n", 2, "tag 'PER' is none of B_TYPE, I, O (KMOU tags)"),
        ("; a\n1\ta\tNNP\tB-PS\n", 2, "tag 'B-PS' is none of B_TYPE, I, O (KMOU tags)"),
        ("; a\n1\ta\tNNP\tB_ X\n", 2, "tag 'B- X' is neither 'O' nor B-TYPE / I-TYPE"),
    ],
)
def test_kmou_refusals(tmp_path, content, line, why):
    path = _file(tmp_path, content)
    assert _refusal(read_kmou, path) == f"{path}:{line}: {why}"


def test_kmou_a_one_letter_type_is_read(tmp_path):
    (s,) = read_kmou(_file(tmp_path, "; a\n1\ta\tNNP\tB_X\n1\tb\tNNP\tI\n"))
    assert s.tags == ("B-X", "I-X")
