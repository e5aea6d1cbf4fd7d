"""Fact files in, csv files out, Soufflé's formats and IO options."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rune.datalog import DatalogError, Kind, Program
from rune.datalog.io import format_row, parse_rows, write_rows


def test_parse_rows_by_column_kind() -> None:
    rows = parse_rows(
        ["1\ta b\t2.5\t7\n", "0x10\t\t-1\t0b11\n"],
        [Kind.NUMBER, Kind.SYMBOL, Kind.FLOAT, Kind.UNSIGNED],
        32,
    )
    assert rows == {(1, "a b", 2.5, 7), (16, "", -1.0, 3)}


def test_parse_rows_errors_name_file_and_line() -> None:
    with pytest.raises(DatalogError) as caught:
        parse_rows(["1\t2\n", "3\n"], [Kind.NUMBER, Kind.NUMBER], 32, origin="e.facts")
    assert caught.value.code == "invalid-facts"
    assert str(caught.value).startswith("e.facts:2:1: error[invalid-facts]")
    with pytest.raises(DatalogError, match="out of range for a 32-bit number"):
        parse_rows(["2147483648\n"], [Kind.NUMBER], 32)
    with pytest.raises(DatalogError, match="malformed value"):
        parse_rows(["x\n"], [Kind.NUMBER], 32)


def test_nullary_relations() -> None:
    assert parse_rows(["()\n"], [], 32) == {()}
    assert parse_rows([], [], 32) == set()
    assert format_row((), []) == "()"


def test_write_rows_sorted_with_floats_like_cpp() -> None:
    handle = io.StringIO()
    write_rows(handle, {(2, 0.5), (1, 1e20)}, [Kind.NUMBER, Kind.FLOAT], header=["a", "b"])
    assert handle.getvalue() == "a\tb\n1\t1e+20\n2\t0.5\n"


PROGRAM = """
.decl edge(x:number, y:symbol)
.input edge
.decl other(x:number)
.input other(filename="nums.csv", delimiter=",", headers=true)
.decl out(x:number, y:symbol)
.output out
.decl shown(x:number)
.output shown(IO=stdout)
.printsize out
out(x, y) :- edge(x, y).
shown(x) :- other(x).
"""


def test_inputs_outputs_and_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = tmp_path / "facts"
    facts.mkdir()
    (facts / "edge.facts").write_text("1\ta\n2\tb\n")
    (facts / "nums.csv").write_text("n\n7\n8\n")
    program = Program.parse(PROGRAM)
    result = program.evaluate(fact_dir=facts)
    written = result.write_outputs(tmp_path / "out")
    assert [p.name for p in written] == ["out.csv"]
    assert (tmp_path / "out" / "out.csv").read_text() == "1\ta\n2\tb\n"
    assert capsys.readouterr().out == (
        "---------------\nshown\n===============\n7\n8\n===============\nout\t2\n"
    )


def test_missing_fact_file_is_an_error(tmp_path: Path) -> None:
    program = Program.parse(".decl e(x:number)\n.input e\n", "p.dl")
    with pytest.raises(DatalogError) as caught:
        program.evaluate(fact_dir=tmp_path)
    assert caught.value.code == "io-error"
    assert "cannot read facts of `e`" in str(caught.value) and "p.dl:2:8" in str(caught.value)


def test_output_to_stdout_with_dash(capsys: pytest.CaptureFixture[str]) -> None:
    program = Program.parse(".decl a(x:number)\n.output a\na(2).\na(1).\n")
    program.evaluate().write_outputs("-")
    assert capsys.readouterr().out == "---------------\na\n===============\n1\n2\n===============\n"


def test_rfc4180_quoting(tmp_path: Path) -> None:
    (tmp_path / "s.facts").write_text('1,"a, b"\n2,"say ""hi"""\n')
    program = Program.parse(
        '.decl s(n:number, t:symbol)\n.input s(delimiter=",", rfc4180=true)\n'
        '.output s(delimiter=",", rfc4180=true)\n'
    )
    result = program.evaluate(fact_dir=tmp_path)
    assert result["s"] == {(1, "a, b"), (2, 'say "hi"')}
    result.write_outputs(tmp_path / "out")
    assert (tmp_path / "out" / "s.csv").read_text() == '1,"a, b"\n2,"say ""hi"""\n'
