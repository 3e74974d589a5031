"""The dashboard's test home is the small pipeline's (tests/conftest.py): one real session of the
pipeline's small Phase 1 -> 4, stopped at curriculum (not built). The dashboard only reads it; a
test that saves a config gets its own copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def dashboard_home(small_pipeline) -> Path:
    return small_pipeline[0]


@pytest.fixture
def writable_home(dashboard_home, tmp_path) -> Path:
    """A test's own copy of the dashboard home, for tests that save."""
    home = tmp_path / "home"
    shutil.copytree(dashboard_home, home)
    return home
