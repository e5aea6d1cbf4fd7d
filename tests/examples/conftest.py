"""Helpers for the example bundle tests: a clock the tests move by hand, and the check that
a bundle's policies decide as cedar-policy does over the entities its rules materialize."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cedarpy
import pytest

import rune
from rune.cedar import PolicySet
from tests.conftest import REPO

EXAMPLES = REPO / "examples"

# Tuesday 2025-03-04 03:00 UTC: inside the infra bundle's production maintenance window
# (02:00-05:00 UTC), so tests start from an ordinary working situation.
START = 1_741_057_200

# (principal, action, resource, context) with uids written as Cedar text.
Request = tuple[str, str, str, dict[str, Any] | None]


class Clock:
    """A clock for `Engine(clock=...)` that only moves when a test moves it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def load(name: str, clock: Clock) -> rune.Engine:
    """A fresh engine on the bundle `examples/<name>` (fresh limits, no approvals)."""
    return rune.Engine.load(EXAMPLES / name, clock=clock)


def policy_text(bundle: Path) -> str:
    return "\n".join(f.read_text() for f in sorted((bundle / "policies").glob("*.cedar")))


def assert_plain_cedar(bundle: Path, requests: Iterable[Request]) -> None:
    """The bundle's policies stay plain Cedar: over the materialized entities (written plus
    derived), cedar-policy and a rule-free RUNE engine give the same decision and reasons,
    and the bundle's rules only ever restrict what Cedar allows."""
    engine = rune.Engine.load(bundle, clock=lambda: START)
    snapshot = engine.snapshot
    entities = snapshot.entities.to_json()
    text = policy_text(bundle)
    schema_file = bundle / "schema.cedarschema"
    schema = schema_file.read_text() if schema_file.exists() else None
    plain = rune.Engine(policies=text, entities=entities, schema=schema)
    # cedar-policy numbers policies in file order; map them back to their @id.
    ids = {f"policy{i}": p.annotated_id or p.id
           for i, p in enumerate(PolicySet.from_str(text))}
    requests = list(requests)
    reference = cedarpy.is_authorized_batch(
        [{"principal": p, "action": a, "resource": r, "context": c or {}}
         for p, a, r, c in requests],
        text, entities, schema=schema)
    for (p, a, r, c), ref in zip(requests, reference, strict=True):
        ours = plain.authorize(p, a, r, c)
        assert not ref.diagnostics.errors, (p, a, r, ref.diagnostics.errors)
        # "ask" is Cedar's allow, pending a human's approval.
        cedar_allows = ref.decision is cedarpy.Decision.Allow
        assert (ours.decision != "deny") == cedar_allows, (p, a, r, c)
        assert {ids[x] for x in ref.diagnostics.reasons} == {
            x for x in ours.reasons if not x.startswith("approval:")}, (p, a, r, c)
        if not cedar_allows:
            assert engine.authorize(p, a, r, c).decision == "deny", (p, a, r, c)
