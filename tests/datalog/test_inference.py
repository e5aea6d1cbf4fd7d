"""Declarations inferred for relations used without `.decl` (`infer_declarations=True`)."""

from __future__ import annotations

import pytest

from rune.datalog import DatalogError, Program


def kinds(program: Program, name: str) -> tuple[str, ...]:
    return tuple(str(k) for k in program.kinds(name))


def test_off_by_default_as_in_souffle() -> None:
    with pytest.raises(DatalogError) as info:
        Program.parse("path(a, b) :- edge(a, b).\nedge(1, 2).")
    assert info.value.code == "undeclared-relation"


def test_types_flow_through_shared_variables_and_facts() -> None:
    program = Program.parse("""
        path(a, b) :- edge(a, b).
        path(a, c) :- path(a, b), edge(b, c).
    """, infer_declarations=True, fact_samples={"edge": [(1, 2)]})
    assert kinds(program, "edge") == kinds(program, "path") == ("number", "number")
    assert [d.name for d in program.inferred] == ["path", "edge"]
    assert set(program.evaluate({"edge": [(1, 2), (2, 3)]})["path"]) == {
        (1, 2), (2, 3), (1, 3)}


def test_types_from_declared_columns_literals_and_functors() -> None:
    program = Program.parse("""
        .decl level(agent: symbol, n: number)
        senior(a) :- level(a, n), n >= 3.
        label(a, cat("agent:", a), count : { level(_, _) }) :- senior(a).
        ratio(a, x) :- level(a, n), x = itof(n) / 2.0.
        tier("alice", "free").
    """, infer_declarations=True)
    assert kinds(program, "senior") == ("symbol",)
    assert kinds(program, "label") == ("symbol", "symbol", "number")
    assert kinds(program, "ratio") == ("symbol", "float")
    assert kinds(program, "tier") == ("symbol", "symbol")


def test_whole_numbers_alone_make_a_number_and_nothing_makes_a_symbol() -> None:
    program = Program.parse("a(1).\nb(x) :- a(x), c(x).\nc(y) :- d(y).\nd(z) :- e(z).\n"
                            ".decl e(v: number)\n", infer_declarations=True)
    assert kinds(program, "a") == ("number",)
    program = Program.parse("s(x) :- t(x).\n.decl t(v: symbol)\nu(x) :- s(x).",
                            infer_declarations=True)
    assert kinds(program, "u") == ("symbol",)


def test_a_declaration_is_kept_as_written() -> None:
    program = Program.parse(".decl a(x: unsigned)\na(1).\nb(x) :- a(x).",
                            infer_declarations=True)
    assert kinds(program, "b") == ("unsigned",)
    assert [d.name for d in program.inferred] == ["b"]


def test_a_conflict_names_both_sides_with_their_places() -> None:
    with pytest.raises(DatalogError) as info:
        Program.parse('tier("alice", "free").\nbig(x) :- tier(x, t), t > 3.\n', file="x.dl",
                      infer_declarations=True)
    first = info.value.diagnostics[0]
    assert first.code == "type-mismatch"
    assert str(first.span) == "x.dl:1:15"
    assert first.message == (
        "cannot infer the type of column 2 of `tier`: it is a symbol (`\"free\"` at x.dl:1:15) "
        "and a number (`3` at x.dl:2:27); declare `tier` with `.decl` or make them agree")


def test_a_conflict_between_facts_and_use() -> None:
    with pytest.raises(DatalogError) as info:
        Program.parse('big(x) :- tier(x, t), t = "pro".', infer_declarations=True,
                      fact_samples={"tier": [("alice", 3)]})
    assert "column 2 of `tier`: it is a symbol" in info.value.diagnostics[0].message
    assert "the value `3` in the facts of `tier`" in info.value.diagnostics[0].message


def test_a_relation_nothing_fills_stays_undeclared() -> None:
    # A relation only ever read is most likely a typo: it is not declared for you.
    with pytest.raises(DatalogError) as info:
        Program.parse('a("x").\nb(x) :- a(x), atr(x).', infer_declarations=True)
    assert [(d.code, d.message) for d in info.value.diagnostics] == [
        ("undeclared-relation", "undeclared relation `atr`")]
    # Rows (even none) or `.input` say it is filled from outside.
    assert Program.parse('a("x").\nb(x) :- a(x), atr(x).', infer_declarations=True,
                         fact_samples={"atr": []}).kinds("atr")
    assert Program.parse('.input atr\nb(x) :- atr(x).', infer_declarations=True).kinds("atr")


def test_arity_mismatches_are_reported_as_usual() -> None:
    with pytest.raises(DatalogError) as info:
        Program.parse("a(1, 2).\nb(x) :- a(x).", infer_declarations=True)
    assert info.value.code == "arity-mismatch"


def test_aggregate_local_variables_do_not_mix() -> None:
    program = Program.parse("""
        n(1). s("a").
        r(c, d) :- c = count : { n(x) }, d = count : { s(x) }.
    """, infer_declarations=True)
    assert kinds(program, "n") == ("number",) and kinds(program, "s") == ("symbol",)
