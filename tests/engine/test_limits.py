"""The engine under hostile input (issue 9): request context limits from `rune.toml`
`[limits]`, non-string context keys on the hot path, and explanations of policies with
very long conditions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import rune
from rune.bundle import Settings
from rune.cedar.errors import RequestError

POLICIES = 'permit(principal, action == Action::"read", resource);'
REQUEST = ('Agent::"a1"', 'Action::"read"', 'File::"a.py"')


def _nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def test_context_limits_come_from_rune_toml(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICIES)
    (tmp_path / "rune.toml").write_text("[limits]\nmax_context_bytes = 100\n"
                                        "max_context_depth = 3\n")
    engine = rune.Engine.load(tmp_path)
    assert engine.authorize(*REQUEST, {"path": "x" * 50, "r": _nested(2)}).allowed
    with pytest.raises(RequestError) as caught:
        engine.authorize(*REQUEST, {"path": "x" * 200})
    assert (caught.value.code, caught.value.path) == ("context-too-large", "$.context.path")
    with pytest.raises(RequestError) as caught:
        engine.authorize(*REQUEST, {"r": _nested(3)})
    assert (caught.value.code, caught.value.path) == ("nesting-too-deep", "$.context.r.a.a")
    with pytest.raises(RequestError) as caught:
        engine.authorize_batch([(*REQUEST, {"n": list(range(100))})])
    assert caught.value.code == "context-too-large"


def test_default_engine_context_limits() -> None:
    engine = rune.Engine(policies=POLICIES)
    assert engine.authorize(*REQUEST, {"r": _nested(31)}).allowed
    with pytest.raises(RequestError, match="nested too deeply"):
        engine.authorize(*REQUEST, {"r": _nested(32)})
    assert engine.authorize(*REQUEST, {"blob": "x" * 1_000_000}).allowed
    with pytest.raises(RequestError, match="too large"):
        engine.authorize(*REQUEST, {"blob": "x" * (1 << 20)})


def test_settings_in_code_set_the_context_limits() -> None:
    engine = rune.Engine(policies=POLICIES,
                         settings=Settings(max_context_bytes=10, max_context_depth=2))
    with pytest.raises(RequestError, match="too large"):
        engine.authorize(*REQUEST, {"s": "x" * 20})
    with pytest.raises(RequestError, match="nested too deeply"):
        engine.authorize(*REQUEST, {"r": {"a": {}}})


@pytest.mark.parametrize("key", [1, None, 1.5, True, (1, 2)], ids=repr)
def test_flat_context_with_a_key_that_is_not_text_is_refused(key: object) -> None:
    # The engine's hot path once allowed `{1: "x"}` (Cedar records have only text keys).
    engine = rune.Engine(policies=POLICIES)
    for value in ("x", 1, True):
        with pytest.raises(RequestError) as caught:
            engine.authorize(*REQUEST, {key: value})
        assert caught.value.code == "invalid-key"


def test_explain_a_policy_with_thousands_of_conjuncts() -> None:
    # `_split` recursed once per `&&`: 3,000 raised RecursionError in explain().
    n = 3_000
    conjuncts = " && ".join(f'context.t{i % 7} != "x{i}"' for i in range(n))
    policies = (f"permit(principal, action, resource) when {{ {conjuncts} }};\n"
                f'@id("allow-list") permit(principal, action, resource) unless {{ '
                f'{" || ".join(f"context.t0 == {chr(34)}u{i}{chr(34)}" for i in range(n))} }};')
    engine = rune.Engine(policies=policies)
    context = {f"t{i}": "y" for i in range(7)}
    false_one = n - 4  # the conjunct before the last three is false
    context[f"t{false_one % 7}"] = f"x{false_one}"
    decision = engine.authorize(*REQUEST, context)
    assert decision.allowed and decision.reasons == ("allow-list",)
    started = time.monotonic()
    report = {p.id: p for p in decision.explain().not_applied}["policy0"]
    assert time.monotonic() - started < 30
    assert report.failed is not None and report.failed.outcome == "false"
    assert report.failed.text == f'context.t{false_one % 7} != "x{false_one}"'


def test_a_huge_query_is_shown_briefly_in_its_error() -> None:
    engine = rune.Engine(policies=POLICIES, rules='config("a", "b").')
    for text in ("x" * 1_000_000, "config(" + "a, " * 100_000 + ")", 'config("a" "b")'):
        with pytest.raises(rune.RuneError) as caught:
            engine.query(text)
        assert caught.value.code == "invalid-query"
        assert len(str(caught.value)) < 300
