"""A model directory as one file to ship: ``entitune package`` writes a ``.tar.gz`` of it, and
``entitune.load`` / ``entitune predict`` read one as they read the directory.

The archive holds one folder named after the model with the files that make the model (weights,
configs, tokenizer, ``entitune.json``, the model card), never its training checkpoints, and its logs
(``log.jsonl``, ``train_log.json``, TensorBoard, a report) only when asked. ``SHA256SUMS`` in the
folder lists every other file's SHA-256 (``sha256sum -c SHA256SUMS`` checks an unpacked copy). The
archive is reproducible: the same directory gives the same bytes (sorted names, no times or owners).

Reading one unpacks it once into a cache folder named by the archive's own SHA-256 (``$ENTITUNE_CACHE``,
else ``$XDG_CACHE_HOME/entitune``, else ``~/.cache/entitune``), refusing anything but plain files and
folders under the one model folder (no absolute names, ``..``, links or devices; tarfile's ``data``
filter on top), and checking every file against ``SHA256SUMS`` before the folder takes its final name.
"""
from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ..errors import ConfigError, not_a_model, output_error
from ..files import LOCK_FILE, fsync_dir, sha256_file
from .layout import SETTINGS_FILE, is_tagger_dir

MANIFEST = "SHA256SUMS"
#: files and folders of a run directory that are its logs: packaged only with ``with_logs``
LOG_FILES = frozenset({"log.jsonl", "train_log.json", "report.html"})
LOG_DIRS = frozenset({"tensorboard"})
#: never packaged: resumable training state, not the model
SKIPPED_DIRS = frozenset({"checkpoints"})
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


# ---------------------------------------------------------------------------------- writing
def package_files(directory: str | Path, with_logs: bool = False) -> tuple[list[Path], list[str]]:
    """The files of a model directory that a package holds (relative paths, sorted), and what was
    left out (names, for a note)."""
    root = Path(directory)
    chosen: list[Path] = []
    left_out: list[str] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name.startswith(".") or name.endswith(".tmp") or name == LOCK_FILE:
            continue
        if entry.is_symlink() and not entry.exists():
            left_out.append(f"{name} (a broken link)")
        elif entry.is_dir():
            if name in LOG_DIRS and with_logs:
                chosen += sorted(p.relative_to(root) for p in entry.rglob("*") if p.is_file())
            else:
                left_out.append(f"{name}/")
        elif entry.is_file():
            if name in LOG_FILES and not with_logs:
                left_out.append(name)
            else:
                chosen.append(Path(name))
        else:
            left_out.append(f"{name} (not a regular file)")
    return chosen, left_out


