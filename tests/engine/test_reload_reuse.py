"""A reload takes every unchanged part from the running bundle, yet equals a fresh load.

`Engine.reload` hands the loader the running bundle (`rune.bundle._reuse`): unchanged
policy statements are not parsed again, unchanged policies not compiled again, unchanged
rules keep their program, unchanged data keeps the rules' result and the entity store.
Hypothesis edits a bundle (one policy, every policy, their order and place in the file,
templates and links, rules, entities, facts, the schema; bad versions too) between
writes, reloads after each edit, and compares the engine with a fresh load of the same
files and the same writes: decisions, explanations (source spans included), the
policies' texts and spans, their compiled code, queries and the entity store. A bad
version must be refused by both, and the running version kept.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rune
from rune.cedar import PolicySet
from rune.cedar.parse_cache import PolicyParseCache
from rune.store.changelog import LogEntry, MemoryChangeLog

# Each slot is one policy of the bundle; each of its variants is a text it may have (a
# variant whose name starts with "bad" makes the bundle or its validation fail).
SLOTS: dict[str, dict[str, str]] = {
    "seniors": {
        "a": '@id("seniors")\npermit(principal in Group::"senior", action == Action::"read",'
             ' resource);',
        "b": '@id("seniors")\npermit(principal in Group::"senior",\n       action == '
             'Action::"read", resource);',
    },
    "level": {
        "a": '@id("level-read")\npermit(principal, action == Action::"read", resource)\n'
             'when { principal.level >= 2 };',
        "b": '@id("level-read")\npermit(principal, action == Action::"read", resource)\n'
             'when { principal.level >= 4 };',
        "bad-syntax": '@id("level-read")\npermit(principal, action == Action::"read", '
                      'resource) when { principal.level >= };',
        "bad-schema": '@id("level-read")\npermit(principal, action == Action::"read", '
                      'resource) when { principal.nosuch == 1 };',
    },
    "busy": {  # no @id: its id is its place (policyN)
        "a": 'forbid(principal, action == Action::"deploy", resource)\n'
             'when { context.n > 5 }; // busy',
        "b": 'forbid(principal, action == Action::"deploy", resource) when { context.n > 0 };',
    },
    "g1": {
        "a": '@id("g1-deploy")\npermit(principal in Group::"g1", action == Action::"deploy",'
             ' resource);',
    },
    "ask": {
        "a": '@ask("a human approves calls")\n@id("g0-call")\npermit(principal in '
             'Group::"g0", action == Action::"call", resource);',
        "b": '@ask("someone approves calls")\n@id("g0-call")\npermit(principal in '
             'Group::"g0", action == Action::"call", resource);',
    },
    "call": {  # no @id
        "a": 'permit(principal, action == Action::"call", resource) when { context.n == 1 };',
        "b": 'permit(principal, action == Action::"call", resource) when { context.n == 2 };',
    },
    "block": {  # a template
        "a": '@id("t-block")\nforbid(principal == ?principal, action == Action::"read", '
             'resource);',
        "b": '@id("t-block")\nforbid(principal == ?principal, action, resource);',
    },
}

RULES = {
    "a": r"""
derived_parent(a, "Group::\"senior\"") :- entity(a, "Agent"), attr_num(a, "level", l), l >= 3.
config("group", g) :- request(p, _, _), parent(p, g).
config("tier", t) :- request(p, _, _), tier(p, t).
recent(p, n) :- performed(p, _, _, _, _), n = count : { performed(p, _, _, _, _) }.
deny("busy") :- request(p, "Action::\"deploy\"", _), recent(p, n), n > 2.
""",
    "b": r"""
