"""Resource limits (`rune.datalog.limits`, RUNE issue 9): each stops what it bounds with a
clear error, promptly, in full evaluation, updates and scoped (per-request) evaluation."""

from __future__ import annotations

import time

import pytest

from rune.datalog import DatalogError, ErrorCode, Limits, Program
from rune.datalog import limits as limits_module

RUNAWAY = """
.decl request(p: symbol, a: symbol, r: symbol)
.decl n(x: number)
.decl ok(x: number)
n(0).
n(x + 1) :- n(x), request(_, _, _).
ok(1) :- request(_, _, _).
"""
# One rule call joining three copies of a relation and deriving nothing: only a check
# inside the generated loops can stop it before it ends (27 million iterations).
LONG_JOIN = """
.decl a(x: number)
.decl r(x: number)
r(x) :- a(x), a(y), a(z), x + y + z < 0.
"""
PER_REQUEST = Limits(max_tuples=10_000, max_seconds=0.05)
REQUEST = {"request": {("alice", "read", "doc")}}


def limit_error(run: object) -> tuple[DatalogError, float]:
    started = time.perf_counter()
    with pytest.raises(DatalogError) as error:
        run()  # type: ignore[operator]
    assert error.value.code == ErrorCode.DERIVATION_LIMIT
    return error.value, time.perf_counter() - started


def test_a_runaway_request_scoped_rule_stops_within_a_small_budget() -> None:
    base = Program.parse(RUNAWAY).evaluate()
    bound = base.scoped(["request"], ["ok", "n"], limits=PER_REQUEST)
    error, seconds = limit_error(lambda: bound.evaluate(REQUEST))
    assert seconds < 0.5
    assert "`n`" in error.message and "Limits." in error.message
    # The same budget given per call, to rules bound without one.
    per_call = base.scoped(["request"], ["ok", "n"])
    _, seconds = limit_error(lambda: per_call.evaluate(REQUEST, limits=PER_REQUEST))
    assert seconds < 0.5
    only_time = Limits(max_iterations=None, max_tuples=None, max_seconds=0.05)
    error, seconds = limit_error(lambda: per_call.evaluate(REQUEST, limits=only_time))
    assert seconds < 0.5 and "time limit of 0.05 s" in error.message
    only_tuples = Limits(max_iterations=None, max_tuples=1000)
    error, _ = limit_error(lambda: per_call.evaluate(REQUEST, limits=only_tuples))
    assert "more than 1000 tuples" in error.message and "`n`" in error.message


def test_limits_given_to_a_call_also_bound_the_fallback() -> None:
    # `$` makes scoped rules fall back to `Result.extended`, which gets the call's limits.
    text = RUNAWAY + ".decl id(x: number)\nid($) :- request(_, _, _).\n"
    per_call = Program.parse(text).evaluate().scoped(["request"], ["ok"])
    assert per_call.fallback is not None
    _, seconds = limit_error(lambda: per_call.evaluate(REQUEST, limits=PER_REQUEST))
    assert seconds < 0.5


def test_the_time_limit_stops_a_single_long_rule_call() -> None:
    program = Program.parse(LONG_JOIN)
    facts = {"a": [(i,) for i in range(300)]}
    error, seconds = limit_error(
        lambda: program.evaluate(facts, limits=Limits(max_seconds=0.05))
    )
    assert seconds < 0.5 and "`r`" in error.message
    base = program.evaluate({"a": [(0,)]})
    _, seconds = limit_error(
        lambda: base.update(insert=facts, limits=Limits(max_seconds=0.05))
    )
    assert seconds < 0.5
    per_call = Program.parse(
        ".decl q(x: number)\n.decl a(x: number)\n.decl r(x: number)\n"
        "r(x) :- q(x), a(y), a(z), x + y + z < 0."
    ).evaluate({"a": [(i,) for i in range(2000)]}).scoped(["q"], ["r"])
    error, seconds = limit_error(
        lambda: per_call.evaluate({"q": {(1,)}}, limits=PER_REQUEST)
    )
    assert seconds < 0.5 and "`r`" in error.message


def test_the_tuple_limit_stops_a_single_rule_call_early() -> None:
    # 27 million tuples in one call: stopped long before they exist.
    program = Program.parse(
        ".decl a(x: number)\n.decl r(x: number, y: number, z: number)\n"
        "r(x, y, z) :- a(x), a(y), a(z)."
    )
    facts = {"a": [(i,) for i in range(300)]}
    error, seconds = limit_error(
        lambda: program.evaluate(facts, limits=Limits(max_tuples=10_000))
    )
    assert seconds < 2 and "more than 10000 tuples" in error.message
    per_call = program.evaluate().scoped(["a"], ["r"])
    _, seconds = limit_error(lambda: per_call.evaluate(facts, limits=PER_REQUEST))
    assert seconds < 2


