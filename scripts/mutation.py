"""Mutation testing of the whole package with mutmut (driver for ``scripts/mutation.sh``).

Every package of ``src/entitune`` is a group (the top-level modules are the group ``base``). A group
mutates its modules and runs a test selection that reaches them; mutmut maps every mutated function
to the tests that call it (in this process: tests that run ``entitune`` in a subprocess do not
count) and runs only those against each mutant. A group runs in its own copy of the repository
(``build/mutation/<group>``, so the working tree is untouched and groups can run side by side),
with the ``[tool.mutmut]`` table of pyproject.toml narrowed to the group.

Results go to ``bench/results/mutation_kill_rate.json`` (a run replaces only the groups it ran):
per group and module the mutants, killed, survived, timed out, reached by no test, the mutants
explained as equivalent (``tests/mutations/equivalent.toml``: a survivor whose file, original and
mutated line match an entry there; they count as killed), and the kill rate. Each survivor's diff,
with file and line, goes to ``build/mutation/<group>/survivors.diff``.

    python scripts/mutation.py [group ...]             # every group by default
    python scripts/mutation.py --changed [REV]         # only the lines changed since REV (default HEAD~1)
    python scripts/mutation.py --parallel 2 tags data  # two groups at once (each with --max-children)

``--changed`` mutates the files a change touched and reports only the mutants on its changed lines
(the pre-merge routine runs it: ``bash scripts/mutation.sh --changed origin/main``); it exits 1 when
one of them survives unexplained.
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "mutation_kill_rate.json"
EQUIVALENT = REPO / "tests" / "mutations" / "equivalent.toml"
WORK = REPO / "build" / "mutation"
SRC = "src/entitune"

#: in-process end-to-end tests: the command line and the recipes through ``entitune.cli.main``
E2E = ["tests/e2e/test_cli_flags.py", "tests/e2e/test_options_gate.py", "tests/e2e/test_recipe_and_cli.py",
       "tests/e2e/test_inference_contracts.py", "tests/e2e/test_several_train_files.py", "tests/e2e/test_context.py",
       "tests/e2e/test_auto_options.py"]
#: the tests each group runs against its mutants (beyond its own unit tests, tests/unit/<group>)
EXTRA_TESTS: dict[str, list[str]] = {
    "base": ["tests/unit/test_config.py", "tests/unit/test_fixtures.py", "tests/unit/data", "tests/e2e/test_faults.py",
             "tests/e2e/test_input_hardening_cli.py"],
    "options": ["tests/unit/test_reference_golden.py", "tests/unit/test_config.py", "tests/unit/train/test_training_controls.py", "tests/e2e/test_options_gate.py",
                "src/entitune/options"],
    "cli": ["tests/unit/test_reference_golden.py", "tests/unit/test_cli_help.py", "tests/unit/test_layers.py", *E2E],
    "recipes": E2E,
    "artifact": ["tests/unit/model", "tests/unit/vocab"],
    "train": ["tests/unit/train"],
    "serve": ["tests/e2e/test_serve.py"],
    "report": ["tests/e2e/test_report.py"],
    "export": ["tests/unit/export"],
    "curate": ["tests/unit/model/test_word_features.py"],
}
#: test files a group leaves out: too slow per mutant for what they add there
SKIP_TESTS: dict[str, list[str]] = {"train": ["tests/unit/train/test_pretraining.py"]}

STATUS_NAMES = ("killed", "survived", "timeout", "no_tests", "skipped", "suspicious", "segfault",
                "caught_by_type_check", "interrupted", "not_checked")
DETECTED = ("killed", "timeout", "caught_by_type_check")


def groups() -> dict[str, tuple[list[str], list[str]]]:
    """group -> (files to mutate, as globs; the test selection)."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    base = sorted(p.relative_to(REPO).as_posix() for p in (REPO / SRC).glob("*.py"))
    found["base"] = (base, EXTRA_TESTS["base"])
    for package in sorted(p for p in (REPO / SRC).iterdir() if (p / "__init__.py").is_file()):
        name = package.name
        own = [f"tests/unit/{name}"] if (REPO / "tests" / "unit" / name).is_dir() else []
        tests = list(dict.fromkeys([*own, *EXTRA_TESTS.get(name, [])]))
        tests += [f"--ignore={t}" for t in SKIP_TESTS.get(name, [])]
        found[name] = ([f"{SRC}/{name}/*"], tests or E2E)
    return found


