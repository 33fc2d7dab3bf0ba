"""``entitune serve --processes N``: N server processes answering on one listening socket.

The parent binds the socket (``app.listen``: a taken port is one line before anything loads), then
``supervise`` starts N workers; each receives the listening socket, loads its own model (its own
torch or onnxruntime, its own micro-batcher) and runs its own uvicorn server on it, and the kernel
hands each new connection to one of the processes waiting in ``accept``. The parent loads no model
and imports no torch: it waits, says "serving on" once when every worker accepts connections, and
answers signals.

How the processes live and end:

* Ctrl-C (SIGINT to the whole process group) or SIGTERM to the parent: every worker gets SIGTERM,
  finishes the requests it has (uvicorn's graceful shutdown), and ends; one that has not ended
  within ``stop_timeout_s`` is killed; the parent then returns (``entitune serve`` exits 0). Workers
  ignore SIGINT themselves, so the parent alone decides, and a worker still loading its model is
  not interrupted mid-import with a traceback.
* A worker that ends after it was serving (killed, out of memory, a crash) is replaced: one line
  on stderr names it and how it ended, and a new worker loads the model and takes its place, while
  the others go on answering. Connections the dead worker held are lost, nothing else.
* A worker that ends before it was serving stops everything: a model that cannot load would fail
  again in every replacement. Its error (``WorkerFailed``, with the worker's own message and exit
  status: 2 for a user's mistake, 1 otherwise) is raised in the parent after the other workers are
  stopped, so the error is one line, said once, not once per worker.
* A worker whose parent is gone (killed with SIGKILL, which nothing can catch) stops itself
  (``multiprocessing.parent_process().sentinel``), so no orphan keeps the port.

Why multiprocessing's spawn context and a small supervisor here rather than uvicorn's own
``uvicorn.supervisors.Multiprocess`` (``uvicorn --workers``), whose socket passing this copies:
that supervisor restarts a worker that exits with any status but 3, so a model that cannot load is
loaded again and again and a user's mistake never becomes one line and exit 2; it has no hook for
"every worker is ready", so "serving on" would be said before any model loaded; and its signal
handlers are installed when it is constructed, for the whole process. Spawn rather than fork: each
worker starts a fresh interpreter and imports torch (or onnxruntime) itself, so no thread pool or
lock of the parent is copied half-held into a child, and it behaves the same on every platform
Python runs on. The cost is each worker's imports, paid once at start, in parallel.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from ..errors import EntituneError

#: how often the parent looks at its flags between events (a signal is answered within this)
POLL_S = 0.2


class WorkerFailed(EntituneError):
    """A server process ended before it was serving: its message, and its exit status (2 for a
    user's mistake such as a model that cannot run on the device asked for, 1 otherwise)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def cpus_available() -> int:
    """The CPUs this process may run on (its affinity where the system says, else the count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def threads_per_process(processes: int) -> int:
    """The CPU threads each of ``processes`` workers gets by default: the available CPUs divided
    among them, at least one, so N processes do not oversubscribe the cores.

    >>> threads_per_process(10**6)
    1
    """
    return max(1, cpus_available() // processes)


def how_it_ended(exitcode: int | None) -> str:
    """A process's end in words: ``exit status 1``, ``killed by SIGKILL``.

    >>> how_it_ended(-9), how_it_ended(2)
    ('killed by SIGKILL', 'exit status 2')
    """
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


@dataclass
class _Worker:
    process: Any  # a multiprocessing SpawnProcess
    conn: Connection  # the parent's end of the pipe the worker says "ready" (or "failed") on
    ready: dict | None = None  # what the worker said when it began serving
    failure: tuple[str, int] | None = None  # its error message and exit status, if it said one


def supervise(target: Callable[..., None], args: tuple, *, processes: int, sock,
              on_ready: Callable[[dict], None] | None = None, note: Callable[[str], None] | None = None,
              stop_timeout_s: float = 30.0) -> None:
    """Run ``target(sock, ready, *args)`` in ``processes`` spawned workers until SIGINT or SIGTERM.

    ``target`` (a module-level function: it is imported by name in each worker) loads what it
    serves, calls ``ready(info)`` once it accepts connections on ``sock`` (``info``: a small
    picklable dict) and serves until it gets SIGTERM. ``on_ready(info)`` is called in the parent,
    with the first worker's ``info``, once every worker is ready; ``note`` says a replaced worker.
    Raises ``WorkerFailed`` when a worker ends before it is ready (the others stopped first).
    Signal handlers are set only in the main thread (elsewhere the caller stops the workers by
    ending its own process)."""
    note = note or (lambda message: print(message, file=sys.stderr, flush=True))
    context = multiprocessing.get_context("spawn")
    stop: list[int] = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.append(signum))

    def start() -> _Worker:
        parent_end, child_end = context.Pipe(duplex=False)
        process = context.Process(target=_worker_main, args=(target, sock, child_end, args), daemon=False,
                                  name="entitune-serve")
        process.start()
        child_end.close()  # the worker holds its own copy: the parent's end sees EOF when the worker ends
        return _Worker(process, parent_end)

    workers: list[_Worker] = []
    said_ready = False
    try:
        workers = [start() for _ in range(processes)]
        while not stop:
            wait([w.process.sentinel for w in workers] + [w.conn for w in workers if not w.conn.closed], POLL_S)
            if stop:
                break
            for w in workers:  # what each said first: a worker says "failed" before it ends
                _read_messages(w)
            if not said_ready and all(w.ready is not None for w in workers):
                said_ready = True
                if on_ready is not None:
                    on_ready(workers[0].ready)
            for i, w in enumerate(workers):
                if w.process.is_alive():
                    continue
                _read_messages(w)
                if w.ready is None:  # never served: every replacement would fail the same way
                    if w.failure is not None:
                        raise WorkerFailed(*w.failure)
                    raise WorkerFailed(f"a server process ended before it was serving ({how_it_ended(w.process.exitcode)}; "
                                       "its messages are above)")
                note(f"server process {w.process.pid} ended ({how_it_ended(w.process.exitcode)}); starting another")
                w.conn.close()
                workers[i] = start()
    finally:
        _stop_all(workers, stop_timeout_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _read_messages(worker: _Worker) -> None:
    """Take what ``worker`` said so far off its pipe (and close the pipe at its end)."""
    while not worker.conn.closed and worker.conn.poll():
        try:
            kind, *rest = worker.conn.recv()
        except (EOFError, OSError):
            worker.conn.close()
            return
        if kind == "ready":
            worker.ready = rest[0]
        elif kind == "failed":
            worker.failure = (rest[0], rest[1])


def _stop_all(workers: list[_Worker], timeout_s: float) -> None:
    """SIGTERM to every worker still running, then wait; kill those not ended within ``timeout_s``."""
    for w in workers:
        if w.process.is_alive():
            w.process.terminate()
    deadline = time.monotonic() + timeout_s
    for w in workers:
        w.process.join(max(0.0, deadline - time.monotonic()))
        if w.process.is_alive():
            w.process.kill()
            w.process.join()
        w.conn.close()


def _worker_main(target: Callable[..., None], sock, conn: Connection, args: tuple) -> None:
    """A worker: run ``target`` on the inherited socket; say "ready" and a user error on ``conn``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent answers Ctrl-C by sending SIGTERM
    _end_with_parent()

    def ready(info: dict) -> None:
        conn.send(("ready", info))

    try:
        target(sock, ready, *args)
    except EntituneError as exc:  # a user's mistake: the parent says it once, for every worker
        conn.send(("failed", str(exc), exc.exit_code))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


def _end_with_parent() -> None:
    """SIGTERM to this worker when its parent process ends, however it ends."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="entitune-parent-watch", daemon=True).start()
