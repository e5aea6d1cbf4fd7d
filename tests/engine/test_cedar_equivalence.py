"""RUNE policies stay plain Cedar: rules only add parents, attributes and tags, so cedarpy
(cedar-policy 4.12, the reference) given the same policies and the engine's materialized
entities must reach the same decisions, reasons and errors on every request."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import cedarpy
import pytest

import rune
from rune.cedar import EntityUID, PolicySet
from rune.store import uid_text


def uid(type_: str, id_: str) -> dict[str, str]:
    return {"type": type_, "id": id_}


AGENTS = [f"a{i}" for i in range(12)]
TOOLS = [f"t{j}" for j in range(8)]
TEAMS = ("core", "web", "ops")
CATEGORIES = ("deploy", "search", "code")
ACTIONS = ("read", "write", "invoke", "delete")


def written_entities() -> list[dict[str, Any]]:
    """Entities as written, before any rule runs."""
    out: list[dict[str, Any]] = [
        {"uid": uid("Org", "acme"), "attrs": {}, "parents": []},
        {"uid": uid("Department", "eng"), "attrs": {}, "parents": [uid("Org", "acme")]},
        {"uid": uid("Group", "senior"), "attrs": {}, "parents": []},
        {"uid": uid("Group", "oncall"), "attrs": {}, "parents": []},
    ]
    out += [{"uid": uid("Team", t), "attrs": {},
             "parents": [uid("Department", "eng")] if t != "ops" else []} for t in TEAMS]
    out += [{"uid": uid("Folder", f"f{k}"), "attrs": {}, "parents": []} for k in range(3)]
    for i, name in enumerate(AGENTS):
        out.append({"uid": uid("Agent", name), "attrs": {"level": i % 6},
                    "parents": [uid("Team", TEAMS[i % 3])]})
    for j, name in enumerate(TOOLS):
        out.append({"uid": uid("Tool", name),
                    "attrs": {"category": CATEGORIES[j % 3], "sensitivity": j % 5},
                    "parents": [uid("Folder", f"f{j % 3}")]})
    return out


def rule_uid(type_: str, id_: str) -> str:
    return uid_text(EntityUID(type_, id_))


FACTS: dict[str, list[tuple[Any, ...]]] = {
    "oncall": [(rule_uid("Agent", a),) for a in ("a1", "a4", "a7")],
    "owns": [(rule_uid("Team", TEAMS[j % 3]), rule_uid("Tool", t))
             for j, t in enumerate(TOOLS) if j % 4 != 3],
    "trust": [(rule_uid("Agent", a), n) for a, n in (("a0", 9), ("a3", 1), ("a6", 5))],
}

# Rules feed Cedar only through derived parents, attributes and tags.
RULES = r"""
.decl oncall(agent: symbol)
.input oncall
.decl owns(team: symbol, tool: symbol)
.input owns
.decl trust(agent: symbol, n: number)
.input trust

// Parents: derived group memberships, and tools placed inside their owning team.
derived_parent(a, "Group::\"senior\"") :- entity(a, "Agent"), attr_num(a, "level", l), l >= 3.
derived_parent(a, "Group::\"oncall\"") :- oncall(a).
derived_parent(t, team) :- owns(team, t).

// Attributes: a String, a Long, and an entity reference.
derived_attr(a, "tier", "gold") :- entity(a, "Agent"), attr_num(a, "level", l), l >= 4.
derived_attr(a, "tier", "silver") :- entity(a, "Agent"), attr_num(a, "level", l), l >= 2, l < 4.
derived_attr_num(a, "trust", n) :- trust(a, n).
derived_attr_entity(t, "owner", team) :- owns(team, t).

// Tags.
derived_tag(t, "env", "prod") :- entity(t, "Tool"), attr(t, "category", "deploy").
derived_tag(t, "env", "dev") :- entity(t, "Tool"), attr(t, "category", "search").
"""

# No `@id`: ids are policy0, policy1, ... in both engines. Two policies error on some
# requests (a missing attribute, a missing tag) so that error ids are compared as well.
POLICIES = """
permit(principal in Group::"senior", action == Action::"read", resource);

