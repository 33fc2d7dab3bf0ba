"""What every benchmark script shares: the repository's ``src`` and ``scripts`` on the path, the
machine description recorded beside every number (CPU model and its matrix features), and the
dataset finder (``scripts/find_data.py``)."""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO / "src", REPO / "scripts"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from find_data import data_root, find_dataset  # noqa: E402

MATRIX_FLAGS = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")


def machine() -> dict:
    """CPU model, the matrix-relevant CPU flags it reports, cores, torch threads and Python."""
    cpu, flags = None, set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and cpu is None:
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        cpu = platform.processor() or platform.machine()
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        threads = None
    return {"cpu": cpu, "matrix_features": [f for f in MATRIX_FLAGS if f in flags], "nproc": os.cpu_count(),
            "torch_threads": threads, "python": platform.python_version()}


__all__ = ["REPO", "data_root", "find_dataset", "machine"]


def run_clients(client, clients: int, seconds: float) -> float:
    """Run ``client(i)`` for ``i`` in ``range(clients)`` on daemon threads, wait for them (at most
    ``seconds`` + 120 s each) and return the wall seconds it took."""
    import threading
    import time

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    return time.perf_counter() - started
