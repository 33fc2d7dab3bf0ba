"""Opening data files and iterating their lines: UTF-8 (BOM tolerated), LF or CRLF, line numbers.

Every reader opens its file through ``open_binary``, the one gate for input files:

- the path is ``os.stat``-ed before it is opened (opening a FIFO blocks until a writer comes), and
  only a regular file passes: a FIFO, a device (``/dev/zero``), a socket or a directory is one
  ``DataFormatError``, as is a missing or unreadable path (``errors.unreadable_file``);
- a file larger than ``max_input_bytes`` (2 GiB unless ``ENTITUNE_MAX_INPUT_MB`` says otherwise)
  is refused before it is read, and reads stop at that many bytes whatever ``stat`` said;
- a line longer than ``max_line_bytes`` (1 MiB unless ``ENTITUNE_MAX_LINE_MB``) is refused with
  its line number, without reading more of it;
- a head that is UTF-16 or UTF-32 (a byte-order mark, or every other byte NUL), compressed, or
  binary is named as such instead of failing later as "cannot tell the format".

The limits are environment variables rather than a flag on every verb: they are safety bounds an
operator sets once (for a shell, a service), not a per-run choice, and seven verbs read input.
Standard input (``predict`` without ``--input``) is read through ``iter_stream_lines`` with the same
bounds.

Compressed text (``iter_text_lines``, what corpora for pretraining and vocabularies are read
through): a file whose first bytes are those of xz, gzip or bzip2 is decompressed as it is read,
with the standard library's ``lzma``, ``gzip`` and ``bz2``, a chunk at a time (never the whole
text in memory); the decompressed bytes pass the same bounds (``max_input_bytes`` counts them, so a
small file that expands without end stops there), and a damaged or cut stream is a
``DataFormatError`` at the line where it breaks. Every other reader still refuses a compressed head.
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from ..errors import DataFormatError, unreadable_file
from .text import unencodable
from ..files import (MiB, check_input_file, check_regular, line_too_long, max_input_bytes,  # noqa: F401
                     max_line_bytes, size_text, too_large)

#: Bytes of a file's head looked at for its encoding.
HEAD_BYTES = 4096


#: (prefix, what it means) for heads that are not UTF-8 text; longer prefixes first.
_BOMS = (
    (b"\xff\xfe\x00\x00", "looks like UTF-32 (byte-order mark); save it as UTF-8"),
    (b"\x00\x00\xfe\xff", "looks like UTF-32 (byte-order mark); save it as UTF-8"),
    (b"\xff\xfe", "looks like UTF-16 (byte-order mark); save it as UTF-8"),
    (b"\xfe\xff", "looks like UTF-16 (byte-order mark); save it as UTF-8"),
    (b"\x1f\x8b", "looks like a gzip file; decompress it first"),
    (b"PK\x03\x04", "looks like a zip archive; extract the data file first"),
    (b"BZh", "looks like a bzip2 file; decompress it first"),
    (b"\xfd7zXZ\x00", "looks like an xz file; decompress it first"),
)


#: compressed formats read by ``iter_text_lines``: (first bytes, name, opener of a binary stream)
COMPRESSIONS = (
    (b"\xfd7zXZ\x00", "xz", lzma.open),
    (b"\x1f\x8b", "gzip", gzip.open),
    (b"BZh", "bzip2", bz2.open),
)
#: what a damaged compressed stream raises while it is read
_DAMAGED = (lzma.LZMAError, EOFError, OSError, zlib.error)


def encoding_problem(head: bytes) -> str | None:
    """Why a file starting with ``head`` is not UTF-8 text, or None when it may be.

    >>> encoding_problem("O\\tjane\\n".encode("utf-16"))
    'looks like UTF-16 (byte-order mark); save it as UTF-8'
    >>> encoding_problem("O\\tjane\\n".encode("utf-16-le"))
    'looks like UTF-16 (every other byte is NUL, no byte-order mark); save it as UTF-8'
    >>> encoding_problem("O\\tjane\\n".encode()) is None
    True
    """
    for prefix, why in _BOMS:
        if head.startswith(prefix):
            return why
    nuls = head.count(0)
    if len(head) < 4 or nuls * 8 < len(head):  # a stray NUL is reported at its line
        return None
    quarters = [head[i::4].count(0) / len(head[i::4]) for i in range(4)]
    if sum(q > 0.9 for q in quarters) == 3:
        return "looks like UTF-32 (three of every four bytes are NUL, no byte-order mark); save it as UTF-8"
    halves = [head[i::2].count(0) / len(head[i::2]) for i in range(2)]
    if max(halves) > 0.4 and min(halves) < 0.05:
        return "looks like UTF-16 (every other byte is NUL, no byte-order mark); save it as UTF-8"
    return f"looks like a binary file ({nuls * 100 // len(head)}% NUL bytes), not text; give a UTF-8 text file"


def open_binary(path: str | Path) -> BinaryIO:
    """``open(path, "rb")`` of a checked input (``check_input_file``; missing, unreadable, not a
    regular file, too large: one ``DataFormatError``) whose head is not UTF-16/32, compressed or binary."""
    check_input_file(path)
    try:  # non-blocking, then fstat: a path swapped for a FIFO after the stat cannot block either
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise unreadable_file(path, exc) from None
    try:
        check_regular(path, os.fstat(fd))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    fh = os.fdopen(fd, "rb")
    try:
        head = fh.read(HEAD_BYTES)
        fh.seek(0)
    except OSError as exc:
        fh.close()
        raise unreadable_file(path, exc) from None
    if (why := encoding_problem(head)) is not None:
        fh.close()
        raise DataFormatError(path, None, why)
    return fh


def not_utf8(path: str | Path, line: int, raw: bytes, start: int) -> DataFormatError:
    """``path:line: not valid UTF-8 (byte 0xE9 at byte 5 of the line); save the file as UTF-8 ...``"""
    return DataFormatError(path, line, f"not valid UTF-8 (byte 0x{raw[start]:02X} at byte {start + 1} of the line); "
                                       "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8, naming its encoding)")


def read_bytes(path: str | Path) -> bytes:
    """A whole file's bytes, without a leading UTF-8 BOM; no more than ``max_input_bytes`` and no
    line longer than ``max_line_bytes`` (each a ``DataFormatError``)."""
    total_limit, line_limit = max_input_bytes(), max_line_bytes()
    chunks: list[bytes] = []
    size = 0
    since_newline = 0  # bytes of the line still open at the end of what was read
    size_of_chunk = max(64 * 1024, min(line_limit, 8 * MiB))
    with open_binary(path) as fh:
        while chunk := fh.read(size_of_chunk):
            size += len(chunk)
            if size > total_limit:
                raise too_large(path, f"has more than {size_text(total_limit)}", total_limit)
            first = chunk.find(b"\n")
            last = chunk.rfind(b"\n")
            # a chunk no longer than the limit holds no over-long line between two of its newlines;
            # the line open at its start continues the one open at the end of the last chunk
            longest = since_newline + (len(chunk) if first < 0 else first)
            if first >= 0 and len(chunk) > line_limit:
                longest = max(longest, max(map(len, chunk[first + 1 : last].split(b"\n"))))
            if longest > line_limit:
                data = b"".join(chunks) + chunk
                for number, raw in enumerate(data.split(b"\n"), start=1):
                    if len(raw) > line_limit:
                        raise line_too_long(path, number, line_limit)
                raise line_too_long(path, data.count(b"\n") + 1, line_limit)  # pragma: no cover
            since_newline = since_newline + len(chunk) if last < 0 else len(chunk) - last - 1
            chunks.append(chunk)
    data = b"".join(chunks)
    if since_newline > line_limit:  # the last line, cut by no newline (only with a limit below a chunk)
        raise line_too_long(path, data.count(b"\n") + 1, line_limit)
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def _raw_lines(fh: BinaryIO, path: str | Path, check_head: bool) -> Iterator[bytes]:
    """``fh``'s lines without their LF, read a chunk at a time (never more than a line limit past
    the last line end) and split in C; more than ``max_input_bytes`` in all, or a line longer than
    ``max_line_bytes``, is a ``DataFormatError``. ``check_head``: look at the first chunk's encoding
    (a file had its head looked at by ``open_binary``)."""
    total_limit, line_limit = max_input_bytes(), max_line_bytes()
    size_of_chunk = max(64 * 1024, min(line_limit, 8 * MiB))
    read = getattr(fh, "read1", fh.read)  # a pipe: what has come, not a full chunk
    rest = b""
    total = number = 0
    while chunk := read(size_of_chunk):
        if total == 0 and check_head and (why := encoding_problem(chunk[:HEAD_BYTES])) is not None:
            raise DataFormatError(path, None, why)
        total += len(chunk)
        if total > total_limit:
            raise too_large(path, f"has more than {size_text(total_limit)}", total_limit, number + 1)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for raw in lines:
            number += 1
            if len(raw) > line_limit:
                raise line_too_long(path, number, line_limit)
            yield raw
        if len(rest) > line_limit:
            raise line_too_long(path, number + 1, line_limit)
    if rest:
        yield rest


def _numbered(fh: BinaryIO, path: str | Path, check_head: bool = False) -> Iterator[tuple[int, str]]:
    """Bounded (``_raw_lines``), decoded, numbered lines of ``fh``, without CR LF or a leading BOM."""
    for number, raw in enumerate(_raw_lines(fh, path, check_head), start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if b"\x00" in raw:
            raise DataFormatError(path, number, "contains NUL bytes; expected a UTF-8 text file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise not_utf8(path, number, raw, exc.start) from None
        yield number, text.rstrip("\r")


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line, 1-based, without the line ending.

    Splits on ``\\n`` only (so U+0085 or U+2028 inside a word never splits a line), strips a
    trailing ``\\r`` and a leading BOM; undecodable bytes, a NUL, a line longer than
    ``max_line_bytes`` or more than ``max_input_bytes`` in all raise ``DataFormatError`` with the line.
    """
    with open_binary(path) as fh:
        yield from _numbered(fh, path)


