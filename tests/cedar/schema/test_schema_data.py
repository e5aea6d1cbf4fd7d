"""Schema-directed entities and contexts, and request validation, checked against cedarpy."""

from __future__ import annotations

import json
from typing import Any

import cedarpy
import pytest

from rune.cedar.entities import Entities
from rune.cedar.errors import EntitiesError, RequestError
from rune.cedar.extensions import Decimal, IPAddr
from rune.cedar.json_format import value_to_json
from rune.cedar.schema import Schema
from rune.cedar.values import CedarRecord, CedarSet, EntityUID

SCHEMA = """
entity G in [G];
entity U in [G] {
  a: Long, b?: Set<ipaddr>, c?: { d: U, e?: decimal }, f?: G, t?: E,
  dt?: datetime, du?: duration, s?: String, flag?: Bool,
} tags String;
entity E enum ["x", "y"];
entity Plain;
action all; action mid in all;
action read in [mid] appliesTo {
  principal: U, resource: [G, E],
  context: { n: Long, ip?: ipaddr, who?: U, kind?: E, rec?: { x: Long }, kinds?: Set<E> },
};
action group;
"""


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.from_str(SCHEMA)


@pytest.fixture(scope="module")
def judge() -> cedarpy.Schema:
    return cedarpy.Schema.from_str(SCHEMA)


def uid(type_: str, id_: str) -> dict[str, str]:
    return {"type": type_, "id": id_}


def entity(type_: str, id_: str, attrs: dict[str, Any] | None = None,
           parents: tuple[dict[str, str], ...] = (), tags: dict[str, Any] | None = None,
           ) -> dict[str, Any]:
    out: dict[str, Any] = {"uid": uid(type_, id_), "attrs": attrs or {}, "parents": list(parents)}
    if tags is not None:
        out["tags"] = tags
    return out


