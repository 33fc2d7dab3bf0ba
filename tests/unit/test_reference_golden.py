"""The option reference (every verb's flags and every config key: help, type, default, allowed
values) is what users read in the docs and in ``--help``; it is kept here as golden files, so a
change to any declaration (a help text, a default, a range, a choice) is a deliberate one: regenerate
them with ``python tests/unit/test_reference_golden.py`` and review the diff. The reference is made
in a fresh process, as the docs build and ``--help`` make it: the declarations are read when their
modules load."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _reference(kind: str) -> str:
    code = f"import sys; from entitune.cli.reference import markdown; sys.stdout.write(markdown({kind!r}))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, encoding="utf-8")
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def test_the_cli_reference_is_the_golden_one():
    assert _reference("cli") == (GOLDEN / "cli_reference.md").read_text(encoding="utf-8")


def test_the_config_reference_is_the_golden_one():
    assert _reference("config") == (GOLDEN / "config_reference.md").read_text(encoding="utf-8")


if __name__ == "__main__":
    sys.path.insert(0, str(GOLDEN.parents[1] / "src"))
    from entitune.cli.reference import markdown

    for kind in ("cli", "config"):
        (GOLDEN / f"{kind}_reference.md").write_text(markdown(kind), encoding="utf-8")
    print(f"wrote {GOLDEN}/cli_reference.md and config_reference.md")
