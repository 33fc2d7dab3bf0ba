"""The package's layering, as CI checks it: import-linter's contracts (pyproject.toml) hold, the
pure-Python layers load without torch, and the CLI imports nothing but recipes, config, errors and
typer."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys

from tests.helpers.data import REPO


def test_import_contracts_hold():
    """Breaking this looks like: a module importing from a layer above it (e.g. ``model`` importing
    ``predict``), which ``lint-imports`` reports with the import chain."""
    lint = shutil.which("lint-imports") or str(REPO / ".venv" / "bin" / "lint-imports")
    r = subprocess.run([lint, "--config", str(REPO / "pyproject.toml")], capture_output=True, text=True, cwd=REPO,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_pure_layers_do_not_import_torch():
    code = ("import sys, entitune.tags, entitune.data, entitune.config, entitune.types, entitune.errors, entitune.files; "
            "heavy = sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules); "
            "print(','.join(heavy))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""


def test_cli_imports_only_recipes_config_and_errors():
    tree = ast.parse((REPO / "src" / "entitune" / "cli.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
            if node.level and not node.module:
                imported.update("." + alias.name for alias in node.names)
    imported.discard(".")
    assert imported <= {"typer", "rich", ".recipes", ".config", ".errors"}, imported


def test_the_command_line_starts_without_torch():
    """``entitune`` parses its arguments, prints ``--help`` and refuses bad input files before torch
    loads (the verbs import it when they run). Broken: every command, even one refused at once,
    paid two seconds of imports first."""
    code = ("import sys, entitune.cli; print(','.join(m for m in ('torch', 'transformers', 'numpy', 'optuna') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
