#!/usr/bin/env bash
# Make sure headless Chromium and its driver are there for the browser test of `entitune serve`'s
# page (tests/test_serve.py). Idempotent: does nothing when both exist. Installs the Debian packages
# when run as root with apt-get; otherwise says so in one line and carries on (the test then skips,
# or fails in CI with the same reason).
set -uo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if apt-get update -qq >/dev/null 2>&1 && \
       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; then
        echo "browser: installed $(/usr/bin/chromium --version 2>/dev/null | head -1)"
        exit 0
    fi
    echo "browser: apt-get could not install chromium and chromium-driver; the page test will not run"
else
    echo "browser: /usr/bin/chromium or /usr/bin/chromedriver missing (install chromium and chromium-driver as root); the page test will not run"
fi
exit 0
