"""``audit --fix-from REVIEWED.jsonl``: a corrected copy of the audited file, holding exactly the
changes a reviewer accepted.

The reviewed file is the audit's ``issues.jsonl`` with ``"review": "accept"`` (or ``"reject"``) on
the issues looked at; an issue without an accepted review changes nothing. An accepted entity issue
replaces its ``given`` span by its ``suggested`` one (a missing entity adds it, a spurious one
removes it); an accepted text issue replaces the label. Before anything is written, each accepted
issue is checked against the file (its words, its given span or label still there) and against the
other accepted issues (no two suggested spans may overlap): a mismatch is one line naming the
reviewed file's line.

The copy keeps the file's format and every byte the fixes do not touch: in a file with one word a
line (CoNLL, ``.bio``, Weibo) only the tag field of the changed words' lines; in JSON Lines
(entitune's, doccano's) only the changed lines, re-serialised with their other fields; in CSV/TSV
only the changed rows, quoted as they were. Tags are written in the file's own scheme (IOB1, BIOES...).
Other formats (GMB, KLUE, KMOU, Label Studio's export) are refused: convert the file first.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from ..data._lines import iter_lines, json_line, read_bytes
from ..data.texts import delimited_layout
from ..errors import ConfigError, DataFormatError, shorten
from ..tags import from_iob2, tags_from_spans
from ..types import Sentence, Span, TextExample

ACCEPT, REJECT = "accept", "reject"
#: formats whose corrected copy is written by patching the changed lines
NER_FIX_FORMATS = ("conll", "bio", "weibo", "jsonl", "doccano")
TEXT_FIX_FORMATS = ("csv", "tsv", "jsonl", "doccano")


def read_reviewed(path: str) -> list[tuple[int, dict]]:
    """``(line, issue)`` for each issue of a reviewed JSONL whose ``review`` is ``accept``; a line
    that is not an issue object, or a ``review`` other than accept / reject (any case) or empty, is a
    ``DataFormatError`` at its line."""
    accepted = []
    for number, raw in iter_lines(path):
        if not raw.strip():
            continue
        try:
            issue = json_line(raw, path, number)
        except (json.JSONDecodeError, RecursionError):
            raise DataFormatError(path, number, "not valid JSON; expected one issue of 'entitune audit' a line") from None
        if not isinstance(issue, dict) or "kind" not in issue or not ({"sentence", "index"} & issue.keys()):
            raise DataFormatError(path, number, "not an issue written by 'entitune audit' (no kind, sentence or index)")
        review = issue.get("review")
        if review in (None, ""):
            continue
        if not isinstance(review, str) or review.strip().lower() not in (ACCEPT, REJECT):
            raise DataFormatError(path, number, f"review must be {ACCEPT!r} or {REJECT!r} (or absent), "
                                                f"got {shorten(repr(review))}")
        if review.strip().lower() == ACCEPT:
            accepted.append((number, issue))
    return accepted


def _as_span(raw: object, path: str, line: int, what: str) -> Span | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or type(raw.get("start")) is not int or type(raw.get("end")) is not int \
            or not isinstance(raw.get("label"), str) or not raw["label"]:
        raise DataFormatError(path, line, f"{what} must be null or a span with start, end and label")
    return Span(raw["start"], raw["end"], raw["label"])


def entity_fixes(sentences: Sequence[Sentence], accepted: Sequence[tuple[int, dict]], review_path: str,
                 data_path: str) -> dict[int, list[Span]]:
    """The spans of every sentence the ``accepted`` issues change, after all of them: first every
    accepted given span goes, then every suggested span comes (one suggested for two given spans,
    as a merge gives, comes once). See the module docstring for the checks."""
    from ..tags import spans_from_tags

    spans: dict[int, list[Span]] = {}
    suggestions: list[tuple[int, int, Span]] = []
    for line, issue in accepted:
        i = issue.get("sentence")
        if type(i) is not int or not 0 <= i < len(sentences):
            raise DataFormatError(review_path, line, f"sentence {shorten(repr(i))} is not a sentence of {data_path} "
                                                     f"({len(sentences)} sentences)")
        sentence = sentences[i]
        if list(issue.get("words") or ()) != list(sentence.words):
            raise DataFormatError(review_path, line, f"the issue's words differ from sentence {i} of {data_path} "
                                                     f"(line {sentence.line}): audit this version of the file")
        given = _as_span(issue.get("given"), review_path, line, "given")
        suggested = _as_span(issue.get("suggested"), review_path, line, "suggested")
        if given is None and suggested is None:
            raise DataFormatError(review_path, line, "an issue needs a given or a suggested span")
        current = spans.setdefault(i, list(spans_from_tags(sentence.tags or ())))
        if given is not None:
            if given not in current:
                raise DataFormatError(review_path, line, f"the given span {given.label} [{given.start}, {given.end}) is "
                                                         f"not in sentence {i} of {data_path} (fixed already?)")
            current.remove(given)
        if suggested is not None:
            if not 0 <= suggested.start < suggested.end <= len(sentence.words):
                raise DataFormatError(review_path, line, "the suggested span is outside the sentence")
            suggestions.append((line, i, suggested))
    added: dict[int, list[tuple[Span, int]]] = {}
    for line, i, suggested in suggestions:
        if any(other == suggested for other, _ in added.get(i, [])):
            continue
        for other, other_line in added.get(i, []):
            if other.start < suggested.end and suggested.start < other.end:
                raise DataFormatError(review_path, line, f"its suggested span overlaps the one accepted at line "
                                                         f"{other_line}; accept one of them")
        for other in spans[i]:
            if other.start < suggested.end and suggested.start < other.end:
                raise DataFormatError(review_path, line, f"its suggested span overlaps {other.label} "
                                                         f"[{other.start}, {other.end}) of the file, which no accepted "
                                                         "issue removes; accept that one's issue too, or reject this")
        spans[i].append(suggested)
        added.setdefault(i, []).append((suggested, line))
    return {i: sorted(s, key=lambda x: x.start) for i, s in spans.items()}


def _file_lines(path: str) -> list[str]:
    """The file's lines with their endings (a leading BOM dropped)."""
    return read_bytes(path).decode("utf-8").splitlines(keepends=True)


