"""Evaluation through the public API: semantics, arithmetic widths, inputs, queries, limits."""

from __future__ import annotations

import pytest

from rune.datalog import DatalogError, Limits, Program

TC = """
.decl edge(x:number, y:number)
.decl path(x:number, y:number)
path(x, y) :- edge(x, y).
path(x, z) :- path(x, y), edge(y, z).
"""


def rows(text: str, relation: str, facts: dict | None = None, bits: int = 64) -> list[tuple]:  # type: ignore[type-arg]
    return Program.parse(text, number_bits=bits).evaluate(facts)[relation].sorted()


def test_transitive_closure_from_python_facts() -> None:
    program = Program.parse(TC)
    result = program.evaluate({"edge": [(1, 2), (2, 3), [3, 4]]})
    assert result["path"] == {(1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)}
    assert (1, 4) in result["path"] and len(result["path"]) == 6
    assert sorted(result.query("path", (2, None))) == [(2, 3), (2, 4)]
    assert sorted(result.query("path", (None, 4))) == [(1, 4), (2, 4), (3, 4)]
    assert result.query("path", (1, 4)) == [(1, 4)] and result.query("path", (4, 1)) == []


def test_program_is_compiled_once_and_evaluated_many_times() -> None:
    program = Program.parse(TC)
    first = program.evaluate({"edge": [(1, 2)]})
    second = program.evaluate({"edge": [(5, 6), (6, 7)]})
    assert first["path"] == {(1, 2)}
    assert second["path"] == {(5, 6), (6, 7), (5, 7)}


def test_non_linear_and_mutual_recursion() -> None:
    text = """
    .decl e(x:number, y:number)
    .decl p(x:number, y:number)
    .decl odd(x:number, y:number)
    .decl even(x:number, y:number)
    p(x, y) :- e(x, y).
    p(x, z) :- p(x, y), p(y, z).
    odd(x, y) :- e(x, y).
    odd(x, z) :- even(x, y), e(y, z).
    even(x, z) :- odd(x, y), e(y, z).
    """
    result = Program.parse(text).evaluate({"e": [(i, i + 1) for i in range(6)]})
    assert len(result["p"]) == 21
    assert (0, 3) in result["odd"] and (0, 2) in result["even"] and (0, 2) not in result["odd"]


def test_stratified_negation() -> None:
    text = (
        TC
        + """
    .decl node(x:number)
    .decl unreachable(x:number, y:number)
    node(x) :- edge(x, _).
    node(y) :- edge(_, y).
    unreachable(x, y) :- node(x), node(y), !path(x, y).
    """
    )
    result = Program.parse(text).evaluate({"edge": [(1, 2), (2, 3)]})
    assert result["unreachable"] == {(1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3)}


def test_inline_facts_merge_with_given_facts() -> None:
    assert rows(TC + "edge(10, 11).", "path", {"edge": [(11, 12)]}) == [
        (10, 11),
        (10, 12),
        (11, 12),
    ]


def test_aggregates() -> None:
    text = """
    .decl sale(shop:symbol, amount:number)
    .decl stats(shop:symbol, n:number, total:number, low:number, high:number)
    .decl average(shop:symbol, m:float)
    .decl shops(n:number)
    stats(s, n, t, lo, hi) :- sale(s, _), n = count : sale(s, _), t = sum a : sale(s, a),
        lo = min a : sale(s, a), hi = max a : sale(s, a).
    average(s, m) :- sale(s, _), m = mean a : sale(s, a).
    shops(count : { sale(_, a), a > 2 }).
    """
    result = Program.parse(text).evaluate({"sale": [("a", 1), ("a", 5), ("b", 2)]})
    assert result["stats"].sorted() == [("a", 2, 6, 1, 5), ("b", 1, 2, 2, 2)]
    assert result["average"].sorted() == [("a", 3.0), ("b", 2.0)]
    assert result["shops"].sorted() == [(1,)]


def test_empty_aggregates() -> None:
    text = """
    .decl a(x:number)
    .decl r(tag:symbol, v:number)
    r("count", n) :- n = count : a(_).
    r("sum", n) :- n = sum x : a(x).
    r("min", n) :- n = min x : a(x).
    """
    assert rows(text, "r") == [("count", 0), ("sum", 0)]


def test_min_max_witnesses() -> None:
    text = """
    .decl length(x:symbol, y:symbol, l:number)
    .decl longest(x:symbol, y:symbol, l:number)
    longest(x, y, l) :- l = max m : length(x, y, m).
    """
    facts = {"length": [("a", "b", 3), ("a", "c", 9), ("b", "c", 1)]}
    assert rows(text, "longest", facts) == [("a", "c", 9)]


def test_injected_variables_group_aggregates() -> None:
    text = """
    .decl e(x:symbol, y:number)
    .decl best(x:symbol, y:number)
    best(x, y) :- e(x, _), y = max z : e(x, z).
    """
    assert rows(text, "best", {"e": [("a", 1), ("a", 4), ("b", 2)]}) == [("a", 4), ("b", 2)]


def test_32_bit_wraparound_and_64_bit_default() -> None:
    text = ".decl r(x:number)\nr(2147483647 + 1).\nr(x * 2) :- x = -2147483648."
    assert rows(text, "r", bits=32) == [(-2147483648,), (0,)]
    assert rows(text, "r") == [(-4294967296,), (2147483648,)]
    unsigned = ".decl u(x:unsigned)\nu(x - 1) :- x = 0u."
    assert rows(unsigned, "u", bits=32) == [(4294967295,)]