permit(principal in Group::"oncall", action in [Action::"write", Action::"invoke"], resource)
when { resource.hasTag("env") && resource.getTag("env") == "prod" };

permit(principal, action == Action::"write", resource)
when { resource has owner && principal in resource.owner };

forbid(principal, action == Action::"delete", resource)
unless { principal has tier && principal.tier == "gold" };

permit(principal, action == Action::"delete", resource in Folder::"f0");

permit(principal, action, resource in Team::"core") when { principal.trust > context.risk };

forbid(principal, action, resource)
when { resource.hasTag("env") && resource.getTag("env") == "prod" && context.risk > 7 };

permit(principal is Agent, action == Action::"invoke", resource)
when { resource.getTag("env") == "dev" };

permit(principal in Department::"eng", action == Action::"read", resource in Team::"web")
when { principal has tier };
"""

REQUESTS = [
    (f'Agent::"{a}"', f'Action::"{act}"', f'Tool::"{t}"', {"risk": risk})
    for a, act, t, risk in itertools.product(AGENTS, ACTIONS, TOOLS, (2, 9))
]

_ERROR_POLICY = re.compile(r"policy `([^`]+)`")


def cedarpy_outcome(request: tuple[str, str, str, dict[str, Any]], policies: Any,
                    entities: Any, schema: Any = None) -> tuple[str, list[str], list[str]]:
    principal, action, resource, context = request
    result = cedarpy.is_authorized(
        {"principal": principal, "action": action, "resource": resource, "context": context},
        policies, entities, schema)
    errors = sorted(_ERROR_POLICY.search(e).group(1)  # type: ignore[union-attr]
                    for e in result.diagnostics.errors)
    return result.decision.value.lower(), sorted(result.diagnostics.reasons), errors


def rune_outcome(engine: rune.Engine, request: tuple[str, str, str, dict[str, Any]]
                 ) -> tuple[str, list[str], list[str]]:
    d = engine.authorize(*request)
    return d.decision, sorted(d.reasons), sorted(e.split(":", 1)[0] for e in d.errors)


def make_engine(policies: str = POLICIES, schema: str | None = None) -> rune.Engine:
    return rune.Engine(policies=policies, entities=written_entities(), rules=RULES,
                       schema=schema, facts=FACTS)


def exported(engine: rune.Engine) -> cedarpy.Entities:
    return cedarpy.Entities.from_json_str(json.dumps(engine.snapshot.entities.to_json()))


def assert_same_as_cedarpy(engine: rune.Engine, policies_text: str, schema: Any = None
                           ) -> list[tuple[str, list[str], list[str]]]:
    policies = cedarpy.PolicySet.from_str(policies_text)
    entities = exported(engine)
    outcomes = []
    for request in REQUESTS:
        mine = rune_outcome(engine, request)
        assert mine == cedarpy_outcome(request, policies, entities, schema), request
        outcomes.append(mine)
    return outcomes


def test_materialized_entities_give_cedarpy_the_same_answers() -> None:
    engine = make_engine()
    assert engine.snapshot.policies.source_text.count("permit") == 7
    outcomes = assert_same_as_cedarpy(engine, engine.snapshot.policies.source_text)
    # The comparison is not vacuous: every outcome kind occurs...
    decisions = {o[0] for o in outcomes}
    assert decisions == {"allow", "deny"}
    assert sum(1 for o in outcomes if o[2]) >= 20
    assert {r for o in outcomes for r in o[1]} == {f"policy{i}" for i in range(9)}
    # ...and the derived data matters: on the entities as written, Cedar decides otherwise.
    raw = cedarpy.Entities.from_json_str(json.dumps(written_entities()))
    policies = cedarpy.PolicySet.from_str(POLICIES)
    differing = sum(1 for request, mine in zip(REQUESTS, outcomes, strict=True)
                    if cedarpy_outcome(request, policies, raw) != mine)
    assert differing >= len(REQUESTS) // 4


def test_equivalence_holds_after_writes_change_derived_data() -> None:
    engine = make_engine()
    before = [rune_outcome(engine, r) for r in REQUESTS]
    engine.write(
        facts={"oncall": [(rule_uid("Agent", "a2"),)], "trust": [(rule_uid("Agent", "a9"), 7)]},
        retract={"oncall": [(rule_uid("Agent", "a1"),)],
                 "owns": [(rule_uid("Team", "core"), rule_uid("Tool", "t0"))]},
        entities=[{"uid": uid("Agent", "a5"), "attrs": {"level": 0},
                   "parents": [uid("Team", "ops")]}],
    )
    after = assert_same_as_cedarpy(engine, POLICIES)
    assert after != before


def test_annotated_policy_ids_map_back_to_cedar_ids() -> None:
    # The engine names policies by their `@id`; cedarpy keeps policy0, policy1, ...
    parts = [p for p in POLICIES.split(";") if p.strip()]
    annotated = ";".join(f'\n@id("rule-{i}"){p}' for i, p in enumerate(parts)) + ";"
    engine = make_engine(annotated)
    to_annotation = {p.id: p.annotated_id for p in PolicySet.from_str(annotated)}
    assert sorted(to_annotation.values()) == sorted(p.id for p in engine.snapshot.policies)
    policies = cedarpy.PolicySet.from_str(annotated)
    entities = exported(engine)
    for request in REQUESTS[::3]:
        decision, reasons, errors = cedarpy_outcome(request, policies, entities)
        expected = (decision, sorted(to_annotation[r] for r in reasons),
                    sorted(to_annotation[e] for e in errors))
        assert rune_outcome(engine, request) == expected, request


def test_exported_entities_decide_the_same_without_rules() -> None:
    engine = make_engine()
    plain = rune.Engine(policies=POLICIES, entities=engine.snapshot.entities.to_json())
    for request in REQUESTS:
        assert rune_outcome(plain, request) == rune_outcome(engine, request), request


SCHEMA = """
entity Org;
entity Department in [Org];
entity Team in [Department];
entity Group;
entity Folder;
entity Agent in [Team, Group] { level: Long, tier?: String, trust?: Long };
entity Tool in [Folder, Team] {
  category: String, sensitivity: Long, owner?: Team,
} tags String;
action read, write, invoke, delete appliesTo {
  principal: Agent, resource: Tool, context: { risk: Long },
};
"""

# The same intent written to pass strict validation (optional attributes and tags guarded).
VALID_POLICIES = """
permit(principal in Group::"senior", action == Action::"read", resource);