def pack_model(directory: str | Path, out: str | Path, with_logs: bool = False) -> dict:
    """Write the model in ``directory`` to the archive ``out`` (``.tar.gz``; see the module's
    docstring). Returns what it wrote: ``path``, ``sha256`` (of the archive), ``files`` (name ->
    SHA-256), ``left_out`` and ``bytes``."""
    root = Path(directory)
    if not is_tagger_dir(root):
        raise not_a_model(root, f"not an entitune model (no {SETTINGS_FILE}); package a directory written by "
                                "'entitune train' or 'entitune export'")
    out = Path(out)
    if not out.name.endswith(ARCHIVE_SUFFIXES[:2]):
        raise ConfigError(f"--out {out}: give a .tar.gz (or .tgz) file name")
    folder = root.resolve().name or "model"
    files, left_out = package_files(root, with_logs)
    sums = {str(PurePosixPath(*p.parts)): sha256_file(root / p) for p in files}
    manifest = "".join(f"{digest}  {name}\n" for name, digest in sums.items()).encode("utf-8")
    tmp = out.with_name(out.name + ".tmp")
    try:
        with open(tmp, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
                with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for name in sorted({str(PurePosixPath(*p.parts[:i])) for p in map(PurePosixPath, sums)
                                        for i in range(1, len(p.parts))}):
                        tar.addfile(_member(f"{folder}/{name}", tarfile.DIRTYPE, 0))
                    for name in sums:
                        with open(root / name, "rb") as fh:
                            tar.addfile(_member(f"{folder}/{name}", tarfile.REGTYPE, (root / name).stat().st_size), fh)
                    tar.addfile(_member(f"{folder}/{MANIFEST}", tarfile.REGTYPE, len(manifest)), io.BytesIO(manifest))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise output_error(out, exc) from None
    fsync_dir(out.parent)
    return {"path": str(out), "sha256": sha256_file(out), "files": sums, "left_out": left_out,
            "bytes": out.stat().st_size}


def _member(name: str, kind: bytes, size: int) -> tarfile.TarInfo:
    """A tar entry with no time, owner or group: the same directory gives the same archive."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


# ---------------------------------------------------------------------------------- reading
def is_model_archive(path: str | Path) -> bool:
    """True when ``path`` is a file named like an archive (``.tar.gz``, ``.tgz``, ``.tar``)."""
    p = Path(path)
    return p.name.endswith(ARCHIVE_SUFFIXES) and p.is_file()


def cache_root() -> Path:
    """Where archives are unpacked: ``$ENTITUNE_CACHE``, else ``$XDG_CACHE_HOME/entitune``, else
    ``~/.cache/entitune``."""
    if os.environ.get("ENTITUNE_CACHE"):
        return Path(os.environ["ENTITUNE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "entitune"


def model_directory(path: str | Path, notice: Callable[[str], None] | None = None) -> Path:
    """``path`` itself for a model directory; for an archive written by ``pack_model``, the folder it
    unpacks to in the cache (unpacked and checked on first use)."""
    if not is_model_archive(path):
        if Path(path).name.endswith(ARCHIVE_SUFFIXES) and not Path(path).exists():
            raise ConfigError(f"{path}: no such model archive")
        return Path(path)
    digest = sha256_file(path)
    target = cache_root() / "models" / digest[:32]
    if not target.is_dir():
        unpack_model(path, target)
        if notice is not None:
            notice(f"unpacked {path} to {target}")
    folders = [p for p in target.iterdir() if p.is_dir()]
    if len(folders) != 1:  # the cache was changed by hand
        raise ConfigError(f"{target}: expected the one model folder of {path}; remove it to unpack again")
    return folders[0]


def unpack_model(archive: str | Path, target: str | Path) -> Path:
    """Unpack ``archive`` into ``target`` (made here; unpacked beside it, checked, then renamed, so
    ``target`` exists only complete). Raises ``ConfigError`` for anything but one folder of plain
    files, or a file that does not match ``SHA256SUMS``."""
    archive, target = Path(archive), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                folder = _check_members(archive, members)
                tar.extractall(work, members=members, filter="data")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ConfigError(f"{archive}: not a readable model archive ({exc})") from None
        _check_sums(archive, work / folder)
        try:
            os.replace(work, target)
        except OSError:
            if not target.is_dir():  # else another process unpacked the same archive first
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


def _check_members(archive: Path, members: list[tarfile.TarInfo]) -> str:
    """The one top folder of ``members``; every member must be a plain file or folder inside it."""
    folders = set()
    for m in members:
        parts = PurePosixPath(m.name).parts
        if m.name.startswith(("/", "\\")) or PurePosixPath(m.name).is_absolute() or ".." in parts or not parts \
                or ":" in parts[0]:
            raise ConfigError(f"{archive}: refused: member {m.name!r} would be written outside its folder")
        if not (m.isfile() or m.isdir()):
            kind = "a link" if (m.issym() or m.islnk()) else "a device or special file"
            raise ConfigError(f"{archive}: refused: member {m.name!r} is {kind}; a model archive holds plain files")
        folders.add(parts[0])
    if len(folders) != 1 or any(m.isfile() and len(PurePosixPath(m.name).parts) < 2 for m in members):
        raise ConfigError(f"{archive}: not a model archive written by 'entitune package' (files outside one model folder)")
    return folders.pop()


def _check_sums(archive: Path, folder: Path) -> None:
    """Every file in ``folder`` listed in its ``SHA256SUMS`` with a matching hash, and nothing else."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise ConfigError(f"{archive}: no {MANIFEST}; not a model archive written by 'entitune package'")
    listed: dict[str, str] = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ConfigError(f"{archive}: {MANIFEST}: unreadable line {line[:80]!r}")
        listed[name] = digest
    found = {str(PurePosixPath(*p.relative_to(folder).parts)) for p in folder.rglob("*") if p.is_file()} - {MANIFEST}
    if found != set(listed):
        extra, missing = sorted(found - set(listed)), sorted(set(listed) - found)
        raise ConfigError(f"{archive}: files do not match {MANIFEST} (not listed: {extra[:3]}, missing: {missing[:3]})")
    for name, digest in listed.items():
        if sha256_file(folder / name) != digest:
            raise ConfigError(f"{archive}: {name} does not match its SHA-256 in {MANIFEST} (damaged or altered)")
    if not (folder / SETTINGS_FILE).is_file():
        raise not_a_model(archive, f"the archive holds no {SETTINGS_FILE}; not an entitune model")

