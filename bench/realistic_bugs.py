"""Realistic one-line bugs against the test suite: apply one bug of ``results/realistic_bugs.json``
to a scratch copy of ``src/`` and run the tests that reach its module there.

    python bench/realistic_bugs.py 7            # apply bug 7 to /tmp/bugs-src-7, run its tests (-x)
    python bench/realistic_bugs.py 7 --apply    # only apply it (then run anything with PYTHONPATH=/tmp/bugs-src-7)
    python bench/realistic_bugs.py 7 --tests "tests/unit/train/test_loop_contracts.py -k average"
    python bench/realistic_bugs.py 7 --record caught_after   # and write the result into the JSON
    python bench/realistic_bugs.py --all        # every bug, one after another; rewrites caught_after

Each bug names its file, line, the original line and the bugged one (matched without leading
spaces; the indentation is kept), and ``tests``: the selection that reaches the module (its unit
tests, the end-to-end files and tests that run it, and the module's own doctests, run from the
scratch copy). The result is the first failing test, or "survived". A failing test counts as a
catch only if it passes without the bug (it is rerun alone on ``src/``); one that fails there too
is reported as such, not as a catch. Nothing in ``src/`` is touched.

``--record FIELD`` writes each result into the bug's ``FIELD`` (``caught_before``: the suite before
tests were written for the survivors; ``caught_after``: the suite now) and the JSON's summary: how
many of the bugs each field catches, the date, the machine and the command. ``--all`` records into
``caught_after`` unless told otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUGS = ROOT / "bench" / "results" / "realistic_bugs.json"
FIELDS = ("caught_before", "caught_after")


def apply(bug: dict, scratch: Path) -> Path:
    """A fresh copy of src/ in ``scratch`` with ``bug`` applied; returns the bugged file."""
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(ROOT / "src", scratch, ignore=shutil.ignore_patterns("__pycache__"))
    target = scratch / Path(bug["file"]).relative_to("src")
    lines = target.read_text(encoding="utf-8").split("\n")
    line = lines[bug["line"] - 1]
    if line.strip() != bug["original"]:
        sys.exit(f"bug {bug['id']}: line {bug['line']} of {bug['file']} is now {line.strip()!r}, "
                 f"not {bug['original']!r}: update the JSON")
    lines[bug["line"] - 1] = line[: len(line) - len(line.lstrip())] + bug["bugged"]
    target.write_text("\n".join(lines), encoding="utf-8")
    return target


def _pytest(selection: list[str], src: Path) -> tuple[int, str]:
    """Run pytest (``-x``) on ``selection`` with ``src`` as the package root; (exit code, output)."""
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    env.setdefault("ENTITUNE_DATA", "/work/shared/data")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *selection]
    done = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def run(bug: dict, scratch: Path, target: Path, tests: str | None) -> tuple[int, str]:
    """Run the selection (``-x``: stop at the first failure) against the bugged copy: (exit code,
    the first failing test id, "survived", or the end of the output when pytest failed otherwise)."""
    code, out = _pytest([*(tests or bug["tests"]).split(), str(target)], scratch)
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.MULTILINE)
    return code, failed[0] if failed else ("survived" if code == 0 else out[-2000:])


def passes_without_the_bug(test_id: str) -> bool:
    """Whether the test that caught a bug passes alone on the real ``src/`` (a doctest of the
    scratch copy is run from ``src/``)."""
    test_id = re.sub(r"^.*?/bugs-src-\d+/", str(ROOT / "src") + "/", test_id)
    code, _ = _pytest([test_id], ROOT / "src")
    return code == 0


def check(bug: dict, tests: str | None = None) -> str:
    """Apply ``bug`` (the copy is left in /tmp/bugs-src-ID), run its selection and return the
    result as the JSON records it."""
    scratch = Path(f"/tmp/bugs-src-{bug['id']}")
    target = apply(bug, scratch)
    print(f"bug {bug['id']}: {bug['file']}:{bug['line']}\n  - {bug['original']}\n  + {bug['bugged']}\n  in {scratch}",
          flush=True)
    started = time.perf_counter()
    code, first = run(bug, scratch, target, tests)
    if "\n" in first:
        said = f"pytest stopped without a failing test:\n{first}"
    elif code and not passes_without_the_bug(first):
        first = said = f"not a catch: {first} fails without the bug too"
    else:
        said = f"caught by {first}" if code else first
    print(f"result: {said} ({time.perf_counter() - started:.0f} s)", flush=True)
    return first


def is_catch(result: str | None) -> bool:
    """Whether a recorded result names the test that caught the bug."""
    return bool(result) and result != "survived" and not result.startswith("not a catch") and "\n" not in result


def summarise(data: dict) -> None:
    """The JSON's top-level counts (how many bugs each field catches), date, machine and commands."""
    sys.path.insert(0, str(ROOT / "bench"))
    from _common import machine

    bugs = data["bugs"]
    data["bugs_total"] = len(bugs)
    for field in FIELDS:
        if any(field in b for b in bugs):
            data[field] = sum(is_catch(b.get(field)) for b in bugs)
    data["equivalent"] = sum("equivalent" in b for b in bugs)
    data["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    data["machine"] = machine()
    data["command"] = "python bench/realistic_bugs.py --all"
    data["command_before"] = ("python bench/realistic_bugs.py N --record caught_before, for each bug, on the suite "
                              "before the tests written for the survivors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("id", type=int, nargs="?", help="the bug to run (see --all)")
    parser.add_argument("--all", action="store_true", help="run every bug, one after another")
    parser.add_argument("--apply", action="store_true", help="only apply the bug")
    parser.add_argument("--tests", help="another selection than the bug's own (not recorded)")
    parser.add_argument("--record", choices=FIELDS, help="write the result(s) into this field of the JSON "
                                                         "(--all: caught_after unless given)")
    args = parser.parse_args()
    if (args.id is None) == (not args.all):
        parser.error("give one bug id or --all")
    if args.tests and args.record:
        parser.error("--record keeps each bug's own selection: leave out --tests")
    data = json.loads(BUGS.read_text())
    if args.all:
        chosen = data["bugs"]
        record = args.record or "caught_after"
    else:
        chosen = [b for b in data["bugs"] if b["id"] == args.id]
        if not chosen:
            parser.error(f"no bug {args.id} in {BUGS}")
        record = args.record
    if args.apply:
        if args.all:
            parser.error("--apply takes one bug id")
        target = apply(chosen[0], Path(f"/tmp/bugs-src-{args.id}"))
        print(f"bug {args.id} applied: {target}")
        return
    for bug in chosen:
        result = check(bug, args.tests)
        if record and "\n" in result:
            print(f"bug {bug['id']}: not recorded (pytest stopped without a failing test)")
        elif record:  # written after each bug, so an interrupted --all keeps what it ran
            bug[record] = result
            summarise(data)
            BUGS.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    if args.all:
        print(f"{sum(is_catch(b.get(record)) for b in chosen)} of {len(chosen)} caught")


if __name__ == "__main__":
    main()
