"""`rune.Engine`'s public API as issue 4 gives it: decisions, configuration, obligations,
ask and approvals, rate limits and budgets, history-aware rules, queries and writes."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import rune
from rune.cedar import EntityUID
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "coding-agent"


class Clock:
    """An injectable clock the tests move by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def uid(type_: str, id_: str) -> dict[str, str]:
    return {"type": type_, "id": id_}


def entity(type_: str, id_: str, parents: tuple[tuple[str, str], ...] = (),
           **attrs: Any) -> dict[str, Any]:
    return {"uid": uid(type_, id_), "attrs": attrs, "parents": [uid(*p) for p in parents]}


CODING = (("Team", "coding"),)

ENTITIES = [
    entity("Team", "coding"),
    entity("Group", "senior"),
    entity("Org", "acme", region="eu"),
    entity("Agent", "a1", CODING, level=3),
    entity("Agent", "a2", CODING, level=1),
    entity("Agent", "outsider", level=5),
    entity("File", "src/app.py", path="src/app.py", language="python"),
    entity("File", "src/ui.ts", path="src/ui.ts", language="typescript"),
    entity("File", "config/.env", path="config/.env", language="dotenv"),
    entity("Api", "llm"),
]

POLICIES = """
@id("read")
permit(principal in Team::"coding", action == Action::"read", resource is File);

@id("write-dev")
permit(principal in Team::"coding", action == Action::"write", resource is File)
when { context.env == "dev" };

@id("write-prod")
@ask("production change")
permit(principal in Group::"senior", action == Action::"write", resource is File)
when { context.env == "prod" };

@id("no-secrets")
forbid(principal, action, resource is File) when { resource.path like "*.env" };

@id("call")
permit(principal in Team::"coding", action == Action::"call", resource is Api);

@id("buy")
permit(principal in Team::"coding", action == Action::"buy", resource);

@id("risky")
permit(principal in Team::"coding", action == Action::"risky", resource)
when { context.risk < 5 };
"""

RULES = r"""
// Seniority is derived: Cedar sees `principal in Group::"senior"`.
derived_parent(a, "Group::\"senior\"") :- entity(a, "Agent"), attr_num(a, "level", l), l >= 3.

// Store-wide configuration (not request-scoped): materialized once per version.
config("region", r) :- entity(o, "Org"), attr(o, "region", r).

// Request-scoped configuration.
config("formatter", "black") :- request(_, _, f), attr(f, "language", "python").
config("formatter", "prettier") :- request(_, _, f), attr(f, "language", "typescript").
config_num("max_line_length", 100) :- request(_, _, f), attr(f, "language", "python").
config("review", "required") :- request(_, _, _), context("env", "prod").
config("review", "optional") :- request(_, _, _), context("env", "dev").
config("tag", "a") :- request(_, "Action::\"read\"", _).
config("tag", "b") :- request(_, "Action::\"read\"", _).

// Obligations: a rate limit, a budget, and one passed through to the caller.
rate_limit(cat("call:", p), 2, 60) :- request(p, "Action::\"call\"", _).
budget(cat("buy:", p), 500, 86400, x) :- request(p, "Action::\"buy\"", _),
    context_num("amount", x).
obligation("audit-log", "write") :- request(_, "Action::\"write\"", _).

// Extra deny reasons and approvals from rules.
deny("frozen") :- request(_, _, r), attr_bool(r, "frozen", "true").
require_approval("big purchase") :- request(_, "Action::\"buy\"", _),
    context_num("amount", x), x > 400.
"""

A1, A2, OUTSIDER = 'Agent::"a1"', 'Agent::"a2"', 'Agent::"outsider"'
APP, UI, SECRET, LLM = 'File::"src/app.py"', 'File::"src/ui.ts"', 'File::"config/.env"', \
    'Api::"llm"'
