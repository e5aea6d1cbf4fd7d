"""`rune hook claude-code` as Claude Code runs it: the real console script in a process,
payloads shaped exactly like Claude Code's, the JSON answer on stdout; and the same
payloads posted to `rune serve`'s `POST /v1/hooks/claude-code` (the `http` hook type).

Every malformed payload must still be answered with a valid deny."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

import rune
from rune.hooks.claude_code import HookInputError, cedar_value, request_of
from tests.integrations.conftest import CLAUDE_CODE
from tests.server.conftest import ADMIN_TOKEN, API_TOKEN, Server, free_port, rune_command

CWD = "/home/dev/app"


def payload(event: str, tool: str, tool_input: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A payload as Claude Code 2.1 sends it (common fields, then the event's own)."""
    body: dict[str, Any] = {
        "session_id": "abc123", "transcript_path": "/home/dev/.claude/projects/x.jsonl",
        "cwd": CWD, "permission_mode": "default", "hook_event_name": event,
        "tool_name": tool, "tool_input": tool_input, "tool_use_id": "toolu_01ABC123"}
    if event == "PostToolUse":
        body["tool_response"] = {"success": True}
    if event == "PermissionRequest":
        body.pop("tool_use_id")
        body["permission_suggestions"] = [{"type": "addRules", "behavior": "allow",
                                           "destination": "localSettings",
                                           "rules": [{"toolName": tool}]}]
    body.update(extra)
    return body


BASH = {"command": "pytest -q", "description": "Run the tests", "timeout": 120000}
PUSH = {"command": "git push origin main", "description": "Push"}
READ_SECRET = {"file_path": f"{CWD}/.env"}
WRITE_OUTSIDE = {"file_path": "/etc/hosts", "content": "127.0.0.1 evil\n"}
EDIT = {"file_path": f"{CWD}/web/index.ts", "old_string": "a", "new_string": "b",
        "replace_all": False}
MCP = {"query": "cedar", "limit": 5, "threshold": 0.25, "filters": None}


