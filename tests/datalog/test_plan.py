"""Join plans: delta versions, index choice, existence tests and independent parts."""

from __future__ import annotations

from rune.datalog import Program
from rune.datalog.plan import (
    AntiJoin,
    Assign,
    Exists,
    Filter,
    Resource,
    RulePlan,
    Scan,
    Source,
)


def plans(text: str) -> dict[str, RulePlan]:
    program = Program.parse(text)
    found: dict[str, RulePlan] = {}
    for stratum in program.compiled.strata:
        for rule in (*stratum.initial, *stratum.recursive):
            found[rule.plan.name] = rule.plan
    return found


TC = """
.decl edge(x:number, y:number)
.decl path(x:number, y:number)
path(x, y) :- edge(x, y).
path(x, z) :- path(x, y), edge(y, z).
"""


def test_recursive_rule_gets_one_delta_version_per_recursive_atom() -> None:
    found = plans(TC + "path(x, z) :- path(x, y), path(y, z).")
    assert sorted(found) == ["rule0", "rule1_delta0", "rule2_delta0", "rule2_delta1"]
    linear = found["rule1_delta0"]
    first, second = linear.steps
    assert isinstance(first, Scan) and first.resource == Resource("path", Source.DELTA)
    assert isinstance(second, Scan) and second.resource == Resource("edge", Source.FULL, (0,))
    assert second.binds == (None, "z")


def test_delta_version_reads_the_full_relation_for_other_recursive_atoms() -> None:
    steps = plans(TC + "path(x, z) :- path(x, y), path(y, z).")["rule2_delta1"].steps
    assert isinstance(steps[0], Scan) and steps[0].resource.source is Source.DELTA
    assert isinstance(steps[1], Scan) and steps[1].resource == Resource("path", Source.FULL, (1,))


def test_unused_columns_turn_scans_into_existence_tests() -> None:
    text = ".decl e(x:number, y:number)\n.decl s(x:number)\ns(x) :- e(x, y), e(y, _)."
    first, second = plans(text)["rule0"].steps
    assert isinstance(first, Scan) and first.binds == ("x", "y")
    assert isinstance(second, Scan) and second.exists
    assert second.resource == Resource("e", Source.FULL, (0,))


def test_fully_bound_atoms_and_negations_test_the_tuple_set() -> None:
    text = (
        ".decl e(x:number, y:number)\n.decl s(x:number, y:number)\n"
        "s(x, y) :- e(x, y), e(y, x), !e(x, x), !e(_, y)."
    )
    steps = plans(text)["rule0"].steps
    assert [type(s).__name__ for s in steps] == ["Scan", "AntiJoin", "AntiJoin", "Scan"]
    assert isinstance(steps[3], Scan) and steps[3].exists
    assert steps[3].resource == Resource("e", Source.FULL)
    assert isinstance(steps[1], AntiJoin) and steps[1].resource == Resource("e", Source.FULL)
    assert isinstance(steps[2], AntiJoin) and steps[2].resource == Resource("e", Source.FULL, (1,))


def test_filters_run_as_soon_as_their_variables_are_bound() -> None:
    text = (
        ".decl e(x:number, y:number)\n.decl s(x:number, y:number)\n"
        "s(x, z) :- e(x, y), e(y, z), x < 3, y > 2."
    )
    steps = plans(text)["rule0"].steps
    assert [type(s).__name__ for s in steps] == ["Scan", "Filter", "Filter", "Scan"]
    assert isinstance(steps[1], Filter)


def test_equalities_with_constants_bind_before_scans() -> None:
    text = ".decl e(x:number, y:number)\n.decl s(x:number)\ns(x) :- e(x, y), y = 2."
    assign, scan = plans(text)["rule0"].steps
    assert isinstance(assign, Assign) and assign.variable == "y"
    assert isinstance(scan, Scan) and scan.resource == Resource("e", Source.FULL, (1,))


def test_constants_and_computed_values_become_index_keys() -> None:
    text = ".decl e(x:number, y:number)\n.decl s(y:number)\ns(z) :- e(1, y), e(y + 1, z)."
    first, second = plans(text)["rule0"].steps
    assert isinstance(first, Scan) and first.resource == Resource("e", Source.FULL, (0,))
    assert isinstance(second, Scan) and second.resource == Resource("e", Source.FULL, (0,))


def test_independent_parts_are_tested_once() -> None:
    text = ".decl a(x:number)\n.decl b(x:number)\n.decl c(x:number)\na(x) :- b(x), c(y), c(y + 1)."
    steps = plans(text)["rule0"].steps
    assert isinstance(steps[0], Exists)
    assert isinstance(steps[1], Scan) and steps[1].atom.relation == "b"


def test_plan_names_and_resources() -> None:
    plan = plans(TC)["rule1_delta0"]
    assert plan.name == "rule1_delta0" and plan.delta_atom == 0
    assert plan.resources == (Resource("path", Source.DELTA), Resource("edge", Source.FULL, (0,)))
