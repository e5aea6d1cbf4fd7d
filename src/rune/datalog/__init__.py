"""RUNE's Datalog engine for the core of Soufflé's language.

    from rune.datalog import Program
    program = Program.parse(text)                          # DatalogError on bad input
    result = program.evaluate({"edge": [(1, 2), (2, 3)]})  # input facts by relation
    result["path"]                                         # set-like of tuples
    result.query("path", (1, None))                        # indexed lookup
    newer = result.update(insert={"edge": [(3, 4)]}, retract={"edge": [(1, 2)]})
    answer = result.extended({"edge": [(3, 4)]})           # per-request facts, cheap
    per_call = result.scoped(["edge"], ["path"])           # compiled once per result ...
    per_call.evaluate({"edge": [(3, 4)]})["path"]          # ... cheaper still, per call
    print(result.explain("path", (1, 3)).to_text())        # a proof tree

Integers are 64-bit unless ``Program.parse(..., number_bits=32)`` (Soufflé's default,
which the `rune datalog` command uses).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rune.datalog.engine import EvaluationStats
    from rune.datalog.errors import DatalogError, ErrorCode
    from rune.datalog.explain import Absent, AggregateValue, Premise, Proof, ProofRule
    from rune.datalog.limits import Limits
    from rune.datalog.program import Program, RelationView, Result
    from rune.datalog.scoped import ScopedRules
    from rune.datalog.types import Kind

__all__ = [
    "Absent",
    "AggregateValue",
    "DatalogError",
    "ErrorCode",
    "EvaluationStats",
    "Kind",
    "Limits",
    "Premise",
    "Program",
    "Proof",
    "ProofRule",
    "RelationView",
    "Result",
    "ScopedRules",
]

# Every name is imported on first use: an engine whose rules come compiled from a cache
# (`rune.bundle.cache`) needs the evaluator, not the parser, the analyses or `explain`.
_WHERE = {
    "Absent": "explain",
    "AggregateValue": "explain",
    "DatalogError": "errors",
    "ErrorCode": "errors",
    "EvaluationStats": "engine",
    "Kind": "types",
    "Limits": "limits",
    "Premise": "explain",
    "Program": "program",
    "Proof": "explain",
    "ProofRule": "explain",
    "RelationView": "program",
    "Result": "program",
    "ScopedRules": "scoped",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rune.datalog.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
