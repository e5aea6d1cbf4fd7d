"""Templates and links in bundles and in the engine: linked on the hot path, published
like any write, durable, validated against the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import rune
from rune.store import MemoryChangeLog

POLICIES = """
@id("readers")
permit(principal in ?principal, action == Action::"read", resource in ?resource);
@id("blocked")
forbid(principal == ?principal, action, resource);
@id("admins")
permit(principal in Group::"admins", action, resource);
"""

SCHEMA = """
entity Group;
entity User in [Group];
entity Folder;
entity Doc in [Folder];
action read, write appliesTo { principal: User, resource: Doc };
"""


def entities() -> list[dict[str, Any]]:
    return [
        {"uid": {"type": "User", "id": "alice"}, "attrs": {},
         "parents": [{"type": "Group", "id": "eng"}]},
        {"uid": {"type": "User", "id": "bob"}, "attrs": {},
         "parents": [{"type": "Group", "id": "admins"}]},
        {"uid": {"type": "Doc", "id": "d"}, "attrs": {},
         "parents": [{"type": "Folder", "id": "docs"}]},
    ]


ALICE, BOB = 'User::"alice"', 'User::"bob"'
READ, WRITE, DOC = 'Action::"read"', 'Action::"write"', 'Doc::"d"'


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "docs-agent"
    (root / "policies").mkdir(parents=True)
    (root / "entities").mkdir()
    (root / "policies" / "p.cedar").write_text(POLICIES)
    (root / "schema.cedarschema").write_text(SCHEMA)
    (root / "entities" / "e.json").write_text(json.dumps(entities()))
    (root / "policies" / "links.json").write_text(json.dumps([
        {"template_id": "readers", "link_id": "eng-reads-docs",
         "args": {"?principal": 'Group::"eng"', "?resource": {"type": "Folder", "id": "docs"}}},
    ]))
    return root


def test_a_bundle_links_its_templates(bundle: Path) -> None:
    engine = rune.Engine.load(bundle)
    d = engine.authorize(ALICE, READ, DOC)
    assert (d.decision, d.reasons) == ("allow", ("eng-reads-docs",))
    assert not engine.authorize(ALICE, WRITE, DOC).allowed


def test_link_and_unlink_publish_versions(bundle: Path) -> None:
    engine = rune.Engine.load(bundle)
    version = engine.link("blocked", "block-alice", principal=ALICE)
    assert version == 2
    d = engine.authorize(ALICE, READ, DOC)
    assert (d.decision, d.reasons) == ("deny", ("block-alice",))
    assert engine.unlink("block-alice") == 3
    assert engine.authorize(ALICE, READ, DOC).allowed
    assert engine.unlink("eng-reads-docs") == 4  # a bundle's link can be removed too
    assert not engine.authorize(ALICE, READ, DOC).allowed


def test_a_link_replaces_one_with_its_id(bundle: Path) -> None:
    engine = rune.Engine.load(bundle)
    engine.link("readers", "eng-reads-docs", principal='Group::"nobody"',
                resource='Folder::"docs"')
    assert not engine.authorize(ALICE, READ, DOC).allowed


def test_links_in_a_transaction_are_one_version(bundle: Path) -> None:
    engine = rune.Engine.load(bundle)
    with engine.transaction() as tx:
        tx.link("blocked", "block-alice", principal=ALICE)
        tx.unlink("block-alice")
        tx.link("blocked", "block-bob", principal=BOB)
    assert engine.version == 2
    assert engine.authorize(ALICE, READ, DOC).allowed
    assert engine.authorize(BOB, READ, DOC).reasons == ("block-bob",)


@pytest.mark.parametrize(("call", "code"), [
    (lambda e: e.link("nope", "x", principal=ALICE), "unknown-template"),
    (lambda e: e.link("blocked", "admins", principal=ALICE), "duplicate-policy-id"),
    (lambda e: e.link("blocked", "readers", principal=ALICE), "duplicate-policy-id"),
    (lambda e: e.link("blocked", "x"), "slot-mismatch"),
    (lambda e: e.link("blocked", "x", principal=ALICE, resource=DOC), "slot-mismatch"),
    (lambda e: e.link("blocked", "x", principal="not a uid"), "invalid-entity-uid"),
    (lambda e: e.link("blocked", "", principal=ALICE), "invalid-link"),
    (lambda e: e.link("blocked", "x", principal='Planet::"mars"'),
     "unrecognized-entity-type"),
    (lambda e: e.unlink("admins"), "unknown-link"),
    (lambda e: e.unlink("nope"), "unknown-link"),
])
def test_a_bad_link_is_refused_and_nothing_is_published(bundle: Path, call: Any,
                                                       code: str) -> None:
    engine = rune.Engine.load(bundle)
    with pytest.raises(rune.RuneError) as info:
        call(engine)
    assert info.value.code == code, info.value
    assert engine.version == 1


def test_links_are_durable_and_survive_reload(bundle: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with rune.Engine.load(bundle, state=state) as engine:
        engine.link("blocked", "block-alice", principal=ALICE)
        engine.unlink("eng-reads-docs")
        engine.link("readers", "bob-reads", principal=BOB, resource='Folder::"docs"')
        engine.reload()
        before = [engine.authorize(p, READ, DOC)[:2] for p in (ALICE, BOB)]
        assert before == [("deny", ("block-alice",)), ("allow", ("admins", "bob-reads"))]
    with rune.Engine.load(bundle, state=state) as engine:
        assert [engine.authorize(p, READ, DOC)[:2] for p in (ALICE, BOB)] == before
    # A template the writes need is gone: the state does not apply, and says so.
    (bundle / "policies" / "p.cedar").write_text(POLICIES.replace("forbid(principal == "
                                                                  "?principal", "forbid("
                                                                  "principal"))
    with pytest.raises(rune.RuneError) as info:
        rune.Engine.load(bundle, state=state)
    assert info.value.code == "state-does-not-apply"


def test_links_replay_from_any_change_log() -> None:
    log = MemoryChangeLog()
    engine = rune.Engine(POLICIES, entities=entities(), state=log)
    engine.link("blocked", "block-alice", principal=ALICE)
    again = rune.Engine(POLICIES, entities=entities(), state=log)
    assert again.authorize(ALICE, READ, DOC).reasons == ("block-alice",)


def test_a_bundle_link_the_schema_refuses_is_located(bundle: Path) -> None:
    links = bundle / "policies" / "links.json"
    links.write_text(json.dumps([
        {"template_id": "readers", "link_id": "bad", "args": {
            "?principal": 'Planet::"mars"', "?resource": 'Folder::"docs"'}},
        {"template_id": "missing", "link_id": "worse", "args": {}},
    ]))
    with pytest.raises(rune.RuneError) as info:
        rune.Engine.load(bundle)
    where = {(d.code, d.path) for d in info.value.diagnostics}
    assert ("unknown-template", f"{links}: $[1].template_id") in where
    assert any(code == "unrecognized-entity-type" and str(links) in (path or "")
               for code, path in where)


def test_linked_decisions_equal_static_policies(bundle: Path) -> None:
    """A linked template decides as the static policy it stands for."""
    engine = rune.Engine.load(bundle)
    engine.link("blocked", "block-bob", principal=BOB)
    static = rune.Engine(
        '@id("eng-reads-docs")\npermit(principal in Group::"eng", action == Action::"read",'
        ' resource in Folder::"docs");\n@id("block-bob")\nforbid(principal == User::"bob",'
        ' action, resource);\n@id("admins")\npermit(principal in Group::"admins", action,'
        ' resource);', entities=entities())
    for p in (ALICE, BOB):
        for a in (READ, WRITE):
            assert engine.authorize(p, a, DOC)[:3] == static.authorize(p, a, DOC)[:3]


def test_linking_compiles_only_the_new_policy(bundle: Path) -> None:
    """A link or unlink prepares the new version from the old one's compiled policies
    (issue 10): every other policy keeps its compiled condition object."""
    engine = rune.Engine.load(bundle)
    before = engine.snapshot.prepared
    compiled = {cp.id: cp for cp in before.compiled}
    engine.link("blocked", "block-bob", principal=BOB)
    after = engine.snapshot.prepared
    assert after is not before
    for cp in after.compiled:
        if cp.id == "block-bob":
            assert cp.id not in compiled
        else:
            assert cp is compiled[cp.id]
    assert engine.authorize(BOB, READ, DOC).decision == "deny"
    engine.unlink("eng-reads-docs")
    again = engine.snapshot.prepared
    assert [cp.id for cp in again.compiled] == ["admins", "block-bob"]
    assert all(cp is next(c for c in after.compiled if c.id == cp.id) for cp in again.compiled)
    assert engine.authorize(ALICE, READ, DOC).decision == "deny"


def test_a_link_written_again_keeps_its_place_across_restarts(bundle: Path,
                                                              tmp_path: Path) -> None:
    # The live engine moved a relinked id to the end of the policy set while the state
    # file replayed it in its first place: reasons came back in another order.
    state = tmp_path / "state.db"
    engine = rune.Engine.load(bundle, state=state)
    engine.link("blocked", "block-0", principal=ALICE)
    engine.link("blocked", "block-2", principal=ALICE)
    engine.link("blocked", "block-0", principal=ALICE)
    before = engine.authorize(ALICE, READ, DOC).reasons
    engine.close()
    assert before == ("block-2", "block-0")
    again = rune.Engine.load(bundle, state=state)
    assert again.authorize(ALICE, READ, DOC).reasons == before
    again.close()
    log = MemoryChangeLog()
    live = rune.Engine.load(bundle, state=log)
    live.link("blocked", "block-0", principal=ALICE)
    live.link("blocked", "block-2", principal=ALICE)
    live.link("blocked", "block-0", principal=ALICE)
    assert rune.Engine.load(bundle, state=log).authorize(ALICE, READ, DOC).reasons == before
