"""`rune datalog`: Soufflé's command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rune.cli.main import main

PROGRAM = """
.decl edge(x:number, y:number)
.input edge
.decl path(x:number, y:number)
.output path
path(x, y) :- edge(x, y).
path(x, z) :- path(x, y), edge(y, z).
"""


@pytest.fixture
def case(tmp_path: Path) -> Path:
    (tmp_path / "facts").mkdir()
    (tmp_path / "facts" / "edge.facts").write_text("1\t2\n2\t3\n")
    (tmp_path / "tc.dl").write_text(PROGRAM)
    return tmp_path


def test_reads_facts_and_writes_csv(case: Path) -> None:
    out = case / "out"
    code = main(["datalog", str(case / "tc.dl"), "-F", str(case / "facts"), "-D", str(out)])
    assert code == 0
    assert (out / "path.csv").read_text() == "1\t2\n1\t3\n2\t3\n"


def test_dash_prints_to_stdout(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datalog", str(case / "tc.dl"), "-F", str(case / "facts"), "-D", "-"]) == 0
    assert "path\n===============\n1\t2\n1\t3\n2\t3\n" in capsys.readouterr().out


def test_json_format(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["datalog", str(case / "tc.dl"), "-F", str(case / "facts"), "--format", "json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == {"path": [[1, 2], [1, 3], [2, 3]]}


def test_errors_go_to_stderr_with_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = tmp_path / "bad.dl"
    program.write_text(".decl a(x:number)\na(x) :- b(x).\n")
    assert main(["datalog", str(program), "-D", "-"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{program}:2:9: error[undeclared-relation]: undeclared relation `b`" in captured.err
    assert "2 | a(x) :- b(x).\n            ^" in captured.err


def test_limits_and_number_width(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "n.dl"
    program.write_text(".decl n(x:number)\n.output n\nn(2147483647).\nn(x + 1) :- n(x), x > 0.\n")
    assert main(["datalog", str(program), "-D", "-"]) == 0
    assert "-2147483648" in capsys.readouterr().out
    assert (
        main(["datalog", str(program), "-D", "-", "--number-bits", "64", "--max-iterations", "50"])
        == 1
    )
    assert "error[derivation-limit]" in capsys.readouterr().err
