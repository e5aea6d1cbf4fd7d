"""Changes have a JSON form that reads back exactly, and the overlay folds them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rune.cedar.entities import Entities
from rune.cedar.values import EntityUID
from rune.store.changes import (
    Approve,
    AssertFact,
    ExpireHistory,
    PutEntity,
    Record,
    RemoveEntity,
    RetractFact,
    StoreError,
    change_from_json,
    change_to_json,
)
from rune.store.overlay import Overlay

A, B, C = EntityUID("Agent", 'a "quoted" \\ one'), EntityUID("Action", "go"), EntityUID("T", "x")

ENTITY = Entities.parse_json([{
    "uid": {"type": "Agent", "id": "a1"},
    "attrs": {"n": 3, "s": "text", "b": True, "set": [1, "x", {"__entity": {"type": "T",
                                                                        "id": "y"}}],
              "rec": {"inner": {"deep": False}}, "owner": {"__entity": {"type": "T", "id": "x"}},
              "ip": {"__extn": {"fn": "ip", "arg": "10.0.0.0/8"}},
              "amount": {"__extn": {"fn": "decimal", "arg": "1.2500"}}},
    "parents": [{"type": "Team", "id": "t"}],
    "tags": {"k": "v"}}])[0]

CHANGES = [PutEntity(ENTITY), RemoveEntity(A), AssertFact("tier", ("x", 5, 1.5)),
           RetractFact("tier", ("y",)), Record(A, B, C, 1_700_000_000, 7, 12),
           Record(A, B, C, 5, 8), Approve(A, B, C, 1_700_003_600.5), ExpireHistory(99)]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: type(c).__name__)
def test_a_change_reads_back_exactly(change: Any) -> None:
    text = json.dumps(change_to_json(change))
    assert change_from_json(json.loads(text)) == change


@pytest.mark.parametrize(("data", "path"), [
    ([], "$"), ({}, "$"), ({"op": "fly"}, "$.op"), ({"op": "remove"}, "$"),
    ({"op": "remove", "uid": 5}, "$.uid"), ({"op": "record", "principal": {"type": "A", "id": "a"},
                                            "action": {"type": "A", "id": "a"},
                                            "resource": {"type": "A", "id": "a"},
                                            "at": 1.5, "seq": 1}, "$.at"),
    ({"op": "approve", "principal": {"type": "A", "id": "a"}, "action": {"type": "A", "id": "a"},
      "resource": {"type": "A", "id": "a"}, "expires": "soon"}, "$.expires"),
    ({"op": "put", "entity": {"uid": {"type": "A", "id": "a"}}}, "$.entity"),
    ({"op": "assert", "relation": 5, "row": []}, "$"),
])
def test_a_malformed_change_is_refused_with_its_path(data: Any, path: str) -> None:
    with pytest.raises(StoreError) as info:
        change_from_json(data)
    assert info.value.path == path


def test_the_overlay_keeps_the_last_word_and_folds_expiry() -> None:
    overlay = Overlay()
    overlay.apply([PutEntity(ENTITY), RemoveEntity(ENTITY.uid), AssertFact("r", (1,)),
                   RetractFact("r", (1,)), AssertFact("r", (2,)),
                   Record(A, B, C, 10, 1), Record(A, B, C, 20, 2),
                   Approve(A, B, C, 15.0), Approve(A, B, C, 500.0)])
    assert overlay.entities == {ENTITY.uid: None}
    assert overlay.facts == {("r", (1,)): False, ("r", (2,)): True}
    assert overlay.next_seq == 3
    assert [r.seq for r in overlay.expiring(15)] == [1]
    assert len(overlay.records) == 2  # `expiring` only looks
    overlay.apply([ExpireHistory(15)])
    assert list(overlay.records) == [2] and overlay.horizon == 15
    assert overlay.approvals == {(A, B, C): 500.0}
    rebuilt = Overlay()
    rebuilt.apply(overlay.checkpoint())
    assert (rebuilt.entities, rebuilt.facts, rebuilt.records, rebuilt.approvals,
            rebuilt.horizon) == (overlay.entities, overlay.facts, overlay.records,
                                 overlay.approvals, overlay.horizon)
