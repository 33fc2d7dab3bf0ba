"""Freed memory handed back to the operating system: after each training step on the CPU, and by the
service (``serve.batching``) after each large micro-batch.

Why: a training step allocates and frees hundreds of megabytes of activations whose sizes change
from batch to batch (the longest window; for masked-LM pretraining also the masked positions).
glibc's ``malloc`` keeps freed blocks in its heaps for reuse, and raises its mmap threshold to the
largest block freed (up to 32 MiB), so the next blocks of those sizes come from the heaps as well;
as the sizes vary the heaps fragment, and the process's resident memory grows step after step
though the live tensors do not. Measured on Weibo NER text with the bundled MiniLM (2-core AMD
EPYC, fp32, batch 32): 0.73 GB before training, 1.0 GB after 2 steps, 1.9 GB after 6, while
``malloc_trim(0)`` after every step brought each step back to 0.73 GB; a whole run had reached
5 GB. ``bench/pretrain_memory.py`` measures a run with and without it. Serving long texts (the
bundled MiniLM on MIT Movie, two threads predicting one to four texts of 2,000 to 19,000 characters
and a few sentences in turn for two minutes) held about 950 MB resident without it and about 800 MB
with it after every call (826 against 632 MB at the end).

``malloc_trim`` is glibc's own call for this (it returns the free pages at the top of each heap and
advises the kernel that the free pages inside them may be dropped); no Python library wraps it, so
it is looked up with ``ctypes``. Where the C library has none (macOS, musl) nothing happens. A GPU
run keeps its activations on the device: its host heap stays small and is left alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """The C library's ``malloc_trim``, or None where it has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Hand the memory the heaps hold free back to the operating system (glibc's ``malloc_trim(0)``);
    True when the C library has the call (and pages may have been returned)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