READ, WRITE, CALL, BUY, RISKY = (f'Action::"{a}"' for a in
                                 ("read", "write", "call", "buy", "risky"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(clock: Clock) -> rune.Engine:
    return rune.Engine(policies=POLICIES, entities=ENTITIES, rules=RULES, clock=clock)


# -- the public API ------------------------------------------------------------------------------

def test_constructor_takes_the_documented_keywords() -> None:
    params = inspect.signature(rune.Engine).parameters
    assert list(params)[:4] == ["policies", "entities", "rules", "schema"]
    assert params["rules"].default is None and params["schema"].default is None
    engine = rune.Engine(policies=POLICIES, entities=ENTITIES, rules=None, schema=None)
    assert engine.authorize(A1, READ, APP).allowed


def test_decision_carries_every_documented_field(engine: rune.Engine) -> None:
    d = engine.authorize(A1, WRITE, APP, context={"env": "dev"})
    assert d.decision == "allow" and d.allowed is True
    assert d.reasons == ("write-dev",)
    assert d.errors == ()
    assert dict(d.config) == {"formatter": "black", "max_line_length": 100,
                              "region": "eu", "review": "optional"}
    assert [o.to_json() for o in d.obligations] == [
        {"kind": "audit-log", "detail": "write"}]
    assert d.version == engine.version == 1
    assert callable(d.explain)
    assert d.to_json()["decision"] == "allow"


def test_explain_returns_text_and_json(engine: rune.Engine) -> None:
    pytest.importorskip("rune.engine.explain")
    explanation = engine.authorize(A1, READ, APP).explain()
    assert "read" in str(explanation)
    assert "read" in json.dumps(explanation.to_json())


def test_decisions_are_immutable(engine: rune.Engine) -> None:
    d = engine.authorize(A1, READ, APP)
    with pytest.raises((AttributeError, TypeError)):
        d.decision = "deny"  # type: ignore[misc]
    with pytest.raises(TypeError):
        d.config["formatter"] = "ruff"  # type: ignore[index]


@pytest.mark.parametrize("principal", [A1, uid("Agent", "a1"), EntityUID("Agent", "a1")])
def test_uids_in_every_form(engine: rune.Engine, principal: Any) -> None:
    d = engine.authorize(principal, READ, APP)
    assert (d.decision, d.reasons) == ("allow", ("read",))


def test_entities_as_json_text() -> None:
    engine = rune.Engine(policies=POLICIES, entities=json.dumps(ENTITIES))
    assert engine.authorize(A2, READ, APP).allowed


def test_ill_formed_requests_raise_rune_errors(engine: rune.Engine) -> None:
    with pytest.raises(rune.RuneError) as info:
        engine.authorize("Agent::a1", READ, APP)
    assert info.value.path == "$.principal"
    with pytest.raises(rune.RuneError):
        engine.authorize(A1, READ, APP, context={"x": 1.5})


def test_bad_inputs_raise_rune_errors_with_locations() -> None:
    with pytest.raises(rune.RuneError) as info:
        rune.Engine(policies="permit(principal, action resource);")
    assert (info.value.span.line, info.value.span.column) == (1, 26)
    with pytest.raises(rune.RuneError) as info:
        rune.Engine(policies="", entities=[{"uid": 5, "attrs": {}, "parents": []}])
    assert info.value.path is not None and info.value.path.startswith("$[0]")
    with pytest.raises(rune.RuneError) as info:
        rune.Engine(policies="", rules="config(k, v) :- nowhere(k, v).")
    assert info.value.code == "undeclared-relation"


def test_schema_validates_entities_and_requests() -> None:
    schema = """
    entity Team;
    entity Agent in [Team] { level: Long };
    entity File { path: String };
    action read appliesTo { principal: Agent, resource: File, context: {} };
    """
    entities = [entity("Team", "t"), entity("Agent", "a", (("Team", "t"),), level=2),
                entity("File", "f", path="x")]
    policies = 'permit(principal in Team::"t", action == Action::"read", resource);'
    engine = rune.Engine(policies=policies, entities=entities, rules=None, schema=schema)
    assert engine.authorize('Agent::"a"', READ, 'File::"f"').allowed
    with pytest.raises(rune.RuneError):
        engine.authorize('Agent::"a"', READ, 'File::"f"', {"undeclared": 1})
    with pytest.raises(rune.RuneError) as info:
        rune.Engine(policies=policies, entities=[entity("Agent", "a", level="two")],
                    schema=schema)
    assert info.value.path == "$[0].attrs.level"


def test_load_the_coding_agent_bundle() -> None:
    engine = rune.Engine.load(EXAMPLE)
    prod, dev = {"env": "prod"}, {"env": "dev"}
    a1, a2 = 'Agent::"a1"', 'Agent::"a2"'
    write, read = 'Action::"write_file"', 'Action::"read_file"'
    assert engine.authorize(a1, write, 'File::"src/app.py"', dev).decision == "allow"
    d = engine.authorize(a1, write, 'File::"src/app.py"', prod)
    assert d.decision == "ask" and d.reasons[0] == "write-in-prod"
    assert d.config["review"] == "required" and d.config["formatter"] == "black"
    assert engine.authorize(a2, write, 'File::"src/app.py"', prod).decision == "deny"
    d = engine.authorize(a1, read, 'File::"config/.env"', dev)
    assert (d.decision, d.reasons) == ("deny", ("never-touch-secrets",))


def test_authorize_batch_matches_one_by_one(engine: rune.Engine) -> None:
    requests = [
        (A1, READ, APP),
        (A2, WRITE, APP, {"env": "dev"}),
        (A2, WRITE, APP, {"env": "prod"}),
        (A1, WRITE, APP, {"env": "prod"}),
        (OUTSIDER, READ, APP, None),
        (A1, READ, SECRET, {}),
    ]
    batch = engine.authorize_batch(requests)
    assert [d.decision for d in batch] == ["allow", "allow", "deny", "ask", "deny", "deny"]
    for d, item in zip(batch, requests, strict=True):
        one = engine.authorize(*item)
        assert (d.decision, d.reasons, d.errors, dict(d.config)) == \
            (one.decision, one.reasons, one.errors, dict(one.config))


# -- default deny --------------------------------------------------------------------------------

def test_default_deny_when_no_policy_applies(engine: rune.Engine) -> None:
    d = engine.authorize(OUTSIDER, READ, APP)
    assert (d.decision, d.allowed, d.reasons, d.errors) == ("deny", False, (), ())


def test_forbid_overrides_permit(engine: rune.Engine) -> None:
    d = engine.authorize(A1, READ, SECRET)
    assert (d.decision, d.reasons) == ("deny", ("no-secrets",))


def test_cedar_evaluation_error_denies_and_is_reported(engine: rune.Engine) -> None:
    d = engine.authorize(A1, RISKY, APP, context={"risk": "high"})
    assert d.decision == "deny" and not d.allowed
    assert d.reasons == ()
    assert len(d.errors) == 1 and d.errors[0].startswith("risky:")
    assert engine.authorize(A1, RISKY, APP, context={"risk": 1}).allowed


def test_a_forbid_that_errors_is_skipped_as_in_cedar() -> None:
    engine = rune.Engine(policies="""
        @id("allow-all") permit(principal, action, resource);
        @id("bad-forbid") forbid(principal, action, resource) when { context.n > 1 };
    """)
    d = engine.authorize(A1, READ, APP, {"n": "x"})
    assert (d.decision, d.reasons) == ("allow", ("allow-all",))
    assert [e.split(":")[0] for e in d.errors] == ["bad-forbid"]


def test_rule_evaluation_error_denies_what_cedar_allows(clock: Clock) -> None:
    rules = 'config_num("ratio", 100 / d) :- request(_, _, _), context_num("d", d).'
    engine = rune.Engine(policies="permit(principal, action, resource);", rules=rules,
                         clock=clock)
    assert engine.authorize(A1, READ, APP, {"d": 4}).config == {"ratio": 25}
    d = engine.authorize(A1, READ, APP, {"d": 0})
    assert d.decision == "deny" and not d.allowed
    assert d.reasons == ()
    assert len(d.errors) == 1 and d.errors[0].startswith("rules:")
    assert "division by zero" in d.errors[0]
    assert dict(d.config) == {} and d.obligations == ()


def test_rule_error_on_a_cedar_deny_keeps_the_cedar_reasons(clock: Clock) -> None:
    rules = 'config_num("ratio", 100 / d) :- request(_, _, _), context_num("d", d).'
    engine = rune.Engine(policies='@id("no") forbid(principal, action, resource);',
                         rules=rules, clock=clock)
    d = engine.authorize(A1, READ, APP, {"d": 0})
    assert (d.decision, d.reasons) == ("deny", ("no",))
    assert d.errors and d.errors[0].startswith("rules:")


def test_derived_data_that_is_not_valid_cedar_is_rejected() -> None:
    rules = 'derived_attr_num(a, "level", 9) :- entity(a, "Agent").'
    with pytest.raises(rune.RuneError) as info:
        rune.Engine(policies=POLICIES, entities=ENTITIES, rules=rules)
    assert info.value.code == "conflicting-derived-value"
    rules = 'derived_parent(a, "not a uid") :- entity(a, "Agent").'
    with pytest.raises(rune.RuneError) as info:
        rune.Engine(policies=POLICIES, entities=ENTITIES, rules=rules)
    assert info.value.code == "invalid-derived-uid"


def test_a_rule_error_while_materializing_rejects_the_write() -> None:
    rules = ".decl d(n: number)\n.input d\nconfig_num(\"x\", 10 / n) :- d(n)."
    engine = rune.Engine(policies="permit(principal, action, resource);", rules=rules)
    with pytest.raises(rune.RuneError) as info:
        engine.write(facts={"d": [(0,)]})
    assert info.value.code == "evaluation-error"
    assert engine.version == 1 and engine.authorize(A1, READ, APP).allowed
    engine.write(facts={"d": [(5,)]})
    assert engine.authorize(A1, READ, APP).config == {"x": 2}


def test_entity_data_must_not_depend_on_the_request() -> None:
    rules = 'derived_parent(p, "Group::\\"senior\\"") :- request(p, _, _).'
    with pytest.raises(rune.RuneError) as info:
        rune.Engine(policies=POLICIES, entities=ENTITIES, rules=rules)
    assert info.value.code == "request-dependent-entity-data"


def test_a_write_that_breaks_derivation_publishes_nothing() -> None:
    rules = 'derived_attr(a, "tier", t) :- entity(a, "Agent"), tier(a, t).\n' \
        ".decl tier(a: symbol, t: symbol)\n.input tier"
    engine = rune.Engine(policies=POLICIES, entities=ENTITIES, rules=rules)
    engine.write(facts={"tier": [(r'Agent::\"a1\"', "gold")]})
    with pytest.raises(rune.RuneError):
        engine.write(facts={"tier": [(r'Agent::\"a1\"', "silver")]})
    assert engine.version == 2
    assert engine.query("tier(a, t)") == [(r'Agent::\"a1\"', "gold")]


# -- configuration and obligations ---------------------------------------------------------------

def test_configuration_follows_the_request(engine: rune.Engine) -> None:
    d = engine.authorize(A1, WRITE, UI, {"env": "prod"})
    assert dict(d.config) == {"formatter": "prettier", "region": "eu", "review": "required"}
    # Two values for one key come back as a sorted tuple.
    assert engine.authorize(A1, READ, APP).config["tag"] == ("a", "b")
    # Configuration is derived for denied requests too.
    d = engine.authorize(OUTSIDER, WRITE, APP, {"env": "dev"})
    assert d.decision == "deny" and d.config["review"] == "optional"


def test_store_wide_configuration_needs_no_request_rules() -> None:
    rules = 'config("region", r) :- entity(o, "Org"), attr(o, "region", r).'
    engine = rune.Engine(policies=POLICIES, entities=ENTITIES, rules=rules)
    assert engine.snapshot.request_scoped is False
    assert dict(engine.authorize(A1, READ, APP).config) == {"region": "eu"}
    assert engine.query("config(k, v)") == [("region", "eu")]


def test_obligations_are_derived_per_request(engine: rune.Engine) -> None:
    d = engine.authorize(A1, CALL, LLM)
    assert [o.to_json() for o in d.obligations] == [
        {"kind": "rate_limit", "key": 'call:Agent::"a1"', "limit": 2, "window_seconds": 60}]
    d = engine.authorize(A1, BUY, APP, {"amount": 30})
    (ob,) = d.obligations
    assert (ob.kind, ob.limit, ob.window_seconds, ob.amount) == ("budget", 500, 86400, 30)
    assert engine.authorize(A1, READ, APP).obligations == ()


def test_rule_deny_overrides_a_cedar_allow(engine: rune.Engine) -> None:
    engine.write(entities=[
        entity("File", "src/frozen.py", path="src/frozen.py", frozen=True),
        entity("File", "src/frozen.env", path="src/frozen.env", frozen=True),
    ])
    d = engine.authorize(A1, READ, 'File::"src/frozen.py"')
    assert (d.decision, d.reasons) == ("deny", ("rule:frozen",))
    # When Cedar denies too, its reasons come first.
    d = engine.authorize(A1, READ, 'File::"src/frozen.env"')
    assert (d.decision, d.reasons) == ("deny", ("no-secrets", "rule:frozen"))


# -- ask, approve, expiry ------------------------------------------------------------------------

def test_ask_policy_needs_approval_then_allows_until_expiry(engine: rune.Engine,
                                                            clock: Clock) -> None:
    prod = {"env": "prod"}
    d = engine.authorize(A1, WRITE, APP, prod)
    assert (d.decision, d.allowed) == ("ask", False)
    assert d.reasons == ("write-prod", "approval:production change")
    version = engine.approve(A1, WRITE, APP, ttl_seconds=600)
    assert version == engine.version == 2
    d = engine.authorize(A1, WRITE, APP, prod)
    assert (d.decision, d.allowed, d.version) == ("allow", True, 2)
    assert d.reasons == ("write-prod", "approved")
    # Exactly that request: another resource still asks, another agent is still denied.
    assert engine.authorize(A1, WRITE, UI, prod).decision == "ask"
    assert engine.authorize(A2, WRITE, APP, prod).decision == "deny"
    clock.advance(599)
    assert engine.authorize(A1, WRITE, APP, prod).decision == "allow"
    clock.advance(1)
    assert engine.authorize(A1, WRITE, APP, prod).decision == "ask"


def test_approval_never_turns_a_deny_into_an_allow(engine: rune.Engine) -> None:
    engine.approve(A1, READ, SECRET)
    engine.approve(OUTSIDER, READ, APP)
    assert engine.authorize(A1, READ, SECRET).decision == "deny"
    assert engine.authorize(OUTSIDER, READ, APP).decision == "deny"


def test_rules_can_require_approval(engine: rune.Engine, clock: Clock) -> None:
    assert engine.authorize(A1, BUY, APP, {"amount": 50}).decision == "allow"
    d = engine.authorize(A1, BUY, APP, {"amount": 420})
    assert (d.decision, d.reasons) == ("ask", ("buy", "approval:big purchase"))
    engine.approve(A1, BUY, APP, ttl_seconds=60)
    assert engine.authorize(A1, BUY, APP, {"amount": 420}).decision == "allow"
    clock.advance(61)
    assert engine.authorize(A1, BUY, APP, {"amount": 420}).decision == "ask"


def test_a_new_approval_extends_the_old_one(engine: rune.Engine, clock: Clock) -> None:
    engine.approve(A1, WRITE, APP, ttl_seconds=10)
    clock.advance(5)
    engine.approve(A1, WRITE, APP, ttl_seconds=10)
    clock.advance(9)
    assert engine.authorize(A1, WRITE, APP, {"env": "prod"}).allowed


def test_bundle_setting_sets_the_default_approval_lifetime(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLE, bundle)
    (bundle / "rune.toml").write_text("[engine]\napproval_ttl_seconds = 60\n")
    clock = Clock()
    engine = rune.Engine.load(bundle, clock=clock)
    request = ('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"})
    engine.approve(*request[:3])
    assert engine.authorize(*request).decision == "allow"
    clock.advance(120)
    assert engine.authorize(*request).decision == "ask"


# -- rate limits and budgets ---------------------------------------------------------------------

def test_rate_limit_is_a_sliding_window(engine: rune.Engine, clock: Clock) -> None:
    start = clock.now
    assert engine.authorize(A1, CALL, LLM).allowed  # t = 0
    clock.advance(30)
    assert engine.authorize(A1, CALL, LLM).allowed  # t = 30
    d = engine.authorize(A1, CALL, LLM)  # t = 30: third call in the window
    assert (d.decision, d.reasons) == ("deny", ('rate-limit:call:Agent::"a1"',))
    clock.advance(29)
    assert not engine.authorize(A1, CALL, LLM).allowed  # t = 59: both still count
    clock.now = start + 60  # the call at t = 0 leaves the window
    assert engine.authorize(A1, CALL, LLM).allowed
    assert not engine.authorize(A1, CALL, LLM).allowed
    clock.now = start + 90  # the call at t = 30 leaves
    assert engine.authorize(A1, CALL, LLM).allowed


def test_rate_limits_are_per_key(engine: rune.Engine) -> None:
    for _ in range(2):
        assert engine.authorize(A1, CALL, LLM).allowed
    assert not engine.authorize(A1, CALL, LLM).allowed
    assert engine.authorize(A2, CALL, LLM).allowed


def test_denied_requests_do_not_use_the_rate_limit(engine: rune.Engine) -> None:
    for _ in range(5):
        assert not engine.authorize(OUTSIDER, CALL, LLM).allowed
    engine.write(entities=[entity("Agent", "outsider", CODING, level=5)])
    assert engine.authorize(OUTSIDER, CALL, LLM).allowed


def test_budget_is_a_sliding_sum(engine: rune.Engine, clock: Clock) -> None:
    assert engine.authorize(A1, BUY, APP, {"amount": 300}).allowed
    clock.advance(3600)
    d = engine.authorize(A1, BUY, APP, {"amount": 300})
    assert (d.decision, d.reasons) == ("deny", ('budget:buy:Agent::"a1"',))
    assert engine.authorize(A1, BUY, APP, {"amount": 200}).allowed  # exactly 500
    assert not engine.authorize(A1, BUY, APP, {"amount": 1}).allowed
    assert engine.authorize(A2, BUY, APP, {"amount": 300}).allowed  # another agent
    clock.advance(86400 - 3600)  # the first purchase leaves the window
    assert engine.authorize(A1, BUY, APP, {"amount": 300}).allowed
    assert not engine.authorize(A1, BUY, APP, {"amount": 1}).allowed


def test_rate_limit_applies_to_cached_decisions(engine: rune.Engine) -> None:
    # Identical requests may be served from the cache; the limit is still enforced.
    results = [engine.authorize(A1, CALL, LLM).decision for _ in range(4)]
    assert results == ["allow", "allow", "deny", "deny"]


def test_limits_are_all_or_nothing() -> None:
    rules = r"""
    rate_limit("calls", 3, 60) :- request(_, "Action::\"buy\"", _).
    budget("spend", 100, 60, x) :- request(_, "Action::\"buy\"", _), context_num("amount", x).
    """
    engine = rune.Engine(policies="permit(principal, action, resource);", rules=rules,
                         clock=Clock())
    # The budget refuses these, so they must not use up the rate limit either.
    for _ in range(5):
        d = engine.authorize(A1, BUY, APP, {"amount": 500})
        assert (d.decision, d.reasons) == ("deny", ("budget:spend",))
    assert [engine.authorize(A1, BUY, APP, {"amount": 10}).decision for _ in range(4)] == \
        ["allow", "allow", "allow", "deny"]


# -- history-aware rules -------------------------------------------------------------------------

HISTORY_RULES = r"""
deny("deploys-per-hour") :- request(p, "Action::\"deploy\"", _), now(n),
    c = count : { performed(p, "Action::\"deploy\"", _, t, _), t > n - 3600 }, c >= 3.
deny("spend-per-day") :- request(p, "Action::\"buy\"", _), now(n), context_num("amount", x),
    s = sum a : { spent(p, a, t, _), t > n - 86400 }, s + x > 500.
config_num("deploys_this_hour", c) :- request(p, _, _), now(n),
    c = count : { performed(p, "Action::\"deploy\"", _, t, _), t > n - 3600 }.
"""

DEPLOY = 'Action::"deploy"'
PROD = 'Env::"prod"'


@pytest.fixture
def history(clock: Clock) -> rune.Engine:
    return rune.Engine(policies="permit(principal, action, resource);", entities=[],
                       rules=HISTORY_RULES, clock=clock)


def test_rules_count_recorded_actions_in_a_window(history: rune.Engine, clock: Clock) -> None:
    start = clock.now
    for i in range(3):
        d = history.authorize(A1, DEPLOY, PROD)
        assert d.allowed and d.config["deploys_this_hour"] == i
        version = history.record(A1, DEPLOY, PROD)
        assert version == history.version == i + 2
        clock.advance(10)
    d = history.authorize(A1, DEPLOY, PROD)
    assert (d.decision, d.reasons) == ("deny", ("rule:deploys-per-hour",))
    assert history.authorize(A2, DEPLOY, PROD).allowed  # counted per agent
    clock.now = start + 3600  # the first deploy leaves the window
    d = history.authorize(A1, DEPLOY, PROD)
    assert d.allowed and d.config["deploys_this_hour"] == 2


def test_rules_sum_recorded_spending(history: rune.Engine, clock: Clock) -> None:
    history.record(A1, BUY, APP, amount=300)
    clock.advance(60)
    history.record(A1, BUY, APP, amount=150)
    assert history.authorize(A1, BUY, APP, {"amount": 50}).allowed
    d = history.authorize(A1, BUY, APP, {"amount": 51})
    assert (d.decision, d.reasons) == ("deny", ("rule:spend-per-day",))
    clock.advance(86400 - 60)  # the 300 leaves the window
    assert history.authorize(A1, BUY, APP, {"amount": 350}).allowed


def test_record_with_an_explicit_time(history: rune.Engine, clock: Clock) -> None:
    for at in (clock.now - 7200, clock.now - 30, clock.now - 20):
        history.record(A1, DEPLOY, PROD, at=at)
    assert history.authorize(A1, DEPLOY, PROD).config["deploys_this_hour"] == 2
    rows = history.query("performed(p, a, r, t, s)")
    assert sorted(t for p, _, _, t, _ in rows if p == _rule_uid(A1)) == [
        int(clock.now) - 7200, int(clock.now) - 30, int(clock.now) - 20]


def test_actions_recorded_in_the_same_second_all_count(history: rune.Engine) -> None:
    for _ in range(3):
        history.record(A1, DEPLOY, PROD)
    assert history.authorize(A1, DEPLOY, PROD).config["deploys_this_hour"] == 3
    assert not history.authorize(A1, DEPLOY, PROD).allowed


def test_equal_purchases_in_the_same_second_both_count(history: rune.Engine) -> None:
    history.record(A1, BUY, APP, amount=250)
    history.record(A1, BUY, APP, amount=250)
    assert not history.authorize(A1, BUY, APP, {"amount": 1}).allowed


# -- writes and queries --------------------------------------------------------------------------

def _rule_uid(text: str) -> str:
    """A uid as rules and queries see it: `Type::\\"id\\"`."""
    return text.replace('"', '\\"')


def test_write_adds_and_removes_entities_and_facts() -> None:
    rules = (".decl oncall(agent: symbol)\n.input oncall\n"
             'derived_parent(a, "Group::\\"senior\\"") :- oncall(a).')
    engine = rune.Engine(policies=POLICIES, entities=ENTITIES, rules=rules)
    assert engine.authorize(A2, WRITE, APP, {"env": "prod"}).decision == "deny"
    assert engine.write(facts={"oncall": [(_rule_uid(A2),)]}) == 2
    d = engine.authorize(A2, WRITE, APP, {"env": "prod"})
    assert (d.decision, d.version) == ("ask", 2)
    assert engine.write(retract={"oncall": [(_rule_uid(A2),)]}) == 3
    assert engine.authorize(A2, WRITE, APP, {"env": "prod"}).decision == "deny"
    assert engine.write(remove_entities=[A2]) == 4
    assert engine.authorize(A2, READ, APP).decision == "deny"
    engine.write(entities=[entity("Agent", "a2", CODING, level=1)])
    assert engine.authorize(A2, READ, APP).allowed


def test_old_snapshots_are_unchanged_by_writes(engine: rune.Engine) -> None:
    before = engine.snapshot
    engine.write(remove_entities=[A1])
    assert before.version == 1 and engine.snapshot.version == 2
    assert EntityUID("Agent", "a1") in before.entity_data
    assert EntityUID("Agent", "a1") not in engine.snapshot.entity_data


def test_query_relations_of_the_current_version(engine: rune.Engine) -> None:
    assert engine.query("config(k, v)") == [("region", "eu")]
    senior = _rule_uid('Group::"senior"')
    assert engine.query("derived_parent(a, g)") == [
        (_rule_uid(A1), senior), (_rule_uid(OUTSIDER), senior)]
    assert engine.query('attr_num(a, "level", 5)') == [(_rule_uid(OUTSIDER), "level", 5)]
    assert engine.query('attr(_, "region", r)') == [(_rule_uid('Org::"acme"'), "region", "eu")]
    engine.write(entities=[entity("Org", "acme", region="us")])
    assert engine.query("config(k, v).") == [("region", "us")]


def test_query_binds_a_uid_written_as_in_a_rule(engine: rune.Engine) -> None:
    senior = _rule_uid('Group::"senior"')
    # In a rule, `"Agent::\"a1\""` is the symbol the facts hold; a query reads the same.
    assert engine.query(r'derived_parent("Agent::\"a1\"", g)') == [(_rule_uid(A1), senior)]


@pytest.mark.parametrize(("text", "code"), [
    ("no_such_relation(x)", "unknown-relation"),
    ("config(k)", "arity-mismatch"),
    ("config k v", "invalid-query"),
])
def test_bad_queries_raise_engine_errors(engine: rune.Engine, text: str, code: str) -> None:
    with pytest.raises(rune.EngineError) as info:
        engine.query(text)
    assert info.value.code == code


def test_query_without_rules() -> None:
    with pytest.raises(rune.EngineError) as info:
        rune.Engine(policies=POLICIES).query("config(k, v)")
    assert info.value.code == "no-rules"


# -- the cache -----------------------------------------------------------------------------------

def test_identical_requests_are_served_from_the_cache() -> None:
    engine = rune.Engine(policies=POLICIES, entities=ENTITIES)
    first = engine.authorize(A1, READ, APP, {"env": "dev"})
    assert engine.authorize(A1, READ, APP, {"env": "dev"}) is first
    engine.write(entities=[entity("Agent", "a1", level=3)])  # leaves the team
    d = engine.authorize(A1, READ, APP, {"env": "dev"})
    assert (d.decision, d.version) == ("deny", 2)


def test_cache_takes_uids_in_every_form() -> None:
    engine = rune.Engine(policies=POLICIES, entities=ENTITIES)
    text = engine.authorize(A1, READ, APP, {"env": "dev"})
    uid = EntityUID("Agent", "a1")
    as_uid = engine.authorize(uid, READ, APP, {"env": "dev"})
    assert engine.authorize(uid, READ, APP, {"env": "dev"}) is as_uid  # cached too
    as_dict = engine.authorize({"type": "Agent", "id": "a1"}, READ, APP, {"env": "dev"})
    assert as_dict is not engine.authorize({"type": "Agent", "id": "a1"}, READ, APP,
                                           {"env": "dev"})  # unhashable: decided afresh
    assert text.decision == as_uid.decision == as_dict.decision
    assert text.request == as_uid.request == as_dict.request


def test_cache_tells_true_from_one() -> None:
    # Python says `True == 1`; Cedar does not.
    engine = rune.Engine(policies="permit(principal, action, resource) when { context.f == true };")
    assert engine.authorize(A1, READ, APP, {"f": True}).allowed
    assert not engine.authorize(A1, READ, APP, {"f": 1}).allowed
    engine = rune.Engine(policies="permit(principal, action, resource) when { context.f == true };")
    assert not engine.authorize(A1, READ, APP, {"f": 1}).allowed
    assert engine.authorize(A1, READ, APP, {"f": True}).allowed


def test_time_dependent_rules_are_not_cached(history: rune.Engine, clock: Clock) -> None:
    history.record(A1, DEPLOY, PROD)
    assert history.authorize(A1, READ, APP).config["deploys_this_hour"] == 1
    clock.advance(3600)
    assert history.authorize(A1, READ, APP).config["deploys_this_hour"] == 0
