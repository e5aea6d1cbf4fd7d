"""Authorization semantics: forbid overrides permit, default deny, errors skipped, templates."""

from __future__ import annotations

import pytest

from rune.cedar import (
    Entities,
    EntityUID,
    LinkError,
    PolicySet,
    Request,
    authorize,
)

ENTITIES = Entities.from_json([
    {"uid": {"type": "User", "id": "alice"}, "attrs": {"level": 3, "name": "alice"},
     "parents": [{"type": "Group", "id": "admins"}]},
    {"uid": {"type": "User", "id": "bob"}, "attrs": {"level": 1}, "parents": []},
    {"uid": {"type": "Group", "id": "admins"}, "attrs": {}, "parents": []},
    {"uid": {"type": "Doc", "id": "d1"},
     "attrs": {"owner": {"__entity": {"type": "User", "id": "bob"}}},
     "parents": [{"type": "Folder", "id": "f"}], "tags": {"env": "prod"}},
    {"uid": {"type": "Action", "id": "read"}, "attrs": {},
     "parents": [{"type": "Action", "id": "readOnly"}]},
])


Outcome = tuple[str, list[str], list[str]]


def decide(text: str, principal: str = 'User::"alice"', action: str = 'Action::"read"',
           resource: str = 'Doc::"d1"', context: dict[str, object] | None = None) -> Outcome:
    request = Request(principal, action, resource, context or {})
    r = authorize(request, PolicySet.from_str(text), ENTITIES)
    return str(r.decision), sorted(r.reason), sorted(e.policy_id for e in r.errors)


def test_default_deny() -> None:
    assert decide("") == ("deny", [], [])
    assert decide('permit(principal == User::"bob", action, resource);') == ("deny", [], [])


def test_forbid_overrides_permit() -> None:
    text = ('permit(principal, action, resource);\n'
            'forbid(principal in Group::"admins", action, resource);')
    assert decide(text) == ("deny", ["policy1"], [])
    assert decide(text, principal='User::"bob"') == ("allow", ["policy0"], [])


def test_erroring_policy_is_skipped_and_reported() -> None:
    text = """
        permit(principal, action, resource) when { principal.missing == 1 };
        forbid(principal, action, resource) when { resource.owner.level + 9223372036854775807 > 0 };
        permit(principal, action, resource) when { principal.level > 2 };
    """
    # The erroring forbid is skipped, so the remaining permit decides.
    assert decide(text) == ("allow", ["policy2"], ["policy0", "policy1"])


def test_scopes_and_hierarchy() -> None:
    assert decide('permit(principal in Group::"admins", action in Action::"readOnly", '
                  'resource in Folder::"f");')[0] == "allow"
    assert decide('permit(principal is User in Group::"admins", action in [Action::"x", '
                  'Action::"readOnly"], resource is Doc);')[0] == "allow"
    assert decide('permit(principal is Group, action, resource);')[0] == "deny"


def test_tags_and_entity_attributes() -> None:
    assert decide('permit(principal, action, resource) when { resource.hasTag("env") && '
                  'resource.getTag("env") == "prod" && resource.owner == User::"bob" };'
                  )[0] == "allow"
    assert decide('permit(principal, action, resource) when { resource.getTag("nope") };') == (
        "deny", [], ["policy0"])


def test_unknown_function_evaluates_to_an_error() -> None:
    assert decide('permit(principal, action, resource) when { unknown("x") };') == (
        "deny", [], ["policy0"])


def test_templates_link_and_decide() -> None:
    ps = PolicySet.from_str(
        'permit(principal == ?principal, action, resource in ?resource);\n'
        'permit(principal == User::"nobody", action, resource);'
    )
    assert [t.id for t in ps.templates] == ["policy0"]
    assert [p.id for p in ps] == ["policy1"]
    linked = ps.link("policy0", "bob-in-f", {"?principal": 'User::"bob"',
                                            "?resource": {"type": "Folder", "id": "f"}})
    assert len(ps) == 1 and len(linked) == 2  # linking returns a new set
    r = authorize(Request('User::"bob"', 'Action::"read"', 'Doc::"d1"'), linked, ENTITIES)
    assert (r.decision, r.reason) == ("allow", ("bob-in-f",))
    with pytest.raises(LinkError):
        ps.link("policy0", "x", {"?principal": 'User::"bob"'})
    with pytest.raises(LinkError):
        ps.link("policy1", "x", {})
    with pytest.raises(LinkError):
        linked.link("policy0", "bob-in-f", {"?principal": 'User::"a"', "?resource": 'F::"x"'})


def test_annotations_and_ids() -> None:
    ps = PolicySet.from_str('@id("first") @advice("be nice")\npermit(principal, action, resource);'
                            '\nforbid(principal, action, resource) when { false };')
    first = ps.policy("policy0")
    assert first.annotated_id == "first"
    assert dict(first.annotations) == {"id": "first", "advice": "be nice"}
    assert ps.policy("policy1").annotated_id is None


