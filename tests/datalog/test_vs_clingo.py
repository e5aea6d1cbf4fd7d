"""Random stratified programs: RUNE's answer equals clingo's on every relation.

For a stratified program clingo's unique answer set is the program's perfect model, which
is what a Datalog engine computes. Programs and facts come from
`tests.strategies.datalog_cases` (recursion, negation, comparisons, `count`,
disjunction, several heads); clingo is the test dependency `clingo`.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from rune.datalog import Program
from tests.strategies import (
    DatalogCase,
    DlAtom,
    DlComparison,
    DlCount,
    DlDisjunction,
    DlNegation,
    DlRule,
    datalog_cases,
)

clingo = pytest.importorskip("clingo")


def clingo_model(case: DatalogCase) -> dict[str, set[tuple[int, ...]]]:
    """Every relation's rows in clingo's (single) answer set."""
    control = clingo.Control(["--warn=none"])
    control.add("base", [], case.asp)
    control.ground([("base", [])])
    models: list[list[Any]] = []
    control.solve(on_model=lambda model: models.append(model.symbols(atoms=True)))
    assert len(models) == 1, "a stratified program has exactly one answer set"
    rows: dict[str, set[tuple[int, ...]]] = {name: set() for name in case.relations}
    for symbol in models[0]:
        rows[symbol.name].add(tuple(argument.number for argument in symbol.arguments))
    return rows


def rune_model(case: DatalogCase) -> dict[str, set[tuple[int, ...]]]:
    result = Program.parse(case.souffle).evaluate(case.facts)
    return {name: set(result[name]) for name in case.relations}


def assert_same(case: DatalogCase) -> None:
    expected = clingo_model(case)
    actual = rune_model(case)
    for name in case.relations:
        assert actual[name] == expected[name], (
            f"`{name}` differs\nprogram:\n{case.souffle}\nfacts: {case.facts}\n"
            f"only RUNE: {sorted(actual[name] - expected[name])}\n"
            f"only clingo: {sorted(expected[name] - actual[name])}"
        )


def test_example_with_every_feature() -> None:
    relations = {"e0": 2, "e1": 1, "r0": 2, "r1": 1, "r2": 2}
    rules = (
        DlRule((DlAtom("r0", ("A", "B")),), (DlAtom("e0", ("A", "B")),)),
        DlRule((DlAtom("r0", ("A", "C")),), (DlAtom("e0", ("A", "B")), DlAtom("r0", ("B", "C")))),
        DlRule(
            (DlAtom("r1", ("A",)), DlAtom("r2", ("A", "N"))),
            (
                DlAtom("r0", ("A", "_")),
                DlNegation(DlAtom("e1", ("A",))),
                DlComparison("<", "A", 4),
                DlCount("N", DlAtom("r0", ("A", "L0")), ("L0",)),
                DlDisjunction((DlAtom("e0", ("A", "_")), DlAtom("e1", (0,)))),
            ),
        ),
    )
    facts = {
        "e0": frozenset({(0, 1), (1, 2), (2, 0), (3, 4)}),
        "e1": frozenset({(1,)}),
    }
    case = DatalogCase(relations, ("e0", "e1"), rules, facts)
    assert_same(case)
    assert rune_model(case)["r2"] == {(0, 3), (2, 3), (3, 1)}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datalog_cases())
def test_random_programs_agree_with_clingo(case: DatalogCase) -> None:
    assert_same(case)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datalog_cases(max_derived=6, max_rows=12))
def test_many_random_programs_agree_with_clingo(case: DatalogCase) -> None:
    assert_same(case)
