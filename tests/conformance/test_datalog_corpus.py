"""The Datalog conformance corpus (Soufflé's own tests, ../shared/corpora/datalog).

Each positive case runs like Soufflé's harness (`souffle -F facts -D out case.dl`, with
Soufflé's 32-bit `number`): every expected `<rel>.csv` must match ours as sorted lines,
we must write exactly as many csv files, print what Soufflé prints, and warn about the
same lines Soufflé warns about. Each must-reject case must be refused with
the diagnostics Soufflé gives: the same kinds of problem on the same lines.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from rune.datalog import DatalogError, Limits, Program
from tests.conftest import SHARED

CORPUS = SHARED / "corpora" / "datalog"
TESTS = CORPUS / "souffle" / "tests"


def _cases() -> list[dict[str, Any]]:
    manifest = CORPUS / "MANIFEST.json"
    if not manifest.is_file():
        return []
    cases: list[dict[str, Any]] = json.loads(manifest.read_text(encoding="utf-8"))["cases"]
    return cases


CASES = _cases()
POSITIVE = [c for c in CASES if c["class"] != "must_reject"]
MUST_REJECT = [c for c in CASES if c["class"] == "must_reject"]

# What each must-reject case is refused for (Soufflé's .err, in RUNE's error codes).
EXPECTED_CODES = {
    "agg_checks": {
        "ungrounded-variable",
        "type-mismatch",
        "unstratifiable-aggregation",
        "undeclared-relation",
    },
    "agg_checks2": {"undefined-type", "undeclared-relation"},
    "fact_arity": {"arity-mismatch"},
    "fact_variable": {"variable-in-fact"},
    "mutually_dependent_aggregate": {"mutually-dependent-aggregates"},
    "rel_stratification": {"unstratifiable-negation"},
    "rel_stratification2": {"unstratifiable-negation"},
    "rule_arity": {"arity-mismatch"},
    "rule_grounded": {"ungrounded-variable"},
    "rule_undeclared_relation": {"undeclared-relation"},
    "rule_undeclared_relation2": {"undeclared-relation"},
    "underscore": {"underscore-in-expression", "variable-in-fact", "underscore-in-head"},
    "var_single": {"ungrounded-variable"},
}
_STRATIFICATION = {"unstratifiable-negation", "unstratifiable-aggregation"}
# independent_body3 counts to 1,000,000 through two mutually recursive relations.
_LIMITS = Limits(max_iterations=10_000_000)


def _case_dir(case: dict[str, Any]) -> Path:
    return TESTS / case["category"] / case["test"]


def _runs(case: dict[str, Any]) -> list[Path]:
    """Directories holding the facts and expected outputs of each run of a case."""
    directory = _case_dir(case)
    if case.get("registered_as") == "positive_multi_test":
        return [directory / flag for flag in case["flags"]]
    return [directory]


pytestmark = pytest.mark.skipif(not CASES, reason="the Datalog corpus is not available")


@pytest.mark.parametrize("case", POSITIVE, ids=[c["test"] for c in POSITIVE])
def test_positive_case(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    directory = _case_dir(case)
    program = Program.load(directory / f"{case['test']}.dl", number_bits=32)
    for run in _runs(case):
        facts = run / "facts" if (run / "facts").is_dir() else run
        result = program.evaluate(fact_dir=facts, limits=_LIMITS)
        # A directory removed right away: pytest's tmp_path retention is slow on this disk.
        with tempfile.TemporaryDirectory() as out:
            program.write_outputs(result, out)
            produced = {p.name: p.read_text(encoding="utf-8") for p in Path(out).glob("*.csv")}
        expected = {p.name: p for p in run.glob("*.csv")}
        assert sorted(produced) == sorted(expected), f"csv files written in {run.name}"
        for name, path in expected.items():
            want = sorted(path.read_text(encoding="utf-8").splitlines())
            got = sorted(produced[name].splitlines())
            assert got == want, f"{run.name}/{name}"
    assert capsys.readouterr().out == (directory / f"{case['test']}.out").read_text(
        encoding="utf-8"
    )
    warnings = {(w.code, w.span.line) for w in program.warnings if w.span is not None}
    assert warnings == _souffle_warnings(directory / f"{case['test']}.err")


@pytest.mark.parametrize("case", MUST_REJECT, ids=[c["test"] for c in MUST_REJECT])
def test_must_reject_case(case: dict[str, Any]) -> None:
    directory = _case_dir(case)
    name = case["test"]
    with pytest.raises(DatalogError) as caught:
        Program.load(directory / f"{name}.dl", number_bits=32)
    error = caught.value
    assert {d.code for d in error.diagnostics} == EXPECTED_CODES[name]
    for diagnostic in error.diagnostics:
        assert diagnostic.span is not None and diagnostic.span.file is not None
        assert diagnostic.message and not diagnostic.message.endswith(".")
    ours = {d.span.line for d in error.diagnostics if d.code not in _STRATIFICATION and d.span}
    assert ours == _souffle_error_lines(directory / f"{name}.err")
    rendered = str(error)
    assert "^" in rendered and f"{name}.dl:" in rendered


def _souffle_error_lines(err: Path) -> set[int]:
    """Lines of Soufflé's errors, leaving out stratification (it picks another cycle edge)."""
    lines: set[int] = set()
    for block in re.split(r"^(?=Error:|Warning:)", err.read_text(encoding="utf-8"), flags=re.M):
        if block.startswith("Error:") and "Unable to stratify" not in block:
            found = re.search(r"at line (\d+)", block)
            if found:
                lines.add(int(found.group(1)))
    return lines


def _souffle_warnings(err: Path) -> set[tuple[str, int]]:
    """(RUNE warning code, line) of each warning in Soufflé's expected stderr."""
    found: set[tuple[str, int]] = set()
    for block in re.split(r"^(?=Error:|Warning:)", err.read_text(encoding="utf-8"), flags=re.M):
        line = re.search(r"at line (\d+)", block)
        if not block.startswith("Warning:") or line is None:
            continue
        code = "no-rules" if "No rules/facts defined" in block else "singleton-variable"
        found.add((code, int(line.group(1))))
    return found


def test_corpus_counts() -> None:
    if not CASES:
        pytest.skip("the Datalog corpus is not available")
    assert len(POSITIVE) == 156
    assert len(MUST_REJECT) == 13
    assert set(EXPECTED_CODES) == {c["test"] for c in MUST_REJECT}
