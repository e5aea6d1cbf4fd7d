"""Request-scoped rules on the fast path (`rune.engine.request_rules`): for random requests
on rule sets with recursion, negation, aggregates, history and entity joins, a decision's
configuration, obligations, deny reasons and approvals are what the rules' whole result
extended with the request's facts (`Result.extended`) says."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rune
from rune.cedar import Request
from rune.engine.request_rules import request_facts
from rune.store.mapping import text_of
from tests.engine.test_engine import ENTITIES, HISTORY_RULES, POLICIES, RULES, Clock

# Recursion from the request's principal, negation and aggregates over request relations,
# rules that derive without any request (static parts), joins with entity data.
GRAPH_RULES = r"""
.decl above(group: symbol)
above(g) :- request(p, _, _), parent(p, g).
above(g) :- above(x), parent(x, g).
config("groups", to_string(n)) :- n = count : { above(_) }.
config("team", t) :- above(t), entity(t, "Team").
config("mode", "default") :- !context("mode", _).
config("mode", m) :- context("mode", m).
config("fixed", "yes").
config_num("risk_x2", r * 2) :- context_num("risk", r).
config_num("tags", n) :- request(_, _, _), n = count : { context_member("tags", _) }.
config_num("nested", x) :- context_num("nested.a", x), context("nested.b", "on").
deny("no-mode") :- request(_, "Action::\"write\"", _), !context("mode", _).
deny(cat("over:", k)) :- context_num(k, v), v > 100.
require_approval("quiet") :- !context_num("risk", _).
obligation("notify", g) :- above(g), !context_bool("silent", "true").
budget(cat("buy:", p), 500, 86400, x) :- request(p, "Action::\"buy\"", _),
    context_num("amount", x).
rate_limit(cat("call:", p), 1000000, 60) :- request(p, a, _), a != "Action::\"read\"".
"""

# Like issue 4's figure (d): a configuration value and a rate limit per request.
FIGURE_D_RULES = r"""
config("log_level", "debug") :- request(_, _, r), attr(r, "language", "python").
config_num("max_tokens", 4000) :- request(_, "Action::\"call\"", _),
    context_num("risk", k), k < 5.
