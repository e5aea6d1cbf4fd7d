"""With a schema, a bundle's policies validate (strictly, by default) and its entities
conform; facts have their relations' column types."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import rune
from rune.bundle import ValidationMode, load_bundle
from tests.bundle.conftest import SCHEMA, load_errors, load_warnings, write_bundle
from tests.examples.conftest import EXAMPLES

TYPO = """@id("suspended-users-read-nothing")
forbid (principal, action == Action::"read", resource)
when { principal.suspendd };

@id("levels")
permit (principal, action == Action::"read", resource)
when { principal.level > "3" };
"""
SUSPENDED = [{"uid": {"type": "User", "id": "mallory"},
              "attrs": {"suspended": True, "level": 9}, "parents": []}]
EXPECTED = [
    ("unsafe-attribute-access", "policies/p.cedar:3:8",
     "policy `suspended-users-read-nothing` does not validate against the schema: "
     "attribute `suspendd` on entity type `User` not found"),
    ("unexpected-type", "policies/p.cedar:7:8",
     "policy `levels` does not validate against the schema: unexpected type: expected "
     "Long but saw String"),
]


def typo_bundle(tmp_path: Path, settings: str = "") -> Path:
    return write_bundle(tmp_path / "b", {
        "schema.cedarschema": SCHEMA, "policies/p.cedar": TYPO, "rune.toml": settings})


def test_a_policy_that_does_not_validate_stops_the_load(tmp_path: Path) -> None:
    # The old loader loaded it, and the forbid silently never applied.
    assert load_errors(typo_bundle(tmp_path)) == EXPECTED


def test_strict_is_the_default_and_can_be_said(tmp_path: Path) -> None:
    root = typo_bundle(tmp_path, '[validation]\nmode = "strict"\n')
    assert load_errors(root) == EXPECTED


def test_warn_mode_loads_and_reports_the_errors_as_warnings(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = typo_bundle(tmp_path, '[validation]\nmode = "warn"\n')
    with caplog.at_level(logging.WARNING, logger="rune.bundle"):
        assert load_warnings(root) == EXPECTED
    assert len(caplog.records) == 2
    assert "warning[unsafe-attribute-access]" in caplog.records[0].getMessage()
    # What the warning is about: the forbid with a typo never applies.
    (root / "policies" / "all.cedar").write_text("permit(principal, action, resource);\n")
    (root / "entities").mkdir()
    (root / "entities" / "users.json").write_text(json.dumps(SUSPENDED))
    engine = rune.Engine.load(root)
    assert engine.authorize('User::"mallory"', 'Action::"read"', 'Doc::"d"').allowed


def test_off_mode_loads_without_validating(tmp_path: Path) -> None:
    root = typo_bundle(tmp_path, '[validation]\nmode = "off"\n')
    bundle = load_bundle(root)
    assert bundle.settings.validation_mode is ValidationMode.OFF and bundle.warnings == ()


def test_validation_errors_come_with_the_other_errors(tmp_path: Path) -> None:
    root = typo_bundle(tmp_path)
    (root / "policies" / "q.cedar").write_text("permit(principal, action, resource)")
    assert [(code, where) for code, where, _ in load_errors(root)] == [
        ("unsafe-attribute-access", "policies/p.cedar:3:8"),
        ("unexpected-type", "policies/p.cedar:7:8"),
        ("unexpected-token", "policies/q.cedar:1:36"),
    ]


def test_an_unknown_action_or_entity_type_does_not_validate(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"schema.cedarschema": SCHEMA, "policies/p.cedar": (
        'permit(principal == Usr::"a", action, resource);\n'
        'permit(principal, action == Action::"raed", resource);\n')})
    # RUNE's typechecker, like cedar-policy, reports these at the whole policy.
    assert load_errors(root) == [
        ("unrecognized-entity-type", "policies/p.cedar:1:1", "policy `policy0` does not "
         "validate against the schema: unrecognized entity type `Usr`"),
        ("invalid-action-application", "policies/p.cedar:1:1", "policy `policy0` does not "
         "validate against the schema: unable to find an applicable action given the policy "
         "scope constraints"),
        ("unrecognized-entity", "policies/p.cedar:1:1", "policy `policy0` does not validate "
         "against the schema: unrecognized entity `Usr::\"a\"`"),
        ("unrecognized-action", "policies/p.cedar:2:1", "policy `policy1` does not validate "
         "against the schema: unrecognized action `Action::\"raed\"`"),
        ("invalid-action-application", "policies/p.cedar:2:1", "policy `policy1` does not "
         "validate against the schema: unable to find an applicable action given the policy "
         "scope constraints"),
        ("unrecognized-entity", "policies/p.cedar:2:1", "policy `policy1` does not validate "
         "against the schema: unrecognized entity `Action::\"raed\"`"),
    ]


@pytest.mark.parametrize("name", ["data-access-agent", "infra-agent"])
def test_the_examples_with_a_schema_validate_strictly(name: str) -> None:
    bundle = load_bundle(EXAMPLES / name)
    assert bundle.schema is not None
    assert bundle.settings.validation_mode is ValidationMode.STRICT
    assert bundle.warnings == ()


def test_entities_are_checked_against_the_schema(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {
        "schema.cedarschema": SCHEMA,
        "policies/p.cedar": 'permit(principal, action == Action::"read", resource);\n',
        "entities/users.json": '[{"uid": {"type": "User", "id": "a"}, "parents": [],\n'
                               '  "attrs": {"suspended": "no", "level": 1}}]\n',
        "entities/docs.json": '[{"uid": {"type": "Dok", "id": "d"}, "attrs": {}, '
                              '"parents": []}]\n',
    })
    assert [(code, where) for code, where, _ in load_errors(root)] == [
        ("unexpected-entity-type", "entities/docs.json: $[0].uid"),
        ("type-mismatch", "entities/users.json: $[0].attrs.suspended"),
    ]


# -- facts have their relations' column types ---------------------------------------------

RULES = (".decl limit(key: symbol, n: number)\n.decl share(key: symbol, f: float)\n"
         ".decl count(key: symbol, n: unsigned)\n.decl flag()\n")


def facts_bundle(tmp_path: Path, facts: dict[str, str]) -> Path:
    files: dict[str, str | bytes] = {"policies/p.cedar": "permit(principal, action, resource);",
                                     "rules/r.dl": RULES}
    files.update({f"facts/{name}.facts": text for name, text in facts.items()})
    return write_bundle(tmp_path / "b", files)


def test_facts_are_read_by_column_type(tmp_path: Path) -> None:
    root = facts_bundle(tmp_path, {"limit": "a\t-5\r\nb\t0x10\n\n", "share": "a\t0.25\n",
                                   "count": "a\t7\n", "flag": "\n()\n"})
    assert load_bundle(root).facts == {
        "limit": frozenset({("a", -5), ("b", 16)}),
        "share": frozenset({("a", 0.25)}),  # the old loader kept the text "0.25"
        "count": frozenset({("a", 7)}),
        "flag": frozenset({()}),
    }


def test_bad_facts_are_located_at_their_field(tmp_path: Path) -> None:
    root = facts_bundle(tmp_path, {
        "limit": "a\t1\nb\tten\nc\n\td\t1\nd\t99999999999999999999\n",
        "share": "a\thalf\n",
        "count": "a\t-1\n",
    })
    assert load_errors(root) == [
        ("invalid-fact", "facts/count.facts:1:3",
         "`-1` is out of range for a 64-bit unsigned (column 2 of `count`)"),
        ("invalid-fact", "facts/limit.facts:2:3", "`ten` is not a number (column 2 of `limit`)"),
        ("arity-mismatch", "facts/limit.facts:3:1", "`limit` has 2 column(s), this line 1"),
        ("arity-mismatch", "facts/limit.facts:4:1", "`limit` has 2 column(s), this line 3"),
        ("invalid-fact", "facts/limit.facts:5:3", "`99999999999999999999` is out of range "
         "for a 64-bit number (column 2 of `limit`)"),
        ("invalid-fact", "facts/share.facts:1:3", "`half` is not a float (column 2 of `share`)"),
    ]


def test_a_file_of_bad_facts_reports_a_few_lines_and_a_count(tmp_path: Path) -> None:
    root = facts_bundle(tmp_path, {"limit": "a\tx\n" * 1000})
    found = load_errors(root)
    assert len(found) == 21
    assert found[0] == ("invalid-fact", "facts/limit.facts", "980 more line(s) of `limit` "
                        "are not valid facts")
    assert found[-1][1] == "facts/limit.facts:20:3"


@pytest.mark.parametrize("relation", ["request", "context", "context_num", "now"])
def test_facts_cannot_describe_the_request(tmp_path: Path, relation: str) -> None:
    root = facts_bundle(tmp_path, {relation: ""})
    assert load_errors(root) == [
        ("reserved-relation", f"facts/{relation}.facts", f"`{relation}` describes the "
         "request being decided: it cannot be given as facts")]


def test_facts_for_an_undeclared_relation(tmp_path: Path) -> None:
    root = facts_bundle(tmp_path, {"limits": "a\t1\n"})
    assert load_errors(root) == [
        ("unknown-relation", "facts/limits.facts", "no rule declares the relation `limits`")]