GROUPS = groups()


def status_of(exit_code: int | None) -> str:
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[exit_code].replace(" ", "_").replace("check_was_interrupted_by_user", "interrupted")


def prepare(group: str, modules: list[str], tests: list[str]) -> Path:
    """A fresh copy of src/, tests/ and pyproject.toml (with the group's [tool.mutmut]) for the group."""
    work = WORK / group
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "artifacts", ".hypothesis", "*.egg-info")
    shutil.copytree(REPO / "src", work / "src", ignore=ignore)
    shutil.copytree(REPO / "tests", work / "tests", ignore=ignore)
    if (REPO / "docs").is_dir():
        shutil.copytree(REPO / "docs", work / "docs", ignore=ignore)
    for name in ("mkdocs.yml", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, work / name)
    shutil.copytree(REPO / "bench", work / "bench", ignore=ignore)
    text = (REPO / "pyproject.toml").read_text()
    base = tomllib.loads(text).get("tool", {}).get("mutmut", {})
    text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", text)  # the repository's table, replaced
    conf = dict(base, only_mutate=modules, pytest_add_cli_args_test_selection=tests,
                also_copy=["docs", "mkdocs.yml", "README.md", "bench"])
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in conf.items()]
    (work / "pyproject.toml").write_text(text.rstrip() + "\n" + "\n".join(lines) + "\n")
    return work


