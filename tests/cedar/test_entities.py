"""The entity store: JSON loading, the closed `in` relation, and errors with JSON paths."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rune.cedar.entities import Entities
from rune.cedar.errors import EntitiesError
from rune.cedar.values import CedarRecord, CedarSet, EntityUID


def uid(t: str, i: str) -> dict[str, str]:
    return {"type": t, "id": i}


def test_transitive_ancestors() -> None:
    es = Entities.from_json([
        {"uid": uid("Agent", "a"), "attrs": {}, "parents": [uid("Team", "t")]},
        {"uid": uid("Team", "t"), "attrs": {}, "parents": [uid("Dept", "d")]},
        {"uid": uid("Dept", "d"), "attrs": {}, "parents": [uid("Org", "o")]},
    ])
    a = EntityUID("Agent", "a")
    assert es.ancestors(a) == {EntityUID("Team", "t"), EntityUID("Dept", "d"),
                               EntityUID("Org", "o")}
    assert es.is_descendant(a, EntityUID("Org", "o"))
    assert es.is_descendant(a, a)
    assert not es.is_descendant(EntityUID("Org", "o"), a)


def test_cycles_are_rejected_as_cedar_does() -> None:
    for parents_of_a in ([uid("G", "b")], [uid("G", "a")]):
        with pytest.raises(EntitiesError) as info:
            Entities.from_json([
                {"uid": uid("G", "a"), "attrs": {}, "parents": parents_of_a},
                {"uid": uid("G", "b"), "attrs": {}, "parents": [uid("G", "c")]},
                {"uid": uid("G", "c"), "attrs": {}, "parents": [uid("G", "a")]},
            ])
        assert info.value.code == "hierarchy-cycle"


def test_attribute_values_and_escapes() -> None:
    es = Entities.from_json("""[{"uid": {"__entity": {"type": "U", "id": "x"}},
        "attrs": {"n": 3, "s": "t", "set": [1, "a"], "rec": {"k": true},
                  "boss": {"__entity": {"type": "U", "id": "y"}},
                  "ip": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}},
        "parents": [], "tags": {"env": "prod"}}]""")
    e = es[EntityUID("U", "x")]
    assert e.attrs["n"] == 3 and e.attrs["s"] == "t"
    assert e.attrs["set"] == CedarSet([1, "a"])
    assert e.attrs["rec"] == CedarRecord(k=True)
    assert e.attrs["boss"] == EntityUID("U", "y")
    assert e.tags == CedarRecord(env="prod")
    assert str(e.attrs["ip"]) != ""


_U = '"uid": {"type": "U", "id": "x"}'


@pytest.mark.parametrize(("data", "path"), [
    ("[1]", "$[0]"),
    ('[{"uid": {"type": "U"}, "attrs": {}, "parents": []}]', "$[0].uid"),
    ('[{"uid": {"type": "U", "id": 1}, "attrs": {}, "parents": []}]', "$[0].uid.id"),
    ('[{"uid": {"type": "1U", "id": "x"}, "attrs": {}, "parents": []}]', "$[0].uid.type"),
    ('[{' + _U + ', "attrs": {"a": null}, "parents": []}]', "$[0].attrs.a"),
    ('[{' + _U + ', "attrs": {"a": 1.5}, "parents": []}]', "$[0].attrs.a"),
    ('[{' + _U + ', "attrs": {"a": 99999999999999999999}, "parents": []}]', "$[0].attrs.a"),
    ('[{' + _U + ', "attrs": {}, "parents": [{"type": "U"}]}]', "$[0].parents[0]"),
    ('[{' + _U + ', "parents": []}]', "$[0]"),
    ('[{' + _U + ', "attrs": {}}]', "$[0]"),
    ('{"uid": 1}', "$"),
])
def test_malformed_entities_name_the_json_path(data: str, path: str) -> None:
    with pytest.raises(EntitiesError) as info:
        Entities.from_json(data)
    assert info.value.path == path


def test_unknown_entity_fields_are_ignored_as_cedar_does() -> None:
    es = Entities.from_json([{"uid": uid("U", "x"), "attrs": {}, "parents": [], "extra": 1}])
    assert EntityUID("U", "x") in es


def test_invalid_json_text() -> None:
    with pytest.raises(EntitiesError) as info:
        Entities.from_json("[{")
    assert info.value.code == "invalid-json"
    assert "line 1" in (info.value.path or "")


def test_conflicting_duplicates_rejected() -> None:
    with pytest.raises(EntitiesError):
        Entities.from_json([
            {"uid": uid("U", "x"), "attrs": {"a": 1}, "parents": []},
            {"uid": uid("U", "x"), "attrs": {"a": 2}, "parents": []},
        ])


def test_round_trip_json() -> None:
    data = [{"uid": uid("U", "x"), "attrs": {"a": [1]}, "parents": [uid("G", "g")]}]
    es = Entities.from_json(data)
    again = Entities.from_json(es.to_json())
    assert again[EntityUID("U", "x")].attrs == es[EntityUID("U", "x")].attrs


_TWO = [{"uid": uid("U", "x"), "attrs": {"a": 1, "b": True}, "parents": [uid("G", "g")]},
        {"uid": uid("G", "g"), "attrs": {}, "parents": [], "tags": {"t": "v"}}]


@pytest.mark.parametrize("text", [
    json.dumps(_TWO), json.dumps(_TWO, indent=2), f" \n{json.dumps(_TWO)}\r\n\t", "[]",
    " [ ] ", "[\n]",
])
def test_entity_text_is_read_as_json_loads_reads_it(text: str) -> None:
    # Entity text is decoded one list item at a time; the result is json.loads's.
    assert Entities.parse_json(text) == Entities.parse_json(json.loads(text))


@pytest.mark.parametrize("text", [
    "[1,]", "[1 2]", '[{"a": 1}] x', "[", "", " ", "\ufeff[]", "[1]]", "[,1]", '[{"uid": }]',
])
def test_malformed_entity_text_is_reported_as_json_loads_reports_it(text: str) -> None:
    with pytest.raises(EntitiesError) as info:
        Entities.parse_json(text)
    with pytest.raises(json.JSONDecodeError) as reference:
        json.loads(text)
    assert info.value.code == "invalid-json"
    assert info.value.message == f"invalid JSON: {reference.value.msg}"
    assert info.value.path == f"line {reference.value.lineno} column {reference.value.colno}"


def test_equal_attribute_records_are_shared_but_true_is_not_one() -> None:
    es = Entities.from_json([
        {"uid": uid("U", str(i)), "attrs": {"a": value}, "parents": []}
        for i, value in enumerate([1, True, 1, True, "1"])
    ])
    attrs = [es[EntityUID("U", str(i))].attrs for i in range(5)]
    assert attrs[0] is attrs[2] and attrs[1] is attrs[3]
    assert attrs[0]["a"] is not True and attrs[1]["a"] is True and attrs[4]["a"] == "1"
    assert es[EntityUID("U", "0")].parents == frozenset()


@pytest.mark.parametrize("depth", [1, 8, 16, 17, 40])
def test_ancestors_at_every_size(depth: int) -> None:
    # Few ancestors are kept as a tuple, many as a set: `in` is the same either way.
    chain = [{"uid": uid("G", f"g{i}"), "attrs": {},
              "parents": [uid("G", f"g{i + 1}")] if i < depth else []} for i in range(depth + 1)]
    leaf = {"uid": uid("U", "u"), "attrs": {}, "parents": [uid("G", "g0")]}
    es = Entities.from_json([leaf, *chain])
    u = EntityUID("U", "u")
    assert es.ancestors(u) == {EntityUID("G", f"g{i}") for i in range(depth + 1)}
    assert es.is_descendant(u, EntityUID("G", f"g{depth}"))
    assert not es.is_descendant(u, EntityUID("G", "nowhere"))
    from rune.cedar import PolicySet, Request, authorize

    ps = PolicySet.from_str(f'permit(principal, action, resource) when {{ principal in '
                            f'[G::"x", G::"g{depth}"] && principal in G::"g0" }};')
    assert authorize(Request(u, 'A::"a"', 'R::"r"'), ps, es).allowed


# -- patching a store -------------------------------------------------------------------------

_NAMES = [f"e{i}" for i in range(8)]


def _entity_item(name: str, parents: list[str], n: int) -> dict[str, Any]:
    return {"uid": {"type": "E", "id": name}, "attrs": {"n": n},
            "parents": [{"type": "E", "id": p} for p in parents]}


_change = st.tuples(st.sampled_from(_NAMES), st.none() | st.tuples(
    st.lists(st.sampled_from(_NAMES), unique=True, max_size=3), st.integers(0, 3)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_change, min_size=1, max_size=4), min_size=1, max_size=6))
def test_a_patched_store_equals_one_built_afresh(batches: list[list[Any]]) -> None:
    """Ancestors are recomputed exactly where a change reaches, cycles are refused, and
    older stores are left untouched."""
    data: dict[str, dict[str, Any]] = {}
    store = Entities.from_json([])
    for batch in batches:
        proposed = dict(data)
        changes = {}
        for name, change in batch:
            uid = EntityUID("E", name)
            if change is None:
                proposed.pop(name, None)
                changes[uid] = None
            else:
                item = _entity_item(name, *change)
                proposed[name] = item
                changes[uid] = Entities.parse_json([item])[0]
        before = {uid: (e.attrs, e.parent_uids, frozenset(e.ancestors))
                  for uid, e in store.items()}
        try:
            fresh = Entities.from_json(list(proposed.values()))
        except EntitiesError:
            with pytest.raises(EntitiesError):
                store.patched(changes)
            continue
        patched, touched = store.patched(changes)
        assert {uid: frozenset(e.ancestors) for uid, e in patched.items()} == {
            uid: frozenset(e.ancestors) for uid, e in fresh.items()}
        assert {uid: e.data() for uid, e in patched.items()} == {
            uid: e.data() for uid, e in fresh.items()}
        for uid, entity in patched.items():
            if uid not in touched:
                assert store[uid] is entity  # shared, untouched
        assert {uid: (e.attrs, e.parent_uids, frozenset(e.ancestors))
                for uid, e in store.items()} == before
        store, data = patched, proposed


# -- deep hierarchies --------------------------------------------------------------------------

def _chain(n: int) -> list[dict[str, Any]]:
    return [{"uid": {"type": "E", "id": f"e{i}"}, "attrs": {},
             "parents": [{"type": "E", "id": f"e{i - 1}"}] if i else []} for i in range(n)]


@pytest.mark.parametrize("n", [10_000, 20_000])
def test_a_hierarchy_too_deep_is_refused_quickly(n: int) -> None:
    import time
    import tracemalloc

    items = Entities.parse_json(_chain(n))
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(EntitiesError) as info:
        Entities.from_data(items)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert info.value.code == "hierarchy-too-deep"
    assert 'E::"e257"' in str(info.value)
    assert elapsed < 5 and peak < 200 * 2**20  # was 2.3 GB and 4.9 s, then MemoryError


def test_the_depth_limit_is_a_setting() -> None:
    store = Entities.from_data(Entities.parse_json(_chain(257)))
    assert len(store.ancestors(EntityUID("E", "e256"))) == 256
    deep = Entities.from_data(Entities.parse_json(_chain(1000)), max_depth=1000)
    assert len(deep.ancestors(EntityUID("E", "e999"))) == 999
    with pytest.raises(EntitiesError):
        Entities.from_data(Entities.parse_json(_chain(50)), max_depth=10)
    shallow = Entities.from_data(Entities.parse_json(_chain(11)), max_depth=10)
    deeper = Entities.parse_json([{"uid": {"type": "E", "id": "e11"}, "attrs": {},
                                   "parents": [{"type": "E", "id": "e10"}]}])[0]
    with pytest.raises(EntitiesError) as info:
        shallow.patched({deeper.uid: deeper})
    assert info.value.code == "hierarchy-too-deep"


def test_many_parents_are_not_depth() -> None:
    groups = [{"uid": {"type": "G", "id": f"g{i}"}, "attrs": {}, "parents": []}
              for i in range(3000)]
    member = {"uid": {"type": "E", "id": "m"}, "attrs": {},
              "parents": [{"type": "G", "id": f"g{i}"} for i in range(3000)]}
    store = Entities.from_json([*groups, member])
    assert len(store.ancestors(EntityUID("E", "m"))) == 3000
    child = Entities.parse_json([{"uid": {"type": "E", "id": "c"}, "attrs": {},
                                  "parents": [{"type": "E", "id": "m"}]}])[0]
    patched, _ = store.patched({child.uid: child})
    assert len(patched.ancestors(child.uid)) == 3001
