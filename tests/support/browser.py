"""Debian's Chromium driven by Playwright (never Playwright's own browser builds, which are not installed).

Missing Chromium fails the test, saying how to install it: a browser test is never skipped silently.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Screenshots and other artifacts of the browser tests (git-ignored); CI keeps what it finds there.
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", str(ROOT / "artifacts")))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The flags that work on a machine without a display, GPU or network (beyond loopback).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
INSTALL_HINT = ("Chromium is needed for the browser tests: install Debian's package with "
                "`apt-get install -y chromium` (as root; `make test` does it when it runs as root), "
                "or set CHROMIUM to a Chromium binary.")


def chromium_path() -> str:
    path = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM!r}. {INSTALL_HINT}", pytrace=False)
    return path


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