def canonical(value: Any) -> Any:
    if isinstance(value, list):
        return sorted((canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    return value


def normalize(items: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """Entities as cedarpy prints them: attrs, tags and all ancestors, order-free."""
    return {
        (e["uid"]["type"], e["uid"]["id"]): (
            json.dumps(canonical(e.get("attrs", {})), sort_keys=True),
            frozenset((p["type"], p["id"]) for p in e.get("parents", [])),
            json.dumps(canonical(e.get("tags", {})), sort_keys=True),
        )
        for e in items
    }


def rune_entities(schema: Schema, data: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    store = Entities.from_data(schema.parse_entities(data))
    return normalize([{
        "uid": e.uid.to_json(),
        "attrs": {k: value_to_json(v) for k, v in e.attrs.items()},
        "parents": [p.to_json() for p in e.ancestors],
        "tags": {k: value_to_json(v) for k, v in e.tags.items()},
    } for e in store.values()])


def judge_entities(judge: cedarpy.Schema, data: list[dict[str, Any]]) -> Any:
    try:
        return normalize(json.loads(str(cedarpy.Entities.from_json_str(json.dumps(data),
                                                                        schema=judge))))
    except ValueError:
        return None


def u(attrs: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
    return [entity("U", "u", {"a": 1, **attrs}, **kw)]


G = uid("G", "g")
A = {"mid": uid("Action", "mid"), "all": uid("Action", "all"), "read": uid("Action", "read")}
X = lambda fn, arg: {"__extn": {"fn": fn, "arg": arg}}  # noqa: E731

ENTITY_CASES: dict[str, list[dict[str, Any]]] = {
    "minimal": u({}),
    "hierarchy": [entity("U", "u", {"a": 1}, (uid("G", "g1"),)),
                  entity("G", "g1", {}, (uid("G", "g2"),))],
    "missing-required": [entity("U", "u", {})],
    "undeclared-attribute": u({"z": 2}),
    "wrong-primitive": u({"a": "1"}) and [entity("U", "u", {"a": "1"})],
    "bool-is-not-long": [entity("U", "u", {"a": True})],
    "implicit-ip": u({"b": ["1.2.3.4", {"fn": "ip", "arg": "10.0.0.1"}, X("ip", "::1")]}),
    "bad-ip": u({"b": ["1.2.3"]}),
    "decimal-for-ip": u({"b": [X("decimal", "1.0")]}),
    "implicit-fn-wrong-type": u({"b": [{"fn": "decimal", "arg": "1.0"}]}),
    "nested-record": u({"c": {"d": uid("U", "v"), "e": "1.5"}}),
    "nested-missing": u({"c": {"e": "1.5"}}),
    "nested-extra": u({"c": {"d": uid("U", "v"), "q": 1}}),
    "wrong-entity-type": u({"f": uid("U", "v")}),
    "explicit-entity": u({"f": {"__entity": G}}),
    "entity-extra-keys": u({"f": {**G, "extra": 1}}),
    "enum-attr-bad": u({"t": uid("E", "z")}),
    "enum-ok": [entity("E", "x")],
    "enum-bad": [entity("E", "z")],
    "enum-with-attrs": [entity("E", "x", {"a": 1})],
    "enum-with-parent": [entity("E", "x", {}, (G,))],
    "parent-not-allowed": u({}, parents=(uid("E", "x"),)),
    "parent-undeclared": u({}, parents=(uid("Zzz", "x"),)),
    "unknown-type": [entity("Zzz", "u")],
    "tags": u({}, tags={"k": "v"}),
    "tag-wrong-type": u({}, tags={"k": 1}),
    "tags-not-declared": [entity("Plain", "p", tags={"k": "v"})],
    "empty-tags-allowed": [entity("Plain", "p", tags={})],
    "action-matches": [entity("Action", "read", {}, (A["mid"], A["all"]))],
    "action-closed-by-data": [entity("Action", "read", {}, (A["mid"],)),
                              entity("Action", "mid", {}, (A["all"],))],
    "action-wrong-parents": [entity("Action", "read", {}, (A["mid"],))],
    "action-undeclared": [entity("Action", "zzz")],
    "action-with-attrs": [entity("Action", "all", {"x": 1})],
    "action-non-action-parent": [entity("Action", "all", {}, (G,))],
    "duplicate-identical": [entity("G", "g"), entity("G", "g")],
    "self-parent": [entity("G", "g", {}, (G,))],
    "parent-cycle": [entity("G", "a", {}, (uid("G", "b"),)),
                     entity("G", "b", {}, (uid("G", "a"),))],
    "datetime-duration": u({"dt": "2024-01-01", "du": "1h"}),
    "bad-datetime": u({"dt": "2024-01-01x"}),
    "offset-args-typed": u({"dt": {"fn": "offset", "args": ["2024-01-01", "1h"]}}),
    "offset-bad-arity": u({"dt": {"fn": "offset", "args": ["2024-01-01"]}}),
    "long-overflow": [entity("U", "u", {"a": 2**63})],
    "long-min": [entity("U", "u", {"a": -(2**63)})],
    "float": [entity("U", "u", {"a": 1.0})],
    "null": [entity("U", "u", {"a": None})],
    "no-attrs-key": [{"uid": G, "parents": []}],
    "no-parents-key": [{"uid": G, "attrs": {}}],
    "unknown-entity-key": [{"uid": G, "attrs": {}, "parents": [], "foo": 1}],
    "escaped-uids": [{"uid": {"__entity": G}, "attrs": {},
                      "parents": [{"__entity": uid("G", "h")}]}],
    "entity-as-string": u({"f": 'G::"x"'}),
    "set-not-list": u({"b": "1.2.3.4"}),
    "extension-for-long": [entity("U", "u", {"a": X("decimal", "1.0")})],
    "expr-escape": [entity("U", "u", {"a": {"__expr": "1"}})],
    "string-escapes": u({"s": "x\u0000\n"}),
    "record-for-entity": u({"c": {"d": {"__entity": uid("U", "v")}}}),
    "bad-type-name": u({"f": uid("G ", "x")}),
    "reserved-type-name": u({"f": uid("if", "x")}),
    "bool-attr": u({"flag": False}),
}


def test_hierarchy_cycles_are_rejected(schema: Schema) -> None:
    with pytest.raises(EntitiesError):
        Entities.from_data(schema.parse_entities([entity("G", "g", {}, (G,))]))


@pytest.mark.parametrize("name", list(ENTITY_CASES))
def test_entities_agree_with_cedar(name: str, schema: Schema, judge: cedarpy.Schema) -> None:
    data = ENTITY_CASES[name]
    expected = judge_entities(judge, data)
    if expected is None:
        with pytest.raises(EntitiesError):
            rune_entities(schema, data)
    else:
        assert rune_entities(schema, data) == expected


def test_parsed_values(schema: Schema) -> None:
    data = schema.parse_entities(u({
        "b": ["10.0.0.1"], "c": {"d": uid("U", "v"), "e": "1.5"}, "f": G,
    }, tags={"k": "v"}))
    user = data[0]
    assert user.uid == EntityUID("U", "u")
    assert user.attrs["a"] == 1
    (ip,) = list(user.attrs["b"])
    assert isinstance(ip, IPAddr)
    assert isinstance(user.attrs["c"], CedarRecord)
    assert user.attrs["c"]["d"] == EntityUID("U", "v")
    assert isinstance(user.attrs["c"]["e"], Decimal)
    assert user.attrs["f"] == EntityUID("G", "g")
    assert user.tags == CedarRecord({"k": "v"})
    actions = {e.uid for e in data[1:]}
    assert actions == set(schema.actions)


def test_entity_text_is_accepted(schema: Schema) -> None:
    assert schema.parse_entities(json.dumps(u({})))[0].uid == EntityUID("U", "u")


@pytest.mark.parametrize("data,path", [
    ([entity("U", "u", {})], "$[0].attrs"),
    (u({"z": 2}), "$[0].attrs.z"),
    (u({"c": {"d": uid("U", "v"), "e": "x.y"}}), "$[0].attrs.c.e"),
    (u({"b": ["1.2.3.4", "nope"]}), "$[0].attrs.b[1]"),
    ([entity("G", "g"), entity("Zzz", "u")], "$[1].uid"),
    (u({}, parents=(uid("E", "x"),)), "$[0].parents[0]"),
    (u({}, tags={"k": 1}), "$[0].tags.k"),
    ({"not": "a list"}, "$"),
])
def test_entity_errors_have_json_paths(schema: Schema, data: Any, path: str) -> None:
    with pytest.raises(EntitiesError) as info:
        schema.parse_entities(data)
    assert info.value.path == path


def test_entity_error_messages(schema: Schema) -> None:
    with pytest.raises(EntitiesError) as info:
        schema.parse_entities([entity("U", "u", {"a": "one"})])
    assert str(info.value) == (
        '$[0].attrs.a: error[type-mismatch]: expected a value of type `Long`, found `"one"`'
    )
    with pytest.raises(EntitiesError) as info:
        schema.parse_entities([entity("U", "u", {})])
    assert str(info.value) == (
        '$[0].attrs: error[missing-attribute]: entity `U::"u"` is missing the required '
        "attribute `a`"
    )


def test_entities_from_json_with_schema(schema: Schema) -> None:
    store = Entities.from_json(json.dumps(u({}, parents=(G,))), schema=schema)
    assert store.is_descendant(EntityUID("U", "u"), EntityUID("G", "g"))
    assert store.is_descendant(EntityUID("Action", "read"), EntityUID("Action", "all"))


# -- contexts and requests ---------------------------------------------------------------

READ = uid("Action", "read")
CONTEXT_CASES: list[dict[str, Any]] = [
    {"n": 1}, {"n": "x"}, {"n": 1, "ip": "1.2.3.4"}, {"n": 1, "ip": "bad"},
    {"n": 1, "ip": X("decimal", "1.0")}, {"n": 1, "kind": uid("E", "z")},
    {"n": 1, "kind": uid("E", "x")}, {"n": 1, "who": uid("E", "x")},
    {"n": 1, "rec": {"x": "y"}}, {"n": 1, "rec": {}}, {"n": {"__entity": uid("U", "a")}}, {},
    {"n": 1, "zz": 1}, {"n": 1, "kinds": [uid("E", "x"), uid("E", "q")]}, {"n": 1, "kinds": []},
    {"n": True}, {"n": 2**63}, {"n": 1, "rec": {"x": 1, "y": 2}}, {"n": [1]},
    {"n": 1, "who": {"__entity": uid("U", "w")}},
]
REQUEST_CASES: list[tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, Any]]] = [
    *[(uid("U", "a"), READ, G, ctx) for ctx in CONTEXT_CASES],
    (uid("U", "a"), READ, uid("E", "x"), {"n": 1}),
    (uid("U", "a"), READ, uid("E", "q"), {"n": 1}),
    (uid("E", "x"), READ, G, {"n": 1}),
    (uid("U", "a"), uid("Action", "group"), G, {}),
    (uid("U", "a"), uid("Action", "nope"), G, {}),
    (uid("Q", "a"), READ, G, {"n": 1}),
    (uid("U", "a"), READ, uid("U", "b"), {"n": 1}),
]


def judge_request(judge: cedarpy.Schema, principal: Any, action: Any, resource: Any,
                  context: Any) -> bool:
    request = {"principal": principal, "action": action, "resource": resource,
               "context": context}
    response = cedarpy.is_authorized(request, "permit(principal, action, resource);", [],
                                     schema=judge)
    return not any("failed to build request" in e for e in response.diagnostics.errors)


@pytest.mark.parametrize("case", range(len(REQUEST_CASES)))
def test_requests_agree_with_cedar(case: int, schema: Schema, judge: cedarpy.Schema) -> None:
    principal, action, resource, context = REQUEST_CASES[case]
    expected = judge_request(judge, principal, action, resource, context)
    action_uid = EntityUID(action["type"], action["id"])
    try:
        parsed = schema.parse_context(action_uid, context)
        schema.validate_request(EntityUID(principal["type"], principal["id"]), action_uid,
                                EntityUID(resource["type"], resource["id"]), parsed)
        ok = True
    except RequestError:
        ok = False
    assert ok == expected


def test_parse_context_values(schema: Schema) -> None:
    action = EntityUID("Action", "read")
    context = schema.parse_context(action, {"n": 3, "ip": "10.0.0.1", "who": uid("U", "w"),
                                            "kinds": [uid("E", "x")]})
    assert context["n"] == 3
    assert isinstance(context["ip"], IPAddr)
    assert context["who"] == EntityUID("U", "w")
    assert context["kinds"] == CedarSet([EntityUID("E", "x")])
    assert schema.parse_context(action, '{"n": 1}') == CedarRecord({"n": 1})


def test_context_structure_errors(schema: Schema) -> None:
    action = EntityUID("Action", "read")
    with pytest.raises(RequestError) as info:
        schema.parse_context(action, {})
    assert info.value.code == "missing-attribute" and info.value.path == "$"
    with pytest.raises(RequestError) as info:
        schema.parse_context(action, {"n": 1, "rec": {"x": 1, "y": 2}})
    assert info.value.path == "$.rec.y"
    with pytest.raises(RequestError) as info:
        schema.parse_context(EntityUID("Action", "nope"), {})
    assert info.value.code == "undeclared-action"
    with pytest.raises(RequestError):
        schema.parse_context(action, [])


def test_request_error_messages(schema: Schema) -> None:
    read = EntityUID("Action", "read")
    principal, resource = EntityUID("U", "a"), EntityUID("G", "g")
    cases = [
        ((EntityUID("Q", "a"), read, resource, CedarRecord({"n": 1})),
         "principal type `Q` is not declared in the schema"),
        ((principal, EntityUID("Action", "nope"), resource, CedarRecord()),
         'action `Action::"nope"` is not declared in the schema'),
        ((principal, read, EntityUID("U", "b"), CedarRecord({"n": 1})),
         'resource type `U` is not valid for `Action::"read"`'),
        ((principal, read, EntityUID("E", "q"), CedarRecord({"n": 1})),
         'entity `E::"q"` is of an enumerated entity type, but `"q"` is not one of its '
         "declared ids"),
        ((principal, read, resource, CedarRecord({"n": "x"})),
         'context `{"n": "x"}` is not valid for `Action::"read"`'),
    ]
    for args, message in cases:
        with pytest.raises(RequestError) as info:
            schema.validate_request(*args)
        assert info.value.message == message
    schema.validate_request(principal, read, resource, CedarRecord({"n": 1}))
