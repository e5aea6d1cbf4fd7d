"""What a bundle loads and what it does not: files out of place, limits, templates."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rune.bundle import load_bundle
from rune.cedar import EntityUID
from tests.bundle.conftest import POLICY, SCHEMA, load_errors, load_warnings, write_bundle


def test_files_out_of_place_are_warned_about_and_not_loaded(tmp_path: Path) -> None:
    forbid = 'forbid(principal, action, resource);\n'
    root = write_bundle(tmp_path / "b", {
        "policies/a.cedar": POLICY,
        "policies/b.Cedar": forbid,
        "policies/c.txt": forbid,
        "policies/d.cedar.bak": forbid,
        "policies/team/e.cedar": forbid,
        "policies/.hidden.cedar": forbid,
        "policies/.#a.cedar": forbid,
        "rules/r.DL": ".decl x(a: number)\n",
        "entities/e.JSON": "[]",
        "facts/f.txt": "",
        "extra.cedar": forbid,
        "Rune.toml": "[engine]\napproval_ttl_seconds = 1\n",
        "Schema.cedarschema": SCHEMA,
        "README.md": "# a bundle",
        "notes.json": "{}",
        ".git/HEAD": "ref",
    })
    bundle = load_bundle(root)
    assert [p.id for p in bundle.policies] == ["allow-all"]
    assert bundle.rules is None and bundle.schema is None
    assert bundle.settings.approval_ttl_seconds == 3600.0
    assert load_warnings(root) == [
        ("ignored-file", "Rune.toml",
         "`Rune.toml` is not loaded: names are case-sensitive; did you mean `rune.toml`?"),
        ("ignored-file", "Schema.cedarschema", "`Schema.cedarschema` is not loaded: names are "
         "case-sensitive; did you mean `schema.cedarschema`?"),
        ("ignored-file", "entities/e.JSON", "`entities/e.JSON` is not loaded: only `*.json` "
         "files of `entities/` are (the extension is case-sensitive)"),
        ("ignored-file", "extra.cedar",
         "`extra.cedar` is not loaded: `*.cedar` files are loaded from `policies/`"),
        ("ignored-file", "facts/f.txt",
         "`facts/f.txt` is not loaded: only `*.facts` files of `facts/` are"),
        ("ignored-file", "policies/b.Cedar", "`policies/b.Cedar` is not loaded: only `*.cedar` "
         "files of `policies/` are (the extension is case-sensitive)"),
        ("ignored-file", "policies/c.txt",
         "`policies/c.txt` is not loaded: only `*.cedar` files of `policies/` are"),
        ("ignored-file", "policies/d.cedar.bak",
         "`policies/d.cedar.bak` is not loaded: only `*.cedar` files of `policies/` are"),
        ("ignored-file", "policies/team", "`policies/team` is not loaded: only `*.cedar` files "
         "of `policies/` are (subdirectories are not read)"),
        ("ignored-file", "rules/r.DL", "`rules/r.DL` is not loaded: only `*.dl` files of "
         "`rules/` are (the extension is case-sensitive)"),
    ]


def test_an_editor_lock_file_does_not_break_the_load(tmp_path: Path) -> None:
    # Emacs marks a file being edited with `.#name`, a symbolic link to nowhere; the old
    # loader read it (pathlib's glob matches hidden files) and raised FileNotFoundError.
    root = write_bundle(tmp_path / "b", {"policies/a.cedar": POLICY})
    (root / "policies" / ".#a.cedar").symlink_to("user@host.1234:1700000000")
    assert [p.id for p in load_bundle(root).policies] == ["allow-all"]


def test_a_bundle_with_two_schemas_does_not_load(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"policies/a.cedar": POLICY,
                                         "schema.cedarschema": SCHEMA, "schema.json": "{}"})
    assert load_errors(root) == [("two-schemas", "schema.json", "the bundle has both "
                                  "`schema.cedarschema` and `schema.json`: keep one")]


def test_a_bundle_needs_a_policy_file(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"policies/a.txt": POLICY})
    assert load_errors(root) == [("no-policies", ".",
                                  "the bundle has no `policies/*.cedar` file")]


def test_an_unlinked_template_is_a_warning_and_a_linked_one_applies(tmp_path: Path) -> None:
    # The old loader dropped templates silently: a forbid template never applied. Now a
    # bundle links them in `policies/links.json`; one without a link is reported.
    template = '\n@id("block")\nforbid(principal == ?principal, action, resource);\n'
    root = write_bundle(tmp_path / "b", {"policies/a.cedar": POLICY + template})
    assert load_warnings(root) == [
        ("unlinked-template", "policies/a.cedar:4:1", "template `block` has no link in "
         "`policies/links.json`: it applies to nothing until it is linked")]
    (root / "policies" / "links.json").write_text(
        '[{"template_id": "block", "link_id": "block-mallory",'
        ' "args": {"?principal": "User::\\"mallory\\""}}]')
    bundle = load_bundle(root)
    assert not bundle.warnings
    linked = bundle.policies.policy("block-mallory")
    assert linked.template_id == "block" and dict(linked.slot_values) == {
        "principal": EntityUID("User", "mallory")}


def test_max_policy_bytes_is_enforced_before_reading(tmp_path: Path) -> None:
    policy = '@id("p{}")\npermit(principal, action, resource);\n'
    files: dict[str, str | bytes] = {f"policies/{i}.cedar": policy.format(i) for i in range(3)}
    size = len(policy.format(0).encode())
    root = write_bundle(tmp_path / "b", {
        **files, "rune.toml": f"[limits]\nmax_policy_bytes = {3 * size - 1}\n"})
    assert load_errors(root) == [
        ("policies-too-large", "policies/2.cedar", f"the policies are larger than `[limits] "
         f"max_policy_bytes` ({3 * size - 1} bytes), counting `policies/2.cedar`")]
    (root / "rune.toml").write_text(f"[limits]\nmax_policy_bytes = {3 * size}\n")
    assert len(load_bundle(root).policies) == 3


def test_a_huge_policy_file_is_not_read_whole(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {"policies/a.cedar": POLICY,
                                         "rune.toml": "[limits]\nmax_policy_bytes = 100\n"})
    with open(root / "policies" / "big.cedar", "wb") as big:
        big.truncate(1 << 40)  # a sparse terabyte
    assert load_errors(root)[0][0] == "policies-too-large"


def test_max_entities_is_enforced(tmp_path: Path) -> None:
    users = [{"uid": {"type": "User", "id": str(i)}, "attrs": {}, "parents": []}
             for i in range(6)]
    root = write_bundle(tmp_path / "b", {
        "policies/a.cedar": POLICY, "rune.toml": "[limits]\nmax_entities = 5\n",
        "entities/a.json": json.dumps(users[:3]), "entities/b.json": json.dumps(users[3:]),
        "entities/c.json": "not even JSON",
    })
    assert load_errors(root) == [
        ("too-many-entities", "entities/b.json", "the bundle has more entities than "
         "`[limits] max_entities` (5), counting `entities/b.json`")]
    (root / "rune.toml").write_text("[limits]\nmax_entities = 6\n")
    assert [code for code, _, _ in load_errors(root)] == ["invalid-json"]


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_policies_directory_that_is_a_link_is_followed(tmp_path: Path) -> None:
    shared = write_bundle(tmp_path / "shared", {"a.cedar": POLICY})
    root = write_bundle(tmp_path / "b", {})
    (root / "policies").symlink_to(shared)
    assert [p.id for p in load_bundle(root).policies] == ["allow-all"]
