"""Opening data files and iterating their lines: UTF-8 (BOM tolerated), LF or CRLF, line numbers.
Every reader opens its file through ``open_binary``, so a missing or unreadable file gets the one
message of ``errors.unreadable_file``."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import DataFormatError, unreadable_file


def open_binary(path: str | Path) -> BinaryIO:
    """``open(path, "rb")``, with a missing, unreadable or directory path as one ``DataFormatError``."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise unreadable_file(path, exc) from None


def read_bytes(path: str | Path) -> bytes:
    """A whole file's bytes, without a leading UTF-8 BOM."""
    with open_binary(path) as fh:
        data = fh.read()
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line, 1-based, without the line ending.

    Splits on ``\\n`` only (so U+0085 or U+2028 inside a word never splits a line), strips a
    trailing ``\\r`` and a leading BOM; undecodable bytes raise ``DataFormatError`` with the line.
    """
    with open_binary(path) as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if b"\x00" in raw:
                raise DataFormatError(str(path), number, "contains NUL bytes; expected a UTF-8 text file")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(
                    str(path), number, f"not valid UTF-8 (byte {exc.start + 1} of the line); save the file as UTF-8"
                ) from None
            yield number, text.rstrip("\n").rstrip("\r")


def split_fields(text: str) -> list[str]:
    """Split a column line: on tabs when the line has one (words may then hold spaces), else on
    runs of whitespace. A blank line gives no fields."""
    if not text.strip():
        return []
    if "\t" in text:
        return [f.strip(" ") for f in text.split("\t")]
    return text.split()