// the same rules, one threshold lower
derived_parent(a, "Group::\"senior\"") :- entity(a, "Agent"), attr_num(a, "level", l), l >= 2.
config("group", g) :- request(p, _, _), parent(p, g).
config("tier", t) :- request(p, _, _), tier(p, t).
recent(p, n) :- performed(p, _, _, _, _), n = count : { performed(p, _, _, _, _) }.
deny("busy") :- request(p, "Action::\"deploy\"", _), recent(p, n), n > 2.
""",
    "bad": 'config("x", y) :- request(p, _, _), nowhere(p, y).\n',
}


def _entities(a1_level: int, indent: int | None) -> str:
    items = [
        {"uid": {"type": "Agent", "id": "a0"}, "attrs": {"level": 4},
         "parents": [{"type": "Group", "id": "g0"}]},
        {"uid": {"type": "Agent", "id": "a1"}, "attrs": {"level": a1_level},
         "parents": [{"type": "Group", "id": "g1"}]},
        {"uid": {"type": "Group", "id": "g1"}, "attrs": {},
         "parents": [{"type": "Group", "id": "g0"}]},
    ]
    return json.dumps(items, indent=indent)


ENTITIES = {"a": _entities(1, None), "b": _entities(3, None), "a-reformatted": _entities(1, 2)}
FACTS = {"none": None, "a": 'Agent::"a0"\tgold\n', "b": 'Agent::"a1"\tsilver\n'}
LINKS = {
    "none": None,
    "a0": [{"template_id": "t-block", "link_id": "b-a0", "args": {"?principal": 'Agent::"a0"'}}],
    "a1": [{"template_id": "t-block", "link_id": "b-a1", "args": {"?principal": 'Agent::"a1"'}}],
}
_SCHEMA = """entity Group in [Group];
entity Agent in [Group] {{ level: Long }};
entity Tool{tool};
action read, deploy, call appliesTo {{ principal: Agent, resource: Tool, context: {{ n: Long }} }};
"""
SCHEMAS = {"none": None, "a": _SCHEMA.format(tool=""),
           "b": _SCHEMA.format(tool=" { owner?: String }")}
AGENTS = ["a0", "a1", "a2"]
ACTIONS = ["read", "deploy", "call"]


@dataclass
class Files:
    """The bundle's files, as variants."""

    first: list[tuple[str, str]] = field(default_factory=lambda: [
        ("seniors", "a"), ("level", "a"), ("busy", "a"), ("g1", "a")])
    second: list[tuple[str, str]] = field(default_factory=lambda: [
        ("ask", "a"), ("call", "a"), ("block", "a")])
    header: int = 0  # comment lines before the first file's policies
    rules: str = "a"
    entities: str = "a"
    facts: str = "a"
    links: str = "a0"
    schema: str = "none"

    def write(self, root: Path) -> None:
        for directory in ("policies", "rules", "entities", "facts"):
            (root / directory).mkdir(parents=True, exist_ok=True)
        header = "".join(f"// line {i}\n" for i in range(self.header))
        (root / "policies" / "a.cedar").write_text(
            header + "\n\n".join(SLOTS[s][v] for s, v in self.first) + "\n")
        (root / "policies" / "b.cedar").write_text(
            "\n".join(SLOTS[s][v] for s, v in self.second) + "\n")
        links = root / "policies" / "links.json"
        if LINKS[self.links] is None:
            links.unlink(missing_ok=True)
        else:
            links.write_text(json.dumps(LINKS[self.links]))
        (root / "rules" / "r.dl").write_text(RULES[self.rules])
        (root / "entities" / "e.json").write_text(ENTITIES[self.entities])
        facts = root / "facts" / "tier.facts"
        text = FACTS[self.facts]
        if text is None:
            facts.unlink(missing_ok=True)
        else:
            facts.write_text(text)
        schema = root / "schema.cedarschema"
        if SCHEMAS[self.schema] is None:
            schema.unlink(missing_ok=True)
        else:
            schema.write_text(SCHEMAS[self.schema])


class Replayed:
    """A change log holding another's batches: a fresh engine replays them."""

    def __init__(self, entries: list[LogEntry]) -> None:
        self._entries = list(entries)

    def append(self, changes: Any) -> int:
        raise AssertionError("the fresh engine is only read")

    def replay(self, after: int = 0) -> Iterator[LogEntry]:
        return iter(self._entries[max(after, 0):])

    def close(self) -> None:
        pass


