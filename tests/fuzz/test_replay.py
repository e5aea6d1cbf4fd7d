"""Every fuzz target's seed corpus (`fuzz/corpus/<target>`) and every input it once
failed on (`tests/fuzz/crashes/<target>`) replayed through its check, when atheris (the
`fuzz` extra) is installed: the byte inputs decode to Python values through atheris'
`FuzzedDataProvider`. `tests/fuzz/test_regressions.py` has the same findings as plain
tests."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.conftest import REPO

TARGETS = ("bundle", "cedar_policy", "cedar_schema", "datalog", "engine_api",
           "entities_request", "server_wire")
CRASHES = Path(__file__).parent / "crashes"


def _inputs() -> list[tuple[str, Path]]:
    found = []
    for target in TARGETS:
        for folder in (REPO / "fuzz" / "corpus" / target, CRASHES / target):
            if folder.is_dir():
                found += [(target, path) for path in sorted(folder.iterdir()) if path.is_file()]
    return found


def test_every_target_has_a_seed_corpus() -> None:
    for target in TARGETS:
        assert (REPO / "fuzz" / f"{target}.py").is_file()
        assert any((REPO / "fuzz" / "corpus" / target).iterdir()), target


@pytest.mark.parametrize(("target", "path"), _inputs(),
                         ids=lambda v: v.name if isinstance(v, Path) else v)
def test_input_replays_cleanly(target: str, path: Path) -> None:
    pytest.importorskip("atheris")
    module = importlib.import_module(f"fuzz.{target}")
    module.check(path.read_bytes())
