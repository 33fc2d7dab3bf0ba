"""``entitune serve --processes N`` as a user runs it: a real parent and its worker processes on a
loopback port, their answers against one process's, which processes answer, and how they end
(SIGTERM, Ctrl-C, a killed worker, a worker that cannot start). Processes are found in ``/proc``."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers.data import REPO, TINY_SENTENCES

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds processes in /proc (Linux)")

START_S = 180  # a worker imports its libraries and loads the model; a loaded 2-core machine is slow


# -------------------------------------------------------------------------------------------
# processes, from /proc


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first, then the parent's pid)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it counts as ended)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _children(pid: int) -> list[int]:
    """The running processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def _descendants(pid: int) -> set[int]:
    """Every running process below ``pid``: its children, theirs, and so on."""
    found, todo = set(), [pid]
    while todo:
        for child in _children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _workers(pid: int) -> set[int]:
    """The server processes of the ``entitune serve`` parent ``pid`` (multiprocessing's spawned
    children; its resource tracker is another child)."""
    return {child for child in _children(pid) if "spawn_main" in _cmdline(child)}


def _mapped(pid: int) -> str:
    """The files mapped into ``pid``'s memory: the shared libraries it loaded."""
    return Path(f"/proc/{pid}/maps").read_text()


def _gone_within(pids: set[int], seconds: float) -> set[int]:
    """Those of ``pids`` still running after waiting up to ``seconds`` for them to end."""
    deadline = time.monotonic() + seconds
    while (left := {p for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


# -------------------------------------------------------------------------------------------
# the server


class Served:
    """``python -m entitune serve MODEL --port 0 ARGS`` in its own session (one process group, as a
    terminal starts it), its stderr collected by a thread; ``url`` once it said "serving on"."""

    def __init__(self, model, *args) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen([sys.executable, "-m", "entitune", "serve", str(model), "--port", "0",
                                      *map(str, args)], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, seconds: float = START_S) -> str:
        """The first stderr line holding ``text``, waiting up to ``seconds`` for it."""
        deadline = time.monotonic() + seconds
        while True:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.proc.poll() is not None:
                self._reader.join(timeout=10)
                if not any(text in line for line in self.lines):
                    pytest.fail(f"entitune serve ended ({self.proc.returncode}) without {text!r}:\n{self.stderr}")
            assert time.monotonic() < deadline, f"no {text!r} in {seconds} s:\n{self.stderr}"
            time.sleep(0.05)

    def __enter__(self) -> "Served":
        try:
            line = self.wait_for("serving ")
        except BaseException:
            self.__exit__()
            raise
        self.url = "http://127.0.0.1:" + line.split("http://127.0.0.1:")[1].split(" ")[0]
        return self

    def end(self, sig: int = signal.SIGTERM, group: bool = False, seconds: float = 60) -> int:
        """Send ``sig`` to the parent (``group``: to its whole process group, as Ctrl-C does) and
        return its exit status."""
        if self.proc.poll() is None:
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        code = self.proc.wait(timeout=seconds)
        self._reader.join(timeout=10)
        return code

    def __exit__(self, *exc: object) -> None:
        try:
            if self.proc.poll() is None:
                self.end()
        finally:
            try:  # whatever the test left running (a worker of a failed test) ends with it
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _answering_pids(url: str, connections: int = 60, clients: int = 6) -> list[int]:
    """The ``/info`` pid of each of ``connections`` requests, each on a new connection (a server
    process keeps a connection it accepted), ``clients`` at a time; every answer must be a 200
    from one of 2 processes."""
    def ask(_: int) -> int:
        with httpx.Client(timeout=30) as client:
            response = client.get(url + "/info")
        assert response.status_code == 200, response.text
        assert response.json()["processes"] == 2
        return response.json()["pid"]

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(ask, range(connections)))


BODIES = [{"texts": ["show me films with drew barrymore from the 1980s", "films directed by steven spielberg"]},
          {"texts": ["movies from the 1980s in paris", ""]},
          {"tokens": [list(words) for words, _ in TINY_SENTENCES]},
          {"texts": ["what movies star bruce willis"]}]


@pytest.fixture(scope="module")
def export_dir(tiny_tagger_dir, tmp_path_factory) -> Path:
    """The tiny tagger exported to ONNX: what a worker loads without torch."""
    from entitune import Tagger
    from entitune.export import export_onnx

    out = tmp_path_factory.mktemp("serve-processes") / "onnx"
    export_onnx(Tagger.load(tiny_tagger_dir), out)
    return out


@pytest.fixture(scope="module")
def two(export_dir):
    """One ``entitune serve EXPORT --processes 2`` for the tests that only ask it questions."""
    with Served(export_dir, "--processes", 2) as served:
        yield served


# -------------------------------------------------------------------------------------------
# answers and who gives them


@pytest.mark.parametrize("kind", ["onnx", "torch"])
def test_two_processes_answer_as_one_does(kind, export_dir, tiny_tagger_dir):
    """Every answer of a 2-process server equals the 1-process server's for the same request, for an
    export and for a PyTorch model, each request on a new connection (so both processes answer).
    Broken (a worker serving another model or other settings than asked), an answer differs."""
    model = export_dir if kind == "onnx" else tiny_tagger_dir
    with Served(model, "--threads", 1) as one, Served(model, "--processes", 2, "--threads", 1) as both:
        for body in BODIES * 3:
            want = httpx.post(one.url + "/predict", json=body, timeout=30)
            got = httpx.post(both.url + "/predict", json=body, timeout=30)
            assert want.status_code == got.status_code == 200, (want.text, got.text)
            assert got.json() == want.json()
        assert any(p["entities"] for p in got.json()["predictions"])  # real spans were compared
        assert len(_workers(both.proc.pid)) == 2
        assert both.end() == 0


def test_connections_reach_both_processes(two):
    """New connections are answered by both worker processes (the kernel spreads them over the
    processes waiting on the one socket), never by the parent, and /info says how many processes
    serve and which answered. Broken (one worker serving, or the others on another socket), only
    one pid answers."""
    workers = _workers(two.proc.pid)
    assert len(workers) == 2, two.stderr
    seen: set[int] = set()
    for _ in range(5):  # the kernel's choice is not round robin: ask until both answered (or give up)
        seen |= set(_answering_pids(two.url))
        if seen == workers:
            break
    assert seen == workers, (seen, workers)


def test_serving_is_said_once_and_workers_of_an_export_load_no_torch(two):
    """The parent says "serving on" once (not once per worker), naming the processes and threads
    each; no process of an export's server maps torch's library (the parent loads no model, and the
    workers run onnxruntime alone). Broken (torch imported on the way to an export), libtorch is
    mapped."""
    serving = [line for line in two.lines if "serving " in line]
    assert len(serving) == 1 and "2 processes" in serving[0] and "onnx on cpu" in serving[0], two.stderr
    workers = _workers(two.proc.pid)
    assert len(workers) == 2
    for pid in workers:
        assert "onnxruntime" in _mapped(pid)  # the check can see a library when one is there
    for pid in {two.proc.pid, *workers}:
        assert "libtorch" not in _mapped(pid), pid


# -------------------------------------------------------------------------------------------
# how they end


@pytest.mark.parametrize("how", ["SIGTERM to the parent", "Ctrl-C (SIGINT to the process group)"])
def test_a_stop_ends_every_process_and_the_parent_exits_0(how, export_dir):
    """SIGTERM to the parent, or SIGINT to the whole group as Ctrl-C in a terminal sends it: every
    process of the server ends (workers, multiprocessing's helper; none left orphaned) and the
    parent exits 0 without a traceback. Broken (the parent killed by the signal, or not stopping
    its workers), the status is not 0 or a worker keeps the port."""
    with Served(export_dir, "--processes", 2) as served:
        everyone = _descendants(served.proc.pid)
        assert len(_workers(served.proc.pid)) == 2 and _workers(served.proc.pid) <= everyone
        code = served.end(signal.SIGINT, group=True) if how.startswith("Ctrl-C") else served.end(signal.SIGTERM)
        assert code == 0, served.stderr
        assert _gone_within(everyone, 10) == set()
        assert "Traceback" not in served.stderr, served.stderr


def test_workers_end_when_the_parent_is_killed(export_dir):
    """A parent killed with SIGKILL (nothing can catch it) leaves no worker serving on its port:
    each worker notices and stops. Broken (no watch on the parent), the workers live on."""
    with Served(export_dir, "--processes", 2) as served:
        workers = _workers(served.proc.pid)
        assert len(workers) == 2
        served.proc.kill()
        served.proc.wait(timeout=30)
        assert _gone_within(workers, 30) == set()


def test_a_killed_worker_is_replaced(export_dir):
    """A worker killed while serving is replaced: one line names it and how it ended, the other
    worker answers meanwhile, a new worker answers after, and a stop still ends them all with
    status 0. Broken (no replacement), the new pid never answers; (the death taken for a failure)
    the parent exits."""
    with Served(export_dir, "--processes", 2) as served:
        before = _workers(served.proc.pid)
        assert len(before) == 2
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        served.wait_for(f"server process {victim} ended (killed by SIGKILL); starting another", 60)
        deadline = time.monotonic() + START_S
        while True:  # every request is answered (200) while the replacement loads
            now = _workers(served.proc.pid)
            if len(now) == 2 and not now & {victim} and set(_answering_pids(served.url, 20)) - before:
                break
            assert served.proc.poll() is None, served.stderr
            assert time.monotonic() < deadline, f"no replacement answered:\n{served.stderr}"
            time.sleep(0.2)
        assert now - before and now & before  # one new worker beside the one that kept serving
        everyone = _descendants(served.proc.pid)
        assert served.end() == 0, served.stderr
        assert _gone_within(everyone | before, 10) == set()


def test_a_worker_that_cannot_start_is_one_line_and_exit_2(export_dir):
    """A worker that fails before serving (here: an export asked to run on CUDA) stops the server:
    its error is said once, not once per worker, with exit status 2, and no "serving on".
    Broken (the failure taken for a death while serving), workers are started again and again."""
    proc = subprocess.run([sys.executable, "-m", "entitune", "serve", str(export_dir), "--port", "0", "--processes", "2",
                           "--device", "cuda"], cwd=REPO, capture_output=True, text=True, timeout=START_S,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "device cuda" in lines[0], proc.stderr
    assert "serving" not in proc.stderr
