"""Snapshots: the entities as written are kept apart from what rules derive."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import rune
from rune.cedar import EntityUID

A1, T1, NEW = EntityUID("Agent", "a1"), EntityUID("Team", "t1"), EntityUID("Team", "new")
ENTITIES = [
    {"uid": {"type": "Agent", "id": "a1"}, "attrs": {"x": 1},
     "parents": [{"type": "Team", "id": "t1"}]},
    {"uid": {"type": "Team", "id": "t1"}, "attrs": {}, "parents": []},
]


def test_entity_data_is_as_written_without_rules() -> None:
    snap = rune.Engine(policies="", entities=ENTITIES).snapshot
    assert set(snap.entity_data) == {A1, T1} and len(snap.entity_data) == 2
    assert snap.entity_data[A1].parents == (T1,)
    assert dict(snap.entity_data[A1].attrs) == {"x": 1}


def test_entity_data_excludes_what_rules_derive() -> None:
    rules = ('derived_parent(a, "Team::\\"new\\"") :- entity(a, "Agent").\n'
             'derived_attr_num(a, "level", 9) :- entity(a, "Agent").\n'
             'derived_attr_num("Team::\\"new\\"", "size", 1) :- entity(_, "Agent").')
    engine = rune.Engine(policies="", entities=ENTITIES, rules=rules)
    snap = engine.snapshot
    assert snap.entities[A1].parents == {T1, NEW} and snap.entities[A1].attrs["level"] == 9
    assert NEW in snap.entities and NEW not in snap.entity_data
    assert set(snap.entity_data) == {A1, T1} and len(snap.entity_data) == 2
    assert snap.entity_data[A1].parents == (T1,)
    assert dict(snap.entity_data[A1].attrs) == {"x": 1}
    # A write starts again from the entities as written: derived data is derived anew.
    engine.write(entities=[{"uid": {"type": "Agent", "id": "a2"}, "attrs": {}, "parents": []}])
    after = engine.snapshot
    assert set(after.entity_data) == {A1, T1, EntityUID("Agent", "a2")}
    assert after.entities[EntityUID("Agent", "a2")].attrs["level"] == 9
    assert dict(after.entity_data[A1].attrs) == {"x": 1}


def test_entity_data_excludes_the_schema_actions() -> None:
    schema = "entity Agent; action read appliesTo { principal: Agent, resource: Agent };"
    snap = rune.Engine(policies="", schema=schema).snapshot
    assert EntityUID("Action", "read") in snap.entities
    assert EntityUID("Action", "read") not in snap.entity_data and not list(snap.entity_data)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 119), st.sampled_from(["same", "none", "x"]),
                          st.integers(0, 3)), min_size=100, max_size=400))
def test_written_entities_version_their_differences(
        steps: list[tuple[int, str, int]]) -> None:
    # Versions of the written-vs-store differences: a few changes ride on a small table
    # of recent ones, many are folded into a new shared one; every version reads as a
    # plain dict of its differences would, and earlier versions never change.
    from rune.cedar import Entities
    from rune.cedar.json_format import entity_data_from_json
    from rune.engine.snapshot import SAME, WrittenEntities

    uids = [EntityUID("Agent", f"a{i}") for i in range(120)]
    # (Only entities the store has differ: a written entity the store lacks is gone.)
    store = Entities.from_json([{"uid": u.to_json(), "attrs": {}, "parents": []}
                                for u in uids])

    def data(i: int, x: int) -> Any:
        return entity_data_from_json({"uid": uids[i].to_json(), "attrs": {"x": x},
                                      "parents": []}, "$")

    view, model = WrittenEntities(store), {}
    versions = [(view, dict(model))]
    for k in range(0, len(steps), 7):  # batches of up to seven changes
        batch: dict[EntityUID, Any] = {}
        for i, kind, x in steps[k:k + 7]:
            batch[uids[i]] = SAME if kind == "same" else None if kind == "none" else data(i, x)
        view = view.evolved(store, batch)
        for uid, value in batch.items():
            if value is SAME:
                model.pop(uid, None)
            else:
                model[uid] = value
        versions.append((view, dict(model)))
    for view, differs in versions:
        for uid in uids:
            assert view.differs(uid) is differs.get(uid, SAME)
            expected_in = differs.get(uid, SAME) is not None
            assert (uid in view) == expected_in
            if expected_in:
                assert view[uid] == (differs.get(uid) or store[uid].data())
        assert set(view) == {u for u in uids if differs.get(u, SAME) is not None}
        assert len(view) == len(set(view))
