"""Static checks: every error kind, all reported at once, none cascading."""

from __future__ import annotations

import pytest

from rune.datalog import DatalogError, Program
from rune.datalog.analysis import analyse
from rune.datalog.parser import parse_program


def errors(text: str) -> list[tuple[str, int, int, str]]:
    """(code, line, column, message) of every diagnostic ``text`` produces."""
    with pytest.raises(DatalogError) as caught:
        Program.parse(text, "t.dl")
    return [
        (d.code, d.span.line, d.span.column, d.message)
        for d in caught.value.diagnostics
        if d.span is not None
    ]


def codes(text: str) -> list[str]:
    return [code for code, *_ in errors(text)]


def test_undeclared_relation_in_head_body_and_aggregate() -> None:
    found = errors(
        ".decl b(x:symbol)\n"
        "a(X) :- b(X).\n"
        "b(X) :- c(X).\n"
        'b("n") :- 0 = count : { d(_) }.\n'
        ".output e\n"
    )
    assert found == [
        ("undeclared-relation", 2, 1, "undeclared relation `a`"),
        ("undeclared-relation", 3, 9, "undeclared relation `c`"),
        ("undeclared-relation", 4, 25, "undeclared relation `d`"),
        ("undeclared-relation", 5, 9, "undeclared relation `e` in `.output`"),
    ]


def test_arity_mismatch() -> None:
    assert errors(".decl a(x:number)\na(1, 2).\na(x) :- a(x, _).") == [
        ("arity-mismatch", 2, 1, "relation `a` has arity 1, but is used with 2 arguments"),
        ("arity-mismatch", 3, 9, "relation `a` has arity 1, but is used with 2 arguments"),
    ]


def test_type_mismatches() -> None:
    found = errors(
        ".decl a(x:number)\n.decl s(x:symbol)\n"
        'a("text").\n'
        "a(x) :- s(x).\n"
        "s(x) :- a(y), x = y + 1.\n"
        'a(x) :- a(x), x < "b".\n'
        "s(x) :- s(x), x = y + 1, a(y).\n"
    )
    assert [(c, line, column) for c, line, column, _ in found] == [
        ("type-mismatch", 3, 3),
        ("type-mismatch", 4, 3),
        ("type-mismatch", 5, 3),
        ("type-mismatch", 6, 15),
        ("type-mismatch", 7, 15),
    ]
    assert found[1][3] == "type mismatch: `x` is a symbol but argument 1 of `a` is a number"
    assert found[3][3] == "type mismatch: cannot compare a number with a symbol"


def test_type_aliases_subtypes_and_unions() -> None:
    program = Program.parse(
        ".type Id <: number\n.type Alias = Id\n.type Name <: symbol\n.type Any = Name | Other\n"
        '.type Other <: symbol\n.decl a(i: Alias, n: Any)\na(1, "x").\n'
    )
    assert program.kinds("a") == ("number", "symbol")
    assert codes(".type T = A | B\n.type A <: number\n.type B <: symbol") == ["type-mismatch"]
    assert codes(".decl a(x: Missing)\n.type T <: Nope") == ["undefined-type", "undefined-type"]
    assert codes(".type A <: B\n.type B <: A") == ["cyclic-type"]


def test_ungrounded_variables_are_named() -> None:
    found = errors(
        ".decl a(x:number)\n"
        "a(x) :- a(y).\n"
        "a(x) :- a(y), !a(x).\n"
        "a(x) :- a(x), x < z.\n"
        "a(x) :- x = y + 1, a(z).\n"
    )
    assert [(line, col, msg.split(":")[0]) for _, line, col, msg in found] == [
        (2, 3, "ungrounded variable `x`"),
        (3, 3, "ungrounded variable `x`"),
        (4, 19, "ungrounded variable `z`"),
        (5, 3, "ungrounded variable `x`"),
        (5, 13, "ungrounded variable `y`"),
    ]


def test_equalities_ground_variables_in_any_order() -> None:
    Program.parse(".decl a(x:number)\na(0).\na(z) :- z = y * 2, y = x + 1, a(x), x < 3.")


def test_aggregate_scoping_and_grounding() -> None:
    # An aggregate's variables are local unless the rest of the rule grounds them.
    Program.parse(".decl a(x:number)\n.decl b(x:number)\na(1).\nb(x) :- x = min x : a(x).")
    assert errors(".decl a(x:number)\n.decl b(x:number)\nb(y) :- y = min x : { x > 1 }.") == [
        (
            "ungrounded-variable",
            3,
            17,
            "ungrounded variable `x` in an aggregate: no positive atom or `=` binds it",
        )
    ]


def test_negation_through_recursion_names_the_cycle() -> None:
    found = errors(
        ".decl a(x:number)\n.decl b(x:number)\n.decl c(x:number)\n"
        "a(1).\nb(x) :- a(x), !c(x).\nc(x) :- a(x), !b(x).\n"
    )
    assert found == [
        (
            "unstratifiable-negation",
            5,
            16,
            "cannot stratify `b`, `c`: `b` negates `c` in the recursive cycle "
            "`b` -> `c` -> `b` (negation through recursion)",
        )
    ]


