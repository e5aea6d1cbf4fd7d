"""Writes, records and approvals as deltas: transactions, retention, refused input."""

from __future__ import annotations

import math
from typing import Any

import pytest

import rune
from rune.cedar import EntityUID

POLICIES = """
@id("team")
permit(principal in Team::"t", action, resource);
@id("tier-gold")
permit(principal, action == Action::"read", resource)
when { principal has tier && principal.tier == "gold" };
"""

RULES = r"""
.decl tier(a: symbol, t: symbol)
.decl recent(p: symbol, n: number)
derived_attr(a, "tier", t) :- tier(a, t).
derived_parent(a, "Team::\"t\"") :- entity(a, "Agent"), attr_num(a, "level", l), l >= 3.
recent(p, n) :- now(t), performed(p, _, _, _, _),
                n = count : { performed(p, _, _, at, _), at > t - 3600 }.
config_num("recent", n) :- request(p, _, _), recent(p, n).
"""


def agent(name: str, level: int, **attrs: Any) -> dict[str, Any]:
    return {"uid": {"type": "Agent", "id": name}, "attrs": {"level": level, **attrs},
            "parents": []}


A1, A2 = 'Agent::"a1"', 'Agent::"a2"'
READ, TOOL = 'Action::"read"', 'Tool::"x"'


@pytest.fixture
def clock() -> list[float]:
    return [1_000_000.0]


@pytest.fixture
def engine(clock: list[float]) -> rune.Engine:
    return rune.Engine(POLICIES, entities=[agent("a1", 1), agent("a2", 5)], rules=RULES,
                       clock=lambda: clock[0])


# -- deltas ---------------------------------------------------------------------------------

def test_a_write_changes_only_what_it_touches(engine: rune.Engine) -> None:
    before = engine.snapshot
    assert not engine.authorize(A1, READ, TOOL).allowed
    engine.write(entities=[agent("a1", 4)])
    after = engine.snapshot
    assert engine.authorize(A1, READ, TOOL).reasons == ("team",)
    # The other agent's entity object is shared between the versions.
    a2 = EntityUID("Agent", "a2")
    assert after.entities[a2] is before.entities[a2]
    assert after.prepared is before.prepared  # policies are never prepared again
    assert not before.entities[EntityUID("Agent", "a1")].ancestors  # old version intact


def test_a_record_no_rule_reads_leaves_the_rules_result_alone(clock: list[float]) -> None:
    engine = rune.Engine(POLICIES, entities=[agent("a1", 1)], rules=(
        'derived_parent(a, "Team::\\"t\\"") :- entity(a, "Agent"), attr_num(a, "level", l), '
        "l >= 3.\n"), clock=lambda: clock[0])
    result = engine.snapshot.result
    engine.record(A1, READ, TOOL)
    assert engine.snapshot.result is result
    assert len(engine.snapshot.facts["performed"]) == 1
    assert len(engine.query("performed(p, a, r, at, s)")) == 1  # answered beside the result


def test_history_rules_see_each_record(engine: rune.Engine) -> None:
    for i in range(3):
        engine.record(A2, READ, TOOL)
        assert engine.authorize(A2, READ, TOOL).config["recent"] == i + 1


def test_entity_removal_and_readding_moves_descendants(engine: rune.Engine) -> None:
    engine.write(entities=[{"uid": {"type": "Team", "id": "t"}, "attrs": {},
                            "parents": [{"type": "Org", "id": "o"}]}])
    engine.write(entities=[{"uid": {"type": "Org", "id": "o"}, "attrs": {},
                            "parents": [{"type": "Root", "id": "r"}]}])
    a2 = EntityUID("Agent", "a2")
    assert set(engine.snapshot.entities.ancestors(a2)) == {
        EntityUID("Team", "t"), EntityUID("Org", "o"), EntityUID("Root", "r")}
    engine.write(remove_entities=['Org::"o"'])
    assert set(engine.snapshot.entities.ancestors(a2)) == {EntityUID("Team", "t"),
                                                           EntityUID("Org", "o")}


