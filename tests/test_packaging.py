"""RUNE's distribution: `pip install rune` brings in no third-party package.

cedarpy (the reference Cedar implementation) is a test oracle only, declared in the
`test` extra; the core validates policies itself (see `tests/test_lazy_imports.py` for
the check that using RUNE never imports it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

from tests.conftest import REPO


def test_pyproject_declares_no_runtime_dependencies() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == []
    assert any(r.startswith("cedarpy==") for r in project["optional-dependencies"]["test"])


def test_the_wheel_requires_nothing_outside_its_extras(tmp_path: Path) -> None:
    # Build from a copy, so the build leaves nothing in the source tree.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src",
                    ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "--wheel-dir", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("rune-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode())
    requirements = metadata.get_all("Requires-Dist") or []
    assert requirements, "the extras are declared"
    assert all("extra ==" in r for r in requirements), requirements
    assert any(r.startswith("cedarpy") and 'extra == "test"' in r for r in requirements)
