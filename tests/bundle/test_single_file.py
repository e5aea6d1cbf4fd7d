"""Single-file `.rune` bundles: the seed's reference format, loaded by `load_bundle` and
`Engine.load`, every error at its line and column in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

import rune
from rune.bundle import BundleError, load_bundle

SEED = Path(__file__).with_name("seed.rune")


def errors(path: Path) -> list[tuple[str, str, str]]:
    with pytest.raises(BundleError) as info:
        load_bundle(path)
    return [(d.code, str(d.span) if d.span else str(d.path), d.message)
            for d in info.value.diagnostics]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "b.rune"
    path.write_text(text)
    return path


def test_the_seed_format_loads_and_decides() -> None:
    engine = rune.Engine.load(SEED)
    d = engine.authorize('Agent::"bob"', 'Action::"call_tool"', 'Tool::"search"')
    assert (d.decision, d.reasons) == ("allow", ("agents-call-tools",))
    assert dict(d.config) == {"tier": "pro", "environment": "production"}
    assert d.obligations == (rune.Obligation("rate_limit", 'calls:Agent::"bob"', limit=100,
                                             window_seconds=3600),)
    denied = engine.authorize('Agent::"bob"', 'Action::"delete"', 'Tool::"search"',
                              {"environment": "production"})
    assert denied.reasons == ("no-prod-deletes",)
    assert engine.reload() == 2


def test_a_uid_in_data_is_the_value_rules_see_for_the_entity() -> None:
    engine = rune.Engine.load(SEED)
    assert engine.query('rate_tier("Agent::\\"bob\\"", t)') == [('Agent::\\"bob\\"', "pro")]
    assert ('Agent::\\"bob\\"', "Agent") in engine.query("entity(u, t)")


def test_data_and_derived_relations_need_no_declaration() -> None:
    bundle = load_bundle(SEED)
    inferred = {d.name: tuple(a.type_name for a in d.attributes) for d in bundle.rules.inferred}
    assert inferred == {"tier": ("symbol", "symbol"), "rate_tier": ("symbol", "symbol"),
                        "environment": ("symbol",), "tier_limit": ("symbol", "number")}


def test_state_is_bound_to_the_metadata_name(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with rune.Engine.load(SEED, state=state) as engine:
        engine.record('Agent::"bob"', 'Action::"call_tool"', 'Tool::"search"', at=1.0)
    other = write(tmp_path, SEED.read_text().replace('name = "coding-agent"', 'name = "x"'))
    with pytest.raises(rune.RuneError, match="coding-agent"):
        rune.Engine.load(other, state=state)


def test_errors_are_located_in_the_rune_file(tmp_path: Path) -> None:
    text = SEED.read_text()
    text = text.replace('permit(principal is Agent', 'permit(principal iz Agent')
    text = text.replace("config(\"tier\", t) :- tier(_, t).", "config(\"tier\", t) :- tier(_, t")
    path = write(tmp_path, text)
    found = errors(path)
    assert [(c, w) for c, w, _ in found] == [("syntax-error", f"{path}:16:1"),
                                              ("unexpected-token", f"{path}:23:18")]


def test_a_type_conflict_in_data_names_both_sides(tmp_path: Path) -> None:
    path = write(tmp_path, SEED.read_text().replace('["pro", 100]', '["pro", "lots"]'))
    ((code, _where, message),) = errors(path)
    assert code == "type-mismatch"
    assert "column 2 of `tier_limit`" in message and "a symbol" in message
    assert "a number" in message


def test_data_rows_are_checked_against_declarations(tmp_path: Path) -> None:
    path = write(tmp_path, 'version = "rune/1.0"\n[data]\nlevel = [["a", "high"]]\n'
                 '[rules]\ntext = """.decl level(a: symbol, n: number)"""\n'
                 '[policies]\ntext = "permit(principal, action, resource);"\n')
    assert errors(path) == [("invalid-fact", f"{path}:3:1",
                             "`level`: column 2 is a number, not `high`")]


@pytest.mark.parametrize(("text", "code"), [
    ('version = "rune/2.0"\n[policies]\ntext = "permit(principal, action, resource);"\n',
     "unsupported-version"),
    ('version = "rune/1.0"\n', "no-policies"),
    ('[policies]\ntext = 3\n', "invalid-bundle"),
    ('[policies\n', "invalid-toml"),
    ('[policies]\ntext = "permit(principal, action, resource);"\n[data]\nx = [{a = 1}]\n',
     "invalid-fact"),
    ('[policies]\ntext = "permit(principal, action, resource);"\n[data]\nnow = [1]\n',
     "reserved-relation"),
    ('[policies]\ntext = "permit(principal, action, resource);"\n'
     '[entities]\nlist = [{uid = {type = "A"}}]\n', "invalid-entity"),
])
def test_bad_files(tmp_path: Path, text: str, code: str) -> None:
    found = errors(write(tmp_path, text))
    assert code in [c for c, _, _ in found], found


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError):
        load_bundle(tmp_path / "nowhere.rune")