def test_a_cycle_is_refused_and_nothing_is_published(engine: rune.Engine) -> None:
    engine.write(entities=[{"uid": {"type": "Team", "id": "t"}, "attrs": {},
                            "parents": [{"type": "Org", "id": "o"}]}])
    version = engine.version
    with pytest.raises(rune.RuneError) as info:
        engine.write(entities=[{"uid": {"type": "Org", "id": "o"}, "attrs": {},
                                "parents": [{"type": "Team", "id": "t"}]}])
    assert info.value.code == "hierarchy-cycle"
    assert engine.version == version


# -- transactions ----------------------------------------------------------------------------

def test_a_transaction_publishes_one_version(engine: rune.Engine) -> None:
    version = engine.version
    with engine.transaction() as tx:
        tx.write(entities=[agent("a1", 4)])
        tx.record(A1, READ, TOOL)
        tx.record(A1, READ, TOOL)
        tx.approve(A1, READ, TOOL)
        tx.write(facts={"tier": [('Agent::\\"a1\\"', "gold")]})
        assert engine.version == version  # nothing is visible before the end
    assert tx.version == engine.version == version + 1
    d = engine.authorize(A1, READ, TOOL)
    assert d.reasons == ("team", "tier-gold") and d.config["recent"] == 2


def test_an_exception_inside_a_transaction_publishes_nothing(engine: rune.Engine) -> None:
    version = engine.version
    with pytest.raises(RuntimeError), engine.transaction() as tx:
        tx.write(entities=[agent("a1", 4)])
        tx.record(A1, READ, TOOL)
        raise RuntimeError("the agent crashed")
    assert tx.version is None
    assert engine.version == version
    assert not engine.authorize(A1, READ, TOOL).allowed
    assert "performed" not in engine.snapshot.facts


def test_a_batch_the_rules_refuse_publishes_nothing(engine: rune.Engine) -> None:
    version = engine.version
    with pytest.raises(rune.RuneError) as info, engine.transaction() as tx:
        tx.write(entities=[agent("a1", 4)])
        tx.write(facts={"tier": [('Agent::\\"a1\\"', "gold"), ('Agent::\\"a1\\"', "silver")]})
    assert info.value.code == "conflicting-derived-value"
    assert engine.version == version and not engine.authorize(A1, READ, TOOL).allowed


def test_a_transaction_is_used_once(engine: rune.Engine) -> None:
    tx = engine.transaction()
    with tx:
        tx.record(A1, READ, TOOL)
    with pytest.raises(rune.EngineError):
        tx.record(A1, READ, TOOL)
    with pytest.raises(rune.EngineError), tx:
        pass


def test_write_accepts_many_changes_at_once(engine: rune.Engine) -> None:
    version = engine.write(entities=[agent(f"n{i}", 3) for i in range(50)],
                           remove_entities=[A1], facts={"tier": [('Agent::\\"n1\\"', "gold")]})
    assert version == 2
    assert engine.authorize('Agent::"n7"', READ, TOOL).allowed
    assert EntityUID("Agent", "a1") not in engine.snapshot.entities


# -- history retention -------------------------------------------------------------------------

def test_records_older_than_the_horizon_are_retracted(clock: list[float]) -> None:
    engine = rune.Engine(POLICIES, entities=[agent("a1", 1)], rules=RULES,
                         clock=lambda: clock[0],
                         settings=rune.Settings(history_retention_seconds=600))
    for _ in range(5):
        engine.record(A1, READ, TOOL)
        clock[0] += 200
    # The last record is at t0+800: records before t0+200 fell behind the horizon.
    ats = sorted(row[3] for row in engine.snapshot.facts["performed"])
    assert ats == [1_000_200, 1_000_400, 1_000_600, 1_000_800]
    assert len(engine.query("performed(p, a, r, at, s)")) == 4


