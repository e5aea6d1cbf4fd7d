"""The coding-agent bundle: file access by path pattern, stricter rules in production,
a rate limit on API calls and coding-standard configuration derived by rules."""

from __future__ import annotations

from typing import Any

import pytest

import rune
from tests.examples.conftest import EXAMPLES, Clock, Request, assert_plain_cedar, load

BUNDLE = EXAMPLES / "coding-agent"
A1 = 'Agent::"a1"'  # level 3: senior, by rule
A2 = 'Agent::"a2"'  # level 1
READ = 'Action::"read_file"'
WRITE = 'Action::"write_file"'
CALL = 'Action::"call_api"'
APP = 'File::"src/app.py"'
UI = 'File::"src/ui.ts"'
TEST = 'File::"tests/test_app.py"'
DOTENV = 'File::"config/.env"'
DEPLOY = 'File::"deploy/prod.yaml"'
LLM = 'Api::"llm"'
DEV = {"env": "dev"}
PROD = {"env": "prod"}


@pytest.fixture
def engine(clock: Clock) -> rune.Engine:
    return load("coding-agent", clock)


@pytest.fixture(scope="module")
def shared() -> rune.Engine:
    """One engine for the decision table: its requests stay well within every limit."""
    return load("coding-agent", Clock())


DECISIONS: list[tuple[Request, str, tuple[str, ...]]] = [
    ((A1, READ, APP, DEV), "allow", ("read-source",)),
    ((A2, READ, TEST, PROD), "allow", ("read-source",)),
    ((A1, READ, DEPLOY, DEV), "deny", ()),
    ((A1, READ, DOTENV, DEV), "deny", ("never-touch-secrets",)),
    ((A2, WRITE, APP, DEV), "allow", ("write-in-dev",)),
    ((A2, WRITE, TEST, DEV), "allow", ("write-in-dev",)),
    ((A2, WRITE, DEPLOY, DEV), "deny", ()),
    ((A1, WRITE, DOTENV, DEV), "deny", ("never-touch-secrets",)),
    # Production: only senior agents, only src/, and only with a human's approval.
    ((A1, WRITE, APP, PROD), "ask", ("write-in-prod", "approval:production change")),
    ((A2, WRITE, APP, PROD), "deny", ()),
    ((A1, WRITE, TEST, PROD), "deny", ()),
    ((A1, CALL, LLM, PROD), "allow", ("call-api",)),
]


@pytest.mark.parametrize(("request_", "decision", "reasons"), DECISIONS,
                         ids=[f"{r[0][1]}-{r[1]}-{r[2].split('::')[1]}-{r[3]}"
                              for r, *_ in DECISIONS])
def test_decision(shared: rune.Engine, request_: Request, decision: str,
                  reasons: tuple[str, ...]) -> None:
    d = shared.authorize(*request_)
    assert (d.decision, d.reasons, d.errors) == (decision, reasons, ())
    assert d.allowed is (decision == "allow")


@pytest.mark.parametrize(("file", "env", "expected"), [
    (APP, DEV, {"formatter": "black", "max_line_length": 100, "review": "optional",
                "max_files_per_change": 20}),
    (UI, DEV, {"formatter": "prettier", "max_line_length": 120, "review": "optional",
               "max_files_per_change": 20}),
    (APP, PROD, {"formatter": "black", "max_line_length": 100, "review": "required",
                 "max_files_per_change": 5}),
    (DEPLOY, DEV, {"review": "optional", "max_files_per_change": 20}),
])
def test_coding_standards_follow_language_and_environment(
        engine: rune.Engine, file: str, env: dict[str, Any], expected: dict[str, Any]) -> None:
    assert dict(engine.authorize(A1, READ, file, env).config) == expected


def test_seniority_is_derived_from_level(engine: rune.Engine) -> None:
    assert engine.query("derived_parent(a, g)") == [('Agent::\\"a1\\"', 'Group::\\"senior\\"')]
    assert engine.authorize(A2, WRITE, APP, PROD).decision == "deny"
    engine.write(entities=[{"uid": {"type": "Agent", "id": "a2"},
                            "attrs": {"level": 3, "model": "small"},
                            "parents": [{"type": "Team", "id": "coding"}]}])
    assert engine.authorize(A2, WRITE, APP, PROD).decision == "ask"


def test_api_rate_limit_per_agent_and_window(engine: rune.Engine, clock: Clock) -> None:
    limit = rune.Obligation("rate_limit", 'api:Agent::"a1"', limit=2, window_seconds=60)
    first = engine.authorize(A1, CALL, LLM, PROD)
    assert first.allowed and first.obligations == (limit,)
    assert engine.authorize(A1, CALL, LLM, PROD).allowed
    third = engine.authorize(A1, CALL, LLM, PROD)
    assert (third.decision, third.reasons) == ("deny", ('rate-limit:api:Agent::"a1"',))
    # Another agent has its own window.
    assert engine.authorize(A2, CALL, LLM, PROD).allowed
    clock.advance(30)
    assert not engine.authorize(A1, CALL, LLM, PROD).allowed
    clock.advance(31)
    assert engine.authorize(A1, CALL, LLM, PROD).allowed


def test_development_allows_more_api_calls(engine: rune.Engine) -> None:
    results = [engine.authorize(A2, CALL, LLM, DEV).decision for _ in range(6)]
    assert results == ["allow"] * 5 + ["deny"]


def test_production_write_approval_expires(engine: rune.Engine, clock: Clock) -> None:
    assert engine.authorize(A1, WRITE, APP, PROD).decision == "ask"
    engine.approve(A1, WRITE, APP, ttl_seconds=600)
    d = engine.authorize(A1, WRITE, APP, PROD)
    assert (d.decision, d.reasons) == ("allow", ("write-in-prod", "approved"))
    # The approval is for exactly this agent, action and file.
    assert engine.authorize(A1, WRITE, 'File::"src/other.py"', PROD).decision == "deny"
    engine.write(entities=[{"uid": {"type": "File", "id": "src/other.py"},
                            "attrs": {"path": "src/other.py", "language": "python"},
                            "parents": []}])
    assert engine.authorize(A1, WRITE, 'File::"src/other.py"', PROD).decision == "ask"
    clock.advance(599)
    assert engine.authorize(A1, WRITE, APP, PROD).allowed
    clock.advance(1)
    assert engine.authorize(A1, WRITE, APP, PROD).decision == "ask"


def test_approval_never_overrides_a_deny(engine: rune.Engine) -> None:
    engine.approve(A2, WRITE, APP)
    assert engine.authorize(A2, WRITE, APP, PROD).decision == "deny"
    engine.approve(A1, WRITE, DOTENV)
    assert engine.authorize(A1, WRITE, DOTENV, PROD).reasons == ("never-touch-secrets",)


def test_batch_matches_single_requests(engine: rune.Engine) -> None:
    requests = [r for r, *_ in DECISIONS if r[1] != CALL]
    batch = engine.authorize_batch(requests)
    assert [d.decision for d in batch] == [engine.authorize(*r).decision for r in requests]


def test_policies_are_plain_cedar() -> None:
    assert_plain_cedar(BUNDLE, [r for r, *_ in DECISIONS])


def test_explanation_shows_policy_and_derived_membership(engine: rune.Engine) -> None:
    text = str(engine.authorize(A1, WRITE, APP, PROD).explain())
    assert "write-in-prod (permit) at " in text
    assert "approval:production change" in text
    assert 'derived_parent("Agent::\\"a1\\"", "Group::\\"senior\\"")' in text
    assert "membership.dl:3:1" in text
