"""The parser: declarations, directives, clause shapes, expressions and syntax errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rune.datalog.ast import (
    Aggregate,
    Atom,
    BinaryOp,
    BooleanLiteral,
    Comparison,
    Counter,
    FunctorCall,
    Negation,
    NumberConstant,
    StringConstant,
    UnaryOp,
    Variable,
    Wildcard,
)
from rune.datalog.errors import DatalogError
from rune.datalog.parser import parse_program


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_program(text, "test.dl").ast


def expression(text: str):  # type: ignore[no-untyped-def]
    clause = parse(f".decl r(x:number)\nr(0) :- {text} = 0.").clauses[0]
    comparison = clause.body[0]
    assert isinstance(comparison, Comparison)
    return comparison.left


def test_declarations_types_and_directives() -> None:
    ast = parse(
        """
        .type Node <: symbol
        .type Id = number
        .type Either = Node | Other
        .decl edge(a: Node, b: Node) output
        .decl x, y(v: number)
        .input edge(IO=file, filename="e.tsv", delimiter=",")
        .output x, y
        .pragma "magic-transform" "*"
        """
    )
    assert [(t.name, t.form, t.bases) for t in ast.types] == [
        ("Node", "subtype", ("symbol",)),
        ("Id", "union", ("number",)),
        ("Either", "union", ("Node", "Other")),
    ]
    assert [r.name for r in ast.relations] == ["edge", "x", "y"]
    assert ast.relations[0].qualifiers == frozenset({"output"})
    assert [(d.kind, d.relation) for d in ast.directives] == [
        ("output", "edge"),
        ("input", "edge"),
        ("output", "x"),
        ("output", "y"),
    ]
    assert ast.directives[1].parameter("delimiter") == ","
    assert ast.pragmas[0].key == "magic-transform"


def test_facts_rules_and_spans() -> None:
    ast = parse(".decl e(a:number, b:number)\ne(1, 2).\ne(x, y) :- e(y, x).")
    fact, rule = ast.clauses
    assert fact.is_fact and fact.head.args == (NumberConstant(1), NumberConstant(2))
    assert rule.body == (Atom("e", (Variable("y"), Variable("x"))),)
    assert rule.head.span is not None and (rule.head.span.line, rule.head.span.column) == (3, 1)


def test_disjunction_and_multiple_heads_expand() -> None:
    ast = parse(".decl a(x:number)\na(x), b(x) :- c(x) ; d(x), (e(x) ; f(x)).")
    bodies = {tuple(lit.relation for lit in c.body) for c in ast.clauses}  # type: ignore[union-attr]
    assert bodies == {("c",), ("d", "e"), ("d", "f")}
    assert sorted({c.head.relation for c in ast.clauses}) == ["a", "b"]
    assert len(ast.clauses) == 6


def test_negation_of_a_group_uses_de_morgan() -> None:
    ast = parse("a(x) :- b(x), !(c(x) ; x < 3).")
    assert ast.clauses[0].body == (
        Atom("b", (Variable("x"),)),
        Negation(Atom("c", (Variable("x"),))),
        Comparison(">=", Variable("x"), NumberConstant(3)),
    )
    ast = parse("a(x) :- b(x), !(c(x), d(x)).")
    assert len(ast.clauses) == 2


def test_parenthesised_expression_starting_a_constraint() -> None:
    ast = parse("a(x) :- b(x), (x + 1) * 2 = 6, true, !false.")
    body = ast.clauses[0].body
    assert isinstance(body[1], Comparison) and isinstance(body[1].left, BinaryOp)
    assert body[2:] == (BooleanLiteral(True), BooleanLiteral(True))


def test_operator_precedence_and_associativity() -> None:
    assert expression("1 + 2 * 3") == BinaryOp(
        "+", NumberConstant(1), BinaryOp("*", NumberConstant(2), NumberConstant(3))
    )
    assert expression("2 ^ 2 ^ 3") == BinaryOp(
        "^", NumberConstant(2), BinaryOp("^", NumberConstant(2), NumberConstant(3))
    )
    assert expression("-2 ^ 2") == UnaryOp("-", BinaryOp("^", NumberConstant(2), NumberConstant(2)))
    assert expression("1 bor 2 band 3") == BinaryOp(
        "bor", NumberConstant(1), BinaryOp("band", NumberConstant(2), NumberConstant(3))
    )
    assert expression("8 - 2 - 1") == BinaryOp(
        "-", BinaryOp("-", NumberConstant(8), NumberConstant(2)), NumberConstant(1)
    )
    assert expression("--2") == NumberConstant(2)
    assert expression("0x10 + 0b11") == BinaryOp("+", NumberConstant(16), NumberConstant(3))


def test_functors_aggregates_and_counter() -> None:
    assert expression('cat("a", x)') == FunctorCall("cat", (StringConstant("a"), Variable("x")))
    assert expression("max(1, 2)") == FunctorCall("max", (NumberConstant(1), NumberConstant(2)))
    assert expression("count : { e(x, _) }") == Aggregate(
        "count", None, (Atom("e", (Variable("x"), Wildcard())),)
    )
    assert expression("min(x) : e(x, y)") == Aggregate(
        "min", Variable("x"), (Atom("e", (Variable("x"), Variable("y"))),)
    )
    assert expression("sum x + 1 : e(x, _)").target == BinaryOp(  # type: ignore[union-attr]
        "+", Variable("x"), NumberConstant(1)
    )
    assert expression("$") == Counter()
    assert expression("autoinc()") == Counter()


def test_match_and_contains_are_constraints() -> None:
    body = parse('a(x) :- b(x), match("a.*", x), !contains("z", x).').clauses[0].body
    assert [lit.op for lit in body[1:]] == ["match", "not_contains"]  # type: ignore[union-attr]


def test_ignorable_directives_and_qualifiers() -> None:
    ast = parse(
        '.decl a(x:number) inline magic btree\n.pragma "k"\na(1).\n'
        "a(x) :- a(x).\n.plan 0:(1,2), 1:(2,1)\n"
    )
    assert len(ast.clauses) == 2


def test_syntax_errors_are_all_reported_with_carets() -> None:
    text = ".decl a(x:number)\na(1) :- .\na(2).\nb(x) :- a(x) x.\n.decl c(\n"
    with pytest.raises(DatalogError) as caught:
        parse(text)
    error = caught.value
    assert error.code == "syntax-error"
    assert [(d.span.line, d.span.column) for d in error.diagnostics if d.span] == [
        (2, 9),
        (4, 14),
        (6, 1),
    ]
    assert error.diagnostics[1].message == "expected `.` at the end of the clause, found `x`"
    rendered = str(error)
    assert "test.dl:4:14: error[syntax-error]" in rendered
    assert "4 | b(x) :- a(x) x.\n                 ^" in rendered


def test_unsupported_features_are_named() -> None:
    for text, message in [
        (".comp C { }", "unsupported directive `.comp`"),
        (".type R = [a: number]", "unsupported record type"),
        ("a(x) :- b(x), x = @f(x).", "unsupported user-defined functor"),
        ("#define N 3", "unsupported preprocessor directive `#define`"),
    ]:
        with pytest.raises(DatalogError) as caught:
            parse(text)
        assert caught.value.diagnostics[0].message == message


def test_include_splices_files_and_keeps_their_names(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "decls.dl").write_text(".decl e(x:number)\ne(1).\n")
    main = tmp_path / "main.dl"
    main.write_text('#include "lib/decls.dl"\ne(2).\n')
    ast = parse_program(main.read_text(), str(main)).ast
    assert [c.head.args[0] for c in ast.clauses] == [NumberConstant(1), NumberConstant(2)]
    first = ast.clauses[0].span
    assert first is not None and first.file is not None and first.file.endswith("decls.dl")


def test_include_errors(tmp_path: Path) -> None:
    main = tmp_path / "main.dl"
    main.write_text('#include "missing.dl"\n#include "main.dl"\n')
    with pytest.raises(DatalogError) as caught:
        parse_program(main.read_text(), str(main))
    assert [d.message for d in caught.value.diagnostics] == [
        "cannot find included file `missing.dl`",
        "file `main.dl` includes itself",
    ]


def test_errors_in_included_files_render_their_own_snippets(tmp_path: Path) -> None:
    (tmp_path / "bad.dl").write_text("a(1) :- .\n")
    main = tmp_path / "main.dl"
    main.write_text('#include "bad.dl"\n')
    with pytest.raises(DatalogError) as caught:
        parse_program(main.read_text(), str(main))
    assert "1 | a(1) :- .\n            ^" in str(caught.value)