def test_the_horizon_never_runs_ahead_of_the_clock(clock: list[float]) -> None:
    engine = rune.Engine(POLICIES, entities=[agent("a1", 1)], rules=RULES,
                         clock=lambda: clock[0],
                         settings=rune.Settings(history_retention_seconds=600))
    engine.record(A1, READ, TOOL)
    engine.record(A1, READ, TOOL, at=clock[0] + 10**9)  # a clock gone wrong in the caller
    assert len(engine.snapshot.facts["performed"]) == 2


def test_old_explicit_times_are_kept_while_history_is_recent(engine: rune.Engine) -> None:
    engine.record(A1, READ, TOOL, at=100)
    engine.record(A1, READ, TOOL, at=200)
    assert len(engine.snapshot.facts["performed"]) == 2


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, "60", True])
def test_retention_must_be_a_finite_positive_number(bad: Any) -> None:
    with pytest.raises(rune.RuneError) as info:
        rune.Engine(POLICIES, settings=rune.Settings(history_retention_seconds=bad))
    assert info.value.code == "invalid-settings"


# -- refused input -------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "code", "path"), [
    ({"entities": [{"uid": {"type": "Agent"}, "attrs": {}, "parents": []}]},
     "invalid-entity-uid", "$[0].uid"),
    ({"entities": [{"uid": {"type": "Agent", "id": "x"}, "attrs": {}}]},
     "invalid-entity", "$[0]"),
    ({"entities": "[{"}, "invalid-json", None),
    ({"remove_entities": ["not a uid"]}, "invalid-entity-uid", "$.remove_entities[0]"),
    ({"remove_entities": 'Agent::"a1"'}, "invalid-argument", "$.remove_entities"),
    ({"facts": {"tier": [("a", "b", "c")]}}, "invalid-fact", "$.facts.tier[0]"),
    ({"facts": {"tier": [("a", 5)]}}, "invalid-fact", "$.facts.tier[0]"),
    ({"facts": {"tier": ["ab"]}}, "invalid-fact", "$.facts.tier[0]"),
    ({"facts": {"nope": [("a",)]}}, "unknown-relation", "$.facts.nope"),
    ({"facts": {"attr": [("a", "b", "c")]}}, "reserved-relation", "$.facts.attr"),
    ({"facts": {"performed": [("a", "b", "c", 1, 1)]}}, "reserved-relation",
     "$.facts.performed"),
    ({"facts": {"now": [(1,)]}}, "reserved-relation", "$.facts.now"),
    ({"retract": {"tier": [(1, 2)]}}, "invalid-fact", "$.retract.tier[0]"),
    ({"facts": [("tier", "a", "b")]}, "invalid-argument", "$.facts"),
])
def test_a_bad_write_is_refused_with_its_path(engine: rune.Engine, kwargs: dict[str, Any],
                                             code: str, path: str | None) -> None:
    snapshot = engine.snapshot
    before = engine.authorize(A2, READ, TOOL)
    with pytest.raises(rune.RuneError) as info:
        engine.write(entities=[agent("a1", 4)], **kwargs) if "entities" not in kwargs \
            else engine.write(**kwargs)
    assert info.value.code == code
    if path is not None:
        assert info.value.path == path
    assert engine.snapshot is snapshot
    assert engine.authorize(A2, READ, TOOL)[:5] == before[:5]


@pytest.mark.parametrize(("kwargs", "path"), [
    ({"at": math.nan}, "$.at"), ({"at": math.inf}, "$.at"), ({"at": -5}, "$.at"),
    ({"at": "yesterday"}, "$.at"), ({"at": True}, "$.at"), ({"at": 2.0**60}, "$.at"),
    ({"amount": "abc"}, "$.amount"), ({"amount": 1.5}, "$.amount"),
    ({"amount": -3}, "$.amount"), ({"amount": 2**70}, "$.amount"),
    ({"amount": True}, "$.amount"),
])
def test_a_bad_record_is_refused(engine: rune.Engine, kwargs: dict[str, Any],
                                 path: str) -> None:
    with pytest.raises(rune.EngineError) as info:
        engine.record(A1, READ, TOOL, **kwargs)
    assert (info.value.code, info.value.path) == ("invalid-number", path)
    assert engine.version == 1


