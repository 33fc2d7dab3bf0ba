"""``--format auto``: tell the formats apart from the first lines of a file."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataFormatError
from ..tags import TAG_PATTERN
from ._lines import open_binary, split_fields

#: Bytes read to decide; enough for a few hundred token lines.
SNIFF_BYTES = 64 * 1024


def head_lines(path: str) -> list[str]:
    """The file's first lines (up to ``SNIFF_BYTES``; a cut last line dropped), BOM and CR removed."""
    with open_binary(path) as fh:
        data = fh.read(SNIFF_BYTES)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.decode("utf-8", errors="replace").split("\n")
    if len(data) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    return [line.rstrip("\r") for line in lines]


def json_head_kind(first: str) -> str | None:
    """``labelstudio`` for a head that opens a JSON array, ``doccano`` for a first JSON line in
    doccano's shape (a ``label`` list, or ``entities`` with ``start_offset``), ``jsonl`` for another JSON
    line, None for a head that is not JSON."""
    first = first.lstrip()
    if first.startswith("["):
        return "labelstudio"
    if not first.startswith("{"):
        return None
    try:
        obj = json.loads(first)
    except (ValueError, RecursionError):
        return "jsonl"  # its reader says what is wrong, with the line
    if isinstance(obj, dict) and "tokens" not in obj and (
            isinstance(obj.get("label"), list) or (isinstance(obj.get("entities"), list) and obj["entities"]
                               and isinstance(obj["entities"][0], dict) and "start_offset" in obj["entities"][0])):
        return "doccano"
    return "jsonl"


def sniff_format(path: str | Path) -> str:
    """Return the reader name for ``path``: labelstudio, doccano, jsonl, gmb, klue, kmou, weibo, bio or conll.

    Raises ``DataFormatError`` when no format fits.
    """
    path = str(path)
    lines = head_lines(path)
    content = [line for line in lines if line.strip()]
    if not content:
        raise DataFormatError(path, None, "empty file: no token lines found")
    first = content[0]
    if (kind := json_head_kind(first)) is not None:
        return kind
    header = [h.strip().lower() for h in first.split(",")]
    if "word" in header and "tag" in header and "sentence #" in header:
        return "gmb"
    if first.startswith("## "):
        return "klue"
    if first.startswith(";") and len(content) > 1 and content[1].startswith("$"):
        return "kmou"
    first_is_tag = last_is_tag = weibo = rows = 0
    for line in content[:500]:
        fields = split_fields(line)
        if len(fields) < 2 or fields[0] == "-DOCSTART-":
            continue
        rows += 1
        first_is_tag += bool(TAG_PATTERN.match(fields[0]))
        last_is_tag += bool(TAG_PATTERN.match(fields[-1]))
        weibo += len(fields) == 2 and len(fields[0]) == 2 and fields[0][-1].isdigit() and not fields[0][0].isdigit()
    if rows == 0:
        raise DataFormatError(path, None, "cannot tell the format: no 'word ... TAG' or 'TAG<TAB>word' lines, "
                              "and not JSONL, GMB CSV, KLUE or KMOU; give the format (format, --format)")
    if first_is_tag > last_is_tag:
        return "bio"
    if last_is_tag == 0:
        raise DataFormatError(path, None, "cannot tell the format: no column holds tags like O, B-X, I-X; give the format (format, --format)")
    if weibo == rows:
        return "weibo"
    return "conll"
