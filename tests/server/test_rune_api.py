"""RUNE's own API over HTTP: whole decisions, batches, queries, admin writes, records,
approvals, reloads, versions; durable writes with a state file; the ASGI interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import ADMIN_TOKEN, CODING, Server, copy_bundle

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
A1, A2 = 'Agent::"a1"', 'Agent::"a2"'
WRITE, CALL = 'Action::"write_file"', 'Action::"call_api"'
APP, LLM = 'File::"src/app.py"', 'Api::"llm"'


@pytest.fixture(scope="module")
def coding(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = copy_bundle(CODING, tmp_path_factory.mktemp("coding") / "bundle")
    server = Server(root, "--no-watch", "--state", str(root.parent / "state.db"),
                    env={"RUNE_ADMIN_TOKEN": ADMIN_TOKEN})
    yield server
    server.stop()


def decide(client: httpx.Client, principal: str, action: str, resource: str,
           context: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"principal": principal, "action": action, "resource": resource,
                            **extra}
    if context is not None:
        body["context"] = context
    response = client.post("/v1/decide", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_decide_returns_the_whole_decision(coding: Server) -> None:
    with coding.client() as client:
        out = decide(client, A1, WRITE, APP, {"env": "dev"})
        assert out["decision"] == "allow" and out["reasons"] == ["write-in-dev"]
        assert out["config"]["formatter"] == "black" and out["version"] >= 1
        assert out["errors"] == [] and out["decision_id"]
        asked = decide(client, A1, WRITE, APP, {"env": "prod"})
        assert asked["decision"] == "ask"
        assert "approval:production change" in asked["reasons"]
        limited = decide(client, {"type": "Agent", "id": "a1"}, CALL, LLM,  # type: ignore[arg-type]
                         {"env": "prod"})
        assert limited["obligations"][0]["kind"] == "rate_limit"


def test_batch(coding: Server) -> None:
    with coding.client() as client:
        response = client.post("/v1/decide/batch", json={"requests": [
            {"principal": A1, "action": WRITE, "resource": APP, "context": {"env": "dev"}},
            {"principal": A2, "action": WRITE, "resource": 'File::"config/.env"',
             "context": {"env": "dev"}}]})
        assert [d["decision"] for d in response.json()["decisions"]] == ["allow", "deny"]
        bad = client.post("/v1/decide/batch", json={"requests": [
            {"principal": A1, "action": WRITE, "resource": APP}, {"principal": "nope"}]})
        assert bad.status_code == 400 and bad.json()["error"]["path"] == "$.requests[1].action"
        malformed_uid = client.post("/v1/decide", json={
            "principal": "Agent::a1", "action": WRITE, "resource": APP})
        assert malformed_uid.status_code == 400


def test_query_write_record_approve_reload_version(coding: Server) -> None:
    with coding.client(headers=ADMIN) as client:
        version = client.get("/v1/admin/version").json()["version"]
        written = client.post("/v1/admin/write", json={"entities": [
            {"uid": {"type": "Agent", "id": "a9"}, "attrs": {"level": 5, "model": "x"},
             "parents": [{"type": "Team", "id": "coding"}]}]})
        assert written.status_code == 200 and written.json()["version"] == version + 1
        # Rules see the write: a9 is senior (level >= 3), so a prod write asks.
        assert decide(client, 'Agent::"a9"', WRITE, APP, {"env": "prod"})["decision"] == "ask"
        rows = client.post("/v1/query", json={"query": 'derived_parent(a, p)'}).json()["rows"]
        assert ['Agent::\\"a9\\"', 'Group::\\"senior\\"'] in rows
        bad = client.post("/v1/admin/write", json={"entities": [{"uid": "nope"}]})
        assert bad.status_code == 400
        assert client.post("/v1/query", json={"query": "nope("}).status_code == 400
        recorded = client.post("/v1/admin/record", json={"principal": A1, "action": CALL,
                                                         "resource": LLM, "amount": 2})
        assert recorded.status_code == 200
        assert client.post("/v1/query", json={"query": "performed(p, a, r, t, s)"}).json()["rows"]
        approved = client.post("/v1/admin/approve", json={
            "principal": A1, "action": WRITE, "resource": APP, "ttl_seconds": 60})
        assert approved.status_code == 200
        allowed = decide(client, A1, WRITE, APP, {"env": "prod"})
        assert allowed["decision"] == "allow" and "approved" in allowed["reasons"]
        reloaded = client.post("/v1/admin/reload")
        assert reloaded.json()["reloaded"] is True
        # A reload keeps the writes.
        assert decide(client, 'Agent::"a9"', WRITE, APP, {"env": "prod"})["decision"] == "ask"


def test_writes_are_durable_with_a_state_file(tmp_path: Path) -> None:
    root = copy_bundle(CODING, tmp_path / "bundle")
    state = tmp_path / "state.db"
    for round_ in range(2):
        server = Server(root, "--no-watch", "--state", str(state),
                        env={"RUNE_ADMIN_TOKEN": ADMIN_TOKEN})
        try:
            with server.client(headers=ADMIN) as client:
                if round_ == 0:
                    client.post("/v1/admin/write", json={"remove_entities": [A1]})
                    client.post("/v1/admin/approve", json={
                        "principal": A2, "action": CALL, "resource": LLM})
                out = decide(client, A1, CALL, LLM, {"env": "dev"})
                assert out["decision"] == "deny", round_  # a1 removed, after a restart too
        finally:
            server.stop()


def test_the_asgi_interface_serves_the_same_app(tmp_path: Path) -> None:
    server = Server(CODING, "--no-watch", "--interface", "asgi")
    try:
        with server.client() as client:
            assert decide(client, A1, WRITE, APP, {"env": "dev"})["decision"] == "allow"
            body = {"subject": {"type": "Agent", "id": "a1"}, "action": {"name": "write_file"},
                    "resource": {"type": "File", "id": "src/app.py"}, "context": {"env": "dev"}}
            answer = client.post("/access/v1/evaluation", json=body).json()
            assert answer["decision"] is True
            assert answer["context"]["config"]["review"] == "optional"
            assert client.post("/access/v1/evaluation", content=b"{x",
                               headers={"content-type": "application/json"}).status_code == 400
    finally:
        server.stop()


@pytest.mark.parametrize("interface", ["rsgi", "asgi"])
def test_asyncio_s_event_loop_serves_the_same_app(interface: str) -> None:
    server = Server(CODING, "--no-watch", "--loop", "asyncio", "--interface", interface)
    try:
        with server.client() as client:
            body = {"subject": {"type": "Agent", "id": "a1"}, "action": {"name": "write_file"},
                    "resource": {"type": "File", "id": "src/app.py"}, "context": {"env": "dev"}}
            for _ in range(2):  # (the second through the one-pass path)
                answer = client.post("/access/v1/evaluation", json=body).json()
                assert answer["decision"] is True
                assert answer["context"]["config"]["review"] == "optional"
    finally:
        server.stop()
