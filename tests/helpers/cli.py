"""Run ``entitune``'s CLI in this process, as ``python -m entitune`` would, capturing its output."""
from __future__ import annotations

import contextlib
import io

from entitune.cli import main


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """``entitune.cli.main(argv)``: its exit status (0, or SystemExit's code), stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()
