"""Raw text -> words with character offsets. Tokenizer-independent and deterministic.

Words are runs of letters/digits (with inner hyphens, apostrophes and dots, as in ``pg-13``,
``don't``, ``u.s``); every other non-space character is a word of its own; each CJK ideograph,
kana or Hangul-free CJK symbol is a word of its own (Chinese data is tagged per character).
"""
from __future__ import annotations

import re

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_WORD = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+(?:['’.\-](?:(?![{_CJK}])\w)+)*|[^\w\s]", re.UNICODE)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Split text into ``(word, start, end)`` with ``text[start:end] == word``.

    >>> split_words("Drew Barrymore's 1980s films, pg-13.")
    [('Drew', 0, 4), ("Barrymore's", 5, 16), ('1980s', 17, 22), ('films', 23, 28), (',', 28, 29), ('pg-13', 30, 35), ('.', 35, 36)]
    """
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def join_words(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Text for pre-split words (joined by single spaces) and each word's ``(start, end)`` in it."""
    offsets: list[tuple[int, int]] = []
    pos = 0
    for w in words:
        offsets.append((pos, pos + len(w)))
        pos += len(w) + 1
    return " ".join(words), offsets


def unencodable(text: str) -> str | None:
    """Why no tokenizer can take ``text`` (a lone surrogate, as a JSON ``\\ud800`` escape without its
    pair makes, and where), or None when it is a string of Unicode characters.

    >>> unencodable("ab\\ud800cd"), unencodable("abcd")
    ('contains a lone surrogate (U+D800) at character 2', None)
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate (U+{ord(text[exc.start]):04X}) at character {exc.start}"
    return None
