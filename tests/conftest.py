"""Shared pytest fixtures: paths to the conformance corpora in ../shared, and a cache
directory of the session's own for the processes the tests start."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RUNE_SHARED", REPO.parent / "shared"))


@pytest.fixture(autouse=True, scope="session")
def _session_cache_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hook processes the tests start keep their compiled bundles in a directory of the
    session (created by RUNE, mode 0700), not in the user's cache."""
    previous = os.environ.get("RUNE_CACHE_DIR")
    os.environ["RUNE_CACHE_DIR"] = str(tmp_path_factory.getbasetemp() / "rune-cache")
    yield
    if previous is None:
        os.environ.pop("RUNE_CACHE_DIR", None)
    else:
        os.environ["RUNE_CACHE_DIR"] = previous