rate_limit(cat("call:", p), 1000000000, 60) :- request(p, "Action::\"call\"", _).
"""

# `$` makes values depend on evaluation order: the rules fall back to `Result.extended`.
ORDERED_RULES = r"""
.decl seen(n: number)
seen($) :- request(_, _, _).
config_num("seen", n) :- seen(n).
"""

RULE_SETS = {"engine": RULES, "graph": GRAPH_RULES, "figure-d": FIGURE_D_RULES,
             "history": HISTORY_RULES, "ordered": ORDERED_RULES}

AGENTS = ('Agent::"a1"', 'Agent::"a2"', 'Agent::"outsider"', 'Agent::"ghost"')
ACTIONS = tuple(f'Action::"{a}"' for a in ("read", "write", "call", "buy", "deploy"))
RESOURCES = ('File::"src/app.py"', 'File::"src/ui.ts"', 'File::"config/.env"', 'Api::"llm"')

CONTEXTS = st.fixed_dictionaries({}, optional={
    "mode": st.sampled_from(["dev", "prod", "safe"]),
    "env": st.sampled_from(["dev", "prod"]),
    "risk": st.integers(-3, 200),
    "amount": st.integers(0, 900),
    "silent": st.booleans(),
    "tags": st.lists(st.sampled_from(["x", "y", "z"]), max_size=3),
    "nested": st.fixed_dictionaries({"a": st.integers(0, 9), "b": st.sampled_from(["on", "off"])}),
})


def _engines() -> dict[str, rune.Engine]:
    engines = {}
    for name, rules in RULE_SETS.items():
        # No time budget for the rules (the default is 50 ms a decision): these tests
        # compare what they derive, and a loaded machine must not turn one into an error.
        engine = rune.Engine(policies=POLICIES, entities=ENTITIES, rules=rules, clock=Clock(),
                             settings=rune.Settings(rule_max_seconds=600))
        if name == "history":
            for at in (999_000, 999_500, 999_990):
                engine.record('Agent::"a1"', 'Action::"deploy"', 'Env::"prod"', at=at)
                engine.record('Agent::"a1"', 'Action::"buy"', 'Api::"llm"', at=at, amount=150)
        engines[name] = engine
    return engines


ENGINES = _engines()


def expected_outputs(engine: rune.Engine, request: Request, now: float) -> dict[str, Any]:
    """What the whole result extended with the request's facts says, converted here (texts
    read back from their symbols, as `rune.store.mapping` says)."""
    snap = engine.snapshot
    result = snap.result.extended(request_facts(request, now)) if snap.request_scoped \
        else snap.result
    values: dict[str, list[Any]] = {}
    for key, value in result["config"]:
        values.setdefault(text_of(key), []).append(text_of(value))
    for key, value in result["config_num"]:
        values.setdefault(text_of(key), []).append(value)
    config = {k: v[0] if len(v) == 1 else tuple(sorted(v, key=repr))
              for k, v in values.items()}
    obligations = [("rate_limit", text_of(k), limit, window, None, "")
                   for k, limit, window in sorted(result["rate_limit"])]
    obligations += [("budget", text_of(k), limit, window, amount, "")
                    for k, limit, window, amount in sorted(result["budget"])]
    obligations += [(text_of(kind), "", None, None, None, text_of(detail))
                    for kind, detail in sorted(result["obligation"])]
    return {
        "config": config,
        "obligations": obligations,
        "denials": sorted(f"rule:{text_of(row[0])}" for row in result["deny"]),
        "approvals": sorted(f"approval:{text_of(row[0])}"
                            for row in result["require_approval"]),
    }


def as_tuples(obligations: Any) -> list[tuple[Any, ...]]:
    return [(o.kind, o.key, o.limit, o.window_seconds, o.amount, o.detail) for o in obligations]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(RULE_SETS)), principal=st.sampled_from(AGENTS),
       action=st.sampled_from(ACTIONS), resource=st.sampled_from(RESOURCES), context=CONTEXTS,
       now=st.integers(998_000, 1_002_000))
def test_outputs_equal_the_extended_result(name: str, principal: str, action: str,
                                           resource: str, context: dict[str, Any],
                                           now: int) -> None:
    engine = ENGINES[name]
    request = Request(principal, action, resource, context)
    config, obligations, denials, approvals = engine.snapshot.request_rules.outputs(request, now)
    expected = expected_outputs(engine, request, now)
    assert dict(config) == expected["config"]
    assert list(config) == sorted(expected["config"])
    assert as_tuples(obligations) == expected["obligations"]
    assert list(denials) == expected["denials"]
    assert list(approvals) == expected["approvals"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(RULE_SETS)), principal=st.sampled_from(AGENTS),
       action=st.sampled_from(ACTIONS), resource=st.sampled_from(RESOURCES), context=CONTEXTS)
def test_decisions_carry_the_extended_outputs(name: str, principal: str, action: str,
                                              resource: str, context: dict[str, Any]) -> None:
    engine = ENGINES[name]
    decision = engine.authorize(principal, action, resource, context)
    assert not [e for e in decision.errors if e.startswith("rules:")]
    assert decision.decided_at is not None
    expected = expected_outputs(engine, Request(principal, action, resource, context),
                                decision.decided_at)
    assert dict(decision.config) == expected["config"]
    rule_reasons = [r for r in decision.reasons if r.startswith(("rule:", "approval:"))]
    if decision.decision == "allow":
        assert not expected["denials"] and not rule_reasons
        assert as_tuples(decision.obligations) == expected["obligations"]
    elif decision.decision == "ask":
        assert rule_reasons[:len(expected["approvals"])] == expected["approvals"]
        assert as_tuples(decision.obligations) == expected["obligations"]
    elif expected["denials"] and any(r.startswith("rule:") for r in decision.reasons):
        assert set(rule_reasons) <= set(expected["denials"])
        assert decision.obligations == ()


def test_the_figure_d_rules_take_the_fast_path() -> None:
    rules = ENGINES["figure-d"].snapshot.request_rules.binding
    assert rules.scoped is not None and rules.scoped.fallback is None
    # `now` and `context` are not read: their facts are never built.
    assert rules.reads == {"request", "context_num"}


def test_order_dependent_rules_fall_back_to_extended() -> None:
    scoped = ENGINES["ordered"].snapshot.request_rules.binding.scoped
    assert scoped is not None and scoped.fallback is not None
    decision = ENGINES["ordered"].authorize('Agent::"a1"', 'Action::"read"', 'File::"src/app.py"')
    assert decision.config == {"seen": 0}


def test_rules_that_ignore_the_request_are_converted_once() -> None:
    engine = rune.Engine(policies="permit(principal, action, resource);", entities=ENTITIES,
                         rules='config("region", r) :- attr(_, "region", r).\n'
                               'obligation("log", "all").')
    rules = engine.snapshot.request_rules
    assert rules.binding.scoped is None
    first = engine.authorize('Agent::"a1"', 'Action::"read"', 'File::"src/app.py"')
    second = engine.authorize('Agent::"a2"', 'Action::"write"', 'Api::"llm"', {"x": 1})
    assert first.config == second.config == {"region": "eu"}
    assert first.obligations is second.obligations


def test_a_rule_that_fails_for_one_request_denies_it_only() -> None:
    engine = rune.Engine(policies="permit(principal, action, resource);",
                         rules='config_num("share", 100 / x) :- context_num("parts", x).')
    ok = engine.authorize('Agent::"a1"', 'Action::"read"', 'File::"f"', {"parts": 4})
    assert (ok.decision, ok.config) == ("allow", {"share": 25})
    failed = engine.authorize('Agent::"a1"', 'Action::"read"', 'File::"f"', {"parts": 0})
    assert failed.decision == "deny" and failed.reasons == ()
    with pytest.raises(rune.RuneError) as error:  # what the whole result says
        engine.snapshot.result.extended(request_facts(failed.request, 0))
    assert failed.errors == (f"rules: {error.value}",)
    assert "division by zero" in failed.errors[0]


@pytest.mark.parametrize("context", [{}, {"mode": "safe"}, {"risk": 3, "silent": True}])
def test_writes_publish_new_request_rules(context: dict[str, Any]) -> None:
    engine = rune.Engine(policies=POLICIES, entities=ENTITIES, rules=GRAPH_RULES)
    before = engine.authorize('Agent::"a2"', 'Action::"read"', 'File::"src/app.py"', context)
    engine.write(entities=[{"uid": {"type": "Team", "id": "coding"}, "attrs": {},
                            "parents": [{"type": "Org", "id": "acme"}]}])
    after = engine.authorize('Agent::"a2"', 'Action::"read"', 'File::"src/app.py"', context)
    assert int(after.config["groups"]) == int(before.config["groups"]) + 1
    assert ("notify", 'Org::"acme"') in [(o.kind, o.detail) for o in after.obligations] \
        or context.get("silent")


def test_a_write_binds_the_rules_on_the_first_decision_after_it() -> None:
    # A write publishes a version without binding its request rules; the first decision
    # binds them and sees the written state, and every later one reuses that binding.
    engine = rune.Engine(policies="permit(principal, action, resource);", entities=ENTITIES,
                         rules='config_num("calls", n) :- request(p, _, _), '
                               'n = count : { attr(p, "region", _) }.\n'
                               'config("region", r) :- request(p, _, _), attr(p, "region", r).')
    engine.write(entities=[{"uid": {"type": "Agent", "id": "a1"},
                            "attrs": {"region": "us"}, "parents": []}])
    rules = engine.snapshot.request_rules
    assert rules._binding is None
    decision = engine.authorize('Agent::"a1"', 'Action::"read"', 'File::"src/app.py"')
    assert decision.config == {"calls": 1, "region": "us"}
    bound = rules._binding
    assert bound is not None and rules.binding is bound
    engine.authorize('Agent::"a1"', 'Action::"read"', 'File::"x"')
    assert rules._binding is bound
