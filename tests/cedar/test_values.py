"""Cedar values: equality keeps Booleans and Longs apart, sets and records compare by value."""

from __future__ import annotations

import pickle

from rune.cedar.values import CedarRecord, CedarSet, EntityUID, cedar_equal, format_value


def test_bool_and_long_are_distinct_everywhere() -> None:
    assert not cedar_equal(True, 1)
    assert not cedar_equal(0, False)
    assert len(CedarSet([True, 1, False, 0])) == 4
    assert CedarSet([True]) != CedarSet([1])
    assert CedarRecord(a=True) != CedarRecord(a=1)
    assert 1 not in CedarSet([True])


def test_entity_uid() -> None:
    uid = EntityUID("Ns::User", 'al"ice')
    assert uid == EntityUID("Ns::User", 'al"ice')
    assert uid != EntityUID("Ns::User", "alice")
    assert (uid.type, uid.id) == ("Ns::User", 'al"ice')
    assert str(uid) == 'Ns::User::"al\\"ice"'
    assert pickle.loads(pickle.dumps(uid)) == uid
    assert type(pickle.loads(pickle.dumps(uid))) is EntityUID


def test_sets_and_records() -> None:
    s = CedarSet([1, 2, CedarSet([3]), CedarRecord(x=1)])
    assert s == CedarSet([CedarRecord(x=1), CedarSet([3]), 2, 1, 1])
    assert s.contains(CedarSet([3])) and s.contains(CedarRecord(x=1))
    assert s.contains_all(CedarSet([1, 2])) and not s.contains_all(CedarSet([5]))
    assert s.contains_any(CedarSet([5, 2])) and not s.contains_any(CedarSet())
    assert CedarRecord(a=1, b=2) == CedarRecord(b=2, a=1)
    assert CedarRecord(a=1) != CedarRecord(a=1, b=2)
    assert hash(CedarRecord(a=1)) == hash(CedarRecord(a=1))


def test_format_value() -> None:
    assert format_value(CedarSet([2, 1])) == "[1, 2]"
    assert format_value(CedarRecord(b=True, a="x")) == '{"a": "x", "b": true}'
