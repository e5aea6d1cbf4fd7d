"""Bad values at the API and in programs (RUNE issue 9): out-of-range numbers are located
errors, never wrapped; wrong arguments are `DatalogError`s with code `invalid-input`
naming the argument and what was expected, never raw Python exceptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rune.datalog import DatalogError, ErrorCode, Program

TC = """
.decl edge(x: number, y: number)
.decl path(x: number, y: number)
path(x, y) :- edge(x, y).
path(x, z) :- path(x, y), edge(y, z).
"""
KINDS = ".decl r(n: number, u: unsigned, f: float, s: symbol)\n"


# -- numeric literals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fact", "bits", "shown"),
    [
        ("r(9223372036854775808, 0u, 0.0, \"a\")", 64, "9223372036854775808"),
        ("r(-9223372036854775809, 0u, 0.0, \"a\")", 64, "-9223372036854775809"),
        ("r(2147483648, 0u, 0.0, \"a\")", 32, "2147483648"),
        ("r(0x8000000000000000, 0u, 0.0, \"a\")", 64, "9223372036854775808"),
        ("r(0b1" + "0" * 63 + ", 0u, 0.0, \"a\")", 64, "9223372036854775808"),
        ("r(0, 18446744073709551616u, 0.0, \"a\")", 64, "18446744073709551616"),
        ("r(0, 4294967296u, 0.0, \"a\")", 32, "4294967296"),
        ("r(0, -1u, 0.0, \"a\")", 64, "-1"),
        ("r(1" + "0" * 99 + ", 0u, 0.0, \"a\")", 64, "1000000000"),
        ("r(" + "9" * 5000 + ", 0u, 0.0, \"a\")", 64, "9999999999"),
        ("r(0, 0u, 1.0e400, \"a\")", 64, "1.0e400"),
        ("r(0, 0u, 1.0e-400, \"a\")", 64, "1.0e-400"),
    ],
)
def test_out_of_range_literals_are_located_errors(fact: str, bits: int, shown: str) -> None:
    with pytest.raises(DatalogError) as error:
        Program.parse(f"{KINDS}{fact}.", number_bits=bits)
    assert error.value.code == ErrorCode.NUMBER_OUT_OF_RANGE
    assert shown in error.value.message
    span = error.value.span
    assert span is not None and span.line == 2


def test_literals_in_rules_are_checked_against_their_kind() -> None:
    with pytest.raises(DatalogError) as error:
        Program.parse(".decl s(x: number)\n.decl r(x: number)\nr(x) :- s(x), x < 2147483648.",
                      number_bits=32)
    assert error.value.code == ErrorCode.NUMBER_OUT_OF_RANGE
    assert error.value.span is not None and error.value.span.column == 19


def test_the_extremes_of_each_range_are_accepted() -> None:
    program = Program.parse(
        KINDS + "r(-9223372036854775808, 18446744073709551615u, 1.0e300, \"a\").\n"
        "r(9223372036854775807, 0u, 0.0, \"b\").\n"
        "r(0x7fffffffffffffff, 18446744073709551615u, 0.5, \"c\").\n"
        "r(0, 0u, 0.0e-400, \"d\")."
    )
    assert len(program.evaluate()["r"]) == 4
    small = Program.parse(".decl r(n: number)\nr(-2147483648).\nr(2147483647).", number_bits=32)
    assert set(small.evaluate()["r"]) == {(-2147483648,), (2147483647,)}


# -- input facts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ((2**63, 0, 0.0, "a"), "out of range [-9223372036854775808, 9223372036854775807]"),
        ((-(2**63) - 1, 0, 0.0, "a"), "out of range"),
        ((0, -1, 0.0, "a"), "out of range [0, 18446744073709551615]"),
        ((0, 2**64, 0.0, "a"), "out of range"),
        ((10**5000, 0, 0.0, "a"), "out of range"),
        ((True, 0, 0.0, "a"), "a bool, not an int"),
        ((0, False, 0.0, "a"), "a bool, not an int"),
        ((1.5, 0, 0.0, "a"), "a float, not an int"),
        ((0, 0, 10**400, "a"), "too large for a float"),
        ((0, 0, True, "a"), "a bool, not a float"),
        ((0, 0, "1.0", "a"), "a str, not a float"),
        ((0, 0, 0.0, 5), "a int, not a str"),
        ((0, 0, 0.0, b"a"), "a bytes, not a str"),
    ],
)
def test_bad_input_values_name_the_relation_row_and_column(
    row: tuple[Any, ...], problem: str
) -> None:
    program = Program.parse(KINDS)
    with pytest.raises(DatalogError) as error:
        program.evaluate({"r": [row]})
    assert error.value.code == ErrorCode.INVALID_INPUT
    assert "for `r`" in error.value.message and problem in error.value.message
    base = program.evaluate()
    with pytest.raises(DatalogError) as error:
        base.update(insert={"r": [row]})
    assert error.value.code == ErrorCode.INVALID_INPUT and problem in error.value.message


def test_32_bit_programs_check_32_bit_ranges() -> None:
    program = Program.parse(".decl r(n: number)", number_bits=32)
    with pytest.raises(DatalogError, match=r"out of range \[-2147483648, 2147483647\]"):
        program.evaluate({"r": [(2**31,)]})
    assert set(program.evaluate({"r": [(2**31 - 1,)]})["r"]) == {(2**31 - 1,)}


def test_ints_in_float_columns_become_floats() -> None:
    result = Program.parse(".decl r(f: float)").evaluate({"r": [(3,), [4.5]]})
    assert set(result["r"]) == {(3.0,), (4.5,)}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("9" * 5000, "out of range for a 64-bit number"),
        ("9223372036854775808", "out of range for a 64-bit number"),
        ("0x" + "f" * 17, "out of range for a 64-bit number"),
        ("1_0", "malformed value"),
    ],
)
def test_fact_files_refuse_numbers_out_of_range(tmp_path: Path, line: str, problem: str) -> None:
    (tmp_path / "r.facts").write_text(line + "\n", encoding="utf-8")
    program = Program.parse(".decl r(n: number)\n.input r")
    with pytest.raises(DatalogError) as error:
        program.evaluate(fact_dir=tmp_path)
    assert error.value.code == ErrorCode.INVALID_FACTS
    assert "`r`" in error.value.message and problem in error.value.message
    span = error.value.span
    assert span is not None and span.line == 1 and span.file is not None


def test_fact_files_refuse_floats_beyond_a_double(tmp_path: Path) -> None:
    (tmp_path / "r.facts").write_text("1e400\n", encoding="utf-8")
    with pytest.raises(DatalogError, match="out of range for a float"):
        Program.parse(".decl r(f: float)\n.input r").evaluate(fact_dir=tmp_path)


def test_fact_files_that_are_not_utf8_are_an_io_error(tmp_path: Path) -> None:
    (tmp_path / "r.facts").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DatalogError) as error:
        Program.parse(".decl r(s: symbol)\n.input r").evaluate(fact_dir=tmp_path)
    assert error.value.code == ErrorCode.IO


# -- arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: Program.parse(None), "`text` must be a str"),
        (lambda: Program.parse(b".decl r(x: number)"), "not bytes (decode it first)"),
        (lambda: Program.parse(TC, file=3), "`file` must be a str or None"),
        (lambda: Program.parse(TC, number_bits=16), "`number_bits` must be 32 or 64"),
        (lambda: Program.parse(TC, include_dirs="lib"), "`include_dirs`"),
    ],
)
def test_bad_program_arguments(call: Any, needle: str) -> None:
    with pytest.raises(DatalogError) as error:
        call()
    assert error.value.code == ErrorCode.INVALID_INPUT and needle in error.value.message


@pytest.mark.parametrize(
    ("facts", "needle"),
    [
        ([("edge", [(1, 2)])], "must be a mapping from relation names to rows, not list"),
        ("edge", "must be a mapping from relation names to rows, not str"),
        ({1: [(1, 2)]}, "relation names are str"),
        ({"edge": 5}, "must be an iterable of tuples or lists, not int"),
        ({"edge": "12"}, "must be an iterable of tuples or lists, not str"),
        ({"edge": None}, "not None"),
        ({"edge": ["12"]}, "a row of `edge` must be a tuple or a list, not str"),
        ({"edge": [12]}, "a row of `edge` must be a tuple or a list, not int"),
        ({"edge": [{1, 2}]}, "not set"),
        ({"edge": [(1,)]}, "has 1 values, expected 2"),
        ({"edge": [(1, 2, 3)]}, "has 3 values, expected 2"),
        ({"edge": [(1.0, 2)]}, "a float, not an int"),
        ({"edge": [(True, 2)]}, "a bool, not an int"),
        ({"nope": [(1,)]}, "undeclared relation `nope`"),
    ],
)
def test_bad_facts_are_invalid_input_everywhere(facts: Any, needle: str) -> None:
    program = Program.parse(TC)
    base = program.evaluate({"edge": [(1, 2)]})
    for call in (
        lambda: program.evaluate(facts),
        lambda: base.update(insert=facts),
        lambda: base.update(retract=facts),
        lambda: base.extended(facts),
    ):
        with pytest.raises(DatalogError) as error:
            call()
        assert error.value.code == ErrorCode.INVALID_INPUT, needle
        assert needle in error.value.message


def test_the_argument_at_fault_is_named() -> None:
    base = Program.parse(TC).evaluate()
    for call, name in [
        (lambda: base.program.evaluate([]), "`facts`"),
        (lambda: base.update(insert=[]), "`insert`"),
        (lambda: base.update(retract=[]), "`retract`"),
        (lambda: base.extended([]), "`facts`"),
        (lambda: base.extended(None), "`facts`"),  # type: ignore[arg-type]
    ]:
        with pytest.raises(DatalogError, match=name):
            call()


def test_lists_are_rows_too() -> None:
    result = Program.parse(TC).evaluate({"edge": [[1, 2], (2, 3)]})
    assert set(result["path"]) == {(1, 2), (2, 3), (1, 3)}


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda r: r.query("nope", (1, None)), "no relation named 'nope'"),
        (lambda r: r.query(None, (1, None)), "no relation named None"),
        (lambda r: r.query("path", (1,)), "has 1 values, expected 2"),
        (lambda r: r.query("path", (1, 2, 3)), "has 3 values, expected 2"),
        (lambda r: r.query("path", 1), "must be a tuple or a list"),
        (lambda r: r.query("path", "12"), "must be a tuple or a list"),
        (lambda r: r["path"].query(None), "must be a tuple or a list"),
        (lambda r: r.explain("path", 12), "`row` must be a tuple or a list"),
        (lambda r: r.explain("nope", (1, 2)), "no relation named `nope`"),
        (lambda r: r.explain("path", (1,)), "has 1 values, expected 2"),
        (lambda r: r.program.arity("nope"), "no relation named 'nope'"),
        (lambda r: r.program.evaluate(limits=5), "`limits` must be a Limits"),
        (lambda r: r.update(limits=5), "`limits` must be a Limits"),
        (lambda r: r.scoped("edge"), "`inputs` must be a collection of relation names"),
        (lambda r: r.scoped(["edge"], "path"), "`outputs` must be a collection"),
        (lambda r: r.scoped(["edge"], ["nope"]), "no relation named 'nope'"),
    ],
)
def test_bad_query_and_result_arguments(call: Any, needle: str) -> None:
    result = Program.parse(TC).evaluate({"edge": [(1, 2), (2, 3)]})
    with pytest.raises(DatalogError) as error:
        call(result)
    assert error.value.code == ErrorCode.INVALID_INPUT
    assert needle in error.value.message


def test_mapping_access_still_raises_key_error() -> None:
    result = Program.parse(TC).evaluate()
    with pytest.raises(KeyError):
        result["nope"]
    assert result.get("nope") is None and "nope" not in result
    assert result.query("path", [1, None]) == []