def _replace_field(line: str, new: str, first: bool) -> str:
    """``line`` with its first (``first``) or last field replaced by ``new``, spacing kept."""
    body = line.rstrip("\r\n")
    ending = line[len(body):]
    if first:
        stripped = body.lstrip()
        lead = body[: len(body) - len(stripped)]
        cut = min((k for k in (stripped.find("\t"), stripped.find(" ")) if k >= 0), default=len(stripped))
        return lead + new + stripped[cut:] + ending
    stripped = body.rstrip()
    trail = body[len(stripped):]
    cut = max(stripped.rfind("\t"), stripped.rfind(" "))
    return stripped[: cut + 1] + new + trail + ending


def corrected_entities(path: str, format: str, scheme: str, sentences: Sequence[Sentence],
                       fixes: dict[int, list[Span]]) -> str:
    """The text of ``path`` with each fixed sentence's tags (or entities) replaced."""
    if format not in NER_FIX_FORMATS:
        raise ConfigError(f"a corrected copy keeps the file's format, which works for {', '.join(NER_FIX_FORMATS)}; "
                          f"convert this {format} file first (entitune convert DATA --to jsonl --out FILE) and audit that")
    lines = _file_lines(path)
    for i, spans in fixes.items():
        sentence = sentences[i]
        n = len(sentence.words)
        iob2 = tags_from_spans(spans, n)
        if format in ("conll", "bio", "weibo"):
            tags = from_iob2(iob2, scheme)  # type: ignore[arg-type]
            for k, tag in enumerate(tags):
                lines[sentence.line - 1 + k] = _replace_field(lines[sentence.line - 1 + k], tag, first=format == "bio")
            continue
        raw = lines[sentence.line - 1]
        obj = json.loads(raw)
        offsets = sentence.offsets
        if "tokens" in obj:
            obj["tags"] = from_iob2(iob2, scheme)  # type: ignore[arg-type]
        elif format == "doccano" and "entities" in obj:
            obj["entities"] = [{"label": s.label, "start_offset": offsets[s.start][0], "end_offset": offsets[s.end - 1][1]}
                               for s in spans]
        else:
            entities = [(offsets[s.start][0], offsets[s.end - 1][1], s.label) for s in spans]
            if format == "doccano":
                obj["label" if "label" in obj or "labels" not in obj else "labels"] = [list(e) for e in entities]
            else:
                obj["entities"] = [{"start": a, "end": b, "label": c} for a, b, c in entities]
        lines[sentence.line - 1] = json.dumps(obj, ensure_ascii=False) + raw[len(raw.rstrip("\r\n")):]
    return "".join(lines)


