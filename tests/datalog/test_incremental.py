"""Incremental maintenance: `Result.update` / `Result.extended` always equal a full
re-evaluation, leave the result they start from unchanged, and share what did not change."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rune.datalog import DatalogError, Limits, Program, Result, incremental, overlay
from rune.datalog.overlay import SMALL_RELATION, OverlayRelation
from tests.strategies import DatalogCase, datalog_cases, datalog_updates

TRANSITIVE_CLOSURE = """
.decl edge(a: number, b: number)
.decl path(a: number, b: number)
path(x, y) :- edge(x, y).
path(x, z) :- edge(x, y), path(y, z).
"""

ORG = """
.decl manages(boss: symbol, report: symbol)
.decl on_leave(person: symbol)
.decl above(boss: symbol, person: symbol)
.decl approves(boss: symbol, person: symbol)
.decl team_size(boss: symbol, n: number)
above(b, p) :- manages(b, p).
above(b, p) :- manages(b, m), above(m, p).
approves(b, p) :- above(b, p), !on_leave(b).
team_size(b, n) :- manages(b, _), n = count : { above(b, _) }.
"""


def snapshot(result: Result) -> dict[str, frozenset[tuple[object, ...]]]:
    return {name: frozenset(view) for name, view in result.items()}


def assert_equal_to_full(program: Program, result: Result, facts: dict[str, set]) -> None:
    expected = program.evaluate(facts)
    for name in expected:
        assert set(result[name]) == set(expected[name]), (
            f"`{name}`: only incremental {sorted(set(result[name]) - set(expected[name]))}, "
            f"only full {sorted(set(expected[name]) - set(result[name]))}"
        )


# -- the property ----------------------------------------------------------------------------


def _check_sequence(case: DatalogCase, steps: list) -> None:
    program = Program.parse(case.souffle)
    facts = {name: set(rows) for name, rows in case.facts.items()}
    result = program.evaluate(facts)
    for insert, retract in steps:
        before = snapshot(result)
        updated = result.update(insert=insert, retract=retract)
        assert snapshot(result) == before, "an update changed the result it started from"
        for name, rows in retract.items():
            facts[name] -= rows
        for name, rows in insert.items():
            facts[name] |= rows
        assert_equal_to_full(program, updated, facts)
        result = updated


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_updates_equal_full_recomputation(data: st.DataObject) -> None:
    case = data.draw(datalog_cases())
    _check_sequence(case, data.draw(datalog_updates(case)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_updates_through_overlays_equal_full_recomputation(data: st.DataObject) -> None:
    # Every relation becomes an overlay, compacted after a few changes: the paths that
    # large relations take, on small random programs.
    case = data.draw(datalog_cases())
    steps = data.draw(datalog_updates(case))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(overlay, "SMALL_RELATION", 0)
        patch.setattr(incremental, "SMALL_RELATION", 0)
        patch.setattr(overlay, "compaction_threshold", lambda size, read=True: 4)
        _check_sequence(case, steps)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_many_updates_equal_full_recomputation(data: st.DataObject) -> None:
    case = data.draw(datalog_cases(max_derived=6, max_rows=12))
    _check_sequence(case, data.draw(datalog_updates(case, max_steps=10)))


# -- examples --------------------------------------------------------------------------------


def test_insert_and_retract_in_a_recursive_stratum() -> None:
    program = Program.parse(TRANSITIVE_CLOSURE)
    result = program.evaluate({"edge": [(1, 2), (2, 3), (3, 4)]})
    added = result.update(insert={"edge": [(4, 5)]})
    assert (1, 5) in added["path"] and (1, 5) not in result["path"]
    cut = added.update(retract={"edge": [(2, 3)]})
    assert sorted(cut["path"]) == [(1, 2), (3, 4), (3, 5), (4, 5)]
    # A second route keeps a row alive: delete-and-rederive puts it back.
    detour = result.update(insert={"edge": [(1, 3)]}).update(retract={"edge": [(2, 3)]})
    assert (1, 4) in detour["path"] and (2, 4) not in detour["path"]


def test_negation_and_aggregates_follow_their_inputs() -> None:
    program = Program.parse(ORG)
    facts = {"manages": {("ann", "bob"), ("bob", "cy"), ("bob", "di")}, "on_leave": set()}
    result = program.evaluate(facts)
    assert ("team_size" in result) and ("ann", 3) in result["team_size"]
    leave = result.update(insert={"on_leave": [("bob",)]})
    assert ("bob", "cy") not in leave["approves"] and ("ann", "cy") in leave["approves"]
    grown = leave.update(insert={"manages": [("di", "eve")]}, retract={"on_leave": [("bob",)]})
    assert ("ann", 4) in grown["team_size"] and ("bob", "eve") in grown["approves"]
    facts["manages"].add(("di", "eve"))
    assert_equal_to_full(program, grown, facts)


def test_input_facts_of_derived_relations() -> None:
    program = Program.parse(TRANSITIVE_CLOSURE)
    result = program.evaluate({"edge": [(1, 2)], "path": [(1, 2), (7, 8)]})
    assert result.base_facts["path"] == {(1, 2), (7, 8)}
    # (1, 2) is still derived from edge(1, 2); (7, 8) was only given.
    updated = result.update(retract={"path": [(1, 2), (7, 8)]})
    assert sorted(updated["path"]) == [(1, 2)]
    back = updated.update(insert={"path": [(2, 9)]})
    assert sorted(back["path"]) == [(1, 2), (1, 9), (2, 9)]
    # Retracting a row that is derived, not given, changes nothing.
    assert set(back.update(retract={"path": [(1, 9)]})["path"]) == set(back["path"])


def test_retract_then_insert_the_same_row_keeps_it() -> None:
    program = Program.parse(TRANSITIVE_CLOSURE)
    result = program.evaluate({"edge": [(1, 2)]})
    assert (1, 2) in result.update(insert={"edge": [(1, 2)]}, retract={"edge": [(1, 2)]})["path"]


def test_unchanged_relations_are_shared() -> None:
    program = Program.parse(
        TRANSITIVE_CLOSURE + ".decl other(x: number)\n.decl copy(x: number)\ncopy(x) :- other(x).\n"
    )
    result = program.evaluate({"edge": [(1, 2)], "other": [(1,)]})
    extended = result.extended({"edge": [(2, 3)]})
    assert extended.relation("other") is result.relation("other")
    assert extended.relation("copy") is result.relation("copy")
    assert extended.relation("path") is not result.relation("path")
    assert result.update().relation("path") is result.relation("path")


def test_counters_and_ordinals_re_evaluate() -> None:
    program = Program.parse(
        """
        .decl name(s: symbol)
        .decl numbered(s: symbol, n: number)
        numbered(s, $) :- name(s).
        """
    )
    result = program.evaluate({"name": [("a",), ("b",)]})
    updated = result.update(insert={"name": [("c",)]}, retract={"name": [("a",)]})
    assert sorted(s for s, _ in updated["numbered"]) == ["b", "c"]
    assert len({n for _, n in updated["numbered"]}) == 2


def test_bad_updates_are_refused() -> None:
    result = Program.parse(TRANSITIVE_CLOSURE).evaluate({"edge": [(1, 2)]})
    with pytest.raises(DatalogError) as undeclared:
        result.update(insert={"nope": [(1,)]})
    assert undeclared.value.code == "invalid-input" and "`nope`" in str(undeclared.value)
    with pytest.raises(DatalogError) as arity:
        result.update(retract={"edge": [(1, 2, 3)]})
    assert arity.value.code == "invalid-input"
    with pytest.raises(DatalogError) as kind:
        result.extended({"edge": [("a", 1)]})
    assert kind.value.code == "invalid-input"


def test_a_runaway_update_stops_at_the_limit() -> None:
    program = Program.parse(
        ".decl seed(x: number)\n.decl n(x: number)\nn(x) :- seed(x).\nn(x + 1) :- n(x).\n"
    )
    result = program.evaluate({}, limits=Limits(max_iterations=50))
    with pytest.raises(DatalogError) as error:
        result.update(insert={"seed": [(0,)]}, limits=Limits(max_iterations=50))
    assert error.value.code == "derivation-limit"


def test_large_relations_become_overlays_and_are_compacted() -> None:
    program = Program.parse(TRANSITIVE_CLOSURE)
    rng = random.Random(7)
    edges = {(rng.randrange(i), i) for i in range(1, 1500)}
    result = program.evaluate({"edge": edges})
    assert len(result["path"]) > SMALL_RELATION
    for step in range(60):
        edge = rng.choice(sorted(edges))
        if step % 2:
            result = result.update(retract={"edge": [edge]})
            edges.discard(edge)
        else:
            new = (rng.randrange(1500), 1500 + step)
            result = result.update(insert={"edge": [new]})
            edges.add(new)
        if step % 15 == 14:
            assert_equal_to_full(program, result, {"edge": edges})
    path = result.relation("path")
    assert isinstance(path, OverlayRelation) or len(path) > SMALL_RELATION
    assert sorted(result.query("path", (0, None))) == sorted(
        row for row in result["path"] if row[0] == 0
    )


# -- speed -------------------------------------------------------------------------------------


def forest_edges(nodes: int, tree_size: int, seed: int = 1) -> list[tuple[int, int]]:
    """A forest of random recursive trees: each node's parent is an earlier node of its tree."""
    rng = random.Random(seed)
    return [
        (rng.randrange(i - i % tree_size, i), i) for i in range(nodes) if i % tree_size
    ]


def test_single_fact_updates_are_much_faster_than_recomputing() -> None:
    program = Program.parse(TRANSITIVE_CLOSURE)
    edges = forest_edges(20_000, 500)
    started = time.perf_counter()
    result = program.evaluate({"edge": edges})
    full = time.perf_counter() - started
    result = result.update(insert={"edge": [(0, 10**6)]})  # builds the indexes updates use
    rng = random.Random(2)
    timings = []
    for _ in range(20):
        edge = rng.choice(edges)
        started = time.perf_counter()
        retracted = result.update(retract={"edge": [edge]})
        timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = retracted.update(insert={"edge": [edge]})
        timings.append(time.perf_counter() - started)
    timings.sort()
    median = timings[len(timings) // 2]
    assert full / median >= 20, f"full {full:.3f}s, median update {median * 1e3:.2f}ms"