def test_update_limits_count_derived_tuples_not_deleted_ones() -> None:
    program = Program.parse(
        ".decl e(x: number, y: number)\n.decl p(x: number, y: number)\n"
        "p(x, y) :- e(x, y).\np(x, z) :- p(x, y), e(y, z)."
    )
    chain = [(i, i + 1) for i in range(200)]
    base = program.evaluate({"e": chain})
    # Cutting the chain in the middle deletes ~10,000 paths: not derivations.
    cut = base.update(retract={"e": [(100, 101)]}, limits=Limits(max_tuples=100))
    assert len(cut["p"]) == len(base["p"]) - 101 * 100
    _, _ = limit_error(
        lambda: cut.update(insert={"e": [(100, 101)]}, limits=Limits(max_tuples=100))
    )


def test_iterations_are_bounded_everywhere() -> None:
    program = Program.parse(".decl s(x: number)\n.decl n(x: number)\nn(x) :- s(x).\n"
                            "n(x + 1) :- n(x).")
    few = Limits(max_iterations=100)
    error, _ = limit_error(lambda: program.evaluate({"s": [(0,)]}, limits=few))
    assert "100 iterations" in error.message and "`n`" in error.message
    base = program.evaluate()
    limit_error(lambda: base.update(insert={"s": [(0,)]}, limits=few))
    limit_error(lambda: base.extended({"s": [(0,)]}, limits=few))
    limit_error(lambda: base.scoped(["s"], ["n"]).evaluate({"s": {(0,)}}, limits=few))


@pytest.mark.parametrize(
    "arguments",
    [{"max_tuples": -1}, {"max_iterations": 1.5}, {"max_seconds": "1"},
     {"max_seconds": float("nan")}, {"max_tuples": True}],
)
def test_bad_limits_are_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(DatalogError) as error:
        Limits(**arguments)  # type: ignore[arg-type]
    assert error.value.code == ErrorCode.INVALID_INPUT


def test_every_resource_limit_is_documented_with_its_default() -> None:
    doc = limits_module.__doc__ or ""
    for name, default in [
        ("MAX_PROGRAM_CHARS", "16,000,000"),
        ("MAX_NESTING_DEPTH", "256"),
        ("MAX_CLAUSE_EXPANSION", "10,000"),
        ("Limits.max_iterations", "2,000,000"),
        ("Limits.max_tuples", "20,000,000"),
        ("Limits.max_seconds", "none"),
    ]:
        line = next(line for line in doc.splitlines() if f"`{name}`" in line)
        assert default in line, name
    assert limits_module.MAX_NESTING_DEPTH == 256
    assert Limits() == Limits(2_000_000, 20_000_000, None)


def test_program_text_beyond_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rune.datalog.parser.MAX_PROGRAM_CHARS", 1000)
    with pytest.raises(DatalogError) as error:
        Program.parse(".decl r(x: number)\n" + "r(1).\n" * 200)
    assert error.value.code == ErrorCode.PROGRAM_TOO_LARGE


def test_disjunctions_multiplying_out_past_the_limit_are_refused() -> None:
    body = ", ".join(["(s(x) ; t(x))"] * 20)  # 2**20 clauses
    with pytest.raises(DatalogError) as error:
        Program.parse(f".decl s(x: number)\n.decl t(x: number)\n.decl r(x: number)\n"
                      f"r(x) :- {body}.")
    assert error.value.code == ErrorCode.RULE_TOO_LARGE
    assert error.value.span is not None and error.value.span.line == 4
    negated = "!(" + ", ".join(f"s({i})" for i in range(20)) + ")"
    with pytest.raises(DatalogError) as error:
        Program.parse(
            f".decl s(x: number)\n.decl r(x: number)\nr(1) :- {', '.join([negated] * 4)}."
        )
    assert error.value.code == ErrorCode.RULE_TOO_LARGE


def test_arithmetic_overflow_wraps_as_in_souffle() -> None:
    # Documented: only literals and input values are range-checked; arithmetic wraps.
    program = Program.parse(
        ".decl r(x: number)\n.decl u(x: unsigned)\n"
        "r(9223372036854775807 + 1).\nu(0u - 1u)."
    )
    result = program.evaluate()
    assert set(result["r"]) == {(-9223372036854775808,)}
    assert set(result["u"]) == {(18446744073709551615,)}
