"""Every command, through the real console script, on every example bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import BUNDLES, EXAMPLES, NOW, rune

IDS = [b.name for b in BUNDLES]
# One request per bundle that its policies allow.
ALLOWED = {
    "agents": ('Agent::"coder-1"', 'Action::"read_file"', 'File::"src/app.py"',
               '{"env": "prod"}'),
    "coding-agent": ('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"',
                     '{"env": "dev"}'),
    "data-access-agent": ('Agent::"erik-assistant"', 'Action::"select"',
                          'Table::"sales.orders"', '{"estimated_cost": 100}'),
    "infra-agent": ('Agent::"deployer"', 'Action::"deploy"', 'Service::"search-eu"', '{}'),
    "authzen-certification": ('user::"alice"', 'Action::"read"', 'record::"record-1"', '{}'),
    "langchain-agent": ('Agent::"assistant"', 'Action::"search_docs"', 'Tool::"search_docs"',
                        '{"query": "refund policy"}'),
    "claude-code": ('Agent::"claude-code"', 'Action::"Read"', 'File::"/w/src/app.py"',
                    '{"cwd": "/w", "session_id": "s1", "tool_input": {"file_path": '
                    '"/w/src/app.py"}}'),
    "mcp-gateway": ('identity::"alice"', 'Action::"tools/call"', 'tool::"write_file"',
                    '{"agent": "claude"}'),
}


def request_args(bundle: Path) -> list[str]:
    p, a, r, c = ALLOWED[bundle.name]
    return ["--principal", p, "--action", a, "--resource", r, "--context", c, "--now", NOW]


def test_the_example_bundles() -> None:
    assert set(IDS) == set(ALLOWED)


@pytest.mark.parametrize("bundle", BUNDLES, ids=IDS)
def test_check(bundle: Path) -> None:
    run = rune("check", bundle)
    assert run.code == 0, run.err
    assert run.out.startswith(f"ok: {bundle}: ")
    document = json.loads(rune("check", bundle, "--format", "json").out)
    assert document["ok"] is True and document["errors"] == []
    assert document["summary"]["policies"] > 0


@pytest.mark.parametrize("bundle", BUNDLES, ids=IDS)
def test_test(bundle: Path, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    run = rune("test", bundle, "--junit", junit)
    assert run.code == 0, run.out + run.err
    assert run.out.endswith(" passed, 0 failed\n")
    assert "<testsuites>" in junit.read_text()
    document = json.loads(rune("test", bundle, "--format", "json").out)
    assert document["failed"] == 0 and document["passed"] == len(document["cases"]) > 0


@pytest.mark.parametrize("bundle", BUNDLES, ids=IDS)
def test_authorize(bundle: Path) -> None:
    run = rune("authorize", bundle, *request_args(bundle))
    assert run.code == 0, run.err
    assert run.out.startswith("ALLOW  ")
    document = json.loads(rune("authorize", bundle, *request_args(bundle), "--format",
                               "json").out)
    assert document["decisions"][0]["decision"] == "allow"
    assert document["summary"]["decisions"] == {"allow": 1, "deny": 0, "ask": 0, "error": 0}


@pytest.mark.parametrize("bundle", BUNDLES, ids=IDS)
def test_authorize_requests_and_against(bundle: Path, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    lines = [json.dumps(dict(zip(("principal", "action", "resource", "context"),
                                 (*ALLOWED[bundle.name][:3],
                                  json.loads(ALLOWED[bundle.name][3])), strict=True)))] * 3
    requests.write_text("\n".join(lines) + "\n")
    out = tmp_path / "decisions.jsonl"
    run = rune("authorize", bundle, "--requests", requests, "--output", out, "--now", NOW)
    assert run.code == 0, run.err
    assert [json.loads(line)["decision"] for line in out.read_text().splitlines()] == \
        ["allow"] * 3
    assert "3 request(s)" in run.out and "p50" in run.out
    same = rune("authorize", bundle, "--requests", requests, "--against", bundle, "--now", NOW)
    assert same.code == 0 and f"0 of 3 request(s) change from {bundle} to {bundle}" in same.out


@pytest.mark.parametrize("bundle", BUNDLES, ids=IDS)
def test_explain(bundle: Path) -> None:
    run = rune("explain", bundle, *request_args(bundle))
    assert run.code == 0, run.err
    assert run.out.startswith("Decision: allow (version 1)\n")
    assert "Determining policies:" in run.out
    document = json.loads(rune("explain", bundle, *request_args(bundle), "--format",
                               "json").out)
    assert document["decision"] == "allow" and document["determining"]


@pytest.mark.parametrize("bundle", BUNDLES, ids=IDS)
def test_query(bundle: Path) -> None:
    run = rune("query", bundle, "entity(uid, type)", "--format", "json")
    if bundle.name in {"agents", "authzen-certification"}:  # no rules: nothing to query
        assert run.code == 1 and "no rules are loaded" in run.err
        return
    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert document["columns"] == ["uid", "type"] and document["rows"]
    human = rune("query", bundle, "entity(uid, type)")
    assert human.code == 0 and "uid" in human.out and "row(s)" in human.out


@pytest.mark.parametrize("bundle", BUNDLES, ids=IDS)
def test_fmt_is_idempotent_on_the_policies(bundle: Path, tmp_path: Path) -> None:
    for file in sorted((bundle / "policies").glob("*.cedar")):
        copy = tmp_path / file.name
        copy.write_text(file.read_text())
        assert rune("fmt", copy).code == 0
        assert rune("fmt", "--check", copy).code == 0
        assert rune("fmt", "-", stdin=file.read_text()).out == copy.read_text()


@pytest.mark.parametrize("bundle", BUNDLES, ids=IDS)
def test_bench(bundle: Path, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    p, a, r, c = ALLOWED[bundle.name]
    requests.write_text(json.dumps({"principal": p, "action": a, "resource": r,
                                    "context": json.loads(c)}) + "\n")
    run = rune("bench", bundle, "--requests", requests, "-n", "200", "--warmup", "10",
               "--format", "json", "--now", NOW)
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["decisions"] == 200 and report["latency_us"]["p50"] > 0


def test_bench_plot(tmp_path: Path) -> None:
    plot = tmp_path / "latency.png"
    run = rune("bench", EXAMPLES / "agents", "--requests", EXAMPLES / "agents" / "requests.jsonl",
               "-n", "300", "--plot", plot)
    assert run.code == 0, run.err
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert "p99.9" in run.out and "throughput" in run.out


@pytest.mark.parametrize("template", ["coding-agent", "data-access-agent", "infra-agent"])
def test_init_gives_a_bundle_whose_suite_passes(template: str, tmp_path: Path) -> None:
    target = tmp_path / "new"
    run = rune("init", target, "--template", template)
    assert run.code == 0, run.err
    for part in ("policies", "rules", "schema.cedarschema", "entities", "tests", "rune.toml"):
        assert (target / part).exists(), part
    assert rune("check", target).code == 0
    assert rune("test", target).code == 0
    again = rune("init", target)
    assert again.code == 1 and "already exists" in again.err


def test_init_templates_are_the_examples() -> None:
    from tests.conftest import REPO

    templates = REPO / "src" / "rune" / "cli" / "templates"
    for template in sorted(templates.iterdir()):
        for file in sorted(p for p in template.rglob("*") if p.is_file()):
            example = EXAMPLES / template.name / file.relative_to(template)
            if template.name == "coding-agent" and file.name == "schema.cedarschema":
                continue  # the template adds a schema; the example stays schema-less
            assert example.read_text() == file.read_text(), example


def test_datalog_runs_a_bundle_rule_file(tmp_path: Path) -> None:
    facts = tmp_path / "facts"
    facts.mkdir()
    (facts / "entity.facts").write_text('Agent::\\"a1\\"\tAgent\n')
    (facts / "attr_num.facts").write_text('Agent::\\"a1\\"\tlevel\t4\n')
    rules = EXAMPLES / "coding-agent" / "rules" / "membership.dl"
    run = rune("datalog", rules, "-F", facts, "-D", "-")
    assert run.code == 0, run.err
    assert 'derived_parent\n===============\nAgent::\\"a1\\"\tGroup::\\"senior\\"' in run.out
    strict = rune("datalog", rules, "--no-builtins", "-D", "-")
    assert strict.code == 1 and "undeclared relation `derived_parent`" in strict.err


def test_completion() -> None:
    run = rune("completion", "bash")
    assert run.code == 0 and "_RUNE_COMPLETE=bash_complete" in run.out


def test_version_and_help() -> None:
    run = rune("--version")
    assert (run.code, run.out) == (0, "rune 0.1.0\n")
    help_text = rune("--help").out
    for name in ("authorize", "bench", "check", "datalog", "explain", "fmt", "init", "query",
                 "test"):
        assert f"  {name} " in help_text
    assert all(len(line) <= 80 for line in help_text.splitlines())