def hook(stdin: bytes | str | dict[str, Any], *args: str,
         env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """Run the console script; (exit code, stdout parsed as JSON, stderr)."""
    data = json.dumps(stdin).encode() if isinstance(stdin, dict) else (
        stdin.encode() if isinstance(stdin, str) else stdin)
    done = subprocess.run([*rune_command(), "hook", "claude-code", *args], input=data,
                          capture_output=True, timeout=60,
                          env={**os.environ, **(env or {})})
    return done.returncode, json.loads(done.stdout), done.stderr.decode()


def pre(answer: Any) -> dict[str, Any]:
    out = answer["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse"
    assert out["permissionDecision"] in ("allow", "deny", "ask")
    assert isinstance(out["permissionDecisionReason"], str)
    return out  # type: ignore[no-any-return]


BUNDLE = ("--bundle", str(CLAUDE_CODE))


# -- the mapping, in-process --------------------------------------------------------------

def test_the_request_mapping() -> None:
    request = request_of(payload("PreToolUse", "mcp__docs__search", MCP,
                                 agent_id="sub-1", agent_type="Explore"))
    assert request.principal == 'Agent::"claude-code"'
    assert request.action == {"type": "Action", "id": "mcp__docs__search"}
    assert request.resource == {"type": "Tool", "id": "mcp__docs__search"}
    assert request.context == {
        "tool_input": {"query": "cedar", "limit": 5,
                       "threshold": {"__extn": {"fn": "decimal", "arg": "0.25"}}},
        "cwd": CWD, "session_id": "abc123", "permission_mode": "default",
        "agent_id": "sub-1", "agent_type": "Explore"}
    assert request_of(payload("PreToolUse", "Bash", BASH), 'Agent::"x"').resource == \
        {"type": "Command", "id": "pytest -q"}
    assert request_of(payload("PreToolUse", "Edit", EDIT)).resource == \
        {"type": "File", "id": f"{CWD}/web/index.ts"}
    assert request_of(payload("PreToolUse", "WebFetch", {"url": "https://x.org"})).resource \
        == {"type": "Url", "id": "https://x.org"}


def test_tool_input_values_become_cedar_values() -> None:
    assert cedar_value(1.5, "$") == {"__extn": {"fn": "decimal", "arg": "1.5"}}
    assert cedar_value(0.12345, "$") == "0.12345"          # five places: its text
    assert cedar_value(1e300, "$") == "1e+300"              # beyond decimal's range
    assert cedar_value(2**70, "$") == str(2**70)            # beyond a Long
    assert cedar_value([1, None, "a"], "$") == [1, "a"]
    # Cedar's JSON escapes cannot be forged from a tool's input.
    forged = {"__entity": {"type": "Admin", "id": "root"}}
    assert cedar_value({"x": forged}, "$") == {"x": json.dumps(forged, sort_keys=True)}
    deep: Any = "x"
    for _ in range(40):
        deep = {"a": deep}
    with pytest.raises(HookInputError, match="nested"):
        cedar_value(deep, "$")


def test_the_engine_decides_on_the_mapped_request() -> None:
    engine = rune.Engine.load(CLAUDE_CODE)
    request = request_of(payload("PreToolUse", "mcp__docs__search", MCP))
    decision = engine.authorize(request.principal, request.action, request.resource,
                                request.context)
    assert decision.decision == "allow"


# -- the console script, in-process (--bundle) --------------------------------------------

@pytest.mark.parametrize(("tool", "tool_input", "verdict", "reason"), [
    ("Bash", BASH, "allow", "run-commands"),
    ("Bash", PUSH, "ask", "approval:a push leaves this machine"),
    ("Read", READ_SECRET, "deny", "no-secrets"),
    ("Write", WRITE_OUTSIDE, "deny", "rule:outside-project"),
    ("Edit", EDIT, "allow", "edit-files"),
    ("mcp__docs__search", MCP, "allow", "search-docs"),
    ("mcp__server__tool", {"x": 1}, "deny", "no policy permits it"),
])
def test_pre_tool_use(tool: str, tool_input: dict[str, Any], verdict: str,
                      reason: str) -> None:
    code, answer, _ = hook(payload("PreToolUse", tool, tool_input), *BUNDLE)
    out = pre(answer)
    assert code == 0 and out["permissionDecision"] == verdict
    assert reason in out["permissionDecisionReason"]
    if tool == "Edit":  # the derived configuration travels as additionalContext
        assert out["additionalContext"] == \
            'RUNE configuration for this Edit call: {"formatter": "prettier"}'


def test_permission_request() -> None:
    code, answer, _ = hook(payload("PermissionRequest", "Bash", BASH), *BUNDLE)
    assert code == 0 and answer == {"hookSpecificOutput": {
        "hookEventName": "PermissionRequest", "decision": {"behavior": "allow"}}}
    code, answer, _ = hook(payload("PermissionRequest", "Read", READ_SECRET), *BUNDLE)
    decision = answer["hookSpecificOutput"]["decision"]
    assert code == 0 and decision["behavior"] == "deny" and "no-secrets" in decision["message"]
    # "ask" makes no decision: Claude Code shows its dialog to the human.
    code, answer, _ = hook(payload("PermissionRequest", "Bash", PUSH), *BUNDLE)
    assert code == 0 and set(answer) == {"systemMessage"}


def test_post_tool_use_records_across_processes(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    engine = rune.Engine.load(CLAUDE_CODE, state=state)
    for _ in range(19):
        engine.record('Agent::"claude-code"', 'Action::"Bash"', 'Command::"ls"')
    engine.close()
    args = (*BUNDLE, "--state", str(state))
    code, answer, _ = hook(payload("PreToolUse", "Bash", BASH), *args)
    assert code == 0 and pre(answer)["permissionDecision"] == "allow"
    code, answer, _ = hook(payload("PostToolUse", "Bash", BASH), *args)  # the 20th
    assert (code, answer) == (0, {})
    code, answer, _ = hook(payload("PreToolUse", "Bash", BASH), *args)
    out = pre(answer)
    assert out["permissionDecision"] == "deny"
    assert "command-rate" in out["permissionDecisionReason"]


def test_parallel_hook_processes_take_turns_on_the_state_file(tmp_path: Path) -> None:
    # Claude Code runs the hooks of parallel tool calls at once; one process at a time
    # holds a state file, so the others wait their turn (up to --timeout).
    state = tmp_path / "state.db"
    command = [*rune_command(), "hook", "claude-code", *BUNDLE, "--state", str(state),
               "--timeout", "120"]
    processes = []
    for i in range(4):  # every payload ready on its stdin: the processes run at once
        body = tmp_path / f"payload-{i}.json"
        body.write_text(json.dumps(payload("PostToolUse", "Bash",
                                           {"command": f"parallel-{i}"})))
        with body.open("rb") as stdin:
            processes.append(subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE))
    answers = [process.communicate(timeout=180)[0] for process in processes]
    assert [(p.returncode, json.loads(out)) for p, out in zip(processes, answers,
                                                              strict=True)] == [(0, {})] * 4
    with rune.Engine.load(CLAUDE_CODE, state=state) as engine:
        rows = engine.query('performed(p, a, r, at, seq)')
    assert sorted(row[2] for row in rows) == [f'Command::\\"parallel-{i}\\"'
                                              for i in range(4)]


def test_principal_option() -> None:
    code, answer, _ = hook(payload("PreToolUse", "Bash", BASH), *BUNDLE,
                           "--principal", 'Agent::"stranger"')
    assert code == 0 and pre(answer)["permissionDecision"] == "deny"


# -- malformed input: always a valid deny ---------------------------------------------------

def _without(key: str) -> dict[str, Any]:
    body = payload("PreToolUse", "Bash", BASH)
    del body[key]
    return body


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(("stdin", "blocking"), [
    (b"not json", True),
    (b"", True),
    (b"\xff\xfe", True),
    (b"[1, 2]", True),
    (b'{"hook_event_name": "PreToolUse", "tool_input": NaN}', True),
    (b"[" * 100_000 + b"]" * 100_000, True),
    (payload("Stop", "Bash", BASH), True),
    (payload("PreToolUse", "Bash", "rm -rf /"), False),          # type: ignore[arg-type]
    (payload("PreToolUse", 42, BASH), False),                     # type: ignore[arg-type]
    (payload("PreToolUse", "Read", {"file_path": 7}), False),
    (payload("PreToolUse", "Bash", {"description": "no command"}), False),
    (_without("tool_input"), False),
    (_without("tool_name"), False),
    (_without("session_id"), False),
    (payload("PreToolUse", "Bash", BASH, agent_id=["x"]), False),
    (payload("PreToolUse", "mcp__server__tool", {"a": _deep(40)}), False),
])
def test_malformed_payloads_are_denied(stdin: Any, blocking: bool) -> None:
    code, answer, err = hook(stdin, *BUNDLE)
    assert pre(answer)["permissionDecision"] == "deny"
    assert code == (2 if blocking else 0)
    if blocking:  # exit 2: Claude Code shows stderr as the reason
        assert err.startswith("RUNE: deny: ")


def test_a_huge_payload_is_denied() -> None:
    body = payload("PreToolUse", "Write", {"file_path": f"{CWD}/big.txt",
                                           "content": "x" * (17 * 1024 * 1024)})
    code, answer, _ = hook(body, *BUNDLE)
    assert code == 2 and "larger than" in pre(answer)["permissionDecisionReason"]


def test_a_malformed_permission_request_is_denied_in_its_own_shape() -> None:
    code, answer, _ = hook({"hook_event_name": "PermissionRequest", "tool_name": "Bash"},
                           *BUNDLE)
    decision = answer["hookSpecificOutput"]["decision"]
    assert code == 0 and decision["behavior"] == "deny" and "tool_input" in decision["message"]


@pytest.mark.parametrize("args", [
    (), ("--bundle", "/nonexistent/bundle"), ("--bundle", str(CLAUDE_CODE), "--url", "x"),
    ("--url", "ftp://nowhere"), ("--bogus",), ("--bundle",),
    ("--bundle", str(CLAUDE_CODE), "--timeout", "nan"),
    ("--bundle", str(CLAUDE_CODE), "--timeout", "-1"),
])
def test_a_misconfigured_hook_denies(args: tuple[str, ...]) -> None:
    code, answer, _ = hook(payload("PreToolUse", "Bash", BASH), *args)
    assert pre(answer)["permissionDecision"] == "deny"
    assert code in (0, 2)


# -- against a server: --url, and the http hook type ---------------------------------------

TOKENS = {"RUNE_API_TOKEN": API_TOKEN, "RUNE_ADMIN_TOKEN": ADMIN_TOKEN}


def test_url_mode(hook_server: Server) -> None:
    url = ("--url", hook_server.url)
    code, answer, _ = hook(payload("PreToolUse", "Edit", EDIT), *url, env=TOKENS)
    assert code == 0 and pre(answer)["permissionDecision"] == "allow"
    code, answer, _ = hook(payload("PostToolUse", "Bash", {"command": "url-mode"}), *url,
                           env=TOKENS)
    assert (code, answer) == (0, {})
    with rune.RemoteEngine(hook_server.url, admin_token=ADMIN_TOKEN) as remote:
        rows = remote.query('performed(p, a, "Command::\\"url-mode\\"", at, seq)')
    assert len(rows) == 1
    # Without the API token the server refuses: a deny that says so.
    code, answer, _ = hook(payload("PreToolUse", "Edit", EDIT), *url,
                           env={"RUNE_API_TOKEN": ""})
    assert code == 0 and "API token" in pre(answer)["permissionDecisionReason"]


def test_url_mode_fails_closed_when_the_server_is_gone() -> None:
    code, answer, _ = hook(payload("PreToolUse", "Bash", BASH),
                           "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    out = pre(answer)
    assert code == 0 and out["permissionDecision"] == "deny"
    assert "cannot be reached" in out["permissionDecisionReason"]
    code, answer, _ = hook(payload("PostToolUse", "Bash", BASH),
                           "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 0 and answer["decision"] == "block"


def test_http_hook_route(hook_server: Server) -> None:
    auth = {"authorization": f"Bearer {API_TOKEN}"}
    with hook_server.client(headers=auth) as client:
        def post(body: Any, **kwargs: Any) -> Any:
            if isinstance(body, dict):
                body = json.dumps(body)
            reply = client.post("/v1/hooks/claude-code", content=body,
                                headers={"content-type": "application/json"}, **kwargs)
            assert reply.status_code == 200, reply.text
            return reply.json()

        assert pre(post(payload("PreToolUse", "Bash", BASH)))["permissionDecision"] == "allow"
        assert pre(post(payload("PreToolUse", "Read", READ_SECRET)))["permissionDecision"] \
            == "deny"
        assert post(payload("PermissionRequest", "Bash", BASH))["hookSpecificOutput"][
            "decision"] == {"behavior": "allow"}
        assert post(payload("PostToolUse", "Bash", {"command": "via-http"})) == {}
        for bad in ("not json", "[]", json.dumps(payload("PreToolUse", "Bash", "x"))):
            assert pre(post(bad))["permissionDecision"] == "deny"
        huge = json.dumps(payload("PreToolUse", "Write", {"file_path": "/x",
                                                          "content": "x" * 2_000_000}))
        assert "larger than" in pre(post(huge))["permissionDecisionReason"]
    with rune.RemoteEngine(hook_server.url, admin_token=ADMIN_TOKEN) as remote:
        rows = remote.query('performed(p, a, "Command::\\"via-http\\"", at, seq)')
    assert len(rows) == 1
    # The route is a decision route: without the token, 401 (and `onFailure: block`).
    reply = httpx.post(f"{hook_server.url}/v1/hooks/claude-code",
                       json=payload("PreToolUse", "Bash", BASH))
    assert reply.status_code == 401
