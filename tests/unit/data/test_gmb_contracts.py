"""Contracts of the GMB CSV reader (``data/gmb.py``): ``Sentence #,Word,POS,Tag`` rows, a sentence
per ``Sentence: N`` run, UTF-8 or latin-1, lines split by the ``csv`` module alone. Each refusal is
one ``DataFormatError`` read word for word (``path:line: why``) next to its valid neighbour; every
field of each ``Sentence`` read is checked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitune.data import read_gmb
from entitune.errors import DataFormatError
from entitune.types import Sentence

HEADER = "Sentence #,Word,POS,Tag\r\n"


def _file(tmp_path, content: str | bytes):
    path = tmp_path / "g.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _refusal(path) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        list(read_gmb(path))
    return info.value


def test_sentences_with_their_lines(tmp_path):
    content = HEADER + "Sentence: 1,A,NN,B-geo\r\n,b,NN,O\r\nSentence: 2,C,NN,I-per\r\n"
    assert list(read_gmb(_file(tmp_path, content))) == [
        Sentence(("A", "b"), ("B-geo", "O"), 2),
        Sentence(("C",), ("I-per",), 4),
    ]


def test_blank_rows_are_skipped_and_do_not_end_the_sentence(tmp_path):
    content = (
        HEADER + "Sentence: 1,A,NN,O\r\n\r\n , , ,\r\n,b,NN,O\r\nSentence: 2,c,NN,O\r\n"
    )
    assert list(read_gmb(_file(tmp_path, content))) == [
        Sentence(("A", "b"), ("O", "O"), 2),
        Sentence(("c",), ("O",), 6),
    ]


def test_a_quoted_crlf_stays_in_the_word(tmp_path):
    content = HEADER + 'Sentence: 1,"a\r\nb",NN,O\r\n,c,NN,O\r\n'
    assert [s.words for s in read_gmb(_file(tmp_path, content))] == [("a\r\nb", "c")]


def test_utf8_and_latin1(tmp_path):
    assert next(
        read_gmb(_file(tmp_path, HEADER + "Sentence: 1,café,NN,O\r\n"))
    ).words == ("café",)
    latin = (HEADER + "Sentence: 1,café,NN,O\r\n").encode("latin-1")
    assert next(read_gmb(_file(tmp_path, latin))).words == ("café",)


def test_header_names_are_case_and_space_insensitive_and_may_be_reordered(tmp_path):
    content = " TAG ,pos,WORD,Sentence #\nB-x,NN,a,Sentence: 1\n"
    assert list(read_gmb(_file(tmp_path, content))) == [Sentence(("a",), ("B-x",), 2)]


@pytest.mark.parametrize(
    ("content", "line", "why"),
    [
        ("", None, "empty file; expected a 'Sentence #,Word,POS,Tag' header"),
        (
            "Sentence #,Word,POS\r\n",
            1,
            "header ['Sentence #', 'Word', 'POS'] lacks column(s) ['tag']; expected 'Sentence #,Word,POS,Tag'",
        ),
        (
            HEADER + ",a,NN,O\r\n",
            2,
            "first row of the file has no sentence number ('Sentence: N')",
        ),
        (
            HEADER + "\r\n,a,NN,O\r\n",
            3,
            "first row of the file has no sentence number ('Sentence: N')",
        ),
        (HEADER + "Sentence: 1,a,NN,O\r\n,,NN,O\r\n", 3, "empty word"),
        (
            HEADER + "Sentence: 1,a,NN,O\r\n,b,NN\r\n",
            3,
            "has 3 fields, the header has 4",
        ),
        (
            HEADER + "Sentence: 1,a,NN,O\r\n,b,NN,X\r\n",
            3,
            "tag 'X' is neither 'O' nor B-TYPE / I-TYPE",
        ),
        (
            HEADER + "Sentence: 1," + "x" * 200_000 + ",NN,O\r\n",
            2,
            "not valid CSV (field larger than field limit (131072))",
        ),
    ],
)
def test_refusals(tmp_path, content, line, why):
    path = _file(tmp_path, content)
    error = _refusal(path)
    where = f"{path}:{line}" if line is not None else str(path)
    assert str(error) == f"{where}: {why}"
    assert (error.path, error.line, error.why) == (str(path), line, why)


def test_a_space_word_is_a_word(tmp_path):
    assert next(read_gmb(_file(tmp_path, HEADER + "Sentence: 1, ,NN,O\r\n"))).words == (
        " ",
    )


@given(
    st.lists(
        st.lists(
            st.text(alphabet="abcé,\"' ", min_size=1).filter(str.strip),
            min_size=1,
            max_size=3,
        ),
        max_size=4,
    )
)
def test_written_sentences_are_read_back(sentences):
    import csv
    import io
    import tempfile
    from pathlib import Path

    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["Sentence #", "Word", "POS", "Tag"])
    for i, words in enumerate(sentences, 1):
        for j, word in enumerate(words):
            writer.writerow([f"Sentence: {i}" if j == 0 else "", word, "NN", "O"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.csv"
        path.write_text(out.getvalue(), encoding="utf-8", newline="")
        got = list(read_gmb(path))
    assert [list(s.words) for s in got] == sentences
    assert all(s.tags == ("O",) * len(s.words) for s in got)


def test_cr_line_ends_are_line_ends(tmp_path):
    content = (
        "Sentence #,Word,POS,Tag\rSentence: 1,a,NN,O\r,b,NN,O\rSentence: 2,c,NN,O\r"
    )
    assert list(read_gmb(_file(tmp_path, content))) == [
        Sentence(("a", "b"), ("O", "O"), 2),
        Sentence(("c",), ("O",), 4),
    ]