class Harness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.now = [50_000.0]
        self.files = Files()
        self.files.write(root)
        self.log = MemoryChangeLog()
        self.engine = rune.Engine.load(root, state=self.log, clock=lambda: self.now[0])

    def fresh(self) -> rune.Engine:
        """A fresh load of the same files and writes, parsing policy files whole (as
        `PolicySet.from_str` does) rather than statement by statement."""
        def whole(_cache: Any, text: str, file: str | None = None) -> PolicySet:
            return PolicySet.from_str(text, file=file)

        with mock.patch.object(PolicyParseCache, "parse", whole):
            return rune.Engine.load(self.root, state=Replayed(list(self.log.replay(0))),
                                    clock=lambda: self.now[0])

    def edit(self, change: Any) -> None:
        before = copy.deepcopy(self.files)
        change(self.files)
        self.files.write(self.root)
        version = self.engine.version
        try:
            self.engine.reload()
        except rune.RuneError:
            assert self.engine.version == version
            with pytest.raises(rune.RuneError):
                self.fresh()  # the same files and writes: refused alike
            self.files = before  # the running version is the previous files'
            self.files.write(self.root)
            return
        assert self.engine.version == version + 1

    def write(self, op: tuple[Any, ...]) -> None:
        kind, engine = op[0], self.engine
        try:
            if kind == "put":
                _, agent, level, groups = op
                engine.write(entities=[{"uid": {"type": "Agent", "id": agent},
                                        "attrs": {"level": level},
                                        "parents": [{"type": "Group", "id": g}
                                                    for g in groups]}])
            elif kind == "remove":
                engine.write(remove_entities=[f'Agent::"{op[1]}"'])
            elif kind == "record":
                engine.record(f'Agent::"{op[1]}"', f'Action::"{op[2]}"', 'Tool::"t"')
            elif kind == "approve":
                engine.approve(f'Agent::"{op[1]}"', 'Action::"call"', 'Tool::"t"',
                               ttl_seconds=op[2])
            elif kind == "link":
                engine.link("t-block", f"w-{op[1]}", principal=f'Agent::"{op[1]}"')
            elif kind == "fact":
                engine.write(facts={"tier": [(f'Agent::"{op[1]}"', "bronze")]})
            elif kind == "tick":
                self.now[0] += op[1]
        except rune.RuneError:
            pass  # refused: nothing was published (test_live_equivalence checks that)


def answers(engine: rune.Engine) -> list[Any]:
    snap = engine.snapshot
    out: list[Any] = [
        [(p.id, p.template_id, p.slot_values, p.text, p.span) for p in snap.policies],
        [(t.id, t.text, t.span) for t in snap.policies.templates],
        [(c.id, c.forbid, c.source) for c in snap.prepared.compiled],
        sorted(json.dumps(e, sort_keys=True) for e in snap.entities.to_json()),
    ]
    for agent in AGENTS:
        for action in ACTIONS:
            d = engine.authorize(f'Agent::"{agent}"', f'Action::"{action}"', 'Tool::"t"',
                                 {"n": 1})
            why = d.explain().to_json()
            del why["version"]  # (a reload publishes one more version than a fresh load)
            out.append((d.decision, d.reasons, d.errors, dict(d.config), d.obligations, why))
    for query in ("derived_parent(x, y)", "tier(a, t)", "performed(p, a, r, at, s)",
                  "parent(c, p)", "attr_num(u, n, v)"):
        out.append((query, sorted(engine.query(query))))
    return out


def first_or_second(files: Files, second: bool) -> list[tuple[str, str]]:
    return files.second if second else files.first


def _set_variant(slot: str, variant: str) -> Any:
    def change(files: Files) -> None:
        for policies in (files.first, files.second):
            for i, (name, _) in enumerate(policies):
                if name == slot:
                    policies[i] = (name, variant)
                    return
        files.first.append((slot, variant))
    return change


def _every_variant(pick: int) -> Any:
    def change(files: Files) -> None:
        for policies in (files.first, files.second):
            for i, (name, variant) in enumerate(policies):
                good = [v for v in SLOTS[name] if not v.startswith("bad")]
                policies[i] = (name, good[(good.index(variant) + pick) % len(good)]
                               if variant in good else good[0])
    return change


def _remove(slot: str) -> Any:
    def change(files: Files) -> None:
        files.first = [p for p in files.first if p[0] != slot]
        files.second = [p for p in files.second if p[0] != slot]
    return change


def _shuffle(seed: int, second: bool) -> Any:
    def change(files: Files) -> None:
        import random

        random.Random(seed).shuffle(first_or_second(files, second))
    return change


