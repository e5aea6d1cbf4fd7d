"""Very deep expressions and very long rule bodies go through every stage (RUNE issue 9).

Whatever the parser accepts, parsing, analysis, planning, code generation, evaluation,
incremental updates, scoped evaluation and explanations must handle: a 1,000-term chain
`x + x + ... + x` and a few hundred levels of nesting work, deeper nesting is a located
`nesting-too-deep` error, and rule bodies of 100 to 500 atoms compile (CPython limits
indentation and nested loops) and agree with clingo in plain, recursive, incremental and
scoped evaluation. No stage may raise `RecursionError`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from rune.datalog import DatalogError, ErrorCode, Program, Result
from rune.datalog.limits import MAX_NESTING_DEPTH

clingo = pytest.importorskip("clingo")

Rows = set[tuple[Any, ...]]

# One rule per kind of depth, each over a variable so that nothing folds to a constant.
DEEP_EXPRESSIONS = {
    "a 1,000-term chain": "+".join(["x"] * 1000),
    "a mixed 1,000-term chain": " + ".join(f"x * {i % 7} - {i}" for i in range(1000)),
    "250 brackets": "(" * 250 + "x" + ")" * 250,
    "200 right-nested sums": "(x + " * 200 + "x" + ")" * 200,
    "200 prefix minuses": "-" * 200 + "x",
    "200 nested functor calls": "max(" * 200 + "x" + ", 1)" * 200,
    "a 1,000-term `land` chain": " land ".join(["x"] * 1000),
}


def deep_program(expr: str) -> str:
    return f"""
    .decl s(x: number)
    .decl t(x: number, y: number)
    .decl q(x: number)
    .decl c(x: number, n: number)
    t(x, y) :- s(x), y = {expr}.
    t(x, y) :- t(y, x), y < 3, x < 3.
    q(x) :- s(x), {expr} + 1 = 1 + {expr}.
    c(x, n) :- s(x), n = sum y : {{ t(x, y), y = {expr} }}.
    """


def relations(result: Result | dict[str, Any], names: tuple[str, ...]) -> dict[str, Rows]:
    return {name: set(result[name]) for name in names}


@pytest.mark.parametrize("expr", DEEP_EXPRESSIONS.values(), ids=list(DEEP_EXPRESSIONS))
def test_deep_expressions_work_in_every_stage(expr: str) -> None:
    names = ("t", "q", "c")
    program = Program.parse(deep_program(expr))
    result = program.evaluate({"s": [(0,), (1,), (2,)]})
    assert all(result[name] for name in names)  # every rule derives something
    updated = result.update(insert={"s": [(3,)]}, retract={"s": [(1,)]})
    fresh = program.evaluate({"s": [(0,), (2,), (3,)]})
    assert relations(updated, names) == relations(fresh, names)
    per_call = result.scoped(["s"], list(names)).evaluate({"s": {(5,)}})
    assert relations(per_call, names) == relations(result.extended({"s": [(5,)]}), names)
    for name in names:
        row = sorted(updated[name])[0]
        assert updated.explain(name, row).to_dict()["row"] == list(row)


def test_a_chain_of_1000_terms_computes_like_its_sum() -> None:
    chain = "+".join(["x"] * 1000)
    program = Program.parse(f".decl s(x: number)\n.decl t(y: number)\nt(y) :- s(x), y = {chain}.")
    assert program.evaluate({"s": [(3,)]})["t"] == {(3000,)}
    floats = Program.parse(f".decl s(x: float)\n.decl t(y: float)\nt(y) :- s(x), y = {chain}.")
    assert floats.evaluate({"s": [(0.5,)]})["t"] == {(500.0,)}
    fact = Program.parse(".decl t(y: number)\nt(" + "+".join(["1"] * 1000) + ").")
    assert fact.evaluate()["t"] == {(1000,)}


def test_hoisted_operands_keep_laziness_and_order() -> None:
    # The right operand of `land` runs only when the left one is true, deep or not.
    deep_division = "+".join(["(10 / x)"] * 100)
    program = Program.parse(
        ".decl s(x: number)\n.decl t(x: number, y: number)\n"
        f"t(x, y) :- s(x), y = x land ({deep_division})."
    )
    assert program.evaluate({"s": [(0,), (5,)]})["t"] == {(0, 0), (5, 1)}


@pytest.mark.parametrize(
    "text",
    [
        "r(x) :- s(x), x = " + "(" * 1000 + "x" + ")" * 1000 + ".",
        "r(x) :- s(x), x = " + "-" * 1000 + "x.",
        "r(x) :- s(x), x = " + "^".join(["x"] * 1000) + ".",
        "r(x) :- s(x), x = " + "cat(" * 1000 + '"a"' + ', "b")' * 1000 + ".",
        "r(x) :- " + "(" * 1000 + "s(x)" + ")" * 1000 + ".",
        "r(x) :- s(x), " + "!(" * 1000 + "x = 1" + ")" * 1000 + ".",
        "r(x) :- s(x), x = " + "count : { s(y), y = " * 300 + "1" + "}" * 300 + ".",
    ],
    ids=["brackets", "prefix", "power", "functors", "body brackets", "negations", "aggregates"],
)
def test_nesting_past_the_limit_is_a_located_error(text: str) -> None:
    with pytest.raises(DatalogError) as error:
        Program.parse(".decl s(x: number)\n.decl r(x: number)\n" + text)
    assert error.value.code == ErrorCode.NESTING_TOO_DEEP
    span = error.value.span
    assert span is not None and span.line == 3
    assert f"at most {MAX_NESTING_DEPTH} levels" in error.value.message


def test_nesting_is_refused_not_crashed_on_a_deep_stack() -> None:
    # With most of the Python stack already used by the caller, the parser refuses
    # nesting it has no room for (the same error), rather than overflow.
    text = ".decl s(x: number)\n.decl r(x: number)\nr(x) :- s(x), x = " + "max(" * 200
    text += "x" + ", 1)" * 200 + "."

    def nested(levels: int, work: Callable[[], object]) -> object:
        return work() if levels == 0 else nested(levels - 1, work)

    room = sys.getrecursionlimit() - 150
    with pytest.raises(DatalogError) as error:
        nested(room - len(_frames()), lambda: Program.parse(text))
    assert error.value.code == ErrorCode.NESTING_TOO_DEEP


def _frames() -> list[object]:
    frames = []
    frame = sys._getframe()
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return frames


def test_a_long_chain_of_subtypes_resolves() -> None:
    types = "".join(f".type T{i} <: T{i + 1}\n" for i in range(2000))
    program = Program.parse(f".type T2000 <: number\n{types}.decl r(x: T0)\nr(5).")
    assert program.evaluate()["r"] == {(5,)}


# -- long bodies: against clingo -------------------------------------------------------------


def clingo_model(asp: str, facts: dict[str, Rows], names: tuple[str, ...]) -> dict[str, Rows]:
    lines = [asp]
    for name, rows in facts.items():
        lines.extend(f"{name}({', '.join(map(str, row))})." for row in rows)
    control = clingo.Control(["--warn=none"])
    control.add("base", [], "\n".join(lines))
    control.ground([("base", [])])
    found: dict[str, Rows] = {name: set() for name in names}
    with control.solve(yield_=True) as handle:
        for model in handle:
            for symbol in model.symbols(atoms=True):
                if symbol.name in found:
                    found[symbol.name].add(tuple(a.number for a in symbol.arguments))
    return found


def chain(relation: str, start: int, stop: int, case: Callable[[str], str] = str) -> str:
    atoms = (f"{relation}({case(f'x{i}')}, {case(f'x{i + 1}')})" for i in range(start, stop))
    return ", ".join(atoms)


def long_body_programs(n: int) -> tuple[str, str]:
    """A plain, a recursive and a scoped rule of ``n`` atoms, in Soufflé and in ASP."""
    upper = str.upper
    souffle = f"""
    .decl e(a: number, b: number)
    .decl start(a: number)
    .decl p(a: number, b: number)
    .decl q(a: number, b: number)
    .decl r(a: number, b: number)
    p(x0, x{n}) :- {chain("e", 0, n)}.
    q(x, y) :- e(x, y).
    q(x0, x{n}) :- q(x0, x1), {chain("e", 1, n)}.
    r(x0, x{n}) :- start(x0), {chain("e", 0, n)}.
    """
    asp = f"""
    p(X0, X{n}) :- {chain("e", 0, n, upper)}.
    q(X, Y) :- e(X, Y).
    q(X0, X{n}) :- q(X0, X1), {chain("e", 1, n, upper)}.
    r(X0, X{n}) :- start(X0), {chain("e", 0, n, upper)}.
    """
    return souffle, asp


@pytest.mark.parametrize("n", [100, 200, 500])
def test_long_bodies_agree_with_clingo_in_every_mode(n: int) -> None:
    souffle, asp = long_body_programs(n)
    names = ("p", "q", "r")
    program = Program.parse(souffle)
    edges = {(i, i + 1) for i in range(2 * n + 10)} | {(0, 2), (n, n + 3)}
    result = program.evaluate({"e": edges})
    assert relations(result, names) == clingo_model(asp, {"e": edges}, names)
    assert len(result["q"]) > len(edges)  # the recursion went round more than once

    changed = (edges - {(0, 2)}) | {(3, 5), (7, 9)}
    updated = result.update(insert={"e": [(3, 5), (7, 9)]}, retract={"e": [(0, 2)]})
    assert relations(updated, names) == clingo_model(asp, {"e": changed}, names)

    started = {(0,), (2,), (n + 1,)}
    per_call = result.scoped(["start"], list(names)).evaluate({"start": started})
    expected = clingo_model(asp, {"e": edges, "start": started}, names)
    assert relations(per_call, names) == expected
    assert relations(result.extended({"start": started}), names) == expected
    assert per_call["r"]


def test_a_rule_with_many_recursive_atoms_is_evaluated_whole() -> None:
    # More recursive atoms than delta versions are compiled for: the rule runs whole
    # each round (naive evaluation), with the same answer.
    n = 40
    souffle = f"""
    .decl e(a: number, b: number)
    .decl q(a: number, b: number)
    q(x, y) :- e(x, y).
    q(x0, x{n}) :- {chain("q", 0, n)}.
    """
    asp = f"q(X, Y) :- e(X, Y).\nq(X0, X{n}) :- {chain('q', 0, n, str.upper)}."
    edges = {(i, i + 1) for i in range(90)}
    program = Program.parse(souffle)
    result = program.evaluate({"e": edges})
    assert set(result["q"]) == clingo_model(asp, {"e": edges}, ("q",))["q"]
    updated = result.update(insert={"e": [(90, 91)]})
    bigger = edges | {(90, 91)}
    assert set(updated["q"]) == clingo_model(asp, {"e": bigger}, ("q",))["q"]
    row = max(updated["q"], key=lambda pair: pair[1] - pair[0])
    assert updated.explain("q", row).rule is not None


def test_a_long_count_and_existence_test_compile() -> None:
    body = chain("e", 0, 150)
    program = Program.parse(f"""
    .decl e(a: number, b: number)
    .decl flag(a: number)
    .decl c(n: number)
    .decl marked(a: number)
    c(k) :- k = count : {{ {body} }}.
    flag(1) :- {body}.
    marked(x) :- e(x, _), {chain("e", 200, 350)}.
    """)
    result = program.evaluate({"e": {(i, i + 1) for i in range(360)}})
    assert set(result["c"]) == {(211,)}
    assert set(result["flag"]) == {(1,)}
    assert len(result["marked"]) == 360
