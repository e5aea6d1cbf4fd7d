"""Files a bundle cannot read (not UTF-8, a directory, a broken link, a pipe, no
permission) are located diagnostics, reported with every other problem of the bundle."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from rune.bundle import load_bundle
from tests.bundle.conftest import POLICY, load_errors, write_bundle

RULES = ".decl color(name: symbol, n: number)\nconfig(\"color\", c) :- color(c, _).\n"
SCHEMA = "entity User;\nentity Doc;\naction read appliesTo { principal: User, resource: Doc };\n"
SCHEMA_JSON = ('{"": {"entityTypes": {"User": {}, "Doc": {}}, "actions": {"read": '
               '{"appliesTo": {"principalTypes": ["User"], "resourceTypes": ["Doc"]}}}}}')
ENTITIES = '[\n  {"uid": {"type": "User", "id": "alice"}, "attrs": {}, "parents": []}\n]\n'
GOOD: dict[str, str | bytes] = {
    "rune.toml": "[engine]\napproval_ttl_seconds = 60\n",
    "policies/a.cedar": POLICY,
    "rules/colors.dl": RULES,
    "schema.cedarschema": SCHEMA,
    "entities/users.json": ENTITIES,
    "facts/color.facts": "red\t1\nblue\t2\n",
}
# Each file with a byte that is not UTF-8 on its second line, and where that byte is.
NOT_UTF8: dict[str, tuple[bytes, str]] = {
    "rune.toml": (b"[engine]\napproval_ttl_seconds = 6\xff0\n", "2:25"),
    "policies/a.cedar": (b'@id("x")\npermit(principal, action, resource) when { "\xe9" };\n',
                         "2:45"),
    "rules/colors.dl": (b".decl color(name: symbol, n: number)\ncolor(\"r\xc3\", 1).\n", "2:9"),
    "schema.cedarschema": (b"entity User;\nentity D\xf6c;\n", "2:9"),
    "entities/users.json": (b'[\n {"uid": {"type": "User", "id": "\xc0\xaf"}, "attrs": {}, '
                            b'"parents": []}]', "2:34"),
    "facts/color.facts": (b"red\t1\nbl\x80ue\t2\n", "2:3"),
}


def bundle(tmp_path: Path, changes: dict[str, str | bytes | None] | None = None) -> Path:
    """The good bundle with some files replaced (or removed, for None)."""
    files = dict(GOOD)
    for name, content in (changes or {}).items():
        if content is None:
            files.pop(name)
        else:
            files[name] = content
    return write_bundle(tmp_path / "b", files)


def test_the_good_bundle_loads(tmp_path: Path) -> None:
    loaded = load_bundle(bundle(tmp_path))
    assert loaded.facts == {"color": frozenset({("red", 1), ("blue", 2)})}
    assert loaded.settings.approval_ttl_seconds == 60.0 and not loaded.warnings


@pytest.mark.parametrize("name", list(NOT_UTF8))
def test_a_file_that_is_not_utf8_is_located_at_its_first_bad_byte(tmp_path: Path,
                                                                  name: str) -> None:
    content, at = NOT_UTF8[name]
    root = write_bundle(tmp_path / "b", {**GOOD, name: content})
    [(code, where, message)] = load_errors(root)
    offset = content.index(next(bytes([b]) for b in content if b >= 0x80))
    assert (code, where) == ("invalid-utf8", f"{name}:{at}")
    assert message.startswith(f"the file is not UTF-8: byte `0x{content[offset]:02x}` at "
                              f"byte offset {offset} (")


def test_a_json_schema_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    files = {**GOOD, "schema.json": SCHEMA_JSON.encode().replace(b'"Doc"', b'"D\xffc"', 1)}
    del files["schema.cedarschema"]
    root = write_bundle(tmp_path / "b", files)
    assert load_errors(root) == [("invalid-utf8", "schema.json:1:37", "the file is not UTF-8: "
                                  "byte `0xff` at byte offset 36 (invalid start byte)")]


def test_a_byte_order_mark_is_not_part_of_the_text(tmp_path: Path) -> None:
    bom = "\ufeff"
    root = bundle(tmp_path, {"policies/a.cedar": bom + POLICY,
                               "rune.toml": bom + "[engine]\napproval_ttl_seconds = 5\n",
                               "entities/users.json": bom + ENTITIES})
    loaded = load_bundle(root)
    assert loaded.settings.approval_ttl_seconds == 5.0 and len(loaded.policies) == 1


@pytest.mark.parametrize("name", ["policies/x.cedar", "entities/x.json", "rules/x.dl",
                                  "facts/color.facts", "rune.toml", "schema.cedarschema"])
def test_a_directory_where_a_file_should_be(tmp_path: Path, name: str) -> None:
    root = bundle(tmp_path)
    target = root / name
    if target.exists():
        target.unlink()
    target.mkdir()
    assert load_errors(root) == [("not-a-file", name, f"`{name}` is a directory, not a file")]


@pytest.mark.parametrize("name", ["policies/x.cedar", "entities/x.json", "rules/x.dl",
                                  "facts/color.facts", "rune.toml", "schema.cedarschema"])
def test_a_broken_symbolic_link(tmp_path: Path, name: str) -> None:
    root = bundle(tmp_path)
    target = root / name
    if target.exists():
        target.unlink()
    target.symlink_to(root / "nowhere")
    assert load_errors(root) == [
        ("unreadable-file", name, f"cannot read `{name}`: it is a broken symbolic link")]


def test_a_symbolic_link_loop(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    (root / "policies" / "loop.cedar").symlink_to(root / "policies" / "loop.cedar")
    assert load_errors(root) == [("unreadable-file", "policies/loop.cedar",
                                  "cannot read `policies/loop.cedar`: too many levels of "
                                  "symbolic links")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_does_not_block_the_load(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    os.mkfifo(root / "policies" / "pipe.cedar")
    result: list[object] = []

    def load() -> None:
        try:
            load_bundle(root)
        except Exception as error:  # the assertion below looks at it
            result.append(error)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "loading a bundle with a named pipe blocked"
    [error] = result
    assert [(d.code, d.path) for d in error.diagnostics] == [  # type: ignore[attr-defined]
        ("not-a-file", str(root / "policies" / "pipe.cedar"))]


def test_an_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = bundle(tmp_path)
    denied = {str(root / "policies" / "a.cedar"), str(root / "entities" / "users.json")}
    real_open = os.open

    def open_(path: object, *args: int, **kwargs: int) -> int:
        if str(path) in denied:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", open_)
    assert load_errors(root) == [
        ("unreadable-file", "entities/users.json",
         "cannot read `entities/users.json`: permission denied"),
        ("unreadable-file", "policies/a.cedar", "cannot read `policies/a.cedar`: permission "
         "denied"),
    ]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a user that file permissions apply to")
def test_an_unreadable_file_for_real(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    (root / "rules" / "colors.dl").chmod(0)
    assert load_errors(root) == [
        ("unreadable-file", "rules/colors.dl", "cannot read `rules/colors.dl`: permission "
         "denied")]


def test_a_bundle_directory_that_is_a_file(tmp_path: Path) -> None:
    root = bundle(tmp_path)
    for name in ("policies", "entities"):
        for child in (root / name).iterdir():
            child.unlink()
        (root / name).rmdir()
        (root / name).write_text("")
    assert load_errors(root) == [
        ("no-policies", ".", "the bundle has no `policies/*.cedar` file"),
        ("not-a-directory", "entities", "`entities` is not a directory"),
        ("not-a-directory", "policies", "`policies` is not a directory"),
    ]


def test_every_bad_file_is_reported_at_once(tmp_path: Path) -> None:
    root = bundle(tmp_path, {"rune.toml": NOT_UTF8["rune.toml"][0],
                               "entities/users.json": NOT_UTF8["entities/users.json"][0],
                               "policies/b.cedar": "permit(principal action, resource);"})
    (root / "policies" / "dir.cedar").mkdir()
    (root / "rules" / "gone.dl").symlink_to(root / "nowhere")
    assert [(code, where) for code, where, _ in load_errors(root)] == [
        ("invalid-utf8", "entities/users.json:2:34"),
        ("unexpected-token", "policies/b.cedar:1:18"),
        ("not-a-file", "policies/dir.cedar"),
        ("unreadable-file", "rules/gone.dl"),
        ("invalid-utf8", "rune.toml:2:25"),
    ]


# -- rules: each file parsed under its own name ---------------------------------------------

def test_errors_in_several_rule_files_name_each_file(tmp_path: Path) -> None:
    root = bundle(tmp_path, {
        "rules/a.dl": ".decl a(x: number)\na(1) :- .\n",
        "rules/b.dl": "\n\nb(x) :- a(x, 2).\n",
    })
    assert load_errors(root) == [
        ("syntax-error", "rules/a.dl:2:9", "expected an expression, found `.`"),
    ]
    (root / "rules" / "a.dl").write_text(".decl a(x: number)\na(1).\n")
    # (`b` needs no `.decl` in a bundle: its declaration is inferred.)
    assert load_errors(root) == [
        ("arity-mismatch", "rules/b.dl:3:9",
         "relation `a` has arity 1, but is used with 2 arguments"),
    ]


@pytest.mark.parametrize("name", ['we"ird.dl', "new\nline.dl", "sp ace.dl", "#hash.dl"])
def test_a_rule_file_with_an_odd_name_is_named_in_its_errors(tmp_path: Path,
                                                             name: str) -> None:
    # The old loader spliced each file in with `#include "<absolute path>"`.
    root = bundle(tmp_path)
    (root / "rules" / name).write_text("config(\"x\", y) :- nowhere(y).\n")
    assert load_errors(root) == [
        ("undeclared-relation", f"rules/{name}:1:19", "undeclared relation `nowhere`")]


def test_redeclaring_a_built_in_relation_blames_the_rule_file(tmp_path: Path) -> None:
    root = bundle(tmp_path, {"rules/mine.dl": "\n.decl request(x: symbol)\n"})
    assert load_errors(root) == [("duplicate-declaration", "rules/mine.dl:2:7",
                                  "relation `request` is declared more than once")]


def test_a_rule_file_that_includes_an_unreadable_file(tmp_path: Path) -> None:
    root = bundle(tmp_path, {"rules/main.dl": '\n#include "common.inc"\n'})
    (root / "rules" / "common.inc").write_bytes(b".decl c(x: symbol)\nc(\"\xff\").\n")
    assert load_errors(root) == [
        ("include-error", "rules/main.dl:2:1", "cannot read included file `common.inc`: "
         "the file is not UTF-8: byte `0xff` at byte offset 22 (invalid start byte)")]


def test_deeply_nested_input_is_an_error_not_a_crash(tmp_path: Path) -> None:
    # json and the Datalog parser raised RecursionError out of the old loader.
    deep = 50_000
    root = write_bundle(tmp_path / "b", {
        "policies/a.cedar": POLICY,
        "schema.json": '{"": ' * deep + "1" + "}" * deep,
        "entities/e.json": "[" * deep + "]" * deep,
        "rules/r.dl": ".decl a(x: number)\na(" + "(" * deep + "1" + ")" * deep + ").\n",
    })
    assert load_errors(root) == [
        ("nesting-too-deep", "entities/e.json: $", "entity data is nested too deeply"),
        ("nesting-too-deep", "rules/r.dl:2:259", "nested too deeply: at most 256 levels of "
         "brackets, prefix operators, `^`, functor calls, aggregates and negations"),
        ("nesting-too-deep", "schema.json", "the schema is nested too deeply"),
    ]
