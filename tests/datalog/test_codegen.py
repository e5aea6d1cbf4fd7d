"""Generated code: nested loops over indexes, inlined arithmetic, compiled once."""

from __future__ import annotations

from rune.datalog import Program


def test_join_is_generated_as_nested_loops_over_an_index() -> None:
    program = Program.parse(
        ".decl e(x:number, y:number)\n.decl p(x:number, y:number)\n"
        "p(x, y) :- e(x, y).\np(x, z) :- p(x, y), e(y, z)."
    )
    source = program.generated_source
    assert "def rule1_delta0(env, out, seen, r0, r1):" in source
    assert "for (v0, v1) in r0:" in source
    assert "for (_, v2) in r1.get(v1, ()):" in source
    assert "if h not in seen:" in source


def test_32_bit_arithmetic_is_inlined_with_a_wrap_check() -> None:
    source = Program.parse(
        ".decl n(x:number)\nn(0).\nn(x + 1) :- n(x), x < 5.", number_bits=32
    ).generated_source
    assert "-2147483648 <= (t0 := v0 + 1) <= 2147483647 else _ws(t0)" in source


def test_count_over_one_atom_uses_the_bucket_size() -> None:
    source = Program.parse(
        ".decl e(x:number, y:number)\n.decl d(x:number, n:number)\n"
        "d(x, n) :- e(x, _), n = count : e(x, _)."
    ).generated_source
    assert "len(r1.get(v0, ()))" in source


def test_generated_functions_are_compiled_once_per_program() -> None:
    program = Program.parse(".decl a(x:number)\n.decl b(x:number)\nb(x) :- a(x).")
    (rule,) = [r for s in program.compiled.strata for r in (*s.initial, *s.recursive)]
    function = rule.function
    assert program.evaluate({"a": [(1,)]})["b"] == {(1,)}
    assert program.evaluate({"a": [(2,)]})["b"] == {(2,)}
    assert rule.function is function and function.__name__ == "rule0"


def test_rules_with_many_atoms_continue_in_nested_functions() -> None:
    # CPython allows 20 nested blocks per function; a 40-atom join and a 40-atom count
    # aggregate (whose accumulator is shared with the nested functions) still work.
    body = ", ".join(f"e(x{i}, x{i + 1})" for i in range(40))
    program = Program.parse(
        ".decl e(a:number, b:number)\n.decl p(a:number, b:number)\n.decl c(n:number)\n"
        f"p(x0, x40) :- {body}.\nc(k) :- k = count : {{ {body} }}."
    )
    result = program.evaluate({"e": [(i, i + 1) for i in range(45)]})
    assert result["p"].sorted() == [(i, i + 40) for i in range(6)]
    assert result["c"].sorted() == [(6,)]
    assert "nonlocal" in program.generated_source
