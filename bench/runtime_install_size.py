#!/usr/bin/env python
"""Installed size of what a deployment of an ONNX export needs, against one with PyTorch: two fresh
virtual environments, each with this repository installed from a copy of its source tree and the
dependencies from the package index,

- ``runtime``: ``pip install 'entitune[runtime]'`` (numpy, tokenizers, onnxruntime, the service);
- ``train_runtime``: the CPU build of torch first (pinned, as scripts/setup.sh installs it), then
  ``pip install 'entitune[train,runtime]'``, what running the same export took before (the head ran
  in PyTorch, and loading an export imported transformers);

and for each the bytes under ``site-packages`` (files, not following links), the ten largest
top-level entries, and whether ``import torch`` works. A CUDA build of torch would add gigabytes
to the second; this measures the smaller CPU build.

  python bench/runtime_install_size.py --out bench/results/runtime_install_size.json [--torch 2.13.0]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tree_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def site_packages(venv: Path) -> Path:
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return Path(out)


def measure(venv: Path) -> dict:
    site = site_packages(venv)
    entries = sorted(((tree_bytes(p) if p.is_dir() else p.stat().st_size, p.name) for p in site.iterdir()), reverse=True)
    probe = {m: subprocess.run([str(venv / "bin" / "python"), "-c", f"import {m}"], capture_output=True).returncode == 0
             for m in ("torch", "transformers", "onnxruntime", "entitune")}
    freeze = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    return {"site_packages_bytes": sum(b for b, _ in entries), "site_packages_mb": round(sum(b for b, _ in entries) / 1e6, 1),
            "largest": [{"name": n, "mb": round(b / 1e6, 1)} for b, n in entries[:10]], "imports": probe,
            "distributions": len([line for line in freeze.splitlines() if line and not line.startswith("#")])}


def make_venv(root: Path, source: Path, extras: str, torch: str | None) -> Path:
    venv = root / f"venv-{extras.replace(',', '-')}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    constraint = []
    if torch:
        subprocess.run([*pip, f"torch=={torch}"], check=True)
        pinned = root / "torch-pin.txt"
        version = subprocess.run([str(venv / "bin" / "python"), "-c", "import torch; print(torch.__version__)"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        pinned.write_text(f"torch=={version}\n")
        constraint = ["-c", str(pinned)]
    subprocess.run([*pip, *constraint, f"{source}[{extras}]"], check=True)
    return venv


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--torch", default="2.13.0", help="the torch version installed first in the train venv")
    args = p.parse_args()
    result: dict = {"script": "bench/runtime_install_size.py", "python": sys.version.split()[0]}
    root = Path(tempfile.mkdtemp(prefix="entitune-size-"))
    try:
        source = root / "src"
        shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "site", "*.egg-info",
                                                                    "__pycache__", "runs"))
        result["runtime"] = measure(make_venv(root, source, "runtime", None))
        result["train_runtime"] = measure(make_venv(root, source, "train,runtime", args.torch))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["train_runtime_over_runtime"] = round(result["train_runtime"]["site_packages_bytes"]
                                                 / result["runtime"]["site_packages_bytes"], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"runtime {result['runtime']['site_packages_mb']} MB, train+runtime "
          f"{result['train_runtime']['site_packages_mb']} MB ({result['train_runtime_over_runtime']}x)")


if __name__ == "__main__":
    main()
