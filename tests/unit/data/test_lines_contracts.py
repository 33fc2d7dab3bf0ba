"""Contracts of the line gate (``data/_lines.py``) at its edges: a stream's line and total bounds to
the byte (a line exactly at the limit passes, one byte more is refused at its line, an over-long
line is never read whole), what a stream line keeps (trailing spaces, letters next to the CR LF),
binary streams, and compressed files (gzip, xz, bzip2): each kind's damaged-stream message with the
line it broke at and the tool that checks it, a decompressed head checked as a plain file's is, and
``text_head_lines``' budget."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma

import pytest

from entitune.data import _lines
from entitune.data._lines import iter_stream_lines, iter_text_lines, text_head_lines
from entitune.errors import DataFormatError

MB = 1 << 20


def _bytes_limit(monkeypatch, name: str, n: int) -> None:
    monkeypatch.setenv(
        name, repr(n / MB)
    )  # n / 2**20 is exact, so the limit is n bytes


def test_a_text_stream_line_exactly_at_the_limit_passes_and_one_byte_more_is_refused(
    monkeypatch,
):
    _bytes_limit(monkeypatch, "ENTITUNE_MAX_LINE_MB", 100)
    text = "a" * 100 + "\n" + "é" * 50 + "\n" + "c" * 100
    assert [len(t) for _, t in iter_stream_lines(io.StringIO(text))] == [100, 50, 100]
    with pytest.raises(DataFormatError) as info:
        list(iter_stream_lines(io.StringIO("ok\n" + "é" * 50 + "b\n"), "in.txt"))
    assert (
        str(info.value)
        == "in.txt:2: line longer than 100 bytes; is this the right file? (set ENTITUNE_MAX_LINE_MB to raise the limit)"
    )


class _EndlessLine(io.TextIOBase):
    """A text stream (no binary ``buffer``) of one line that never ends: reading it whole never returns."""

    def readline(self, size=-1):
        if size is None or size < 0:
            raise AssertionError("an unbounded readline of a stream")
        return "a" * size


def test_an_over_long_stream_line_is_refused_without_reading_it_whole(monkeypatch):
    _bytes_limit(monkeypatch, "ENTITUNE_MAX_LINE_MB", 100)
    with pytest.raises(
        DataFormatError, match=r"^<stdin>:1: line longer than 100 bytes"
    ):
        list(iter_stream_lines(_EndlessLine()))


def test_a_text_stream_of_exactly_the_total_limit_passes_and_one_byte_more_is_refused(
    monkeypatch,
):
    _bytes_limit(monkeypatch, "ENTITUNE_MAX_INPUT_MB", 10)
    assert list(iter_stream_lines(io.StringIO("aaaa\nbbbb\n"))) == [
        (1, "aaaa"),
        (2, "bbbb"),
    ]
    with pytest.raises(DataFormatError) as info:
        list(iter_stream_lines(io.StringIO("aaaa\nbbbb\nc"), "in.txt"))
    assert str(info.value) == (
        "in.txt:3: has more than 10 bytes, more than the 10 bytes allowed for one input; "
        "set ENTITUNE_MAX_INPUT_MB to raise the limit"
    )


def test_a_nul_in_a_text_stream_is_refused_at_its_line_under_the_stream_name():
    with pytest.raises(DataFormatError) as info:
        list(iter_stream_lines(io.StringIO("ok\na\x00b\n"), "in.txt"))
    err = info.value
    assert (err.path, err.line, str(err)) == (
        "in.txt",
        2,
        "in.txt:2: contains NUL bytes; expected UTF-8 text",
    )


def test_a_text_stream_line_loses_only_its_line_end():
    """LF, CR LF (and CRs before the LF) go; trailing spaces and letters stay."""
    lines = list(iter_stream_lines(io.StringIO("a \r\nbX\r\ncX\n\r\r\nd")))
    assert lines == [(1, "a "), (2, "bX"), (3, "cX"), (4, ""), (5, "d")]


def test_a_binary_stream_is_read_as_bytes_with_the_same_rules():
    stream = io.BytesIO("\ufeffa \r\nb\n".encode())
    assert list(iter_stream_lines(stream)) == [(1, "a "), (2, "b")]
    with pytest.raises(DataFormatError) as info:
        list(iter_stream_lines(io.BytesIO(b"ok\ncaf\xe9\n"), "in.bin"))
    assert str(info.value).startswith(
        "in.bin:2: not valid UTF-8 (byte 0xE9 at byte 4 of the line)"
    )


# ---------------------------------------------------------------- compressed files

KINDS = [
    ("gz", gzip.compress, "gzip", "gzip -t"),
    ("xz", lzma.compress, "xz", "xz -t"),
    ("bz2", bz2.compress, "bzip2", "bzip2 -t"),
]
CUT = "Compressed file ended before the end-of-stream marker was reached"


@pytest.mark.parametrize("ext, compress, kind, check", KINDS, ids=[k[0] for k in KINDS])
def test_a_cut_stream_is_refused_at_the_line_it_broke_naming_its_kind_and_check(
    tmp_path, ext, compress, kind, check
):
    """The lines before the break are read; the error names the next line, the library's words and
    the tool that checks such a file."""
    path = tmp_path / f"c.{ext}"
    path.write_bytes(compress(b"hello world\nsecond line\n" * 3)[:-8])
    read = []
    with pytest.raises(DataFormatError) as info:
        for number, text in iter_text_lines(path):
            read.append((number, text))
    assert read == [
        (i + 1, t) for i, t in enumerate(["hello world", "second line"] * 3)
    ]
    assert (
        str(info.value)
        == f"{path}:7: the {kind} stream is damaged or cut short ({CUT}); check the file (e.g. {check})"
    )


def test_a_stream_damaged_before_its_first_line_is_refused_at_line_1(tmp_path):
    path = tmp_path / "c.xz"
    data = lzma.compress(b"hello world\n" * 10)
    path.write_bytes(data[:20] + b"\x00" * 20 + data[40:])
    with pytest.raises(DataFormatError) as info:
        list(iter_text_lines(path))
    assert (
        str(info.value)
        == f"{path}:1: the xz stream is damaged or cut short (Corrupt input data); check the file (e.g. xz -t)"
    )


def test_a_damage_without_words_is_named_by_its_type(tmp_path, monkeypatch):
    """An exception with an empty message is named by its class."""

    class _Broken(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            raise EOFError()

    monkeypatch.setattr(
        _lines,
        "COMPRESSIONS",
        ((b"\x1f\x8b", "gzip", lambda path, mode="rb": io.BufferedReader(_Broken())),),
    )
    path = tmp_path / "c.gz"
    path.write_bytes(gzip.compress(b"a\n"))
    with pytest.raises(DataFormatError) as info:
        list(iter_text_lines(path))
    assert (
        str(info.value)
        == f"{path}:1: the gzip stream is damaged or cut short (EOFError); check the file (e.g. gzip -t)"
    )


@pytest.mark.parametrize("ext, compress, kind, check", KINDS, ids=[k[0] for k in KINDS])
def test_decompressed_text_gets_the_plain_file_checks_under_the_file_name(
    tmp_path, ext, compress, kind, check
):
    path = tmp_path / f"c.{ext}"
    path.write_bytes(compress("one\ntwo\n".encode("utf-16")))
    with pytest.raises(DataFormatError) as info:
        list(iter_text_lines(path))
    assert (
        str(info.value)
        == f"{path}: looks like UTF-16 (byte-order mark); save it as UTF-8"
    )
    path.write_bytes(compress(b"one\r\ntw\x00o\n"))
    with pytest.raises(DataFormatError) as info:
        list(iter_text_lines(path))
    assert (
        str(info.value) == f"{path}:2: contains NUL bytes; expected a UTF-8 text file"
    )
    path.write_bytes(compress("\ufeffone\r\n\ntwo".encode()))
    assert list(iter_text_lines(path)) == [(1, "one"), (2, ""), (3, "two")]


@pytest.mark.parametrize(
    "limit, lines", [(1, 1), (5, 1), (6, 2), (10, 2), (11, 3), (100, 3)]
)
def test_text_head_lines_stops_at_the_line_that_reaches_the_budget(
    tmp_path, limit, lines
):
    """Each line costs its length plus one (its line end); lines are taken until the cost reaches
    ``limit``, that line included."""
    path = tmp_path / "h.gz"
    path.write_bytes(gzip.compress(b"aaaa\nbbbb\ncccc\n"))
    assert text_head_lines(path, limit) == ["aaaa", "bbbb", "cccc"][:lines]
