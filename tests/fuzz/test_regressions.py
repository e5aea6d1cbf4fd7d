"""What the fuzz targets (`fuzz/`) found, each as a plain test (no atheris needed): the
input that failed, rebuilt by hand, and what RUNE must do instead."""

from __future__ import annotations

from typing import Any

import pytest

import rune
from rune.cedar import Request
from rune.datalog import Program

REQUEST = ('Agent::"a1"', 'Action::"read"', 'File::"a.py"')


def _deep_list(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.fixture
def engine() -> rune.Engine:
    return rune.Engine(policies="permit(principal, action, resource);")


# fuzz/engine_api.py, tests/fuzz/crashes/engine_api/record-deep-amount: the message of
# the refused `amount` held its repr, which recursed once per level (RecursionError).
@pytest.mark.parametrize(("call", "argument", "path"), [
    ("record", {"amount": _deep_list(100_000)}, "$.amount"),
    ("record", {"at": _deep_list(100_000)}, "$.at"),
    ("approve", {"ttl_seconds": _deep_list(100_000)}, "$.ttl_seconds"),
], ids=["record-amount", "record-at", "approve-ttl"])
def test_deeply_nested_arguments_are_refused_briefly(engine: rune.Engine, call: str,
                                                     argument: dict[str, Any],
                                                     path: str) -> None:
    with pytest.raises(rune.RuneError) as caught:
        getattr(engine, call)(*REQUEST, **argument)
    assert (caught.value.code, caught.value.path) == ("invalid-number", path)
    assert len(str(caught.value)) < 300


# Found with the above: integers too large for a float raised OverflowError from
# `math.isfinite`, and ones past 4,300 digits a ValueError from the message's `str()`.
@pytest.mark.parametrize(("call", "argument"), [
    ("record", {"at": 10**400}), ("record", {"at": -(10**5_000)}),
    ("record", {"amount": 10**5_000}),
    ("approve", {"ttl_seconds": 10**400}), ("approve", {"ttl_seconds": -(10**5_000)}),
])
def test_huge_integer_arguments_are_refused(engine: rune.Engine, call: str,
                                            argument: dict[str, Any]) -> None:
    with pytest.raises(rune.RuneError) as caught:
        getattr(engine, call)(*REQUEST, **argument)
    assert caught.value.code == "invalid-number"
    assert len(str(caught.value)) < 300


def test_datalog_messages_show_hostile_values_briefly() -> None:
    program = Program.parse(".decl e(x: number)\n.input e\n.decl p(x: number)\n.output p\n"
                            "p(x) :- e(x).\n")
    result = program.evaluate({"e": [(1,)]})
    for call in (lambda: result.explain("p", (_deep_list(100_000),)),
                 lambda: result.explain("p", (1, _deep_list(100_000))),
                 lambda: result.query(_deep_list(100_000), (1,)),
                 lambda: result.query("p", ([1],)),  # unhashable: a raw TypeError once
                 lambda: program.arity(_deep_list(100_000))):  # type: ignore[arg-type]
        with pytest.raises(rune.RuneError) as caught:
            call()
        assert len(str(caught.value)) < 300


# tests/fuzz/test_properties.py (Hypothesis): a context that is not a record was served
# the cached decision of the empty context when it was falsy (`0`, `[]`, `""`), and
# raised a raw TypeError from the cache check when it was truthy (`True`).
@pytest.mark.parametrize("context", [0, [], "", (), True, 1.5, b"x", ["a"]], ids=repr)
def test_a_context_that_is_not_a_record_is_refused_even_when_cached(
        engine: rune.Engine, context: Any) -> None:
    assert engine.authorize(*REQUEST).allowed  # fills the decision cache
    with pytest.raises(rune.RuneError) as caught:
        engine.authorize(*REQUEST, context)
    assert (caught.value.code, caught.value.path) == ("invalid-context", "$.context")


# Same: a context that is a lone `__entity` / `__extn` escape raised AssertionError.
@pytest.mark.parametrize("context", [{"__entity": {"type": "User", "id": ""}},
                                     {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}],
                         ids=["entity", "extension"])
def test_a_context_that_is_an_escape_is_refused(engine: rune.Engine, context: Any) -> None:
    with pytest.raises(rune.RuneError) as caught:
        engine.authorize(*REQUEST, context)
    assert (caught.value.code, caught.value.path) == ("invalid-context", "$.context")
    with pytest.raises(rune.RuneError, match="context must be a record"):
        Request(*REQUEST, context)