def test_c_like_division_and_remainder() -> None:
    text = ".decl r(a:number, b:number)\nr(-7 / 2, -7 % 2).\nr(7 / -2, 7 % -2)."
    assert rows(text, "r") == [(-3, -1), (-3, 1)]


def test_string_functors_and_tests() -> None:
    text = """
    .decl w(x:symbol)
    .decl r(x:symbol, n:number)
    r(cat(x, "!"), strlen(x)) :- w(x), contains("el", x).
    r(substr(x, 0, 2), to_number("7")) :- w(x), match("w.*", x).
    """
    assert rows(text, "r", {"w": [("hello",), ("world",)]}) == [("hello!", 5), ("wo", 7)]


def test_floats() -> None:
    text = ".decl f(x:float)\n.decl g(x:float)\nf(1.5).\nf(2).\ng(x * 2) :- f(x), x > 1.7."
    assert rows(text, "g") == [(4.0,)]


def test_inline_relations_are_not_materialised() -> None:
    text = """
    .decl nat(x:number)
    nat(0).
    nat(x + 1) :- nat(x), x < 3000.
    .decl pair(x:number, y:number) inline
    pair(x, y) :- nat(x), nat(y).
    .decl q(x:number)
    q(x) :- pair(x, x), x < 2.
    """
    result = Program.parse(text).evaluate()
    assert result["q"].sorted() == [(0,), (1,)]
    assert len(result["pair"]) == 0


def test_magic_set_transformation_computes_only_what_is_asked() -> None:
    text = """
    .pragma "magic-transform" "*"
    .decl parent(x:number, y:number)
    .decl anc(x:number, y:number)
    anc(x, y) :- parent(x, y).
    anc(x, z) :- parent(x, y), anc(y, z).
    .decl query(y:number)
    .output query
    query(y) :- anc(0, y).
    """
    facts = {"parent": [(i, i + 1) for i in range(50)] + [(100 + i, 101 + i) for i in range(50)]}
    result = Program.parse(text).evaluate(facts)
    assert result["query"].sorted() == [(i,) for i in range(1, 51)]
    assert "anc@bf" not in result  # internal relations stay hidden


def test_non_terminating_derivation_stops_at_the_bound() -> None:
    program = Program.parse(".decl n(x:number)\nn(0).\nn(x + 1) :- n(x).")
    with pytest.raises(DatalogError) as caught:
        program.evaluate(limits=Limits(max_iterations=1000))
    assert caught.value.code == "derivation-limit"
    assert "1000 iterations" in caught.value.message and "`n`" in caught.value.message
    with pytest.raises(DatalogError) as caught:
        program.evaluate(limits=Limits(max_iterations=None, max_tuples=500))
    assert "more than 500 tuples" in caught.value.message


def test_runtime_errors_carry_the_rule_location() -> None:
    program = Program.parse(".decl a(x:number)\na(0).\n.decl b(x:number)\nb(1 / x) :- a(x).\n")
    with pytest.raises(DatalogError) as caught:
        program.evaluate()
    assert caught.value.code == "evaluation-error"
    assert "division by zero" in str(caught.value) and "<input>:4:1" in str(caught.value)


def test_input_facts_are_validated() -> None:
    program = Program.parse(TC)
    for facts, message in [
        ({"nope": [(1,)]}, "undeclared relation `nope`"),
        ({"edge": [(1,)]}, "has 1 values, expected 2"),
        ({"edge": [(1, "x")]}, "value 'x' in column 2 is not a valid number"),
        ({"edge": [(1, 2**70)]}, "is not a valid number (64-bit)"),
        ({"edge": [(True, 1)]}, "is not a valid number"),
    ]:
        with pytest.raises(DatalogError) as caught:
            program.evaluate(facts)
        assert caught.value.code == "invalid-input" and message in caught.value.message


def test_result_is_a_read_only_mapping() -> None:
    result = Program.parse(TC).evaluate({"edge": [(1, 2)]})
    assert set(result) == {"edge", "path"}
    assert result.outputs == {}
    with pytest.raises(KeyError):
        result["missing"]
    with pytest.raises(DatalogError):
        result.query("path", (1,))
    assert result.stats.derived == 1


def test_program_introspection() -> None:
    program = Program.parse(".decl a(x:number, y:symbol)\n.input a\n.output a\n")
    assert program.relation_names == ("a",)
    assert program.inputs == ("a",) and program.outputs == ("a",)
    assert program.arity("a") == 2
    assert "def " in program.generated_source or program.generated_source.startswith("#")


def test_origins_record_the_deriving_rule() -> None:
    program = Program.parse(TC)
    result = program.evaluate({"edge": [(1, 2), (2, 3)]}, track_origins=True)
    direct = result.origin("path", (1, 2))
    derived = result.origin("path", (1, 3))
    assert direct is not None and len(direct.body) == 1
    assert derived is not None and [a.relation for a in derived.body] == ["path", "edge"]
    assert result.origin("edge", (1, 2)) is None
    assert result.origin("path", (3, 1)) is None
    with pytest.raises(DatalogError):
        program.evaluate({"edge": [(1, 2)]}).origin("path", (1, 2))
