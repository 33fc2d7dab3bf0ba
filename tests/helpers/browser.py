"""Headless Chromium for page tests (``scripts/browser.sh`` installs it): a driver with the network
cut off, or a skip (a failure in CI) saying what is missing."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers.data import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def artifacts() -> Path:
    """Where page tests leave their screenshots: $ENTITUNE_ARTIFACTS, else tests/artifacts."""
    path = Path(os.environ.get("ENTITUNE_ARTIFACTS", REPO / "tests" / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def offline_chromium(profile: Path, width: int = 1280, height: int = 900, offline: bool = True):
    """A headless Chromium driver (selenium) whose network is emulated offline: a page that needs
    anything but itself shows it. ``offline=False``: the network as it is (for a page served from a
    local server)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = f"browser test needs {', '.join(missing)} (bash scripts/browser.sh installs them)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if offline:
        options.add_argument("--proxy-server=127.0.0.1:9")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        if offline:
            driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
        yield driver
    finally:
        driver.quit()
