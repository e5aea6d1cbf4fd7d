"""`Result.query` with bound columns looks rows up in a hash index, it does not scan."""

from __future__ import annotations

from rune.datalog import Program
from rune.datalog.relation import Row

PROGRAM = """
.decl edge(a: number, b: number)
.decl path(a: number, b: number)
path(x, y) :- edge(x, y).
path(x, z) :- edge(x, y), path(y, z).
"""


class _NoScan(set[Row]):
    """A tuple set that fails if anything iterates it (membership tests still work)."""

    def __iter__(self) -> None:  # type: ignore[override]
        raise AssertionError("the query scanned the relation")


def test_bound_columns_use_an_index_not_a_scan() -> None:
    result = Program.parse(PROGRAM).evaluate({"edge": [(i, i + 1) for i in range(200)]})
    relation = result.relation("path")
    # The first query on a set of columns builds an index (one pass), later ones reuse it.
    assert sorted(result.query("path", (5, None)))[:2] == [(5, 6), (5, 7)]
    assert len(result.query("path", (None, 7))) == 7
    assert {(0,), (1,)} <= set(relation.indexes)
    relation.tuples = _NoScan(relation.tuples)
    assert len(result.query("path", (5, None))) == 195
    assert sorted(result.query("path", (None, 3))) == [(0, 3), (1, 3), (2, 3)]
    assert result.query("path", (3, 9)) == [(3, 9)]  # fully bound: one membership test
    assert result.query("path", (9, 3)) == []


def test_queries_on_updated_results_use_the_overlay_index() -> None:
    program = Program.parse(PROGRAM)
    result = program.evaluate({"edge": [(i, i + 1) for i in range(100)]})
    result.query("path", (0, None))
    updated = result.update(insert={"edge": [(100, 101)]}, retract={"edge": [(0, 1)]})
    assert result.query("path", (0, None)) == result.query("path", (0, None))
    assert len(result.query("path", (0, None))) == 100
    assert updated.query("path", (0, None)) == []
    assert sorted(updated.query("path", (None, 101)))[:2] == [(1, 101), (2, 101)]
    assert len(updated.query("path", (None, 101))) == 100