def _set(attribute: str, value: Any) -> Any:
    return lambda files: setattr(files, attribute, value)


edit = st.one_of(
    st.sampled_from(list(SLOTS)).flatmap(
        lambda slot: st.sampled_from(list(SLOTS[slot])).map(
            lambda variant: _set_variant(slot, variant))),
    st.builds(_every_variant, st.integers(1, 3)),
    st.builds(_remove, st.sampled_from(list(SLOTS))),
    st.builds(_shuffle, st.integers(0, 100), st.booleans()),
    st.builds(_set, st.just("header"), st.integers(0, 3)),
    st.builds(_set, st.just("rules"), st.sampled_from(list(RULES))),
    st.builds(_set, st.just("entities"), st.sampled_from(list(ENTITIES))),
    st.builds(_set, st.just("facts"), st.sampled_from(list(FACTS))),
    st.builds(_set, st.just("links"), st.sampled_from(list(LINKS))),
    st.builds(_set, st.just("schema"), st.sampled_from(list(SCHEMAS))),
    st.just(lambda files: None),  # the same files again
).map(lambda change: ("edit", change))
write = st.one_of(
    st.builds(lambda a, level, groups: ("put", a, level, groups), st.sampled_from(AGENTS),
              st.integers(0, 5), st.lists(st.sampled_from(["g0", "g1"]), unique=True)),
    st.builds(lambda a: ("remove", a), st.sampled_from(AGENTS)),
    st.builds(lambda a, act: ("record", a, act), st.sampled_from(AGENTS),
              st.sampled_from(ACTIONS)),
    st.builds(lambda a, ttl: ("approve", a, ttl), st.sampled_from(AGENTS),
              st.integers(1, 100)),
    st.builds(lambda a: ("link", a), st.sampled_from(AGENTS)),
    st.builds(lambda a: ("fact", a), st.sampled_from(AGENTS)),
    st.builds(lambda s: ("tick", s), st.integers(1, 60)),
)


def _variant(slot: str, variant: str) -> Any:
    return _set_variant(slot, variant)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(edit, write), min_size=1, max_size=12))
def test_a_reload_that_reuses_equals_a_fresh_load(tmp_path_factory: pytest.TempPathFactory,
                                                  steps: list[tuple[Any, ...]]) -> None:
    harness = Harness(tmp_path_factory.mktemp("bundle"))
    assert answers(harness.engine) == answers(harness.fresh())
    for step in steps:
        if step[0] == "edit":
            harness.edit(step[1])
        else:
            harness.write(step)
        assert answers(harness.engine) == answers(harness.fresh())


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(edit, write), min_size=1, max_size=30))
def test_a_reload_that_reuses_equals_a_fresh_load_long(
        tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[Any, ...]]) -> None:
    test_a_reload_that_reuses_equals_a_fresh_load.hypothesis.inner_test(  # type: ignore[attr-defined]
        tmp_path_factory, steps)


# -- what is reused ---------------------------------------------------------------------------

@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "bundle")


def test_an_unchanged_reload_keeps_every_part(harness: Harness) -> None:
    harness.engine.record('Agent::"a0"', 'Action::"read"', 'Tool::"t"')
    before = harness.engine.snapshot
    harness.engine.reload()
    after = harness.engine.snapshot
    assert after.version == before.version + 1
    assert after.rules is before.rules and after.result is before.result
    assert after.entities is before.entities and after.facts is before.facts
    assert all(new is old for new, old in zip(after.prepared.compiled,
                                              before.prepared.compiled, strict=True))
    assert answers(harness.engine) == answers(harness.fresh())


def test_one_changed_policy_is_the_only_one_parsed_and_compiled(harness: Harness) -> None:
    before = harness.engine.snapshot
    harness.edit(_variant("level", "b"))
    after = harness.engine.snapshot
    parts = harness.engine._bundle.parts
    assert parts.policies.parsed == 1  # the changed statement; the rest were met before
    old = {c.id: c for c in before.prepared.compiled}
    changed = [c.id for c in after.prepared.compiled if c is not old.get(c.id)]
    assert changed == ["level-read"]
    # Rules and data did not change: the rules' result and the store are kept.
    assert after.result is before.result and after.entities is before.entities
    assert answers(harness.engine) == answers(harness.fresh())


