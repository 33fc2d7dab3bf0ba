"""Annotated files -> IOB2 sentences: read, detect the tag scheme, convert, report what was done."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import DataFormatError
from ..tags import detect_scheme, invalid_starts, to_iob2
from ..types import Sentence
from .read import read_sentences
from .sniff import sniff_format

#: Why a file of each format can be read without giving a sentence: what its reader drops.
EMPTY_REASONS = {
    "jsonl": "every line is blank or has no words (an empty 'tokens' list, or a 'text' without words)",
    "klue": "no '## id<TAB>sentence' line is followed by a character that is not a space",
    "kmou": "no '; sentence' line is followed by a morpheme row",
    "gmb": "the header has no rows under it",
}


@dataclass(frozen=True)
class Dataset:
    """Sentences of one file in IOB2, the scheme the file used, and notices for the user."""

    path: str
    sentences: list[Sentence]
    scheme: str
    notices: tuple[str, ...] = ()


def _why_empty(path: str | Path, format: str) -> str:
    """What a reader of ``format`` dropped when a file gave no sentence (see ``EMPTY_REASONS``)."""
    if format == "auto":
        format = sniff_format(path)
    return EMPTY_REASONS.get(format, "only blank lines and -DOCSTART- lines")


def load_annotated(path: str | Path, format: str = "auto", word_column: int = 0, tag_column: int = -1) -> Dataset:
    """Read an annotated file and convert its tags to IOB2 (IOB1 and BIOES are detected)."""
    raw = read_sentences(path, format, word_column, tag_column)
    if not raw:
        raise DataFormatError(str(path), None, f"no sentences found: {_why_empty(path, format)}")
    scheme, evidence = detect_scheme(s.tags for s in raw)
    notices: list[str] = []
    if scheme == "IOB2":
        if not evidence:
            return Dataset(str(path), raw, scheme)
        first = next(s for s in raw if invalid_starts(s.tags))
        notices.append(
            f"{path}: {evidence} entities start with I- instead of B- (invalid IOB2; the first in the sentence "
            f"at line {first.line}); read as entity starts, as conlleval does"
        )
    elif scheme == "IOB1":
        notices.append(f"{path}: I- starts an entity at {evidence} places, so the tags were read as IOB1 (or IO) and converted to IOB2")
    else:
        notices.append(f"{path}: tags use {'L-/U-' if scheme == 'BILOU' else 'E-/S-'} ({scheme}) prefixes; converted to IOB2")
    sentences = [replace(s, tags=tuple(to_iob2(s.tags, scheme))) for s in raw]
    return Dataset(str(path), sentences, scheme, tuple(notices))
