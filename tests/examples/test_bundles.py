"""Every bundle under examples/ loads, is documented, and validates against its schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rune
from rune.cedar.schema import validate
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


@pytest.mark.xfail(strict=True, reason="with a schema, each entities/*.json file gets the "
                   "schema's action entities added, so a second entity file reports every "
                   "action as `duplicate-entity`")
def test_a_bundle_with_a_schema_may_split_its_entities(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "entities").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(
        'permit(principal, action == Action::"view", resource);')
    (tmp_path / "schema.cedarschema").write_text(
        "entity User; entity Doc; action view appliesTo { principal: User, resource: Doc };")
    for name, kind in (("users", "User"), ("docs", "Doc")):
        (tmp_path / "entities" / f"{name}.json").write_text(
            json.dumps([{"uid": {"type": kind, "id": "x"}, "attrs": {}, "parents": []}]))
    engine = rune.Engine.load(tmp_path)
    assert engine.authorize('User::"x"', 'Action::"view"', 'Doc::"x"').allowed