def test_aggregation_through_recursion_names_the_cycle() -> None:
    found = errors(".decl r(x:number)\nr(1).\nr(n + 1) :- n = count : r(_).\n")
    assert found[0][0] == "unstratifiable-aggregation"
    assert "`r` aggregates over `r` in the recursive cycle `r` -> `r`" in found[0][3]


def test_fact_with_variables() -> None:
    assert errors(".decl a(x:number, y:number)\na(x, 1).\na(_, 2).") == [
        ("variable-in-fact", 2, 3, "fact `a` has a variable `x`; facts take constants only"),
        ("variable-in-fact", 3, 3, "fact `a` has a variable `_`; facts take constants only"),
    ]


def test_underscores_in_heads_and_expressions() -> None:
    assert codes(".decl a(x:number)\na(1).\na(_) :- a(_).\na(x) :- a(x), x > _.") == [
        "underscore-in-head",
        "underscore-in-expression",
    ]


def test_mutually_dependent_aggregates() -> None:
    found = codes(
        ".decl r(i:number, j:number, h:number)\nr(0, 0, 0).\n.decl q(i:number, j:number)\n"
        "q(i, j) :- r(i, j, h), 0 = count : { r(x, j, z), x < i, z > h },"
        " 0 = count : { r(i, y, z), y < j, z > h }.\n"
    )
    assert found == ["mutually-dependent-aggregates", "mutually-dependent-aggregates"]


def test_duplicate_declarations_and_counter_in_recursion() -> None:
    assert codes(".decl a(x:number)\n.decl a(x:number)\n.decl b(x:number, x:number)") == [
        "duplicate-declaration",
        "duplicate-declaration",
    ]
    assert codes(".decl a(x:number)\na(0).\na($) :- a(_).") == ["counter-in-recursion"]


def test_all_errors_at_once_without_cascades() -> None:
    # One mistake per rule: the undeclared `c` does not also make `x` ungrounded, and the
    # wrong arity does not also produce a type error.
    found = errors(
        ".decl a(x:number)\n.decl s(x:symbol)\n"
        "a(x) :- c(x).\n"
        "a(x) :- a(x, y).\n"
        "a(x) :- s(y).\n"
        's("a").\n'
    )
    assert [(c, line) for c, line, _, _ in found] == [
        ("undeclared-relation", 3),
        ("arity-mismatch", 4),
        ("ungrounded-variable", 5),
    ]


def test_error_rendering_has_location_code_and_caret() -> None:
    with pytest.raises(DatalogError) as caught:
        Program.parse(".decl a(x:number)\na(x) :- a(y).\n", "prog.dl")
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.code == "ungrounded-variable"
    assert str(error) == (
        "prog.dl:2:3: error[ungrounded-variable]: ungrounded variable `x`: "
        "no positive atom or `=` binds it\n"
        "2 | a(x) :- a(y).\n"
        "      ^"
    )


def test_strata_order_and_recursion_flags() -> None:
    parsed = parse_program(
        ".decl e(x:number, y:number)\n.decl p(x:number, y:number)\n.decl q(x:number)\n"
        "p(x, y) :- e(x, y).\np(x, z) :- p(x, y), e(y, z).\nq(x) :- e(x, _), !p(x, x).\n"
    )
    analysed = analyse(parsed.ast, parsed.sources)
    order = [(s.relations, s.recursive) for s in analysed.strata]
    assert order == [(("e",), False), (("p",), True), (("q",), False)]


def test_warnings_for_unused_variables_and_undefined_relations() -> None:
    program = Program.parse(
        ".decl a(x:number)\n.decl b(x:number)\n.decl c(x:number)\n.input c\n"
        "a(x) :- b(y), c(x).\na(x), b(x) :- c(x), y = 1.\na(x) :- c(x), c(_z).\n",
        "w.dl",
    )
    assert [(w.code, w.span.line, w.span.column) for w in program.warnings if w.span] == [
        ("singleton-variable", 5, 11),
        ("singleton-variable", 6, 21),
    ]
    assert program.render_warnings().startswith(
        "w.dl:5:11: warning[singleton-variable]: variable `y` occurs only once"
    )
    empty = Program.parse(".decl a(x:number)\n.decl b(x:number)\na(x) :- b(x).")
    assert [w.message for w in empty.warnings] == ["no rules, facts or `.input` for relation `b`"]


def test_unsupported_directives_and_io_options_are_refused() -> None:
    assert (
        codes(".decl a(x:number)\n.limitsize a(n=3)\n.output a(IO=sqlite)\n.input a(compress=true)")
        == ["unsupported-feature"] * 3
    )


def test_equivalence_relations() -> None:
    result = Program.parse(".decl eq(a:number, b:number) eqrel\neq(1, 2).\neq(2, 3).").evaluate()
    assert len(result["eq"]) == 9
    assert codes(".decl eq(a:number, b:symbol) eqrel") == ["type-mismatch"]