@pytest.mark.parametrize("ttl", [math.nan, math.inf, -1, 0, "x", True, 1e12])
def test_a_bad_approval_ttl_is_refused(engine: rune.Engine, ttl: Any) -> None:
    with pytest.raises(rune.EngineError) as info:
        engine.approve(A1, READ, TOOL, ttl_seconds=ttl)
    assert info.value.code == "invalid-number"
    assert engine.version == 1 and not engine.snapshot.approvals


@pytest.mark.parametrize("uid", ["Agent", 'Agent::"unterminated', 5, None, {"type": "A"}])
def test_a_bad_uid_in_a_record_is_refused(engine: rune.Engine, uid: Any) -> None:
    with pytest.raises(rune.RuneError) as info:
        engine.record(uid, READ, TOOL)
    assert info.value.path is not None and info.value.path.startswith("$.principal")
    assert engine.version == 1


def test_facts_need_rules() -> None:
    engine = rune.Engine(POLICIES)
    with pytest.raises(rune.EngineError) as info:
        engine.write(facts={"tier": [("a", "b")]})
    assert info.value.code == "unknown-relation"


# -- queries -------------------------------------------------------------------------------------

def test_a_query_does_not_match_part_of_a_float(engine: rune.Engine) -> None:
    with pytest.raises(rune.EngineError) as info:
        engine.query("attr_num(u, n, 1.3)")
    assert info.value.code == "invalid-query"


@pytest.mark.parametrize("text", [None, 5, "tier(", "tier(a b)", "tier(a,)", "tier(,a)",
                                  "tier(a, 99999999999999999999999)"])
def test_malformed_queries_are_refused(engine: rune.Engine, text: Any) -> None:
    with pytest.raises(rune.EngineError) as info:
        engine.query(text)
    assert info.value.code == "invalid-query"


def test_batch_rows_must_be_requests(engine: rune.Engine) -> None:
    for rows in ([(A1, READ)], [(A1, READ, TOOL, {}, "extra")], ["abc"], [{"a": 1}], [5]):
        with pytest.raises(rune.RuneError) as info:
            engine.authorize_batch(rows)
        assert info.value.path == "$[0]"


# -- errors at run time ---------------------------------------------------------------------------

def test_policies_that_fail_at_run_time_are_counted_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    engine = rune.Engine('@id("typo")\nforbid(principal, action, resource) when '
                         '{ principal.suspendd };\n@id("all")\npermit(principal, action, '
                         'resource);', entities=[agent("a1", 1)])
    with caplog.at_level("WARNING", logger="rune.engine"):
        for i in range(3):
            d = engine.authorize(A1, READ, f'Tool::"t{i}"')
            assert d.allowed and d.errors and d.errors[0].startswith("typo: ")
    assert dict(engine.runtime_errors.policies) == {"typo": 3}
    assert engine.runtime_errors.rules == 0
    logged = [r for r in caplog.records if "typo" in r.getMessage()]
    assert len(logged) == 1 and "skipped" in logged[0].getMessage()


def test_a_runaway_request_rule_is_stopped_by_its_budget() -> None:
    import time

    rules = ".decl n(x: number)\nn(0) :- request(_, _, _).\nn(x + 1) :- n(x).\n" \
            'config_num("n", x) :- n(x), x > 1000000000.\n'
    engine = rune.Engine("permit(principal, action, resource);", rules=rules,
                         settings=rune.Settings(rule_max_seconds=0.05))
    start = time.perf_counter()
    d = engine.authorize(A1, READ, TOOL)
    assert time.perf_counter() - start < 1.0  # was about 3 s per decision
    assert d.decision == "deny" and d.errors and "rules:" in d.errors[-1]
    assert "derivation-limit" in d.errors[-1] or "limit" in d.errors[-1]
    assert engine.runtime_errors.rules == 1
    small = rune.Engine("permit(principal, action, resource);", rules=rules,
                        settings=rune.Settings(rule_max_tuples=100))
    assert small.authorize(A1, READ, TOOL).decision == "deny"
