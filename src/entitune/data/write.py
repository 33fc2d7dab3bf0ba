"""Writers: CoNLL (``word<TAB>TAG``), MIT ``.bio`` (``TAG<TAB>word``) and JSONL (tokens or spans)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import invalid_choice
from ..types import Sentence

#: Output formats of ``write_sentences``.
WRITE_FORMATS = ("conll", "bio", "jsonl", "jsonl-spans")


def write_conll(rows: Iterable[tuple[Sequence[str], Sequence[str]]]) -> str:
    """Render ``(words, tags)`` pairs as ``word<TAB>tag`` lines with a blank line after each sentence."""
    out: list[str] = []
    for words, tags in rows:
        out.extend(f"{w}\t{t}" for w, t in zip(words, tags))
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def write_bio(rows: Iterable[tuple[Sequence[str], Sequence[str]]]) -> str:
    """Render ``(words, tags)`` pairs as MIT-style ``tag<TAB>word`` lines."""
    return write_conll(((tags, words) for words, tags in rows))


def write_sentences(sentences: Iterable[Sentence], format: str) -> str:
    """Render annotated sentences in one of ``WRITE_FORMATS``."""
    from .jsonl import write_jsonl

    if format == "conll":
        return write_conll((s.words, s.tags or ()) for s in sentences)
    if format == "bio":
        return write_bio((s.words, s.tags or ()) for s in sentences)
    if format == "jsonl":
        return write_jsonl(sentences, "tokens")
    if format == "jsonl-spans":
        return write_jsonl(sentences, "spans")
    raise invalid_choice("output format", format, WRITE_FORMATS)