def text_fixes(examples: Sequence[TextExample], accepted: Sequence[tuple[int, dict]], review_path: str,
               data_path: str) -> dict[int, tuple[str, str]]:
    """``index -> (given, new label)`` for the accepted text issues, checked against the file."""
    out: dict[int, tuple[str, str]] = {}
    for line, issue in accepted:
        i = issue.get("index")
        if type(i) is not int or not 0 <= i < len(examples):
            raise DataFormatError(review_path, line, f"index {shorten(repr(i))} is not a text of {data_path} "
                                                     f"({len(examples)} texts)")
        example = examples[i]
        if issue.get("text") != example.text or issue.get("given") not in (example.labels or ()):
            raise DataFormatError(review_path, line, f"the issue's text or given label differs from text {i} of "
                                                     f"{data_path} (line {example.line}): audit this version of the file")
        new = issue.get("suggested")
        if not isinstance(new, str) or not new.strip():
            raise DataFormatError(review_path, line, "suggested must be a label")
        if i in out:
            raise DataFormatError(review_path, line, f"text {i} has two accepted issues")
        out[i] = (issue["given"], new)
    return out


def corrected_texts(path: str, format: str, examples: Sequence[TextExample], fixes: dict[int, tuple[str, str]],
                    text_columns=None, label_column=None) -> str:
    """The text of ``path`` with each fixed text's label replaced."""
    if format not in TEXT_FIX_FORMATS:
        raise ConfigError(f"a corrected copy keeps the file's format, which works for {', '.join(TEXT_FIX_FORMATS)}; "
                          f"this file is {format}")
    lines = _file_lines(path)
    if format in ("jsonl", "doccano"):
        for i, (given, new) in fixes.items():
            raw = lines[examples[i].line - 1]
            obj = json.loads(raw)
            key = "label" if "label" in obj else "labels"
            value = obj[key]
            obj[key] = ([new if x == given else x for x in value] if isinstance(value, list) else new)
            lines[examples[i].line - 1] = json.dumps(obj, ensure_ascii=False) + raw[len(raw.rstrip("\r\n")):]
        return "".join(lines)
    delimiter = "\t" if format == "tsv" else ","
    layout = delimited_layout(path, delimiter, text_columns, label_column)
    by_line = {first: (last, row) for first, last, row in (layout.rows if layout else [])}
    for i, (_, new) in fixes.items():
        first = examples[i].line
        last, row = by_line[first]
        row = list(row)
        row[layout.label_at] = new  # type: ignore[union-attr]
        out = io.StringIO()
        quoted = lines[first - 1].lstrip().startswith('"')
        csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL,
                   lineterminator="").writerow(row)
        ending = lines[last - 1][len(lines[last - 1].rstrip("\r\n")):]
        lines[first - 1: last] = [out.getvalue() + ending] + [""] * (last - first)
    return "".join(lines)
