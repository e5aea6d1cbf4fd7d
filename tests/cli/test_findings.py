"""The findings of RUNE issue 12 ("Where it stands"), each fixed, and bad input: a clear
message and the documented exit code, never a traceback (`rune()` asserts that)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import EXAMPLES, NOW, rune
from tests.conftest import REPO

CODING = EXAMPLES / "coding-agent"
A1, WRITE, APP = 'Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"'


def test_authorize_takes_a_bundle_directory_and_runs_its_rules() -> None:
    # The README's tour: allowed, with the configuration the rules derive.
    run = rune("authorize", CODING, "-p", A1, "-a", WRITE, "-r", APP, "-c", '{"env": "dev"}')
    assert run.code == 0
    assert run.out == (
        'ALLOW  Agent::"a1" Action::"write_file" File::"src/app.py"\n'
        '  context:     {"env": "dev"}\n'
        "  reasons:     write-in-dev\n"
        "  config:\n"
        '    formatter = "black"\n'
        "    max_files_per_change = 20\n"
        "    max_line_length = 100\n"
        '    review = "optional"\n')


@pytest.mark.parametrize("rules", sorted(EXAMPLES.glob("*/rules/*.dl")),
                         ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_datalog_runs_every_bundled_rule_file(rules: Path, tmp_path: Path) -> None:
    run = rune("datalog", rules, "-F", tmp_path, "-D", "-", "-w")
    assert run.code == 0, run.err


def test_reasons_are_policy_ids() -> None:
    run = rune("authorize", EXAMPLES / "agents", "-p", 'Agent::"coder-1"', "-a",
               'Action::"read_file"', "-r", 'File::"config/.env"', "--format", "json")
    assert run.code == 2
    assert json.loads(run.out)["decisions"][0]["reasons"] == ["no-secrets"]


def test_json_output_has_one_shape_for_one_request_and_for_many(tmp_path: Path) -> None:
    requests = tmp_path / "r.jsonl"
    requests.write_text(json.dumps({"principal": A1, "action": WRITE, "resource": APP,
                                    "context": {"env": "dev"}}) + "\n")
    one = json.loads(rune("authorize", CODING, "-p", A1, "-a", WRITE, "-r", APP, "-c",
                          '{"env": "dev"}', "--format", "json", "--now", NOW).out)
    many = json.loads(rune("authorize", CODING, "--requests", requests, "--format", "json",
                           "--now", NOW).out)
    assert set(one) == set(many) == {"decisions", "summary"}
    del many["decisions"][0]["line"]
    assert one["decisions"] == many["decisions"]
    assert one["decisions"][0] == {
        "request": {"principal": A1, "action": WRITE, "resource": APP,
                    "context": {"env": "dev"}},
        "decision": "allow", "reasons": ["write-in-dev"], "errors": [],
        "config": {"formatter": "black", "max_files_per_change": 20, "max_line_length": 100,
                   "review": "optional"},
        "obligations": [], "version": 1}


def test_a_bad_row_does_not_lose_the_other_decisions(tmp_path: Path) -> None:
    good = json.dumps({"principal": A1, "action": WRITE, "resource": APP,
                       "context": {"env": "dev"}})
    requests = tmp_path / "r.jsonl"
    requests.write_text("\n".join([
        good,
        "{not json",
        json.dumps({"principal": A1, "resource": APP}),
        json.dumps({"principal": "not a uid", "action": WRITE, "resource": APP}),
        good]) + "\n")
    run = rune("authorize", CODING, "--requests", requests, "--format", "json")
    assert run.code == 1  # an error row is the most severe outcome
    decisions = json.loads(run.out)["decisions"]
    assert [(d["line"], d["decision"]) for d in decisions] == [
        (1, "allow"), (2, "error"), (3, "error"), (4, "error"), (5, "allow")]
    assert decisions[1]["error"]["message"].startswith("line 2 is not valid JSON")
    assert decisions[2]["error"]["message"] == "line 3 has no `action`"
    assert "uid" in decisions[3]["error"]["message"]
    human = rune("authorize", CODING, "--requests", requests)
    assert "ERROR  line 3: " in human.out and "line 3 has no `action`" in human.out
    assert "error          3" in human.out


@pytest.mark.parametrize(("args", "message"), [
    (["-p", A1, "-a", WRITE, "-r", APP, "-c", "{bad"], "`--context` is not valid JSON"),
    (["-p", A1, "-a", WRITE, "-r", APP, "-c", "[1]"], "`--context` must be a JSON object"),
    (["-p", A1, "-r", APP], "missing `--action`"),
    (["-p", "nope", "-a", WRITE, "-r", APP], "nope"),
    (["--requests", "/nonexistent.jsonl"], "does not exist"),
])
def test_bad_arguments_are_errors_not_tracebacks(args: list[str], message: str) -> None:
    run = rune("authorize", CODING, *args)
    assert run.code == 1
    assert message in run.err


@pytest.mark.parametrize("command", ["check", "authorize", "explain", "query", "test",
                                     "bench"])
def test_a_missing_path(command: str, tmp_path: Path) -> None:
    extra = {"authorize": ["-p", A1, "-a", WRITE, "-r", APP],
             "explain": ["-p", A1, "-a", WRITE, "-r", APP], "query": ["config(k, v)"],
             "bench": ["--requests", str(EXAMPLES / "agents" / "requests.jsonl")]}
    run = rune(command, tmp_path / "nowhere", *extra.get(command, []))
    assert run.code == 1
    assert "nowhere" in run.err and "does not exist" in run.err


@pytest.mark.parametrize("command", ["authorize", "test", "explain"])
def test_an_empty_directory(command: str, tmp_path: Path) -> None:
    extra = [] if command == "test" else ["-p", A1, "-a", WRITE, "-r", APP]
    run = rune(command, tmp_path, *extra)
    assert run.code == 1
    assert "no-policies" in run.err or "no test suites" in run.err


def test_check_exit_codes(tmp_path: Path) -> None:
    assert rune("check", tmp_path / "nowhere").code == 1
    empty = rune("check", tmp_path)
    assert empty.code == 3 and "error[no-policies]" in empty.err


def test_check_reports_errors_in_several_files_at_once(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    (bundle / "policies").mkdir(parents=True)
    (bundle / "rules").mkdir()
    (bundle / "entities").mkdir()
    (bundle / "tests").mkdir()
    (bundle / "policies" / "a.cedar").write_text("permit(principal, action, resource)\n")
    (bundle / "rules" / "r.dl").write_text('config("k", v) :- attr_num(_, "n", v).\n')
    (bundle / "entities" / "e.json").write_text('[{"uid": {"type": "A"}}]')
    (bundle / "rune.toml").write_text("[engine]\napproval_ttl = 60\n")
    (bundle / "tests" / "t.yaml").write_text("cases: [\n")
    run = rune("check", bundle)
    assert run.code == 3
    for where in ("policies/a.cedar:1:36", "rules/r.dl:1:13", "entities/e.json: $[0]",
                  "rune.toml:2:1", "tests/t.yaml:2:1"):
        assert where in run.err, (where, run.err)
    assert "^" in run.err  # caret snippets
    document = json.loads(rune("check", bundle, "--format", "json").out)
    assert document["ok"] is False and len(document["errors"]) >= 5
    assert {"code", "message", "file", "line", "column"} <= set(document["errors"][1])
    assert document["errors"][0]["path"].endswith("e.json: $[0]")


def test_a_malformed_test_suite(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    rune("init", bundle)
    (bundle / "tests" / "broken.yaml").write_text("cases:\n  - request: {principal: 'x'\n")
    (bundle / "tests" / "bad_case.yaml").write_text(
        "cases:\n  - name: no expectation\n    request: {principal: a, action: b, "
        "resource: c}\n")
    run = rune("test", bundle)
    assert run.code == 1
    assert f"ERROR {bundle / 'tests' / 'broken.yaml'}: " in run.out
    assert "invalid YAML" in run.out
    assert f"ERROR {bundle / 'tests' / 'bad_case.yaml'}:2: no expectation: " in run.out
    assert run.out.endswith(" passed, 2 failed\n")
    check = rune("check", bundle)
    assert check.code == 3 and "tests/broken.yaml:3:1" in check.err


def test_a_failing_case_prints_expected_and_actual(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    rune("init", bundle)
    suite = bundle / "tests" / "decisions.yaml"
    suite.write_text(suite.read_text().replace("expect: {decision: allow, reasons: "
                                               "[read-source]}",
                                               "expect: {decision: deny, reasons: [x]}"))
    junit = tmp_path / "junit.xml"
    run = rune("test", bundle, "--junit", junit)
    assert run.code == 1
    assert (f"FAIL {suite}:6: any coding agent reads source files: decision: expected "
            '"deny", got "allow"') in run.out
    assert 'reasons: expected ["x"], got ["read-source"]' in run.out
    assert run.out.endswith("9 passed, 1 failed\n")
    assert 'failures="1"' in junit.read_text()


def test_exit_codes_of_decisions() -> None:
    base = ["authorize", CODING, "-p", A1, "-r", APP, "--now", NOW]
    assert rune(*base, "-a", WRITE, "-c", '{"env": "dev"}').code == 0
    assert rune(*base, "-a", WRITE, "-c", '{"env": "prod"}').code == 4
    assert rune(*base, "-a", 'Action::"nothing"').code == 2


def test_usage_errors_exit_1_not_2() -> None:
    run = rune("authorize", "--no-such-option")
    assert run.code == 1 and "No such option" in run.err


def test_without_the_cli_extra_the_command_says_what_to_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['click'] = None\n")
    done = subprocess.run([sys.executable, "-c", "import sys; from rune.cli.main import main;"
                           " sys.exit(main(['--version']))"], capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 1
    assert "pip install 'rune[cli]'" in done.stderr and "Traceback" not in done.stderr


def test_cedar_demo_no_longer_claims_make_demo_runs_it() -> None:
    demo = (REPO / "examples" / "cedar_demo.py").read_text()
    assert "Run with `make demo`" not in demo
    assert "$(PY) examples/coding_agent_demo.py" in (REPO / "Makefile").read_text()
