"""Versions of a relation (`rune.datalog.overlay.new_version`): every version holds exactly
the rows its changes say, and no version changes an earlier one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rune.datalog.overlay import (
    SMALL_STORED_RELATION,
    OverlayRelation,
    compaction_threshold,
    new_version,
)
from rune.datalog.relation import Relation

Row = tuple[int, int]


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 400), read=st.booleans(),
       steps=st.lists(st.tuples(st.sets(st.integers(0, 600), max_size=12),
                                st.sets(st.integers(0, 600), max_size=12)), max_size=120))
def test_versions_hold_their_rows_and_leave_earlier_ones_alone(
        start: int, read: bool, steps: list[tuple[set[int], set[int]]]) -> None:
    relation = Relation("r", 2)
    relation.tuples = {(i, i % 7) for i in range(start)}
    expected = set(relation.tuples)
    history: list[tuple[Relation, set[Row]]] = [(relation, set(expected))]
    for adding, removing in steps:
        # As the engine calls it: added rows are new, removed rows are present.
        added = {(i, i % 7) for i in adding} - expected
        removed = {(i, i % 7) for i in removing} & expected - added
        relation = new_version(relation, added, removed, read=read)
        expected = (expected - removed) | added
        assert set(relation.tuples) == expected
        assert len(relation) == len(expected)
        assert all(row in relation.tuples for row in expected)
        history.append((relation, set(expected)))
    for version, rows in history:  # earlier versions are untouched
        assert set(version.tuples) == rows


def test_a_stored_relation_written_one_row_at_a_time_stays_a_small_overlay() -> None:
    # History is written a row per record: a version must not copy the whole relation.
    relation = Relation("performed", 2)
    relation.tuples = {(i, 0) for i in range(10_000)}
    for i in range(10_000, 10_500):
        relation = new_version(relation, {(i, 0)}, set(), read=False)
        if isinstance(relation, OverlayRelation):
            assert relation.change_count <= compaction_threshold(len(relation.base), read=False)
    assert len(relation) == 10_500
    assert compaction_threshold(10_000, read=False) < compaction_threshold(10_000)
    small = new_version(Relation("p", 1), {(1,)}, set(), read=False)
    assert type(small) is Relation and SMALL_STORED_RELATION < 2048
