"""Per-call rules (`Result.scoped`): every output equals what `Result.extended` (and a
full evaluation) gives with the call's facts added, calls leave no trace, and programs
the fast path cannot handle fall back to `extended`."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rune.datalog import (
    DatalogError,
    ErrorCode,
    Limits,
    Program,
    Result,
    incremental,
    overlay,
    scoped,
)
from tests.strategies import DATALOG_DOMAIN, DatalogCase, datalog_cases


def rows(view: object) -> set[tuple[object, ...]]:
    return set(view)  # type: ignore[call-overload]


def assert_same_as_extended(base: Result, inputs: list[str], facts: dict[str, set],
                            outputs: list[str] | None = None) -> None:
    per_call = base.scoped(inputs, outputs)
    got = per_call.evaluate(facts)
    expected = base.extended(facts)
    names = outputs if outputs is not None else list(base.program.relation_names)
    assert sorted(got) == sorted(names)
    for name in names:
        assert rows(got[name]) == rows(expected[name]), (
            f"`{name}`: only scoped {sorted(rows(got[name]) - rows(expected[name]))}, "
            f"only extended {sorted(rows(expected[name]) - rows(got[name]))}"
        )


# -- the property ----------------------------------------------------------------------------


@st.composite
def scoped_cases(draw: st.DrawFn) -> tuple[DatalogCase, list[str], dict[str, set],
                                           list[dict[str, set]], list[str] | None]:
    """A random program, the inputs calls add to (some with base rows of their own),
    a few calls' facts, and the outputs read (or all)."""
    case = draw(datalog_cases())
    inputs = draw(st.lists(st.sampled_from(case.inputs), min_size=1, unique=True))
    base = {name: set(found) for name, found in case.facts.items()}
    for name in inputs:
        if draw(st.integers(0, 2)):
            base[name] = set()  # usually a call's rows are all the input holds
    value = st.integers(0, DATALOG_DOMAIN - 1)
    calls = [
        {name: set(draw(st.lists(st.tuples(*[value] * case.relations[name]), max_size=4)))
         for name in inputs}
        for _ in range(draw(st.integers(1, 3)))
    ]
    names = sorted(case.relations)
    outputs = draw(st.none() | st.lists(st.sampled_from(names), min_size=1, unique=True))
    return case, inputs, base, calls, outputs