def test_moved_policies_keep_their_compiled_form_with_their_new_spans(
        harness: Harness) -> None:
    before = harness.engine.snapshot
    harness.edit(_set("header", 3))  # three lines above every policy of the first file
    after = harness.engine.snapshot
    assert harness.engine._bundle.parts.policies.parsed == 0
    moved = after.policies.policy("level-read")
    assert moved.span is not None and before.policies.policy("level-read").span is not None
    assert moved.span.line == before.policies.policy("level-read").span.line + 3
    assert {id(c) for c in after.prepared.compiled} == {id(c) for c in before.prepared.compiled}
    assert answers(harness.engine) == answers(harness.fresh())


def test_changed_rules_are_compiled_again_and_data_is_evaluated_again(
        harness: Harness) -> None:
    before = harness.engine.snapshot
    harness.edit(_set("rules", "b"))
    after = harness.engine.snapshot
    assert after.rules is not before.rules and after.result is not before.result
    assert after.entities is not before.entities
    assert answers(harness.engine) == answers(harness.fresh())


def test_changed_data_keeps_the_rules_program(harness: Harness) -> None:
    before = harness.engine.snapshot
    harness.edit(_set("entities", "b"))
    after = harness.engine.snapshot
    assert after.rules is before.rules and after.result is not before.result
    assert answers(harness.engine) == answers(harness.fresh())


@pytest.mark.parametrize("change", [
    _variant("level", "bad-syntax"),
    _set("rules", "bad"),
    lambda files: (setattr(files, "schema", "a"), _variant("level", "bad-schema")(files)),
    lambda files: (setattr(files, "links", "a0"), _remove("block")(files)),
], ids=["policy-syntax", "rules", "schema-validation", "link-without-template"])
def test_a_bad_bundle_is_refused_and_the_running_version_kept(harness: Harness,
                                                              change: Any) -> None:
    harness.engine.record('Agent::"a1"', 'Action::"deploy"', 'Tool::"t"')
    expected = answers(harness.engine)
    version = harness.engine.version
    before = copy.deepcopy(harness.files)
    change(harness.files)
    harness.files.write(harness.root)
    with pytest.raises(rune.RuneError):
        harness.engine.reload()
    assert harness.engine.version == version
    assert answers(harness.engine) == expected
    # The good bundle again: nothing of the refused one lingers.
    harness.files = before
    harness.files.write(harness.root)
    harness.engine.reload()
    assert answers(harness.engine) == answers(harness.fresh())


def test_validation_is_not_repeated_for_unchanged_policies(harness: Harness,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from rune.cedar.schema import typecheck

    harness.edit(_set("schema", "a"))
    checked: list[Any] = []
    real = typecheck.typecheck_policy

    def counting(tree: Any, prepared: Any) -> Any:
        checked.append(tree)
        return real(tree, prepared)

    monkeypatch.setattr(typecheck, "typecheck_policy", counting)
    harness.edit(_variant("busy", "b"))
    assert len(checked) == 1  # the changed policy only
    checked.clear()
    harness.edit(_set("schema", "b"))  # another schema: everything is validated again
    policies = harness.engine.snapshot.policies
    assert len(checked) == sum(1 for p in policies if p.template_id is None) + len(
        policies.templates)
    assert answers(harness.engine) == answers(harness.fresh())


# -- preparing the write path -----------------------------------------------------------------

def test_prepared_writes_do_not_compile_plans_and_survive_a_reload(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from rune.datalog import maintenance

    harness.engine.prepare_writes()
    built: list[Any] = []
    real = maintenance._build
    monkeypatch.setattr(maintenance, "_build", lambda *a: built.append(a) or real(*a))
    harness.engine.record('Agent::"a0"', 'Action::"read"', 'Tool::"t"')
    harness.edit(_variant("level", "b"))  # the rules did not change: nor their plans
    harness.engine.record('Agent::"a0"', 'Action::"read"', 'Tool::"t"')
    assert built == []
    harness.edit(_set("rules", "b"))
    harness.engine.prepare_writes()
    assert len(built) == 1
    harness.engine.record('Agent::"a0"', 'Action::"read"', 'Tool::"t"')
    assert len(built) == 1
    assert answers(harness.engine) == answers(harness.fresh())
