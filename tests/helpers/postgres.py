"""A throwaway PostgreSQL server for tests of shared ``tune`` studies (``scripts/postgres.sh``
installs the server): its own data directory in a temporary folder, on a free port of 127.0.0.1,
trust authentication (nothing but this machine can reach it), removed afterwards. Without the
server's programs or the psycopg driver the test is skipped, and fails in CI, saying what is missing.

``initdb`` refuses to run as root: as root the server runs as the ``postgres`` user (made by the
Debian package), in a folder it owns."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers.net import free_port

SERVER_USER = "postgres"
DATABASE = "entitune"


def server_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, else Debian's /usr/lib/postgresql/N/bin
    (the newest), else None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _missing() -> list[str]:
    missing = []
    if server_bin() is None:
        missing.append("the PostgreSQL server (initdb, pg_ctl)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing.append("the psycopg package (pip install 'entitune[tune-postgres]')")
    if os.geteuid() == 0 and not _user_exists(SERVER_USER):
        missing.append(f"the {SERVER_USER} user (initdb refuses root)")
    return missing


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextmanager
def postgres_server():
    """A running PostgreSQL server with an empty database; yields its SQLAlchemy URL
    (``postgresql://entitune@127.0.0.1:PORT/entitune``)."""
    if missing := _missing():
        message = f"shared-study test needs {', '.join(missing)} (bash scripts/postgres.sh installs the server)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    bindir = server_bin()
    as_root = os.geteuid() == 0
    home = Path(tempfile.mkdtemp(prefix="entitune-pg-"))
    if as_root:
        shutil.chown(home, SERVER_USER)
    data, log, port = home / "data", home / "server.log", free_port()

    def run(*argv: str) -> None:
        cmd = [str(bindir / argv[0]), *argv[1:]]
        if as_root:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode:
            tail = log.read_text()[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]} {tail}")

    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", "entitune", "--no-sync", "-E", "UTF8")
        # fsync off: a test's data need not survive a crash of the machine
        run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off -c max_connections=50", "start")
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="entitune", dbname="postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        yield f"postgresql://entitune@127.0.0.1:{port}/{DATABASE}"
    finally:
        if (data / "postmaster.pid").exists():
            try:
                run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
            except RuntimeError:
                time.sleep(1)
        shutil.rmtree(home, ignore_errors=True)
