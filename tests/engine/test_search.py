"""Search, per-request entity data, and cache counts: the engine capabilities the server
uses, checked against `Engine.authorize` itself."""

from __future__ import annotations

import itertools
import time

import pytest

import rune
from rune.cedar import EntityUID, RequestError
from rune.engine.cache_stats import CacheCounter
from rune.engine.request_entities import EntityProperties, decide, evaluate, request_store
from rune.engine.search import MAX_EVALUATED, search, search_actions

POLICIES = """
@id("read") permit(principal in Team::"t", action == Action::"read", resource is Doc)
  when { resource.public || resource.owner == principal };
@id("edit") permit(principal is User, action in [Action::"edit", Action::"read"], resource is Doc)
  when { principal has level && principal.level > 3 };
@id("no-secret") forbid(principal, action, resource) when { resource has secret };
@id("ask") @ask("publishing")
permit(principal is User, action == Action::"publish", resource is Doc);
"""


def user(i: int, team: bool = True, level: int | None = None) -> dict[str, object]:
    attrs = {} if level is None else {"level": level}
    return {"uid": {"type": "User", "id": f"u{i:02d}"}, "attrs": attrs,
            "parents": [{"type": "Team", "id": "t"}] if team else []}


def doc(i: int, **attrs: object) -> dict[str, object]:
    return {"uid": {"type": "Doc", "id": f"d{i:02d}"},
            "attrs": {"public": False, "owner": {"__entity": {"type": "User", "id": "u00"}},
                      **attrs}, "parents": []}


ENTITIES = [user(0), user(1, level=5), user(2, team=False), user(3, team=False, level=4),
            doc(0), doc(1, public=True), doc(2, public=True, secret=1), doc(3)]
UID = EntityUID


@pytest.fixture
def engine() -> rune.Engine:
    return rune.Engine(POLICIES, ENTITIES)


def expected(engine: rune.Engine, candidates: list[EntityUID], make: object) -> set[str]:
    return {c.id for c in candidates
            if engine.authorize(*make(c)).decision == "allow"}  # type: ignore[operator]


def test_subject_resource_and_action_search_match_authorize(engine: rune.Engine) -> None:
    snap = engine.snapshot
    now = time.time()
    users = [UID("User", f"u{i:02d}") for i in range(4)]
    docs = [UID("Doc", f"d{i:02d}") for i in range(4)]
    actions = [UID("Action", n) for n in ("read", "edit", "publish")]
    for action, resource in itertools.product(actions, docs):
        page = search(snap, target="principal", entity_type="User", principal=None,
                      action=action, resource=resource, context=None, now=now)
        assert {u.id for u in page.results} == expected(
            engine, users, lambda u, a=action, r=resource: (u, a, r)), (action, resource)
        assert page.resume_after is None
    for principal, action in itertools.product(users, actions):
        page = search(snap, target="resource", entity_type="Doc", principal=principal,
                      action=action, resource=None, context=None, now=now)
        assert {d.id for d in page.results} == expected(
            engine, docs, lambda d, p=principal, a=action: (p, a, d))
    for principal, resource in itertools.product(users, docs):
        page = search_actions(snap, principal=principal, resource=resource, context=None,
                              now=now)
        assert {a.id for a in page.results} == expected(
            engine, actions, lambda a, p=principal, r=resource: (p, a, r))


def test_search_pages_resume_in_id_order(engine: rune.Engine) -> None:
    snap = engine.snapshot
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = search(snap, target="resource", entity_type="Doc", principal=UID("User", "u01"),
                      action=UID("Action", "read"), resource=None, context=None, after=after,
                      limit=1, now=time.time())
        seen += [d.id for d in page.results]
        after = page.resume_after
        if after is None:
            break
    assert seen == ["d00", "d01", "d03"]


def test_search_of_an_unknown_type_or_without_any_permit_is_empty(engine: rune.Engine) -> None:
    snap = engine.snapshot
    page = search(snap, target="principal", entity_type="Robot", principal=None,
                  action=UID("Action", "read"), resource=UID("Doc", "d01"), context=None,
                  now=time.time())
    assert page.results == () and page.resume_after is None
    page = search(snap, target="principal", entity_type="User", principal=None,
                  action=UID("Action", "delete"), resource=UID("Doc", "d01"), context=None,
                  now=time.time())
    assert page.results == () and page.resume_after is None


