"""Edges of the corpus and column readers and of ``read_bytes``: the corpus format refusals and
empty-file messages word for word, CSV / TSV corpora read in the format asked for, a CoNLL column
out of range, and ``read_bytes``'s line limit on a line right after a leading newline."""

from __future__ import annotations

import gzip

import pytest

from entitune.data import read_conll
from entitune.data._lines import read_bytes
from entitune.data.corpus import CORPUS_FORMATS, iter_corpus, resolve_corpus_format
from entitune.errors import ConfigError, DataFormatError

MB = 1 << 20


def _file(tmp_path, content: str | bytes, name: str = "c.txt"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _refusal(call, *args) -> DataFormatError:
    with pytest.raises(DataFormatError) as info:
        list(call(*args))
    return info.value


def test_an_unknown_corpus_format_names_the_setting(tmp_path):
    path = _file(tmp_path, "a b\n")
    with pytest.raises(ConfigError) as info:
        resolve_corpus_format(path, "xml")
    assert (
        str(info.value)
        == f"format must be one of {', '.join(CORPUS_FORMATS)}, got 'xml'"
    )


def test_a_compressed_file_asked_as_conll_is_refused_with_its_path(tmp_path):
    path = _file(tmp_path, gzip.compress(b"a b\n"), "c.txt.gz")
    with pytest.raises(DataFormatError) as info:
        resolve_corpus_format(path, "conll")
    error = info.value
    assert (error.path, error.line) == (str(path), None)
    assert (
        error.why
        == "a gzip-compressed file is read as plain text (one text per line); decompress it to read it as conll"
    )


@pytest.mark.parametrize(
    ("fmt", "content", "why"),
    [
        ("text", "\n  \n", "no text found: only blank lines"),
        ("conll", "-DOCSTART- O\n\n", "no text found in this conll file"),
    ],
)
def test_an_empty_corpus_is_refused_naming_its_format(tmp_path, fmt, content, why):
    path = _file(tmp_path, content)
    error = _refusal(iter_corpus, path, fmt)
    assert str(error) == f"{path}: {why}"


def test_a_corpus_is_read_in_the_text_format_asked_for(tmp_path):
    # tab-separated, so sniffed as TSV; asked as CSV it splits at the commas
    path = _file(tmp_path, "0\ta,b\n1\tc,d\n")
    assert list(iter_corpus(path, "tsv")) == [("a", ",", "b"), ("c", ",", "d")]
    assert list(iter_corpus(path, "csv")) == [("b",), ("d",)]


def test_a_conll_corpus_yields_its_words(tmp_path):
    path = _file(tmp_path, "a O\nb B-X\n\nc O\n")
    assert list(iter_corpus(path, "conll")) == [("a", "b"), ("c",)]


def test_a_conll_column_out_of_range_is_refused_at_its_line(tmp_path):
    path = _file(tmp_path, "a x O\nb x O\n")
    assert [s.words for s in read_conll(path, 1, 2)] == [("x", "x")]
    error = _refusal(read_conll, path, 3, -1)
    assert (
        str(error)
        == f"{path}:1: has 3 columns; word column 3 or tag column -1 is out of range"
    )
    assert (error.path, error.line) == (str(path), 1)


def _limit(monkeypatch, name: str, n: int) -> None:
    monkeypatch.setenv(
        name, repr(n / MB)
    )  # n / 2**20 is exact, so the limit is n bytes


def test_an_over_long_line_after_a_leading_newline_is_refused(tmp_path, monkeypatch):
    _limit(monkeypatch, "ENTITUNE_MAX_LINE_MB", 100)
    path = _file(tmp_path, b"\n" + b"a" * 101 + b"\nb\n")
    with pytest.raises(DataFormatError) as info:
        read_bytes(path)
    assert (info.value.line, info.value.why.split(";")[0]) == (
        2,
        "line longer than 100 bytes",
    )
    assert (
        read_bytes(_file(tmp_path, b"\n" + b"a" * 100 + b"\nb\n"))
        == b"\n" + b"a" * 100 + b"\nb\n"
    )


def _read_limit(monkeypatch, n: int) -> None:
    """``read_bytes``' own count of the total limit, as if the file grew after its size was checked
    (the check on the size on disk uses the real limit)."""
    monkeypatch.setattr("entitune.data._lines.max_input_bytes", lambda: n)


def test_read_bytes_counts_every_chunk_against_the_total_limit(tmp_path, monkeypatch):
    limit = 150_000  # more than two read chunks of 64 KiB
    _limit(monkeypatch, "ENTITUNE_MAX_LINE_MB", 100)
    _read_limit(monkeypatch, limit)
    data = (b"x" * 99 + b"\n") * (limit // 100)
    assert read_bytes(_file(tmp_path, data)) == data
    path = _file(tmp_path, data + b"y", "big.txt")
    with pytest.raises(DataFormatError) as info:
        read_bytes(path)
    assert str(info.value) == (
        f"{path}: has more than 150,000 bytes, more than the 150,000 bytes allowed for one input; "
        "set ENTITUNE_MAX_INPUT_MB to raise the limit"
    )


def test_an_over_long_open_line_is_refused_in_the_chunk_that_shows_it(
    tmp_path, monkeypatch
):
    # the first chunk is one unfinished line already over the line limit: that is the error,
    # before the total limit is passed in the next chunk
    _limit(monkeypatch, "ENTITUNE_MAX_LINE_MB", 100)
    _read_limit(monkeypatch, 100_000)
    path = _file(tmp_path, b"a" * 140_000)
    with pytest.raises(DataFormatError) as info:
        read_bytes(path)
    assert str(info.value) == (
        f"{path}:1: line longer than 100 bytes; is this the right file? (set ENTITUNE_MAX_LINE_MB to raise the limit)"
    )


@pytest.mark.parametrize(
    ("line_limit", "total", "size", "first_error"),
    [
        # chunks are 64 KiB, or the line limit when that is larger (up to 8 MiB)
        (100, 50_000, 60_000, "total"),  # the first 64 KiB chunk passes the total limit
        (
            100,
            65_550,
            70_000,
            "line",
        ),  # a 64 KiB chunk stays under it and shows the line
        (
            70_000,
            135_000,
            200_000,
            "total",
        ),  # 70,000-byte chunks: the second passes the total
    ],
)
def test_the_chunk_size_decides_which_limit_is_met_first(
    tmp_path, monkeypatch, line_limit, total, size, first_error
):
    _limit(monkeypatch, "ENTITUNE_MAX_LINE_MB", line_limit)
    _read_limit(monkeypatch, total)
    with pytest.raises(DataFormatError) as info:
        read_bytes(_file(tmp_path, b"a" * size))
    assert info.value.why.startswith(
        "line longer than" if first_error == "line" else "has more than"
    )