def test_index_agrees_with_linear_scan() -> None:
    # Enough policies to switch the scope index on; each one must behave as if unindexed.
    text = "\n".join(
        f'permit(principal {scope}, action, resource) when {{ principal has level }};'
        for scope in ['== User::"alice"', 'in Group::"admins"', "is User", "",
                      'is User in Group::"admins"', '== User::"bob"', 'in Group::"other"',
                      "is Group"]
    )
    ps = PolicySet.from_str(text)
    prepared = ps.prepared()
    assert prepared.indexed
    for principal in ('User::"alice"', 'User::"bob"', 'Group::"admins"', 'User::"ghost"'):
        req = Request(principal, 'Action::"read"', 'Doc::"d1"')
        indexed = authorize(req, ps, ENTITIES)
        linear = sorted(cp.id for cp in prepared.compiled
                        if cp.full(req.principal, req.action, req.resource, req.context,
                                   ENTITIES._by_uid))
        assert sorted(indexed.reason) == linear, principal


def test_policies_that_cannot_apply_are_not_run() -> None:
    text = "\n".join(f'permit(principal == User::"u{i}", action, resource);' for i in range(1000))
    prepared = PolicySet.from_str(text).prepared()
    bits = prepared.candidates(EntityUID("User", "u7"), EntityUID("Action", "read"),
                               EntityUID("Doc", "d1"), ENTITIES._by_uid)
    assert bin(bits).count("1") == 1


def test_request_errors() -> None:
    from rune.cedar import RequestError
    with pytest.raises(RequestError) as info:
        Request("not a uid", 'Action::"a"', 'R::"r"')
    assert info.value.path == "$.principal"
    with pytest.raises(RequestError):
        Request('U::"a"', 'Action::"a"', 'R::"r"', context=[1])
    with pytest.raises(RequestError):
        Request('U::"a"', 'Action::"a"', 'R::"r"', context={"x": None})


def test_a_hot_plan_is_fused_and_decides_as_the_loop_did() -> None:
    from rune.cedar import index

    text = "\n".join([
        'permit(principal in Group::"admins", action, resource) when { principal.level > 2 };',
        'permit(principal, action, resource) when { resource.owner == principal };',
        'forbid(principal, action, resource) when { context.blocked };',
        'permit(principal, action, resource) when { principal.missing == 1 };',  # errors
        'permit(principal, action, resource) when { resource.hasTag("env") &&'
        ' resource.getTag("env") == "prod" };',
        'forbid(principal, action == Action::"write", resource);',
    ])
    ps = PolicySet.from_str(text)
    prepared = ps.prepared()
    requests = [Request(p, 'Action::"read"', 'Doc::"d1"', {"blocked": blocked})
                for p in ('User::"alice"', 'User::"bob"', 'User::"ghost"')
                for blocked in (False, True)]
    before = [authorize(r, ps, ENTITIES) for r in requests]
    assert not any(plan.__class__ is index.FUSED_PLAN_TYPE
                   for plan in prepared._plans.values())
    for _ in range(index._FUSE_AFTER):
        after = [authorize(r, ps, ENTITIES) for r in requests]
    assert any(plan.__class__ is index.FUSED_PLAN_TYPE for plan in prepared._plans.values())
    assert after == before
    assert any(r.errors for r in after)  # the erroring policy is reported by the fused plan


def test_principal_entries_follow_uid_objects_not_values() -> None:
    # authorize remembers each principal's bitset and entity by the uid object's
    # identity; an equal uid made afresh (say, after the intern table was cleared) must
    # be looked up again, not mistaken for another principal.
    text = "\n".join(f'permit(principal == User::"alice", action, resource) when {{ {i} > 0 }};'
                     for i in range(8))
    ps = PolicySet.from_str(text)
    first = authorize(Request('User::"alice"', 'Action::"read"', 'Doc::"d1"'), ps, ENTITIES)
    fresh = Request(EntityUID("User", "alice"), 'Action::"read"', 'Doc::"d1"')
    request = Request.of(tuple.__new__(EntityUID, ("User", "alice")), fresh.action,
                         fresh.resource, fresh.context)
    assert request.principal is not fresh.principal and request.principal == fresh.principal
    assert authorize(request, ps, ENTITIES) == first
    bob = Request.of(tuple.__new__(EntityUID, ("User", "bob")), fresh.action,
                     fresh.resource, fresh.context)
    assert not authorize(bob, ps, ENTITIES).allowed


