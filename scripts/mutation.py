"""Mutation testing of entitune's core modules with mutmut (driver for ``scripts/mutation.sh``).

Each group mutates a few modules and runs only the fast unit tests that exercise them; mutmut maps
every mutated function to the tests that call it, so each mutant runs a handful of tests. A group
runs in its own copy of the repository (``build/mutation/<group>``, so groups never share a
``mutants/`` folder and the working tree is untouched), with the ``[tool.mutmut]`` section of
pyproject.toml narrowed to the group. Results go to ``bench/results/mutation_kill_rate.json``
(merged: a run replaces only the groups it ran) and each survivor's diff to
``build/mutation/<group>/survivors.diff``.

    python scripts/mutation.py [--baseline] [--max-children N] [--group-timeout S] [group ...]

``--baseline`` also stores the run under ``before`` (the numbers before tests were added).
"""
from __future__ import annotations

import argparse
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
WORK = REPO / "build" / "mutation"
SRC = "src/entitune"

#: group -> (modules to mutate, the unit tests run against them). Order: the bar first.
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "tags": ([f"{SRC}/tags/*.py"], ["tests/unit/tags"]),
    "heads": ([f"{SRC}/model/heads/{m}.py" for m in ("crf", "viterbi", "linear", "classify")],
              ["tests/unit/model/test_crf.py", "tests/unit/model/test_viterbi.py", "tests/unit/model/test_heads.py"]),
    "decoding": ([f"{SRC}/decoding/{m}.py" for m in ("viterbi", "decoder")], ["tests/unit/decoding"]),
    "metrics": ([f"{SRC}/evaluate/metrics.py"], ["tests/unit/evaluate/test_metrics.py", "tests/unit/evaluate/test_metrics_exact.py"]),
    "encode": ([f"{SRC}/encode/{m}.py" for m in ("windows", "merge", "batches")], ["tests/unit/encode"]),
    # not test_pretraining.py: it tests train/pretraining.py, and through the same train_loop it
    # would add ~2.5 s to each of loop.py's ~950 mutants
    "train": ([f"{SRC}/train/{m}.py" for m in ("loop", "optim")],
              ["tests/unit/train", "--ignore=tests/unit/train/test_pretraining.py"]),
    "predict": ([f"{SRC}/predict/{m}.py" for m in ("predictor", "scorer")], ["tests/unit/predict"]),
    "serve": ([f"{SRC}/serve/{m}.py" for m in ("batching", "limits")], ["tests/unit/serve"]),
}

STATUS_NAMES = ("killed", "survived", "timeout", "no_tests", "skipped", "suspicious", "segfault",
                "caught_by_type_check", "interrupted", "not_checked")


def status_of(exit_code: int | None) -> str:
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[exit_code].replace(" ", "_").replace("check_was_interrupted_by_user", "interrupted")


def prepare(group: str) -> Path:
    """A fresh copy of src/, tests/ and pyproject.toml (with the group's [tool.mutmut]) for the group."""
    modules, tests = GROUPS[group]
    work = WORK / group
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "artifacts", ".hypothesis")
    shutil.copytree(REPO / "src", work / "src", ignore=ignore)
    shutil.copytree(REPO / "tests", work / "tests", ignore=ignore)
    text = (REPO / "pyproject.toml").read_text()
    base = tomllib.loads(text).get("tool", {}).get("mutmut", {})
    # drop the repository's [tool.mutmut] table, then write the group's
    text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", text)
    conf = dict(base, only_mutate=modules, pytest_add_cli_args_test_selection=tests)
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in conf.items()]
    (work / "pyproject.toml").write_text(text.rstrip() + "\n" + "\n".join(lines) + "\n")
    return work


def run_mutmut(work: Path, max_children: int, timeout: float) -> tuple[str, float]:
    """Run ``mutmut run`` in ``work``; returns ("finished" | "timed out after N s" | "failed (rc N)", seconds)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
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


def collect(group: str, work: Path) -> dict:
    """Per-module counts from mutmut's meta files, and every survivor's diff into survivors.diff."""
    modules: dict[str, dict] = {}
    survivors: list[str] = []
    for pattern in GROUPS[group][0]:
        for source in sorted(work.glob(pattern)):
            rel = source.relative_to(work).as_posix()
            meta = work / "mutants" / (rel + ".meta")
            codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
            counts = dict.fromkeys(STATUS_NAMES, 0)
            for key, code in codes.items():
                status = status_of(code)
                counts[status] = counts.get(status, 0) + 1
                if status not in ("killed", "timeout", "caught_by_type_check"):
                    survivors.append(key)
            counts = {k: v for k, v in counts.items() if v or k in ("killed", "survived", "timeout", "no_tests", "skipped")}
            counts["mutants"] = len(codes)
            counts["kill_rate"] = rate(counts)
            counts["not_killed"] = sorted(k for k, c in codes.items()
                                          if status_of(c) not in ("killed", "timeout", "caught_by_type_check"))
            modules[rel] = counts
    # one process for every diff (``mutmut show`` per survivor takes a second each)
    subprocess.run([sys.executable, "-c", DIFFS, work / "survivors.diff"], cwd=work, check=False,
                   input="\n".join(survivors), text=True)
    return modules


DIFFS = """
import ast, re, sys
from pathlib import Path
from mutmut.mutation.diff_apply import get_diff_for_mutant

