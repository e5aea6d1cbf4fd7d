"""`rune.toml`: every key read and checked, every bad value refused where it is written."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import rune.bundle.settings as settings_module
from rune.bundle import BundleError, Settings, StateSync, ValidationMode, load_bundle
from tests.bundle.conftest import POLICY, found, load_errors, write_bundle

FULL = """\
[engine]
approval_ttl_seconds = 60
[history]
retention_seconds = 172800.5
[state]
path = "state/rune.db"
sync = "normal"
[limits]
rule_max_tuples = 500
rule_max_seconds = 0.2
max_policy_bytes = 1000
max_entities = 20
max_hierarchy_depth = 5
max_context_bytes = 4096
max_context_depth = 4
[validation]
mode = "warn"
[tool.other]
anything = [1, "two"]
"""


def errors(text: str) -> list[tuple[str, str, str]]:
    with pytest.raises(BundleError) as info:
        Settings.from_toml(text, file="rune.toml", base="/bundle")
    assert info.value.code == "invalid-settings"
    return found(info.value, Path("/nowhere"))


def test_defaults_are_the_documented_ones() -> None:
    s = Settings()
    assert (s.approval_ttl_seconds, s.history_retention_seconds, s.state_path, s.state_sync,
            s.rule_max_tuples, s.rule_max_seconds, s.max_policy_bytes, s.max_entities,
            s.max_hierarchy_depth, s.max_context_bytes, s.max_context_depth,
            s.validation_mode, dict(s.extra)) == (
        3600.0, 86400.0, None, StateSync.FULL, 10_000, 0.05, 8 << 20, 1_000_000, 256,
        1 << 20, 32, ValidationMode.STRICT, {})
    assert Settings.from_toml("") == s


def test_every_key_is_read() -> None:
    s = Settings.from_toml(FULL, file="/bundle/rune.toml")
    assert s == Settings(
        approval_ttl_seconds=60.0, history_retention_seconds=172800.5,
        state_path=Path("/bundle/state/rune.db"), state_sync=StateSync.NORMAL,
        rule_max_tuples=500, rule_max_seconds=0.2, max_policy_bytes=1000, max_entities=20,
        max_hierarchy_depth=5, max_context_bytes=4096, max_context_depth=4,
        validation_mode=ValidationMode.WARN, extra={"tool": {"other": {"anything": [1, "two"]}}})
    assert isinstance(s.approval_ttl_seconds, float)


def test_the_module_docstring_documents_every_key() -> None:
    doc = settings_module.__doc__ or ""
    for key in settings_module._KEYS:
        assert f"``[{key.table}]``" in doc and f"``{key.name}``" in doc, key


SECONDS = "must be a finite number of seconds greater than 0, not"


@pytest.mark.parametrize(("table", "key", "value", "message"), [
    ("engine", "approval_ttl_seconds", "nan", f"{SECONDS} `nan`"),
    ("engine", "approval_ttl_seconds", "-nan", f"{SECONDS} `nan`"),
    ("engine", "approval_ttl_seconds", "inf", f"{SECONDS} `inf`"),
    ("engine", "approval_ttl_seconds", "-1", f"{SECONDS} `-1`"),
    ("engine", "approval_ttl_seconds", "0", f"{SECONDS} `0`"),
    ("engine", "approval_ttl_seconds", "0.0", f"{SECONDS} `0.0`"),
    ("engine", "approval_ttl_seconds", "true", "must be a number of seconds, not `true`"),
    ("engine", "approval_ttl_seconds", '"3600"', 'must be a number of seconds, not `"3600"`'),
    ("engine", "approval_ttl_seconds", "[1]", "must be a number of seconds, not an array"),
    ("history", "retention_seconds", "-inf", f"{SECONDS} `-inf`"),
    ("history", "retention_seconds", "-86400", f"{SECONDS} `-86400`"),
    ("limits", "rule_max_seconds", "nan", f"{SECONDS} `nan`"),
    ("limits", "rule_max_seconds", "1" + "0" * 400,
     "must be a finite number of seconds, not `10000000000000000000...`"),
    ("limits", "rule_max_tuples", "1.5", "must be an integer, not `1.5`"),
    ("limits", "rule_max_tuples", "1e4", "must be an integer, not `10000.0`"),
    ("limits", "rule_max_tuples", "0",
     "must be an integer from 1 to 9223372036854775807, not `0`"),
    ("limits", "max_policy_bytes", "-5",
     "must be an integer from 1 to 9223372036854775807, not `-5`"),
    ("limits", "max_entities", "9223372036854775808",
     "must be an integer from 1 to 9223372036854775807, not `9223372036854775808`"),
    ("limits", "max_hierarchy_depth", "false", "must be an integer, not `false`"),
    ("limits", "max_context_bytes", "nan", "must be an integer, not `nan`"),
    ("limits", "max_context_depth", '"32"', 'must be an integer, not `"32"`'),
    ("state", "path", "5", "must be a non-empty path without NUL characters, not `5`"),
    ("state", "path", '""', 'must be a non-empty path without NUL characters, not `""`'),
    ("state", "sync", '"fsync"', 'must be `full` or `normal`, not `"fsync"`'),
    ("validation", "mode", '"Strict"', 'must be `strict`, `warn` or `off`, not `"Strict"`'),
    ("validation", "mode", "false", "must be `strict`, `warn` or `off`, not `false`"),
])
def test_a_bad_value_is_refused_at_its_key(table: str, key: str, value: str,
                                           message: str) -> None:
    text = f"# settings\n[{table}]\n  {key} = {value}\n"
    assert errors(text) == [("invalid-setting", "rune.toml:3:3", f"`[{table}] {key}` {message}")]


def test_every_bad_key_is_reported_at_once() -> None:
    text = ('[engine]\napproval_ttl_seconds = nan\napproval_ttl = 60\n'
            '[limits]\nrule_max_tuples = -1\nmax_entites = 5\n')
    assert errors(text) == [
        ("invalid-setting", "rune.toml:2:1", f"`[engine] approval_ttl_seconds` {SECONDS} `nan`"),
        ("unknown-setting", "rune.toml:3:1",
         "unknown setting `approval_ttl` in `[engine]`; did you mean `approval_ttl_seconds`?"),
        ("invalid-setting", "rune.toml:5:1", "`[limits] rule_max_tuples` must be an integer "
         "from 1 to 9223372036854775807, not `-1`"),
        ("unknown-setting", "rune.toml:6:1",
         "unknown setting `max_entites` in `[limits]`; did you mean `max_entities`?"),
    ]


def test_an_unknown_key_without_a_close_match_lists_the_known_ones() -> None:
    assert errors("[state]\nfile = 'x'\n") == [
        ("unknown-setting", "rune.toml:2:1",
         "unknown setting `file` in `[state]`; known: `path`, `sync`")]


def test_a_known_table_that_is_not_a_table_is_refused() -> None:
    # The old loader called `.get` on it: AttributeError.
    assert errors("engine = 5\nlimits = [1]\n") == [
        ("invalid-setting", "rune.toml:1:1", "`engine` must be a table (`[engine]`), not `5`"),
        ("invalid-setting", "rune.toml:2:1",
         "`limits` must be a table (`[limits]`), not an array"),
    ]


def test_a_known_key_outside_its_table_is_refused() -> None:
    assert errors('approval_ttl_seconds = 60\nmode = "off"\n[engine]\n') == [
        ("misplaced-setting", "rune.toml:1:1",
         "`approval_ttl_seconds` must be in the `[engine]` table"),
        ("misplaced-setting", "rune.toml:2:1", "`mode` must be in the `[validation]` table"),
    ]


def test_dotted_keys_and_inline_tables_are_located() -> None:
    assert errors("engine.approval_ttl_seconds = -1\n"
                  "limits = { rule_max_tuples = 10, rule_max_seconds = inf }\n") == [
        ("invalid-setting", "rune.toml:1:1", f"`[engine] approval_ttl_seconds` {SECONDS} `-1`"),
        ("invalid-setting", "rune.toml:2:34", f"`[limits] rule_max_seconds` {SECONDS} `inf`"),
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ("[engine]\napproval_ttl_seconds = \n", ("rune.toml:2:24", "invalid value")),
    ("[engine]\na = 1\na = 2\n", ("rune.toml:3:6", "cannot overwrite a value")),
    ("[engine\n", ("rune.toml:1:8", "expected ']' at the end of a table declaration")),
    ("x = " + "9" * 5000, ("rune.toml: $", "an integer has too many digits")),
    ("x = " + "[" * 5000 + "]" * 5000, ("rune.toml: $",
                                        "arrays or tables are nested too deeply")),
])
def test_toml_that_does_not_parse_is_located(text: str, expected: tuple[str, str]) -> None:
    assert errors(text) == [("invalid-toml", *expected)]


def test_unknown_tables_are_kept_in_extra_and_read_only() -> None:
    # (`[server]` is RUNE's own table since `rune serve`; `[dashboard]` is anyone's.)
    s = Settings.from_toml('title = "mine"\n[dashboard]\nport = 8080\n')
    assert dict(s.extra) == {"title": "mine", "dashboard": {"port": 8080}}
    with pytest.raises(TypeError):
        s.extra["title"] = "x"  # type: ignore[index]


def test_state_path_is_resolved_against_the_bundle(tmp_path: Path) -> None:
    relative = Settings.from_toml('[state]\npath = "../state.db"\n',
                                  file=tmp_path / "b" / "rune.toml")
    assert relative.state_path == (tmp_path / "state.db").resolve()
    absolute = Settings.from_toml(f'[state]\npath = "{tmp_path}/s.db"\n',
                                  file=tmp_path / "b" / "rune.toml")
    assert absolute.state_path == (tmp_path / "s.db").resolve()
    root = write_bundle(tmp_path / "c", {"policies/a.cedar": POLICY,
                                        "rune.toml": '[state]\npath = "data/rune.db"\n'})
    assert load_bundle(root).settings.state_path == (root / "data" / "rune.db").resolve()


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(BundleError) as info:
        Settings(approval_ttl_seconds=math.nan, rule_max_tuples=0,
                 validation_mode="loose")  # type: ignore[arg-type]
    assert found(info.value, Path("/")) == [
        ("invalid-setting", "approval_ttl_seconds", f"`approval_ttl_seconds` {SECONDS} `nan`"),
        ("invalid-setting", "rule_max_tuples", "`rule_max_tuples` must be an integer from 1 "
         "to 9223372036854775807, not `0`"),
        ("invalid-setting", "validation_mode",
         '`validation_mode` must be `strict`, `warn` or `off`, not `"loose"`'),
    ]
    s = Settings(state_sync="normal", validation_mode="off",  # type: ignore[arg-type]
                 state_path="rel.db", approval_ttl_seconds=5)  # type: ignore[arg-type]
    assert s.state_sync is StateSync.NORMAL and s.validation_mode is ValidationMode.OFF
    assert s.state_path == Path("rel.db").resolve() and s.approval_ttl_seconds == 5.0


@pytest.mark.parametrize("value", ["nan", "-3600", "inf", "0"])
def test_a_bundle_with_a_bad_approval_lifetime_does_not_load(tmp_path: Path,
                                                             value: str) -> None:
    # The old loader took `float(...)` of anything: nan and negative lifetimes loaded.
    root = write_bundle(tmp_path / "b", {
        "policies/a.cedar": POLICY,
        "rune.toml": f"[engine]\napproval_ttl_seconds = {value}\n",
    })
    assert load_errors(root) == [("invalid-setting", "rune.toml:2:1",
                                  f"`[engine] approval_ttl_seconds` {SECONDS} `{value}`")]


def test_settings_errors_come_with_the_other_errors_of_the_bundle(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", {
        "policies/a.cedar": "permit(principal, action, resource)\n",
        "rune.toml": "[engine]\napproval_ttl = 60\n",
    })
    assert [(code, at) for code, at, _ in load_errors(root)] == [
        ("unexpected-token", "policies/a.cedar:1:36"), ("unknown-setting", "rune.toml:2:1")]
