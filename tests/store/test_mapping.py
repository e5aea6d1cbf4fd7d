"""The entity-to-facts mapping is exact: kinds stay apart, texts match rule literals, and
derived data comes back to Cedar with its type."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import rune
from rune.cedar import Entities, EntityUID
from rune.store.mapping import (
    context_facts,
    entity_facts,
    parse_uid_text,
    path_key,
    symbol,
    text_of,
    uid_text,
)

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(texts)
def test_symbols_read_back(text: str) -> None:
    assert text_of(symbol(text)) == text


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8), texts)
def test_uids_read_back(kind: str, name: str) -> None:
    uid = EntityUID("T", name)
    assert parse_uid_text(uid_text(uid)) == uid


def test_kinds_are_told_apart() -> None:
    [data] = Entities.parse_json([{"uid": {"type": "T", "id": "x"}, "attrs": {
        "s": "true", "b": True, "u": 'Team::"a"', "e": {"__entity": {"type": "Team", "id": "a"}},
        "n": 5, "ip": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}},
        "dotted": {"a.b": 1}, "nested": {"a": {"b": 2}}, "set": ["x", 3, True],
    }, "parents": []}])
    facts = entity_facts([data])
    t = uid_text(data.uid)
    assert (t, "s", "true") in facts["attr"] and (t, "b", "true") in facts["attr_bool"]
    assert (t, "u", 'Team::\\"a\\"') in facts["attr"]
    assert (t, "e", 'Team::\\"a\\"') in facts["attr_entity"]
    assert (t, "ip", "ip", "10.0.0.1") in facts["attr_ext"]
    assert (t, "dotted.a\\\\.b", 1) in facts["attr_num"]  # the path `dotted.a\.b`
    assert (t, "nested.a.b", 2) in facts["attr_num"]
    assert {("member", (t, "set", "x")), ("member_num", (t, "set", 3)),
            ("member_bool", (t, "set", "true"))} <= {
        (name, row) for name, rows in facts.items() for row in rows}
    assert path_key("", "a.b") == "a\\.b" and path_key("x", "b") == "x.b"


def test_context_kinds_and_paths() -> None:
    facts = context_facts(rune.cedar.Request('A::"a"', 'Action::"x"', 'R::"r"', {
        "flag": True, "who": {"__entity": {"type": "A", "id": "b"}}, "tags": ["p", 2],
        "deep": {"k": "v"}}).context)
    assert ("flag", "true") in facts["context_bool"]
    assert ("who", 'A::\\"b\\"') in facts["context_entity"]
    assert ("tags", "p") in facts["context_member"] and ("tags", 2) in facts[
        "context_member_num"]
    assert ("deep.k", "v") in facts["context"]


RULES = r"""
config("quote", "yes") :- request(_, _, r), attr(r, "text", "say \"hi\"\n").
config("bool", "yes") :- request(_, _, r), attr_bool(r, "on", "true").
config("string-true", "yes") :- request(_, _, r), attr(r, "on", "true").
config("owner", o) :- request(_, _, r), attr_entity(r, "owner", o).
config("ctx", v) :- context_entity("who", v).
rate_limit(cat("api:", p), 10, 60) :- request(p, _, _).
"""


def test_rule_literals_match_and_outputs_read_as_cedar_writes_them() -> None:
    engine = rune.Engine("permit(principal, action, resource);", entities=[
        {"uid": {"type": "R", "id": "r"}, "attrs": {
            "text": 'say "hi"\n', "on": True,
            "owner": {"__entity": {"type": "Team", "id": 'q"uote'}}}, "parents": []}],
        rules=RULES)
    d = engine.authorize('Agent::"a\\\\b"', 'Action::"x"', 'R::"r"',
                         {"who": {"__entity": {"type": "A", "id": "b"}}})
    assert dict(d.config) == {"quote": "yes", "bool": "yes", "owner": 'Team::"q\\"uote"',
                              "ctx": 'A::"b"'}
    assert d.obligations[0].key == 'api:Agent::"a\\\\b"'


# -- derived data comes back with its type -----------------------------------------------------

scalars = st.one_of(
    texts, st.integers(-(2**63), 2**63 - 1), st.booleans(),
    st.builds(lambda t, i: {"__entity": {"type": t, "id": i}}, st.sampled_from(["A", "B::C"]),
              texts),
    st.builds(lambda a: {"__extn": {"fn": "decimal", "arg": a}},
              st.sampled_from(["1.0", "-2.5000", "922337203685477.5807"])),
    st.builds(lambda a: {"__extn": {"fn": "ip", "arg": a}},
              st.sampled_from(["10.0.0.1", "192.168.0.0/16", "::1"])),
)

COPY_RULES = "\n".join(
    f"derived_attr{k}(\"Copy::\\\"c\\\"\", n, {v}) :- attr{k}(\"Src::\\\"s\\\"\", n, {v})."
    for k, v in (("", "v"), ("_num", "v"), ("_bool", "v"), ("_entity", "v"), ("_ext", "f, a")))
TAG_RULES = "\n".join(
    f"derived_tag{k}(\"Copy::\\\"c\\\"\", n, {v}) :- tag{k}(\"Src::\\\"s\\\"\", n, {v})."
    for k, v in (("", "v"), ("_num", "v"), ("_bool", "v"), ("_entity", "v"), ("_ext", "f, a")))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1,
                               max_size=6), scalars, max_size=6))
def test_derived_data_round_trips_with_its_type(attrs: dict[str, Any]) -> None:
    source = {"uid": {"type": "Src", "id": "s"}, "attrs": attrs, "parents": [], "tags": attrs}
    engine = rune.Engine("", entities=[source], rules=COPY_RULES + "\n" + TAG_RULES)
    written = engine.snapshot.entities[EntityUID("Src", "s")]
    copy = engine.snapshot.entities.get(EntityUID("Copy", "c"))
    if not attrs:
        assert copy is None
        return
    assert copy is not None
    for name, value in written.attrs.items():
        assert copy.attrs[name] == value and type(copy.attrs[name]) is type(value)
        assert copy.tags[name] == value and type(copy.tags[name]) is type(value)
    assert len(copy.attrs) == len(written.attrs) and len(copy.tags) == len(written.tags)


@given(st.text(max_size=12), st.sampled_from(["Agent", "NS::Tool", "A"]))
def test_uid_text_fast_path_equals_the_escaped_cedar_text(ident: str, type_name: str) -> None:
    from rune.cedar.values import EntityUID
    from rune.store import mapping

    uid = EntityUID(type_name, ident)
    mapping._UID_TEXTS.pop(uid, None)
    assert mapping.uid_text(uid) == mapping.symbol(str(uid))
