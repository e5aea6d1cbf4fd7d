"""`load_bundle(path, previous=bundle)` takes unchanged parts from ``previous`` and gives
what a load without it gives: the same parts when files did not change (the very
objects), the same result when they did, and the same errors, at the same places, when
the new version is bad. (`tests/engine/test_reload_reuse.py` checks decisions.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rune.bundle import Bundle, BundleError, load_bundle
from tests.bundle.conftest import SCHEMA, found, write_bundle

POLICIES = """@id("read")
permit(principal, action == Action::"read", resource is Doc)
when { !principal.suspended };

@id("senior")
permit(principal, action, resource) when { principal.level > 3 };
"""
RULES = 'config_num("level", l) :- request(p, _, _), attr_num(p, "level", l).\n'
ENTITIES = '[{"uid": {"type": "User", "id": "u"}, "attrs": {"suspended": false, "level": 4},' \
           ' "parents": []}]'


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "b", {
        "policies/a.cedar": POLICIES, "schema.cedarschema": SCHEMA, "rules/r.dl": RULES,
        "entities/e.json": ENTITIES, "facts/level.facts": "",
        "rules/facts.dl": ".decl level(n: number)\n"})


def parts_of(bundle: Bundle) -> list[Any]:
    policies = bundle.policies
    return [[(p.id, p.text, p.span) for p in policies],
            [(t.id, t.text, t.span) for t in policies.templates],
            bundle.entities, bundle.facts, bundle.warnings, bundle.settings]


def test_an_unchanged_bundle_hands_back_every_part(root: Path) -> None:
    first = load_bundle(root)
    second = load_bundle(root, previous=first)
    assert parts_of(second) == parts_of(first)
    assert second.schema is first.schema and second.rules is first.rules
    assert second.entities is first.entities and second.facts is first.facts
    assert second.parts is not None and second.parts.policies.parsed == 0


def test_a_changed_part_is_made_again_and_the_rest_is_handed_back(root: Path) -> None:
    first = load_bundle(root)
    (root / "entities" / "e.json").write_text(ENTITIES.replace("4", "5"))
    second = load_bundle(root, previous=first)
    assert second.entities is not first.entities and second.rules is first.rules
    assert parts_of(second) == parts_of(load_bundle(root))
    (root / "rules" / "r.dl").write_text(RULES + "config(\"x\", \"y\") :- request(_, _, _).\n")
    third = load_bundle(root, previous=second)
    assert third.rules is not second.rules and third.schema is second.schema
    assert third.entities is second.entities  # the schema object did not change
    assert third.facts is not second.facts  # typed by another program (the same rows)
    assert parts_of(third) == parts_of(load_bundle(root))


def test_a_new_schema_reads_entities_again(root: Path) -> None:
    first = load_bundle(root)
    (root / "schema.cedarschema").write_text(SCHEMA + "entity Other;\n")
    second = load_bundle(root, previous=first)
    assert second.schema is not first.schema and second.entities is not first.entities
    assert parts_of(second) == parts_of(load_bundle(root))


@pytest.mark.parametrize("bad", [
    ("policies/a.cedar", POLICIES.replace("> 3", "> ")),
    ("policies/a.cedar", "// moved down\n" + POLICIES.replace("level", "levels")),
    ("rules/r.dl", RULES.replace("attr_num", "nowhere")),
    ("entities/e.json", ENTITIES.replace("false", '"no"')),
    ("schema.cedarschema", SCHEMA.replace("level: Long", "level: String")),
    ("policies/links.json", '[{"template_id": "nope", "link_id": "x", "args": {}}]'),
])
def test_a_bad_version_has_the_errors_a_fresh_load_finds(root: Path,
                                                         bad: tuple[str, str]) -> None:
    first = load_bundle(root)
    (root / bad[0]).write_text(bad[1])
    with pytest.raises(BundleError) as fresh:
        load_bundle(root)
    with pytest.raises(BundleError) as reused:
        load_bundle(root, previous=first)
    assert found(reused.value, root) == found(fresh.value, root)
    assert [d.render() for d in reused.value.diagnostics] == [
        d.render() for d in fresh.value.diagnostics]


def test_rules_that_include_a_file_are_compiled_each_time(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {
        "policies/a.cedar": POLICIES, "rules/main.dl": '#include "common.inc"\n',
        "rules/common.inc": 'config("v", "1") :- request(_, _, _).\n'})
    first = load_bundle(root)
    (root / "rules" / "common.inc").write_text('config("v", "2") :- request(_, _, _).\n')
    second = load_bundle(root, previous=first)
    assert second.rules is not first.rules
    assert second.rules.evaluate({"request": [("a", "b", "c")]})["config"] == {("v", "2")}


def test_a_single_file_bundle_loads_with_a_previous_one(tmp_path: Path) -> None:
    file = tmp_path / "b.rune"
    file.write_text("version = \"rune/1.0\"\n[policies]\ntext = '''" + POLICIES + "'''\n")
    first = load_bundle(file)
    second = load_bundle(file, previous=first)
    assert parts_of(second) == parts_of(first)
