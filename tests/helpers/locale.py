"""The C locale's ASCII text encoding for a block: what ``open`` uses when no encoding is given."""

from __future__ import annotations

import locale
from contextlib import contextmanager


@contextmanager
def ascii_locale():
    """Run the block with ``LC_CTYPE`` at ``C`` (text files opened without an encoding are ASCII
    there): files that must be UTF-8 whatever the locale are read and written in UTF-8 inside."""
    old = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        assert locale.getencoding().lower() in ("ascii", "ansi_x3.4-1968")
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, old)
