"""Running the real console script (`.venv/bin/rune`, next to the test's Python)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

RUNE = Path(sys.executable).with_name("rune")
EXAMPLES = REPO / "examples"
BUNDLES = sorted(p for p in EXAMPLES.iterdir() if (p / "policies").is_dir())
NOW = "2025-03-04T03:00:00Z"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def rune(*args: str | Path, stdin: str | None = None, cwd: Path = REPO) -> Run:
    """Run `rune ARGS...` in a subprocess (from the repository root by default)."""
    env = {k: v for k, v in os.environ.items() if k != "RUNE_DEBUG"}
    done = subprocess.run([str(RUNE), *map(str, args)], capture_output=True, text=True,
                          input=stdin, cwd=cwd, env=env, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    return Run(done.returncode, done.stdout, done.stderr)
