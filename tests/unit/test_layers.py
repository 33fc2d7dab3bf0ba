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
    code = ("import sys, entitune.tags, entitune.data, entitune.options, entitune.types, entitune.errors, entitune.files, "
            "entitune.terminal; "
            "heavy = sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules); "
            "print(','.join(heavy))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""


def test_each_verb_of_the_command_line_is_a_thin_call_into_a_recipe():
    """The command line's modules import, at their top, only typer, the option declarations, the
    terminal helpers, errors and each other; a verb imports its recipe inside its function (so
    ``--help`` and a refusal load no torch), and nothing else. Broken: a verb that reads files or
    builds models itself, or a CLI module that pulls in the recipes (and torch) when it loads."""
    allowed_top = {"__future__", "importlib.metadata", "dataclasses", "functools", "inspect", "types", "typing", "collections.abc", "typer",
                   "..errors", "..files", "..options", "..options.declare", "..terminal", "..__version__", "._version",
                   ".._version", "."}
    for path in sorted((REPO / "src" / "entitune" / "cli").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                assert module in allowed_top or module.startswith(".") and node.level == 1, (path.name, module)
            elif isinstance(node, ast.Import):
                assert {a.name for a in node.names} <= allowed_top, (path.name, ast.dump(node))
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    assert isinstance(node, ast.ImportFrom) and (node.module or "").startswith("recipes"), \
                        (path.name, function.name, ast.dump(node))


def test_the_command_line_starts_without_torch():
    """``entitune`` parses its arguments, prints ``--help`` and refuses bad input files before torch
    loads (the verbs import it when they run). Broken: every command, even one refused at once,
    paid two seconds of imports first."""
    code = ("import sys, entitune.cli; print(','.join(m for m in ('torch', 'transformers', 'numpy', 'optuna') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
