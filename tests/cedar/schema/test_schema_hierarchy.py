"""Entity-type hierarchies, as Cedar 4 reads them, checked against cedarpy.

`memberOfTypes` is closed transitively: with `entity B in [A]; entity C in [B];` a `C`
may have an `A` parent (cedar-policy's `allowed_parent_types` is that closure), and the
typechecker knows `C::"c" in A::"a"` may hold. Requests are different: their principal
and resource types must be listed in the action's `appliesTo`, exactly; a type that
descends from a listed one is not enough.

Generated schemas (chains, fan-in, cycles, namespaces, enumerated types), entities,
requests and policies are compared with cedarpy in the Hypothesis tests at the end.
"""

from __future__ import annotations

import json
from typing import Any

import cedarpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.cedar.schema.strategies import entity_lists, requests, schemas, static_policies

from rune.cedar import PolicySet
from rune.cedar.entities import Entities
from rune.cedar.errors import EntitiesError, RequestError
from rune.cedar.schema import Schema, validate
from rune.cedar.schema.model import ancestor_types
from rune.cedar.values import CedarRecord, EntityUID
from rune.errors import RuneError

CHAIN = """
entity A;
entity B in [A];
entity C in [B] { n: Long };
entity D { n: Long };
action act appliesTo { principal: [C, D], resource: [A] };
"""


def entity(type_: str, id_: str, *parents: tuple[str, str],
           attrs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"uid": {"type": type_, "id": id_}, "attrs": attrs or {},
            "parents": [{"type": t, "id": i} for t, i in parents]}


@pytest.fixture(scope="module")
def chain() -> Schema:
    return Schema.from_str(CHAIN)


# -- entities ---------------------------------------------------------------------------------

def test_a_parent_of_a_type_reached_transitively_is_allowed(chain: Schema) -> None:
    # The case: cedarpy accepts it, RUNE used to raise `invalid-parent-type`.
    data = [entity("C", "c", ("A", "a"), attrs={"n": 1}), entity("A", "a")]
    assert cedarpy.Entities.from_json_str(json.dumps(data), schema=CHAIN) is not None
    store = Entities.from_json(data, chain)
    assert store.is_descendant(EntityUID("C", "c"), EntityUID("A", "a"))


def test_a_parent_of_a_type_outside_the_closure_is_rejected(chain: Schema) -> None:
    for data in ([entity("A", "a", ("C", "c"))], [entity("D", "d", ("A", "a"), attrs={"n": 1})],
                 [entity("B", "b", ("B", "x"))]):
        with pytest.raises(ValueError):
            cedarpy.Entities.from_json_str(json.dumps(data), schema=CHAIN)
        with pytest.raises(EntitiesError) as caught:
            Entities.from_json(data, chain)
        assert caught.value.code == "invalid-parent-type"
        assert caught.value.path == "$[0].parents[0]"


def test_ancestor_types_close_member_of_types_and_follow_cycles() -> None:
    text = "entity A in [B]; entity B in [A]; entity C in [A]; entity D;"
    schema = Schema.from_str(text)
    assert dict(schema.ancestor_types) == {
        "A": {"A", "B"}, "B": {"A", "B"}, "C": {"A", "B"}, "D": frozenset()}
    assert ancestor_types(schema.entity_types) == dict(schema.ancestor_types)
    data = [entity("C", "c", ("B", "b")), entity("A", "a", ("A", "x"))]
    cedarpy.Entities.from_json_str(json.dumps(data), schema=text)  # accepted
    Entities.from_json(data, schema)


# -- requests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("principal,resource,accepted", [
    ('C::"c"', 'A::"a"', True),
    ('D::"d"', 'A::"a"', True),
    ('B::"b"', 'A::"a"', False),  # B is an ancestor type of C, not a principal type
    ('A::"a"', 'A::"a"', False),
    ('C::"c"', 'B::"b"', False),  # B descends from A, the resource type: still not valid
    ('C::"c"', 'C::"c"', False),
])
def test_request_types_must_be_listed_exactly(chain: Schema, principal: str, resource: str,
                                              accepted: bool) -> None:
    response = cedarpy.is_authorized(
        {"principal": principal, "action": 'Action::"act"', "resource": resource,
         "context": {}}, "permit(principal, action, resource);", [], schema=CHAIN)
    assert accepted is not any("failed to build request" in e
                               for e in response.diagnostics.errors)
    p_type, p_id = principal.split("::")
    r_type, r_id = resource.split("::")
    check = lambda: chain.validate_request(  # noqa: E731
        EntityUID(p_type, json.loads(p_id)), EntityUID("Action", "act"),
        EntityUID(r_type, json.loads(r_id)), CedarRecord())
    if accepted:
        check()
    else:
        with pytest.raises(RequestError):
            check()


