"""Writers: CoNLL two-column output (``word<TAB>TAG``)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence


def write_conll(rows: Iterable[tuple[Sequence[str], Sequence[str]]]) -> str:
    """Render ``(words, tags)`` pairs as ``word<TAB>tag`` lines with a blank line after each sentence."""
    out: list[str] = []
    for words, tags in rows:
        out.extend(f"{w}\t{t}" for w, t in zip(words, tags))
        out.append("")
    return "\n".join(out) + ("\n" if out else "")