def test_threads_deciding_over_different_stores_never_mix_their_caches() -> None:
    # One prepared policy set, two stores in which alice's groups differ (as an engine's
    # old and new versions share their policies): each decision must follow its store.
    import sys
    import threading

    text = "\n".join(['permit(principal in Group::"admins", action, resource);'] + [
        f'forbid(principal in Group::"g{i}", action, resource);' for i in range(7)])
    ps = PolicySet.from_str(text)

    def store(groups: list[str]) -> Entities:
        return Entities.from_json([
            {"uid": {"type": "User", "id": f"u{i}"}, "attrs": {},
             "parents": [{"type": "Group", "id": g} for g in groups]} for i in range(50)])

    stores = {True: store(["admins"]), False: store(["g3"])}
    requests = [Request(f'User::"u{i}"', 'Action::"read"', 'Doc::"d"') for i in range(50)]
    wrong: list[str] = []

    def work(admins: bool) -> None:
        entities = stores[admins]
        for _ in range(40):
            for request in requests:
                if authorize(request, ps, entities).allowed is not admins:
                    wrong.append(f"{request.principal} in admins={admins}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(i % 2 == 0,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not wrong, wrong[:5]


def test_a_linked_set_reuses_its_parents_compiled_policies() -> None:
    """`PolicySet.link`/`unlink` give sets whose prepared form compiles only what the
    parent's lacks; they decide as a set prepared from scratch, in the index and in
    fused plans, and the reuse never chains back to older versions."""
    from rune.cedar.index import PreparedPolicySet

    text = """
    permit(principal in ?principal, action, resource) when { context.ok };
    forbid(principal, action, resource in Folder::"secret");
    permit(principal == User::"a", action, resource) when { resource has owner };
    permit(principal, action == Action::"read", resource is Doc);
    forbid(principal, action, resource) unless { context.ok };
    permit(principal, action, resource in Folder::"f");
    """
    base = PolicySet.from_str(text)
    first = base.prepared()
    linked = base.link("policy0", "l0", {"?principal": 'Group::"g"'})
    assert linked._basis is first
    prepared = linked.prepared()
    assert linked._basis is None
    by_id = {cp.id: cp for cp in first.compiled}
    assert [cp is by_id.get(cp.id) for cp in prepared.compiled] == [True] * 5 + [False]
    # The reused set's own next link reuses it in turn; an unprepared chain keeps one basis.
    more = linked.link("policy0", "l1", {"?principal": 'User::"b"'})
    less = more.unlink("l0")
    assert less._basis is prepared
    entities = Entities.from_json([
        {"uid": {"type": "User", "id": "a"}, "attrs": {"owner": True},
         "parents": [{"type": "Group", "id": "g"}]},
        {"uid": {"type": "User", "id": "b"}, "attrs": {}, "parents": []},
        {"uid": {"type": "Doc", "id": "d"}, "attrs": {},
         "parents": [{"type": "Folder", "id": "f"}]},
        {"uid": {"type": "Doc", "id": "s"}, "attrs": {},
         "parents": [{"type": "Folder", "id": "secret"}]},
    ])._by_uid
    for policies in (linked, more, less):
        scratch = PreparedPolicySet(tuple(policies), always_index=True, fuse_at_first_use=True)
        reused = policies.prepared()
        fused = PreparedPolicySet(tuple(policies), always_index=True, fuse_at_first_use=True,
                                  reuse=reused)
        for p in ('User::"a"', 'User::"b"'):
            for a in ('Action::"read"', 'Action::"write"'):
                for r in ('Doc::"d"', 'Doc::"s"'):
                    for ok in (True, False):
                        q = Request(p, a, r, {"ok": ok})
                        want = scratch.decide(q._p, q._a, q._r, q._c, entities)
                        assert reused.decide(q._p, q._a, q._r, q._c, entities) == want
                        assert fused.decide(q._p, q._a, q._r, q._c, entities) == want


def test_scope_bits_of_shared_ancestors_are_remembered_by_identity() -> None:
    """A first sighting finds the bits of its ancestors by the ancestors object's
    identity (stores share one per closure); equal contents in another object, or other
    contents, are computed afresh and never confused."""
    from rune.cedar.index import PreparedPolicySet
    from rune.cedar.values import EntityUID

    text = "\n".join(f'permit(principal in Team::"t{i}", action, resource);' for i in range(8))
    dimension = PreparedPolicySet(tuple(PolicySet.from_str(text)), always_index=True).principal

    class Held:
        def __init__(self, ancestors: tuple[EntityUID, ...]) -> None:
            self.ancestors = ancestors

    t1, t5 = EntityUID("Team", "t1"), EntityUID("Team", "t5")
    shared = (t1, t5)
    agent = EntityUID("Agent", "a")
    assert dimension.admits(agent, Held(shared)) == 0b100010
    assert dimension.admits(agent, Held(shared)) == 0b100010  # (remembered)
    assert dimension.admits(agent, Held((t5,))) == 0b100000
    assert dimension.admits(agent, Held(tuple([t1]))) == 0b10
    assert dimension.admits(agent, Held(frozenset({t1, t5, EntityUID("Team", "x")}))) == 0b100010
    assert dimension.admits(agent, None) == 0
