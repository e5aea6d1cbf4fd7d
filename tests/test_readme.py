"""The README's Python blocks run as written (from a scratch directory that sees the
repository's examples), so the tour never rots."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "examples").symlink_to(REPO / "examples")
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md block {index + 1}", "exec"), {})
    assert os.getcwd() == str(tmp_path)