def _check(case: DatalogCase, inputs: list[str], base_facts: dict[str, set],
           calls: list[dict[str, set]], outputs: list[str] | None, *,
           updated: bool = False) -> None:
    program = Program.parse(case.souffle)
    if updated:
        # The base is itself an update of another result: its relations are overlays.
        first = {name: set(list(found)[: len(found) // 2]) for name, found in base_facts.items()}
        base = program.evaluate(first).update(
            insert={name: found - first[name] for name, found in base_facts.items()})
    else:
        base = program.evaluate(base_facts)
    before = {name: frozenset(view) for name, view in base.items()}
    per_call = base.scoped(inputs, outputs)
    assert per_call.fallback is None
    for facts in calls:
        assert_same_as_extended(base, inputs, facts, outputs)
        full = program.evaluate({name: base_facts[name] | facts.get(name, set())
                                 for name in base_facts})
        got = per_call.evaluate(facts)  # the same object serves call after call
        for name in got:
            assert rows(got[name]) == rows(full[name]), name
    assert {name: frozenset(view) for name, view in base.items()} == before


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scoped_cases())
def test_per_call_outputs_equal_extended(case: tuple) -> None:
    _check(*case)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scoped_cases())
def test_per_call_outputs_over_overlays_equal_extended(case: tuple) -> None:
    # The base's relations are overlays (it is an update of another result), and static
    # parts of recursive strata are overlaid instead of copied: the paths large relations
    # take, on small random programs.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scoped, "SMALL_RELATION", 0)
        patch.setattr(overlay, "SMALL_RELATION", 0)
        patch.setattr(incremental, "SMALL_RELATION", 0)
        _check(*case, updated=True)


# -- examples --------------------------------------------------------------------------------

ACCESS = """
.decl edge(a: symbol, b: symbol)
.decl start(node: symbol)
.decl reach(node: symbol)
.decl banned(node: symbol)
.decl open(node: symbol)
.decl reached(n: number)
.decl quiet()
reach(x) :- start(x).
reach(y) :- reach(x), edge(x, y).
open(x) :- edge(x, _), !reach(x), !banned(x).
reached(n) :- n = count : { reach(_) }.
quiet() :- !start(_).
banned("d").
"""
EDGES = [("a", "b"), ("b", "c"), ("c", "d"), ("x", "y")]


def test_recursion_negation_and_aggregates_over_a_call() -> None:
    base = Program.parse(ACCESS).evaluate({"edge": EDGES})
    # Without a call, nothing is reached, everything but `d` is open, and `quiet` holds.
    assert base["reached"].sorted() == [(0,)] and len(base["quiet"]) == 1
    per_call = base.scoped(["start"], ["reach", "open", "reached", "quiet"])
    out = per_call.evaluate({"start": {("a",)}})
    assert sorted(out["reach"]) == [("a",), ("b",), ("c",), ("d",)]
    assert sorted(out["open"]) == [("x",)]
    assert sorted(out["reached"]) == [(4,)]
    assert not out["quiet"]  # a base row the call retracts
    for start in ([], [("x",)], [("c",), ("x",)], [("nowhere",)]):
        assert_same_as_extended(base, ["start"], {"start": set(start)})


def test_static_parts_when_rules_derive_without_the_call() -> None:
    program = Program.parse("""
        .decl seed(x: number)
        .decl given(x: number)
        .decl picked(x: number)
        .decl chain(x: number)
        .decl next(a: number, b: number)
        picked(x) :- given(x).
        picked(x) :- seed(x), !given(x).
        chain(x) :- picked(x).
        chain(y) :- chain(x), next(x, y).
        picked(7).
    """)
    # `seed` has rows in the base too: the base's `picked` holds more than its static part.
    base = program.evaluate({"seed": [(1,)], "given": [(2,)], "next": [(1, 3), (2, 4), (5, 6)]})
    per_call = base.scoped(["seed"])
    assert per_call.fallback is None
    for seed in ([], [(2,)], [(5,)], [(1,), (5,), (8,)]):
        assert_same_as_extended(base, ["seed"], {"seed": set(seed)})


def test_an_input_that_rules_also_derive() -> None:
    program = Program.parse("""
        .decl default(k: symbol, v: symbol)
        .decl context(k: symbol, v: symbol)
        .decl setting(k: symbol, v: symbol)
        context(k, v) :- default(k, v), !context_set(k).
        .decl context_set(k: symbol)
        .decl given(k: symbol, v: symbol)
        context(k, v) :- given(k, v).
        context_set(k) :- given(k, _).
        setting(k, v) :- context(k, v).
    """)
    base = program.evaluate({"default": [("mode", "safe"), ("level", "1")],
                             "context": [("fixed", "yes")]})
    for facts in ({"given": {("mode", "fast")}, "context": {("extra", "1")}},
                  {"context": {("fixed", "yes")}}, {"given": set(), "context": set()}):
        assert_same_as_extended(base, ["given", "context"], facts)


def test_inputs_no_output_reads_are_ignored() -> None:
    base = Program.parse(ACCESS).evaluate({"edge": EDGES})
    per_call = base.scoped(["start", "banned"], ["open"])
    assert per_call.inputs == {"start", "banned"}
    assert base.scoped(["start", "banned"], ["quiet"]).inputs == {"start"}
    assert base.scoped(["start"], ["edge"]).inputs == frozenset()
    assert per_call.evaluate({"start": {("a",)}, "banned": {("x",)}})["open"] == set()


def test_a_failing_rule_reports_like_extended() -> None:
    program = Program.parse("""
        .decl ask(x: number)
        .decl share(x: number)
        share(100 / x) :- ask(x).
    """)
    base = program.evaluate()
    assert base.scoped(["ask"]).evaluate({"ask": {(4,)}})["share"] == {(25,)}
    with pytest.raises(DatalogError) as scoped_error:
        base.scoped(["ask"]).evaluate({"ask": {(0,)}})
    with pytest.raises(DatalogError) as extended_error:
        base.extended({"ask": {(0,)}})
    assert scoped_error.value.code == extended_error.value.code == ErrorCode.EVALUATION
    assert str(scoped_error.value) == str(extended_error.value)


def test_a_runaway_recursion_hits_the_limits() -> None:
    program = Program.parse("""
        .decl start(x: number)
        .decl count_up(x: number)
        count_up(x) :- start(x).
        count_up(x + 1) :- count_up(x).
    """)
    per_call = program.evaluate().scoped(["start"], limits=Limits(max_iterations=50))
    with pytest.raises(DatalogError) as error:
        per_call.evaluate({"start": {(0,)}})
    assert error.value.code == ErrorCode.DERIVATION_LIMIT
    bounded = program.evaluate().scoped(["start"], limits=Limits(max_tuples=30))
    with pytest.raises(DatalogError, match="more than 30 tuples"):
        bounded.evaluate({"start": {(0,)}})


@pytest.mark.parametrize(("text", "why"), [
    (".decl q(x: number)\n.decl id(x: number, n: number)\nid(x, $) :- q(x).", "`$`"),
    (".decl q(x: symbol)\n.decl o(n: number)\no(ord(x)) :- q(x).", "`ord`"),
])
def test_order_dependent_programs_fall_back(text: str, why: str) -> None:
    base = Program.parse(text).evaluate()
    per_call = base.scoped(["q"])
    assert per_call.fallback is not None and why in per_call.fallback
    facts = {"q": {(1,)} if "number" in text.split("\n")[0] else {("a",)}}
    assert_same_as_extended(base, ["q"], facts)


def test_a_whole_rule_scanning_a_large_relation_falls_back() -> None:
    program = Program.parse("""
        .decl item(x: number)
        .decl hidden(x: number)
        .decl visible(x: number)
        visible(x) :- item(x), !hidden(x).
    """)
    small = program.evaluate({"item": [(i,) for i in range(10)]})
    assert small.scoped(["hidden"]).fallback is None
    large = program.evaluate({"item": [(i,) for i in range(scoped.MAX_WHOLE_SCAN + 1)]})
    per_call = large.scoped(["hidden"])
    assert per_call.fallback is not None and "large relation" in per_call.fallback
    assert_same_as_extended(large, ["hidden"], {"hidden": {(3,), (5,)}}, ["visible"])


def test_undeclared_inputs_fail_like_extended() -> None:
    base = Program.parse(ACCESS).evaluate()
    per_call = base.scoped(["nope"])
    assert per_call.fallback is not None
    with pytest.raises(DatalogError) as error:
        per_call.evaluate({"nope": {("a",)}})
    assert error.value.code == ErrorCode.INVALID_INPUT


def test_outputs_no_input_reaches_are_the_base_rows() -> None:
    base = Program.parse(ACCESS).evaluate({"edge": EDGES})
    out = base.scoped(["start"], ["edge", "banned"]).evaluate({"start": {("a",)}})
    assert out["edge"] is base.relation("edge").tuples
    assert sorted(out["banned"]) == [("d",)]