# -- the typechecker --------------------------------------------------------------------------

@pytest.mark.parametrize("condition,passes", [
    # `C::"c" in A::"a"` may hold (C's ancestor types include A), so `principal.n` is
    # read for both principal types, and D has it too: valid.
    ('principal in A::"a" && principal.n > 0', True),
    # D is never in an A: for D the test is False and the read is skipped; C has `n`.
    ('principal in A::"a" && principal.x > 0', False),
    ('principal is C in A::"a" && principal.n > 0', True),
    ('principal is D in A::"a" && principal.x > 0', True),  # always false: skipped
    ('principal in B::"b" && resource.n > 0', False),  # C in B may hold; A has no `n`
    ('principal in D::"d" && resource.n > 0', False),  # D in D may hold
    ('resource in C::"c" && resource.n > 0', True),  # an A is never in a C
    ('C::"c" in A::"a" && resource.n > 0', False),
    ('A::"a" in C::"c" && resource.n > 0', True),
])
def test_in_is_false_only_when_no_ancestor_type_allows_it(condition: str, passes: bool) -> None:
    text = f"permit(principal, action, resource) when {{ {condition} }};"
    assert cedarpy.validate_policies(text, CHAIN).validation_passed is passes
    assert validate(PolicySet.from_str(text), Schema.from_str(CHAIN)).passed is passes


@pytest.mark.parametrize("scope,passes", [
    ('principal in A::"a"', True),  # C descends from A, and C is a principal type
    ('principal in B::"b"', True),
    ('principal is C in A::"a"', True),
    ('principal is D in A::"a"', False),  # no D is in an A: no action applies
    ('principal in D::"d"', True),
    ('resource in C::"c"', False),  # the resource type A never descends from C
])
def test_scope_in_uses_the_transitive_hierarchy(scope: str, passes: bool) -> None:
    slots = {"principal": "principal", "resource": "resource"}
    slots[scope.split()[0]] = scope
    text = f"permit({slots['principal']}, action, {slots['resource']});"
    assert cedarpy.validate_policies(text, CHAIN).validation_passed is passes
    assert validate(PolicySet.from_str(text), Schema.from_str(CHAIN)).passed is passes


# -- generated, against cedarpy ---------------------------------------------------------------

def _normalize(items: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {(e["uid"]["type"], e["uid"]["id"]): frozenset(
        (p["type"], p["id"]) for p in e.get("parents", [])) for e in items}


def _rune_entities(data: list[dict[str, Any]], schema: Schema) -> dict[tuple[str, str], Any]:
    store = Entities.from_json(data, schema)
    return _normalize([{"uid": e.uid.to_json(), "parents": [p.to_json() for p in e.ancestors]}
                       for e in store.values()])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_entities_agree_with_cedarpy(data: st.DataObject) -> None:
    generated = data.draw(schemas())
    schema = Schema.from_str(generated.text)
    items = data.draw(entity_lists(generated))
    try:
        expected = _normalize(json.loads(str(cedarpy.Entities.from_json_str(
            json.dumps(items), schema=cedarpy.Schema.from_str(generated.text)))))
    except ValueError:
        expected = None
    try:
        mine = _rune_entities(items, schema)
    except RuneError:
        mine = None
    assert mine == expected, (generated.text, items)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_requests_agree_with_cedarpy(data: st.DataObject) -> None:
    generated = data.draw(schemas())
    schema = Schema.from_str(generated.text)
    request = data.draw(requests(generated))
    response = cedarpy.is_authorized(request, "permit(principal, action, resource);", [],
                                      schema=cedarpy.Schema.from_str(generated.text))
    expected = not any("failed to build request" in e for e in response.diagnostics.errors)
    uid = lambda key: EntityUID(request[key]["type"], request[key]["id"])  # noqa: E731
    try:
        schema.validate_request(uid("principal"), uid("action"), uid("resource"), CedarRecord())
        accepted = True
    except RequestError:
        accepted = False
    assert accepted == expected, (generated.text, request)


def check_generated_policy(data: st.DataObject) -> None:
    generated = data.draw(schemas())
    schema = Schema.from_str(generated.text)
    text = data.draw(static_policies(generated))
    expected = cedarpy.validate_policies(text, cedarpy.Schema.from_str(generated.text))
    assert validate(PolicySet.from_str(text), schema).passed == expected.validation_passed, (
        generated.text, text, [e.error for e in expected.errors])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_policies_over_hierarchies_agree_with_cedarpy(data: st.DataObject) -> None:
    check_generated_policy(data)


@pytest.mark.slow
@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_many_generated_policies_over_hierarchies_agree_with_cedarpy(
        data: st.DataObject) -> None:
    check_generated_policy(data)
