"""Realistic one-line bugs against the test suite: apply one bug of ``results/realistic_bugs.json``
to a scratch copy of ``src/`` and run the tests that reach its module there.

    python bench/realistic_bugs.py 7            # apply bug 7 to /tmp/bugs-src-7, run its tests (-x)
    python bench/realistic_bugs.py 7 --apply    # only apply it (then run anything with PYTHONPATH=/tmp/bugs-src-7)
    python bench/realistic_bugs.py 7 --tests "tests/unit/train/test_loop_contracts.py -k average"

Each bug names its file, line, the original line and the bugged one (matched without leading
spaces; the indentation is kept), and ``tests``: the selection that reaches the module (its unit
tests, the end-to-end files that run it, and the module's own doctests, run from the scratch
copy). The result is the first failing test, or "survived". Nothing in ``src/`` is touched.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUGS = ROOT / "bench" / "results" / "realistic_bugs.json"


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


def run(bug: dict, scratch: Path, target: Path, tests: str | None) -> tuple[int, str]:
    """Run the selection (``-x``: stop at the first failure) against the bugged copy."""
    selection = (tests or bug["tests"]).split()
    env = {**os.environ, "PYTHONPATH": str(scratch), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    env.setdefault("ENTITUNE_DATA", "/work/shared/data")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *selection, str(target)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    out = done.stdout + done.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.M)
    return done.returncode, failed[0] if failed else ("survived" if done.returncode == 0 else out[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("id", type=int)
    parser.add_argument("--apply", action="store_true", help="only apply the bug")
    parser.add_argument("--tests", help="another selection than the bug's own")
    args = parser.parse_args()
    bug = next(b for b in json.loads(BUGS.read_text())["bugs"] if b["id"] == args.id)
    scratch = Path(f"/tmp/bugs-src-{args.id}")
    target = apply(bug, scratch)
    print(f"bug {bug['id']}: {bug['file']}:{bug['line']}\n  - {bug['original']}\n  + {bug['bugged']}\n  in {scratch}")
    if args.apply:
        return
    code, first = run(bug, scratch, target, args.tests)
    print(f"result: {'caught by ' + first if code else first}")


if __name__ == "__main__":
    main()
