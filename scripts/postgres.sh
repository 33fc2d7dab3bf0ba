#!/usr/bin/env bash
# Make sure a PostgreSQL server is there for the test of a tune study shared by several workers
# (tests/e2e/test_tune_shared.py starts its own throwaway server with initdb and pg_ctl). Idempotent:
# does nothing when the programs exist. Installs Debian's postgresql package when run as root with
# apt-get; otherwise says so in one line and carries on (the test then skips, or fails in CI with
# the same reason).
set -uo pipefail
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if apt-get update -qq >/dev/null 2>&1 && \
       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1; then
        echo "postgres: installed $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)"
        exit 0
    fi
    echo "postgres: apt-get could not install postgresql; the shared-study test will not run"
else
    echo "postgres: no PostgreSQL server (initdb, pg_ctl) found (install postgresql as root); the shared-study test will not run"
fi
exit 0