def iter_stream_lines(stream: BinaryIO | TextIO, name: str = "<stdin>") -> Iterator[tuple[int, str]]:
    """``iter_lines`` for an open stream (standard input, or a binary stream such as ``io.BytesIO``
    of a file's bytes), with the same bounds, named ``name`` in errors.

    A text stream with a binary ``buffer`` is read through it, so bytes are checked before decoding."""
    buffer = stream if isinstance(stream, (io.BufferedIOBase, io.RawIOBase)) else getattr(stream, "buffer", None)
    if buffer is not None:
        yield from _numbered(buffer, name, check_head=True)
        return
    line_limit, total_limit = max_line_bytes(), max_input_bytes()
    total = 0
    number = 0
    while text := stream.readline(line_limit + 1):
        number += 1
        size = len(text.encode("utf-8", "surrogatepass"))
        total += size
        if size - text.endswith("\n") > line_limit:
            raise line_too_long(name, number, line_limit)
        if total > total_limit:
            raise too_large(name, f"has more than {size_text(total_limit)}", total_limit, number)
        if "\x00" in text:
            raise DataFormatError(name, number, "contains NUL bytes; expected UTF-8 text")
        yield number, text.rstrip("\n").rstrip("\r")


def compression_of(path: str | Path) -> str | None:
    """``xz``, ``gzip`` or ``bzip2`` when the file's first bytes say it is compressed that way, else
    None (the file passes ``check_input_file`` first)."""
    check_input_file(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise unreadable_file(path, exc) from None
    return next((name for magic, name, _ in COMPRESSIONS if head.startswith(magic)), None)


def iter_text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``iter_lines`` of a file that may be compressed (xz, gzip or bzip2, told by its first bytes):
    decompressed a chunk at a time as the lines are read, under the same bounds; the decompressed
    text must be UTF-8 (its head is checked as a plain file's is). A damaged stream is a
    ``DataFormatError`` naming the line where it broke."""
    kind = compression_of(path)
    if kind is None:
        yield from iter_lines(path)
        return
    opener = next(o for _, name, o in COMPRESSIONS if name == kind)
    number = 0
    try:
        with opener(path, "rb") as fh:
            for number, text in _numbered(fh, path, check_head=True):
                yield number, text
    except _DAMAGED as exc:
        raise DataFormatError(path, number + 1, f"the {kind} stream is damaged or cut short ({str(exc) or type(exc).__name__}); "
                                                f"check the file (e.g. {'xz -t' if kind == 'xz' else kind + ' -t'})") from None


def text_head_lines(path: str | Path, limit: int = 64 * 1024) -> list[str]:
    """The first lines of a file that may be compressed (``iter_text_lines``), up to about ``limit``
    characters, for telling its format."""
    lines, size = [], 0
    for _, text in iter_text_lines(path):
        lines.append(text)
        size += len(text) + 1
        if size >= limit:
            break
    return lines


def json_line(line: str, path: str | Path, number: int | None):
    """The JSON value of one input line (``json.JSONDecodeError`` for one that is not JSON), refused
    as a ``DataFormatError`` naming the line when any string in it holds a lone surrogate (a
    ``\\ud800`` escape without its pair: not a character, and no tokenizer takes it)."""
    value = json.loads(line)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if (why := unencodable(item)) is not None:
                raise DataFormatError(path, number, f"a JSON string {why}: not a Unicode character (a \\uD800-\\uDFFF "
                                      "escape without its pair)")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


def split_fields(text: str) -> list[str]:
    """Split a column line: on tabs when the line has one (words may then hold spaces), else on
    runs of whitespace. A blank line gives no fields."""
    if not text.strip():
        return []
    if "\t" in text:
        return [f.strip(" ") for f in text.split("\t")]
    return text.split()
