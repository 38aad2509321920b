"""Shared test fixtures.

The data tests read the public files from a local mirror (CI: ``../shared/data`` beside the
repository, or ``$DUVAE_DATA_MIRROR``); nothing is downloaded during tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