def line_of(path, key, diff):
    # the mutated line in the original file: the function's first line plus the hunk's offset
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
        m = re.match(r"@@ -(\\d+)", line)
        if m and start is not None:
            for j, body in enumerate(lines[i + 1:]):
                if body.startswith("-"):
                    return start + int(m.group(1)) - 1 + j
    return None

with open(sys.argv[1], "w") as out:
    for key in sys.stdin.read().split():
        path = Path("src", *key.split("__mutmut_")[0].split(".")[:-1]).with_suffix(".py")
        try:
            diff = get_diff_for_mutant(key, path=path)
            out.write(f"# {key} ({path}:{line_of(path, key, diff)})\\n{diff}\\n\\n")
        except Exception as e:  # a diff is a convenience; the counts are the result
            out.write(f"# {key}: no diff ({e!r})\\n\\n")
"""


def rate(c: dict) -> float | None:
    """Detected (killed, timed out or caught by the type check) over mutants run (all but skipped);
    mutants no test reaches count as not detected."""
    tested = c["mutants"] - c.get("skipped", 0)
    detected = c.get("killed", 0) + c.get("timeout", 0) + c.get("caught_by_type_check", 0)
    return round(detected / tested, 4) if tested else None


def total(modules: dict) -> dict:
    t: dict = {}
    for counts in modules.values():
        for k, v in counts.items():
            if isinstance(v, int):
                t[k] = t.get(k, 0) + v
    t["kill_rate"] = rate(t) if t.get("mutants") else None
    return t


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="*", metavar="group", help=f"groups to run (default: all): {', '.join(GROUPS)}")
    parser.add_argument("--baseline", action="store_true", help="also record this run as 'before'")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--group-timeout", type=float, default=1200, help="seconds per group before stopping it")
    args = parser.parse_args()
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    from importlib.metadata import version

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update(
        tool={"name": "mutmut", "version": version("mutmut")},
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        cpu={"model": cpu_model(), "cores": os.cpu_count()},
        python=platform.python_version(),
        command="bash scripts/mutation.sh [group ...]",
        kill_rate_definition="(killed + timeout) / (mutants - skipped); mutants no test reaches count as not killed",
    )
    results.setdefault("groups", {})
    extra = tomllib.loads((REPO / "pyproject.toml").read_text()).get("tool", {}).get("mutmut", {}).get(
        "pytest_add_cli_args", [])
    for group in args.groups or list(GROUPS):
        modules, tests = GROUPS[group]
        print(f"[{group}] mutating {' '.join(modules)} against {' '.join(tests)}", flush=True)
        work = prepare(group)
        outcome, seconds = run_mutmut(work, args.max_children, args.group_timeout)
        per_module = collect(group, work)
        entry = {
            "modules_mutated": modules,
            "test_command": f"pytest -x -q {' '.join(extra + tests)} (mutmut runs, per mutant, only the tests "
                            "that call the mutated function)",
            "outcome": outcome,
            "seconds": round(seconds, 1),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "total": total(per_module),
            "modules": per_module,
        }
        results["groups"][group] = entry
        if args.baseline:
            results.setdefault("before", {})[group] = {k: entry[k] for k in ("date", "seconds", "outcome", "total")} | {
                "modules": {m: {k: v for k, v in c.items() if k != "not_killed"} for m, c in per_module.items()}}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        t = entry["total"]
        print(f"[{group}] {outcome} in {seconds:.0f} s: {t.get('mutants', 0)} mutants, {t.get('killed', 0)} killed, "
              f"{t.get('survived', 0)} survived, {t.get('timeout', 0)} timeout, {t.get('no_tests', 0)} no tests; "
              f"kill rate {t['kill_rate']}; survivors' diffs: {(work / 'survivors.diff').relative_to(REPO)}", flush=True)


if __name__ == "__main__":
    main()
