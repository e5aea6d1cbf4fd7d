"""The engine's relation storage: tuple sets and indexes kept in step."""

from __future__ import annotations

from rune.datalog.relation import Relation


def test_indexes_follow_inserts() -> None:
    relation = Relation("e", 2, [(1, 2), (1, 3)])
    by_first = relation.index((0,))
    by_both = relation.index((0, 1))
    assert sorted(by_first[1]) == [(1, 2), (1, 3)]
    relation.insert({(2, 4)})
    assert by_first[2] == [(2, 4)] and by_both[(2, 4)] == [(2, 4)]
    assert relation.add([(2, 4), (5, 6)]) == {(5, 6)}
    assert len(relation) == 4
    assert relation.lookup((1,), 6) == [(5, 6)]
    assert relation.lookup((), None) and relation.lookup((0,), 9) == []
