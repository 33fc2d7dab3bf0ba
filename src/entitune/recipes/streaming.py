"""Chunks of input that follow the input's pace: ``predict`` answers a line that arrives alone at
once, and batches lines that arrive together.

``paced_chunks`` reads the items on a thread into a bounded queue. A chunk is handed on when it
holds ``size`` items, when the input ends, or when no next item arrived within ``wait`` seconds (the
input would block: a slow pipe, a user typing). Under load (a file, a fast producer) the queue is
never empty and every chunk is full, so batching is what it was. The standard library's ``queue``
and ``threading`` do the work; no library offers "batch until the producer stalls" over a blocking
file object (``select`` does not work on Windows pipes, nor on a ``TextIO`` that buffers).
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

#: how long a chunk waits for the next item before it is answered as it is (seconds)
FLUSH_WAIT = 0.05

_END = object()


def paced_chunks(items: Iterable, size: int, wait: float = FLUSH_WAIT,
                 may_end: Callable[[list, object], bool] | None = None) -> Iterator[list]:
    """Lists of at most ``size`` items of ``items``, in order (see the module docstring).

    ``may_end(chunk, next_item)``, when given, says whether a chunk may end before ``next_item``
    (documents: only at a document boundary); a chunk that may not end there grows past ``size``
    until it may, and a stall flushes it only where ``may_end(chunk, None)`` holds. An error raised
    while reading the items is raised here at once: the chunk it interrupts is not handed on."""
    box: queue.Queue = queue.Queue(maxsize=max(2 * size, 2))
    stop = threading.Event()  # the consumer is gone: the reader stops too

    def put(value) -> bool:
        while not stop.is_set():
            try:
                box.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    threading.Thread(target=read, name="entitune-input", daemon=True).start()
    try:
        yield from _chunks(box, size, wait, may_end or (lambda chunk, item: True))
    finally:
        stop.set()


def _chunks(box: queue.Queue, size: int, wait: float, can_end: Callable[[list, object], bool]) -> Iterator[list]:
    chunk: list = []
    while True:
        try:
            item = box.get(timeout=wait) if chunk else box.get()
        except queue.Empty:  # the input stalls: answer what has come, if it may end here
            if can_end(chunk, None):
                yield chunk
                chunk = []
            item = box.get()
        if item is _END:
            if chunk:
                yield chunk
            return
        if isinstance(item, BaseException):
            raise item
        if len(chunk) >= size and can_end(chunk, item):
            yield chunk
            chunk = []
        chunk.append(item)