def test_a_large_search_is_cut_into_bounded_pages() -> None:
    users = [user(i, level=5) for i in range(MAX_EVALUATED + 10)]
    engine = rune.Engine(POLICIES, [*users, doc(0)])
    page = search(engine.snapshot, target="principal", entity_type="User", principal=None,
                  action=UID("Action", "edit"), resource=UID("Doc", "d00"), context=None,
                  limit=10 ** 6, now=time.time())
    assert len(page.results) == MAX_EVALUATED and page.resume_after is not None
    rest = search(engine.snapshot, target="principal", entity_type="User", principal=None,
                  action=UID("Action", "edit"), resource=UID("Doc", "d00"), context=None,
                  after=page.resume_after, limit=10 ** 6, now=time.time())
    assert len(rest.results) == 10 and rest.resume_after is None


def test_properties_add_but_never_override_stored_attributes(engine: rune.Engine) -> None:
    # u02 is in no team and has no level: a level property lets it edit.
    props = [EntityProperties(UID("User", "u02"), {"level": 9})]
    assert engine.authorize('User::"u02"', 'Action::"edit"', 'Doc::"d00"').decision == "deny"
    assert decide(engine, 'User::"u02"', 'Action::"edit"', 'Doc::"d00"', None,
                  props).decision == "allow"
    # u01's stored level (5) wins over the property.
    assert request_store(engine.snapshot, [EntityProperties(UID("User", "u01"),
                                                            {"level": 1})]) is None
    assert decide(engine, 'User::"u01"', 'Action::"edit"', 'Doc::"d00"', None, [
        EntityProperties(UID("User", "u01"), {"level": 1})]).decision == "allow"
    # A property cannot make an entity a member of a group.
    store = request_store(engine.snapshot, [EntityProperties(UID("User", "u09"),
                                                             {"level": 9})])
    assert store is not None and store[UID("User", "u09")].ancestors == frozenset()
    # An entity the store does not know, and a forbid that a property satisfies.
    assert decide(engine, 'User::"u09"', 'Action::"edit"', 'Doc::"d99"', None, [
        EntityProperties(UID("User", "u09"), {"level": 9}),
        EntityProperties(UID("Doc", "d99"), {"secret": True})]).decision == "deny"
    with pytest.raises(RequestError):
        decide(engine, 'User::"u02"', 'Action::"edit"', 'Doc::"d00"', None,
               [EntityProperties(UID("User", "u02"), {"level": 1.5}, "$.p")])


def test_evaluate_has_no_side_effects_and_honours_ask_and_approvals(engine: rune.Engine) -> None:
    snap = engine.snapshot
    args = (UID("User", "u01"), UID("Action", "publish"), UID("Doc", "d00"))
    decision = evaluate(snap, *args, rune.cedar.CedarRecord(), snap.entities, now=time.time())
    assert decision.decision == "ask" and "approval:publishing" in decision.reasons
    engine.approve(*[str(u) for u in args], ttl_seconds=60)
    snap = engine.snapshot
    decision = evaluate(snap, *args, rune.cedar.CedarRecord(), snap.entities, now=time.time())
    assert decision.decision == "allow" and "approved" in decision.reasons


def test_metered_allows_with_properties_fail_closed() -> None:
    rules = 'rate_limit("k", 1, 60) :- request(_, _, _).'
    engine = rune.Engine("permit(principal, action, resource) when { principal.ok };",
                         [], rules)
    props = [EntityProperties(UID("User", "x"), {"ok": True})]
    decision = decide(engine, 'User::"x"', 'Action::"a"', 'R::"r"', None, props)
    assert decision.decision == "deny" and decision.reasons == ("rate-limit:unmetered",)


def test_cache_counter_counts_the_engines_cache_hits(engine: rune.Engine) -> None:
    counter = CacheCounter()
    key = ('User::"u01"', 'Action::"read"', 'Doc::"d01"')
    for _ in range(3):
        counter.observe(key, engine.authorize(*key))
    assert (counter.hits, counter.misses) == (2, 1)
    engine.write(entities=[user(7)])  # a new version: its cache starts empty
    counter.observe(key, engine.authorize(*key))
    assert counter.counts().hits == 2 and counter.counts().ratio == 0.5
