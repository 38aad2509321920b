"""Shared test fixtures.

The data tests read the public files from a local mirror (CI: ``../shared/data`` beside the
repository, or ``$DUVAE_DATA_MIRROR``); nothing is downloaded during tests.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the headless browsers the browser tests look for, in order (``$DUVAE_CHROMIUM`` names another)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _mirror() -> Path:
    env = os.environ.get("DUVAE_DATA_MIRROR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The local data mirror; tests that need it are skipped (with the reason) if it is absent."""
    path = _mirror()
    if not path.is_dir():
        pytest.skip(f"no data mirror at {path} (set DUVAE_DATA_MIRROR)")
    return path


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    """One cache directory shared by the whole test session (so preprocessing runs once)."""
    return tmp_path_factory.mktemp("duvae-data-cache")


def find_browser() -> str | None:
    """``$DUVAE_CHROMIUM``, else the first Chromium-like browser on ``PATH``, else ``None``."""
    env = os.environ.get("DUVAE_CHROMIUM")
    if env:
        return env
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


@pytest.fixture(scope="session")
def browser() -> str:
    """A headless Chromium; the browser tests are skipped with the reason without one."""
    path = find_browser()
    if path is None:
        pytest.skip(f"no headless browser: none of {', '.join(BROWSERS)} is on PATH and "
                    "$DUVAE_CHROMIUM is unset (.ci/run installs Debian's chromium)")
    return path
