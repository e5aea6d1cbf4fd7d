"""A duplicate policy id or entity entry names where both are (RUNE issue 9, item 11)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import rune
from rune.bundle import load_bundle
from rune.cedar import Entities, EntitiesError
from rune.cedar.schema import Schema
from tests.bundle.conftest import SCHEMA, found, load_errors, write_bundle


def entity(uid: str, **attrs: Any) -> dict[str, Any]:
    return {"uid": {"type": "User", "id": uid}, "attrs": attrs, "parents": []}


# -- policy ids -------------------------------------------------------------------------------

def test_a_policy_id_used_in_two_files_names_both(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {
        "policies/a.cedar": '// first\n@id("read")\npermit(principal, action, resource);\n',
        "policies/b.cedar": '@id("other")\n@id2("x")\npermit(principal, action, resource);\n\n'
                            '@doc("again")  @id("read")\nforbid(principal, action, resource);\n',
    })
    assert load_errors(root) == [
        ("duplicate-policy-id", "policies/b.cedar:5:16",
         "two policies have the id `read`; the other is at `policies/a.cedar:2:1`")]


def test_every_repeat_of_an_id_in_one_file_is_reported(tmp_path: Path) -> None:
    policy = '@id("p")\npermit(principal, action, resource);\n'
    root = write_bundle(tmp_path / "b", {"policies/a.cedar": policy * 3})
    assert load_errors(root) == [
        ("duplicate-policy-id", "policies/a.cedar:3:1",
         "two policies have the id `p`; the other is at `policies/a.cedar:1:1`"),
        ("duplicate-policy-id", "policies/a.cedar:5:1",
         "two policies have the id `p`; the other is at `policies/a.cedar:1:1`"),
    ]


def test_an_id_that_is_another_policys_number(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"policies/a.cedar": (
        'permit(principal, action, resource);\n'
        '@id("policy0") forbid(principal, action, resource);\n')})
    assert load_errors(root) == [
        ("duplicate-policy-id", "policies/a.cedar:2:1",
         "two policies have the id `policy0`; the other is at `policies/a.cedar:1:1`")]


def test_duplicate_ids_given_to_the_engine_are_located() -> None:
    text = ('@id("a")\npermit(principal, action, resource);\n'
            '@id("a")\nforbid(principal, action, resource);\n')
    with pytest.raises(rune.EngineError) as info:
        rune.Engine(policies=text, policy_file="team.cedar")
    assert found(info.value, Path("/")) == [
        ("duplicate-policy-id", "team.cedar:3:1",
         "two policies have the id `a`; the other is at `team.cedar:1:1`")]
    with pytest.raises(rune.EngineError) as info:
        rune.Engine(policies=text)
    [d] = info.value.diagnostics
    assert (str(d.span), d.message) == (
        "<input>:3:1", "two policies have the id `a`; the other is at `<input>:1:1`")


# -- entity entries ---------------------------------------------------------------------------

def test_entities_from_json_names_both_entries() -> None:
    data = [entity("a"), entity("b"), entity("a"), entity("a", level=2)]
    for given in (data, json.dumps(data)):
        with pytest.raises(EntitiesError) as info:
            Entities.from_json(given)
        assert found(info.value, Path("/")) == [
            ("duplicate-entity", "$[3]",
             'duplicate entity entry `User::"a"` with different data: the first entry is '
             '`$[0]`')]


def test_entities_from_json_with_a_schema_names_both_entries() -> None:
    schema = Schema.from_str(SCHEMA)
    data = [{"uid": {"type": "Action", "id": "read"}, "attrs": {}, "parents": []},
            entity("a", suspended=False, level=1), entity("a", suspended=True, level=1)]
    with pytest.raises(EntitiesError) as info:
        Entities.from_json(data, schema)
    assert (info.value.path, info.value.code) == ("$[2]", "duplicate-entity")
    assert info.value.message.endswith("the first entry is `$[1]`")


def test_identical_entries_are_still_accepted() -> None:
    assert len(Entities.from_json([entity("a"), entity("a")])) == 1


def test_a_bundle_names_both_entries_of_a_duplicate_entity(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {
        "policies/a.cedar": "permit(principal, action, resource);",
        "entities/1.json": json.dumps([entity("x"), entity("a"), entity("a"),
                                       entity("a", level=1)]),
        "entities/2.json": json.dumps([entity("b"), entity("a"), entity("a", level=2)]),
    })
    assert load_errors(root) == [
        ("duplicate-entity", "entities/1.json: $[3]", 'entity `User::"a"` is defined twice '
         'with different data; the first definition is at `entities/1.json: $[1]`'),
        ("duplicate-entity", "entities/2.json: $[2]", 'entity `User::"a"` is defined twice '
         'with different data; the first definition is at `entities/1.json: $[1]`'),
    ]


def test_a_bundle_accepts_an_identical_entity_in_two_files(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {
        "policies/a.cedar": "permit(principal, action, resource);",
        "entities/1.json": json.dumps([entity("a", level=1)]),
        "entities/2.json": json.dumps([entity("b"), entity("a", level=1)]),
    })
    assert len(load_bundle(root).entities) == 2


def test_many_duplicates_are_counted_after_a_few(tmp_path: Path) -> None:
    users = [entity(str(i)) for i in range(30)]
    root = write_bundle(tmp_path / "b", {
        "policies/a.cedar": "permit(principal, action, resource);",
        "entities/1.json": json.dumps(users),
        "entities/2.json": json.dumps([entity(str(i), level=i) for i in range(30)]),
    })
    errors = load_errors(root)
    assert len(errors) == 21
    assert errors[0] == ("duplicate-entity", "entities",
                         "10 more entities are defined twice with different data")
    assert errors[-1] == ("duplicate-entity", "entities/2.json: $[19]", 'entity `User::"19"` '
                          "is defined twice with different data; the first definition is at "
                          "`entities/1.json: $[19]`")  # indexes sort as numbers (issue 9)
    assert {where for _, where, _ in errors[1:]} == {f"entities/2.json: $[{i}]"
                                                     for i in range(20)}
    assert [where for _, where, _ in errors[1:]] == [f"entities/2.json: $[{i}]"
                                                     for i in range(20)]
