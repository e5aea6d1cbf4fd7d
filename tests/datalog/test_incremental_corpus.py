"""Incremental updates on Soufflé's own test programs (../shared/corpora/datalog).

For each positive case: retract a sample of its input facts (from the fact files and
from the program text), then insert them back; each updated result must equal a full
evaluation of the same facts. The corpus exercises far
more of the language (functors, floats, symbols, `eqrel`, magic sets, aggregates of every
kind) than the random programs do.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from rune.datalog import DatalogError, Limits, Program, Result
from rune.datalog.maintenance import maintenance_for
from rune.datalog.relation import Relation
from tests.conftest import SHARED

CORPUS = SHARED / "corpora" / "datalog"
TESTS = CORPUS / "souffle" / "tests"
# Cases that need more are skipped as too slow anyway; a retraction can make a program
# diverge (`factorial` without its bound), and then both sides must stop.
LIMITS = Limits(max_iterations=100_000)


def _cases() -> list[dict[str, Any]]:
    manifest = CORPUS / "MANIFEST.json"
    if not manifest.is_file():
        return []
    cases: list[dict[str, Any]] = json.loads(manifest.read_text(encoding="utf-8"))["cases"]
    return [c for c in cases if c["class"] != "must_reject"]


CASES = _cases()


def _directory(case: dict[str, Any]) -> Path:
    directory = TESTS / case["category"] / case["test"]
    if case.get("registered_as") == "positive_multi_test":
        directory = directory / case["flags"][0]
    return directory / "facts" if (directory / "facts").is_dir() else directory


def _canonical(result: Result) -> dict[str, list[str]]:
    # repr, so that rows holding NaN compare equal to themselves.
    return {name: sorted(repr(row) for row in view) for name, view in result.items()}


@pytest.mark.slow
@pytest.mark.skipif(not CASES, reason="the Datalog corpus is not available")
@pytest.mark.parametrize("case", CASES, ids=[c["test"] for c in CASES])
def test_retract_and_reinsert_equal_full_evaluation(case: dict[str, Any]) -> None:
    source = TESTS / case["category"] / case["test"] / f"{case['test']}.dl"
    program = Program.load(source, number_bits=32)
    started = time.perf_counter()
    try:
        result = program.evaluate(fact_dir=_directory(case), limits=LIMITS)
    except DatalogError:
        pytest.skip("needs more than the test's iteration bound")
    if time.perf_counter() - started > 2:
        pytest.skip("too slow to evaluate three times")
    if maintenance_for(program).reevaluate:
        pytest.skip("uses `$` or `ord`: updates re-evaluate, and numbering may differ")
    derived = maintenance_for(program).derived
    given: dict[str, set[tuple[Any, ...]]] = {}
    for name in program.analysed.relations:
        if name in derived:
            given[name] = set(result.base_facts.get(name, ()))
        else:
            given[name] = set(result.relation(name).tuples)
    rng = random.Random(case["test"])
    retracted = {
        name: set(rng.sample(sorted(rows, key=repr), min(len(rows), 1 + len(rows) // 4, 40)))
        for name, rows in given.items()
        if rows and "@" not in name and name not in program.compiled.demand_driven
    }
    if not retracted:
        pytest.skip("no input facts")
    remaining = {name: rows - retracted.get(name, set()) for name, rows in given.items()}
    try:
        smaller = result.update(retract=retracted, limits=LIMITS)
    except DatalogError as error:
        assert error.code == "derivation-limit"
        with pytest.raises(DatalogError, match="derivation stopped"):
            _evaluate(program, remaining)
        return
    assert _canonical(smaller) == _evaluate(program, remaining)
    restored = smaller.update(insert=retracted, limits=LIMITS)
    assert _canonical(restored) == _canonical(result)


def _evaluate(program: Program, inputs: dict[str, set[tuple[Any, ...]]]) -> dict[str, list[str]]:
    """A full evaluation from exactly ``inputs`` (the program's own facts included, so
    that retracting one of those is possible: `Program.evaluate` would add them back)."""
    relations = {
        name: Relation(name, info.arity, inputs.get(name, ()))
        for name, info in program.analysed.relations.items()
    }
    program.engine.run(relations, LIMITS)
    return {
        name: sorted(repr(row) for row in relations[name].tuples)
        for name in program.relation_names
    }


@pytest.mark.slow
@pytest.mark.skipif(not CASES, reason="the Datalog corpus is not available")
@pytest.mark.parametrize("case", CASES, ids=[c["test"] for c in CASES])
def test_sampled_rows_have_proofs(case: dict[str, Any]) -> None:
    source = TESTS / case["category"] / case["test"] / f"{case['test']}.dl"
    program = Program.load(source, number_bits=32)
    started = time.perf_counter()
    try:
        result = program.evaluate(fact_dir=_directory(case), limits=LIMITS)
    except DatalogError:
        pytest.skip("needs more than the test's iteration bound")
    if time.perf_counter() - started > 2:
        pytest.skip("too slow")
    if maintenance_for(program).reevaluate:
        pytest.skip("uses `$` or `ord`, whose rows cannot be explained")
    rng = random.Random(case["test"])
    for name, view in result.items():
        rows = sorted(view, key=repr)
        for row in rng.sample(rows, min(len(rows), 5)):
            proof = result.explain(name, row)
            for node in proof.walk():
                assert node.row in result.relation(node.relation).tuples
            assert proof.to_text().startswith(proof.fact_text())
