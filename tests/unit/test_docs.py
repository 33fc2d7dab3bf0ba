"""The documentation: the site builds with warnings as errors, its code blocks are checked (every
``entitune`` command line parses against the real command, every Python block compiles), every
number of a benchmark page names its result file, every result file is cited, and the README stays
a front door."""
from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.data import REPO

DOCS = REPO / "docs"
RESULTS = REPO / "bench" / "results"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md")) + [REPO / "README.md", REPO / "bench" / "README.md"]


def blocks(kind: str):
    for page in pages():
        for lang, body in FENCE.findall(page.read_text(encoding="utf-8")):
            if lang == kind:
                yield page, body


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).with_name("mkdocs"))
    if not Path(mkdocs).exists():
        pytest.fail("mkdocs is not installed: pip install -e '.[docs]' (scripts/setup.sh installs it)")
    r = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=REPO,
                       capture_output=True, text=True, timeout=600, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin",
                                                                          "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    cli = (tmp_path / "site" / "reference" / "cli.html").read_text()
    assert "--head-lr" in cli and "--max-batch-wait-ms" in cli  # the generated reference is there


def _commands(body: str) -> list[list[str]]:
    """The ``entitune ...`` command lines of a shell block (continuations joined, comments cut)."""
    text = re.sub(r"\\\n\s*", " ", body)
    found = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        for part in re.split(r"\s*(?:\|\||&&|\||;)\s*", line):
            words = shlex.split(part, posix=True) if part else []
            if words and words[0] == "entitune":
                found.append(words[1:])
    return found


def test_every_entitune_command_in_the_docs_parses():
    """A flag renamed or removed in the code shows here as the docs command that uses it."""
    import typer

    from entitune.cli import app

    command = typer.main.get_command(app)
    bad = []
    for page in [p for p in pages()]:
        for lang, body in FENCE.findall(page.read_text(encoding="utf-8")):
            if lang not in ("bash", "sh", "console", "shell", ""):
                continue
            for args in _commands(body):
                if not args or args[0].startswith("-"):
                    continue
                try:
                    sub = command.commands.get(args[0])
                    assert sub is not None, f"no command {args[0]}"
                    rest = args[1:]
                    if hasattr(sub, "commands"):  # vocab plan / vocab extend
                        sub, rest = sub.commands.get(rest[0] if rest else ""), rest[1:]
                        assert sub is not None, f"no command {' '.join(args[:2])}"
                    flags = {o for p in sub.params for o in (*p.opts, *p.secondary_opts)}
                    for word in rest:
                        if word.startswith("--"):
                            assert word.split("=")[0] in flags, f"no flag {word}"
                except Exception as exc:  # noqa: BLE001 - each failure is reported with its page
                    bad.append(f"{page.relative_to(REPO)}: entitune {' '.join(args)}: {exc}")
    assert not bad, "\n".join(bad)


def test_every_python_block_compiles():
    bad = []
    for page, body in blocks("python"):
        try:
            ast.parse(body)
        except SyntaxError as exc:
            bad.append(f"{page.relative_to(REPO)}: {exc}")
    assert not bad, "\n".join(bad)


def test_every_result_file_is_cited_and_every_cited_file_exists():
    text = "\n".join(p.read_text(encoding="utf-8") for p in pages())
    files = {p.name for p in RESULTS.glob("*.json")}
    uncited = sorted(f for f in files if f not in text)
    cited = set(re.findall(r"bench/results/([\w.+-]+\.json)", text))
    missing = sorted(c for c in cited - files if c == c.lower())  # DATASET_eN.json: a name pattern
    assert not uncited, f"results no page cites: {uncited}"
    assert not missing, f"cited results that are not there: {missing}"


def test_every_benchmark_table_names_its_result_file():
    """On the benchmark pages a table of measurements is always followed or preceded (within its
    section) by the result file it comes from."""
    bad = []
    for page in [DOCS / "benchmarks.md", *sorted((DOCS / "benchmarks").glob("*.md"))]:
        for section in re.split(r"^#+ ", page.read_text(encoding="utf-8"), flags=re.M):
            measured = re.sub(r"\d+\.\d+\.\d+", "", section)  # version numbers are not measurements
            has_numbers = re.search(r"^\|.*\d\.\d\d", measured, re.M)  # scores, seconds, ratios
            if has_numbers and not re.search(r"bench/results/[\w.+-]+\.json|[\w.+-]+\.json", section):
                bad.append(f"{page.name}: {section.splitlines()[0][:80]}")
    assert not bad, bad


def test_the_readme_is_a_front_door():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.encode()) < 10_000
    assert "bash scripts/demo.sh" in text and "bash scripts/test.sh" in text