def run_mutmut(work: Path, max_children: int, timeout: float) -> tuple[str, float]:
    """Run ``mutmut run`` in ``work``; returns ("finished" | "timed out after N s" | "failed (rc N)", seconds).
    The tests' own subprocesses import the mutated copy too (tests/conftest.py sets their PYTHONPATH)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0", ENTITUNE_DATA=os.environ.get(
                   "ENTITUNE_DATA", str(REPO.parent / "shared" / "data")))
    mutmut = Path(sys.executable).with_name("mutmut")
    start = time.monotonic()
    with open(work / "mutmut.log", "w") as log:
        proc = subprocess.Popen([str(mutmut), "run", "--max-children", str(max_children)], cwd=work, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return f"timed out after {timeout:.0f} s (partial results)", time.monotonic() - start
    seconds = time.monotonic() - start
    return ("finished" if rc == 0 else f"failed (rc {rc}, see {work.relative_to(REPO)}/mutmut.log)"), seconds


def line_of(path: Path, key: str, diff: str) -> int | None:
    """The mutated line's number in the original file: the first line of the mutant's function
    (``key`` names it, mutmut's way: ``pkg.mod.x_func__mutmut_3``, ``pkg.mod.xǁClassǁmethod__mutmut_3``)
    plus the offset of the first removed line in ``diff`` (a hunk of that function's source)."""
    name = key.split("__mutmut_")[0].split(".")[-1]
    parts = name[1:].split("\u01c1") if name.startswith("x\u01c1") else [name[2:]]
    tree, starts = ast.parse(Path(path).read_text()), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for f in node.body:
                if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    starts[(node.name, f.name)] = f.lineno
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            starts.setdefault((node.name,), node.lineno)
    start = starts.get(tuple(p for p in parts if p))
    lines = diff.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"@@ -(\d+)", line)
        if m and start is not None:
            for j, body in enumerate(lines[i + 1:]):
                if body.startswith("-"):
                    return start + int(m.group(1)) - 1 + j
    return None


def source_of(key: str, root: Path = Path(".")) -> Path:
    """The source file (relative to ``root``) of a mutant named ``key``: ``pkg.mod.x_f__mutmut_1`` ->
    src/pkg/mod.py, or src/pkg/mod/__init__.py for a package's own module."""
    path = Path("src", *key.split("__mutmut_")[0].split(".")[:-1]).with_suffix(".py")
    return path if (root / path).is_file() else path.with_suffix("") / "__init__.py"


#: run in a group's work folder (mutmut imported there): each survivor's diff, file, line and lines
DIFFS = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from mutation import line_of, source_of
from mutmut.mutation.diff_apply import get_diff_for_mutant

found = {{}}
for key in sys.stdin.read().split():
    path = source_of(key)
    try:
        diff = get_diff_for_mutant(key, path=path)
    except Exception as e:  # a diff is a convenience; the counts are the result
        found[key] = {{"file": str(path), "line": None, "diff": f"no diff ({{e!r}})", "was": "", "now": ""}}
        continue
    was = [l[1:].strip() for l in diff.splitlines() if l.startswith("-") and not l.startswith("---")]
    now = [l[1:].strip() for l in diff.splitlines() if l.startswith("+") and not l.startswith("+++")]
    found[key] = {{"file": str(path), "line": line_of(path, key, diff), "diff": diff, "was": " ".join(was),
                  "now": " ".join(now)}}
json.dump(found, sys.stdout)
"""


def equivalents() -> list[dict]:
    """The surviving mutants explained as equivalent (``tests/mutations/equivalent.toml``)."""
    if not EQUIVALENT.is_file():
        return []
    return tomllib.loads(EQUIVALENT.read_text()).get("mutant", [])


def explained(info: dict, known: list[dict]) -> bool:
    squash = lambda text: re.sub(r"\s+", "", text)  # noqa: E731
    return any(info["file"].endswith(e["file"]) and squash(e["was"]) == squash(info["was"])
               and squash(e["now"]) == squash(info["now"]) for e in known)


def collect(modules: list[str], work: Path, lines: dict[str, set[int]] | None = None) -> dict:
    """Per-module counts from mutmut's meta files; every survivor's diff into survivors.diff.
    ``lines``: only the mutants on these lines of each file count (``--changed``)."""
    per_module: dict[str, dict] = {}
    codes_by_file: dict[str, dict] = {}
    for pattern in modules:
        for source in sorted(work.glob(pattern)):
            if source.suffix != ".py" or "__pycache__" in source.parts:
                continue
            rel = source.relative_to(work).as_posix()
            meta = work / "mutants" / (rel + ".meta")
            codes_by_file[rel] = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    survivors = [k for codes in codes_by_file.values() for k, c in codes.items() if status_of(c) not in DETECTED]
    if lines is not None:  # the lines of every mutant are needed to tell which ones a change touched
        survivors = [k for codes in codes_by_file.values() for k in codes]
    found = json.loads(subprocess.run([sys.executable, "-c", DIFFS], cwd=work, input="\n".join(survivors),
                                      text=True, capture_output=True, check=False).stdout or "{}")
    known = equivalents()
    with open(work / "survivors.diff", "w") as out:
        for rel, codes in codes_by_file.items():
            counts = dict.fromkeys(STATUS_NAMES, 0) | {"equivalent": 0}
            not_killed = []
            for key, code in codes.items():
                info = found.get(key)
                if lines is not None and (info is None or info["line"] not in lines.get(rel, set())):
                    continue
                status = status_of(code)
                if status not in DETECTED and info is not None and explained(info, known):
                    status = "equivalent"
                counts[status] = counts.get(status, 0) + 1
                if status not in (*DETECTED, "equivalent"):
                    not_killed.append(key)
                    if info is not None:
                        out.write(f"# {key} ({info['file']}:{info['line']}) {status}\n{info['diff']}\n\n")
            counts = {k: v for k, v in counts.items() if v or k in ("killed", "survived", "timeout", "no_tests",
                                                                      "equivalent")}
            counts["mutants"] = sum(v for k, v in counts.items() if k in (*STATUS_NAMES, "equivalent"))
            counts["kill_rate"] = rate(counts)
            counts["not_killed"] = sorted(not_killed)
            per_module[rel] = counts
    return per_module


def rate(c: dict) -> float | None:
    """Detected (killed, timed out, caught by the type check, or explained as equivalent) over
    mutants run (all but skipped); mutants no test reaches count as not detected."""
    tested = c["mutants"] - c.get("skipped", 0)
    detected = sum(c.get(k, 0) for k in (*DETECTED, "equivalent"))
    return round(detected / tested, 4) if tested else None


def total(modules: dict) -> dict:
    t: dict = {}
    for counts in modules.values():
        for k, v in counts.items():
            if isinstance(v, int):
                t[k] = t.get(k, 0) + v
    t["kill_rate"] = rate(t) if t.get("mutants") else None
    return t


def changed_lines(rev: str) -> dict[str, set[int]]:
    """``src/...py`` -> the line numbers a change since ``rev`` added or modified (the working tree)."""
    diff = subprocess.run(["git", "diff", "-U0", rev, "--", SRC], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout
    found: dict[str, set[int]] = {}
    current = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            current = line[6:] if line.startswith("+++ b/") else None
        elif line.startswith("@@") and current and current.endswith(".py"):
            m = re.match(r"@@ -\S+ \+(\d+)(?:,(\d+))? @@", line)
            start, count = int(m.group(1)), int(m.group(2) or 1)
            found.setdefault(current, set()).update(range(start, start + count))
    return {f: ls for f, ls in found.items() if ls}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_group(group: str, modules: list[str], tests: list[str], args, lines=None) -> dict:
    print(f"[{group}] mutating {' '.join(modules)} against {' '.join(tests)}", flush=True)
    work = prepare(group, modules, tests)
    outcome, seconds = run_mutmut(work, args.max_children, args.group_timeout)
    per_module = collect(modules, work, lines)
    entry = {"modules_mutated": modules, "tests": tests, "outcome": outcome, "seconds": round(seconds, 1),
             "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "total": total(per_module),
             "modules": per_module}
    t = entry["total"]
    print(f"[{group}] {outcome} in {seconds:.0f} s: {t.get('mutants', 0)} mutants, {t.get('killed', 0)} killed, "
          f"{t.get('equivalent', 0)} equivalent, {t.get('survived', 0)} survived, {t.get('timeout', 0)} timeout, "
          f"{t.get('no_tests', 0)} no tests; kill rate {t['kill_rate']}; survivors' diffs: "
          f"{(work / 'survivors.diff').relative_to(REPO)}", flush=True)
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="*", metavar="group", help=f"groups to run (default: all): {', '.join(GROUPS)}")
    parser.add_argument("--changed", nargs="?", const="HEAD~1", metavar="REV",
                        help="mutate only what changed since REV (default HEAD~1); report the changed lines only")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--parallel", type=int, default=1, help="groups run at once")
    parser.add_argument("--group-timeout", type=float, default=4 * 3600, help="seconds per group before stopping it")
    args = parser.parse_args()
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    if args.changed:
        lines = changed_lines(args.changed)
        if not lines:
            print(f"no change under {SRC} since {args.changed}: nothing to mutate")
            return 0
        plan = {}
        for group, (modules, tests) in GROUPS.items():
            files = [f for f in lines if any(Path(f).match(m) or f.startswith(m.rstrip("*")) for m in modules)]
            if files:
                plan[group] = (files, tests)
        survivors = 0
        for group, (files, tests) in plan.items():
            entry = run_group(f"changed-{group}", files, tests, args, {f: lines[f] for f in files})
            survivors += entry["total"].get("survived", 0) + entry["total"].get("no_tests", 0)
        return 1 if survivors else 0

    from importlib.metadata import version

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(
        tool={"name": "mutmut", "version": version("mutmut")},
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        cpu={"model": cpu_model(), "cores": os.cpu_count()},
        python=platform.python_version(),
        command="bash scripts/mutation.sh [group ...]",
        kill_rate_definition=("(killed + timeout + explained equivalent) / (mutants - skipped); mutants no test "
                              "reaches count as not killed"),
    )
    results.setdefault("groups", {})
    chosen = args.groups or list(GROUPS)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        futures = {g: pool.submit(run_group, g, *GROUPS[g], args) for g in chosen}
        for group, future in futures.items():
            results["groups"][group] = future.result()
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
