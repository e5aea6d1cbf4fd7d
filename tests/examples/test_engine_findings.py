"""Engine bugs the example bundles ran into, kept as regression tests now that they are fixed."""

from __future__ import annotations

import json
from pathlib import Path

import rune

REQUEST = ('User::"u"', 'Action::"buy"', 'Item::"i"')
ALLOW_ALL = "permit(principal, action, resource);"


def test_a_bundle_with_a_schema_may_split_its_entities(tmp_path: Path) -> None:
    # Both example bundles with a schema keep their entities in one file because of this.
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


def test_a_request_denied_by_its_budget_uses_no_rate_limit_slot() -> None:
    rules = """
    rate_limit("calls", 3, 60) :- request(_, _, _).
    budget("spend", 100, 60, n) :- request(_, _, _), context_num("amount", n).
    """
    engine = rune.Engine(policies=ALLOW_ALL, rules=rules, clock=lambda: 1000.0)
    assert engine.authorize(*REQUEST, {"amount": 500}).reasons == ("budget:spend",)
    assert [engine.authorize(*REQUEST, {"amount": 1}).decision for _ in range(3)] == [
        "allow"] * 3


def test_a_negative_budget_amount_gives_nothing_back() -> None:
    # The data-access and infra bundles deny negative amounts in their rules.
    rules = 'budget("spend", 100, 60, n) :- request(_, _, _), context_num("amount", n).'
    engine = rune.Engine(policies=ALLOW_ALL, rules=rules, clock=lambda: 1000.0)
    assert engine.authorize(*REQUEST, {"amount": 100}).allowed
    engine.authorize(*REQUEST, {"amount": -1000})
    assert not engine.authorize(*REQUEST, {"amount": 500}).allowed
