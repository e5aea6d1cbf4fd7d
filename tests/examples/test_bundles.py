"""Every bundle under examples/ loads, is documented, and validates against its schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import rune
from rune.cedar.schema import validate
from tests.conftest import REPO
from tests.examples.conftest import EXAMPLES

BUNDLES = sorted(p for p in EXAMPLES.iterdir() if (p / "policies").is_dir())


def test_the_three_use_cases_are_there() -> None:
    assert {"coding-agent", "data-access-agent", "infra-agent"} <= {b.name for b in BUNDLES}


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_bundle_loads(bundle: Path) -> None:
    engine = rune.Engine.load(bundle)
    snapshot = engine.snapshot
    assert engine.version == 1
    assert len(snapshot.policies) > 0
    assert all(p.annotated_id for p in snapshot.policies), "every policy has an @id"
    assert len(snapshot.entities) > 0
    assert engine.reload() == 2


@pytest.mark.parametrize("bundle", [b for b in BUNDLES if (b / "README.md").exists()],
                         ids=lambda b: b.name)
def test_readme_describes_every_file(bundle: Path) -> None:
    readme = (bundle / "README.md").read_text()
    files = [f.relative_to(bundle) for f in bundle.rglob("*")
             if f.is_file() and f.name != "README.md"]
    missing = [str(f) for f in files if str(f) not in readme and f.name not in readme]
    assert not missing, f"README.md does not mention {missing}"


@pytest.mark.parametrize("bundle", [b for b in BUNDLES if (b / "schema.cedarschema").exists()],
                         ids=lambda b: b.name)
def test_policies_validate_against_the_schema(bundle: Path) -> None:
    snapshot = rune.Engine.load(bundle).snapshot
    assert snapshot.schema is not None
    result = validate(snapshot.policies, snapshot.schema)
    assert result.passed, result.errors


@pytest.mark.parametrize("bundle", [b for b in BUNDLES if (b / "README.md").exists()],
                         ids=lambda b: b.name)
def test_readme_code_runs(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (bundle / "README.md").read_text(), re.S)
    monkeypatch.chdir(REPO)
    for block in blocks:
        exec(compile(block, str(bundle / "README.md"), "exec"), {})