permit(principal in Group::"oncall", action in [Action::"write", Action::"invoke"], resource)
when { resource.hasTag("env") && resource.getTag("env") == "prod" };

permit(principal, action == Action::"write", resource)
when { resource has owner && principal in resource.owner };

forbid(principal, action == Action::"delete", resource)
unless { principal has tier && principal.tier == "gold" };

permit(principal, action, resource in Team::"core")
when { principal has trust && principal.trust > context.risk };

forbid(principal, action, resource)
when { resource.hasTag("env") && resource.getTag("env") == "prod" && context.risk > 7 };
"""


def test_policies_over_derived_data_validate_against_a_cedar_schema() -> None:
    result = cedarpy.validate_policies(VALID_POLICIES, SCHEMA)
    assert result.validation_passed, result.errors
    # The engine checks the materialized entities against the schema too.
    engine = make_engine(VALID_POLICIES, schema=SCHEMA)
    outcomes = assert_same_as_cedarpy(engine, VALID_POLICIES, cedarpy.Schema.from_str(SCHEMA))
    assert {o[0] for o in outcomes} == {"allow", "deny"}
    assert not any(o[2] for o in outcomes)


def test_derived_data_outside_the_schema_is_rejected() -> None:
    rules = RULES + 'derived_attr(a, "nickname", "x") :- entity(a, "Agent").\n'
    with pytest.raises(rune.RuneError) as info:
        rune.Engine(policies=VALID_POLICIES, entities=written_entities(), rules=rules,
                    schema=SCHEMA, facts=FACTS)
    assert info.value.code == "unexpected-attribute"
