"""Shared pytest fixtures: paths to the conformance corpora in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RUNE_SHARED", REPO.parent / "shared"))
