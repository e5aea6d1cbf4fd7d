"""The public surface of `rune.datalog`: sorted, complete, no private names."""

from __future__ import annotations

import importlib

import pytest

import rune.datalog

MODULES = [
    "rune.datalog",
    "rune.datalog.analysis",
    "rune.datalog.ast",
    "rune.datalog.codegen",
    "rune.datalog.compiler",
    "rune.datalog.engine",
    "rune.datalog.errors",
    "rune.datalog.io",
    "rune.datalog.lexer",
    "rune.datalog.parser",
    "rune.datalog.plan",
    "rune.datalog.program",
    "rune.datalog.relation",
    "rune.datalog.runtime",
    "rune.datalog.types",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_public_and_defined(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    assert not [n for n in exported if n.startswith("_")]
    assert all(hasattr(module, n) for n in exported)


def test_public_api() -> None:
    from rune.datalog import DatalogError, Program
    from rune.errors import RuneError

    assert issubclass(DatalogError, RuneError) and issubclass(DatalogError, ValueError)
    assert Program.parse is not None and "Program" in rune.datalog.__all__
