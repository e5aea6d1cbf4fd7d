"""Snapshots: the entities as written are kept apart from what rules derive."""

from __future__ import annotations

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
