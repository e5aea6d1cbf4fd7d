"""The AuthZEN profiles over HTTP: obligations (and derived configuration) in decision
contexts, and the whole access request approval flow from "ask" to allow."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.server.conftest import ADMIN_TOKEN, API_TOKEN, CODING, Server

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
API = {"authorization": f"Bearer {API_TOKEN}"}
A1 = {"type": "Agent", "id": "a1"}
APP = {"type": "File", "id": "src/app.py"}
WRITE = {"name": "write_file"}
PROD = {"env": "prod"}


@pytest.fixture(scope="module")
def coding() -> Any:
    server = Server(CODING, "--no-watch",
                    env={"RUNE_ADMIN_TOKEN": ADMIN_TOKEN, "RUNE_API_TOKEN": API_TOKEN})
    yield server
    server.stop()


def evaluate(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/access/v1/evaluation", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_obligations_and_configuration_in_the_context(coding: Server) -> None:
    with coding.client(headers=API) as client:
        answer = evaluate(client, {"subject": A1, "action": {"name": "call_api"},
                                   "resource": {"type": "Api", "id": "llm"},
                                   "context": {"env": "prod"}})
        assert answer["decision"] is True
        (obligation,) = answer["context"]["obligations"]
        assert obligation == {"id": "obl-1", "type": "custom", "properties": {
            "vendor": "rune", "kind": "rate_limit", "key": 'api:Agent::"a1"', "limit": 2,
            "window_seconds": 60}}
        assert answer["context"]["config"]["review"] == "required"
        # The engine enforces the limit: the third call in the minute is denied, and the
        # deny still says which limit refused it.
        for _ in range(2):
            evaluate(client, {"subject": A1, "action": {"name": "call_api"},
                              "resource": {"type": "Api", "id": "llm"}, "context": PROD})
        denied = evaluate(client, {"subject": A1, "action": {"name": "call_api"},
                                   "resource": {"type": "Api", "id": "llm"}, "context": PROD})
        assert denied["decision"] is False
        assert denied["context"]["obligations"][0]["properties"]["kind"] == "rate_limit"
        metadata = client.get("/.well-known/authzen-configuration").json()
        assert set(metadata["supported_obligations"]) == {
            "custom", "notification", "session_termination", "step-up"}
        # A PEP's declared support is protocol, not Cedar context.
        negotiated = evaluate(client, {"subject": A1, "action": {"name": "read_file"},
                                       "resource": APP, "context": {
                                           "supported_obligations": ["notification"]}})
        assert negotiated["decision"] is True


def test_the_access_request_flow(coding: Server) -> None:
    request = {"subject": A1, "action": WRITE, "resource": APP, "context": PROD}
    with coding.client(headers=API) as client:
        denied = evaluate(client, request)
        assert denied["decision"] is False
        context = denied["context"]
        assert context["reason"] == "approval_required"
        access = context["access_request"]
        assert access["template"] == "production change"
        assert access["endpoint"] == f"{coding.url}/access/v1/requests"
        # A submission bound to another request is refused.
        wrong = client.post(access["endpoint"], json={
            "subject": A1, "action": WRITE, "resource": {"type": "File", "id": "src/ui.ts"},
            "denial": {"evaluation_id": context["evaluation_id"],
                       "expires_at": access["expires_at"]}})
        assert wrong.status_code == 400
        assert wrong.headers["content-type"] == "application/problem+json"
        assert wrong.json()["type"].endswith(":invalid_denial_binding")
        unknown = client.post(access["endpoint"], json={
            "subject": A1, "action": WRITE, "resource": APP,
            "denial": {"evaluation_id": "eval_nope", "expires_at": access["expires_at"]}})
        assert unknown.json()["type"].endswith(":invalid_denial_binding")
        submission = {"subject": A1, "action": WRITE, "resource": APP,
                      "context": {"business_justification": "hotfix"},
                      "denial": {"evaluation_id": context["evaluation_id"],
                                 "evaluated_at": context["evaluated_at"],
                                 "expires_at": access["expires_at"],
                                 "reason": "approval_required"}}
        submitted = client.post(access["endpoint"], json=submission,
                                headers={"Idempotency-Key": "key-1"})
        assert submitted.status_code == 202
        task = submitted.json()["task"]
        assert task["status"] == "pending" and submitted.headers["location"] == \
            task["status_endpoint"]
        again = client.post(access["endpoint"], json=submission,
                            headers={"Idempotency-Key": "key-1"})
        assert again.json()["task"]["id"] == task["id"]
        conflict = client.post(access["endpoint"], json={**submission, "context": {}},
                               headers={"Idempotency-Key": "key-1"})
        assert conflict.status_code == 409
        assert client.get(task["status_endpoint"]).json()["task"]["status"] == "pending"
        # Still "ask" until an approver acts.
        assert evaluate(client, request)["decision"] is False
    with coding.client(headers=ADMIN) as admin:
        pending = admin.get("/v1/admin/requests").json()["requests"]
        assert [t["task"]["id"] for t in pending] == [task["id"]]
        approved = admin.post(f"/v1/admin/requests/{task['id']}/approve",
                              json={"ttl_seconds": 2})
        assert approved.status_code == 200, approved.text
        assert approved.json()["task"]["status"] == "approved"
        twice = admin.post(f"/v1/admin/requests/{task['id']}/approve", json={})
        assert twice.status_code == 409
    with coding.client(headers=API) as client:
        status = client.get(task["status_endpoint"]).json()
        assert status["task"]["status"] == "approved"
        approval = status["result"]["approval"]
        assert status["result"]["mode"] == "reevaluate" and approval["id"].startswith("apr_")
        # Re-evaluation with the approval: allowed, and the approval's expiry is said.
        allowed = evaluate(client, {**request, "context": {**PROD, "approval": approval}})
        assert allowed["decision"] is True
        assert allowed["context"]["approval"]["id"] == approval["id"]
        assert evaluate(client, request)["decision"] is True
        # Another request presenting this approval gains nothing from it.
        other = evaluate(client, {"subject": A1, "action": WRITE,
                                  "resource": {"type": "File", "id": "src/ui.ts"},
                                  "context": {**PROD, "approval": approval}})
        assert other["decision"] is False
        assert other["context"]["reason"] == "approval_unverifiable"
        assert other["context"]["next_action"] == "none"
        # After the approval expires, the request asks again.
        time.sleep(2.2)
        expired = evaluate(client, {**request, "context": {**PROD, "approval": approval}})
        assert expired["decision"] is False
        assert expired["context"]["reason"] == "approval_expired"
        assert expired["context"]["next_action"] == "request"
        assert "access_request" in expired["context"]


def test_cancel_and_deny(coding: Server) -> None:
    with coding.client(headers=API) as client:
        def submit() -> dict[str, Any]:
            context = evaluate(client, {"subject": {"type": "Agent", "id": "a1"},
                                        "action": WRITE, "resource": APP,
                                        "context": PROD})["context"]
            response = client.post("/access/v1/requests", json={
                "subject": A1, "items": [{"resource": APP, "action": WRITE}],
                "denial": {"evaluation_id": context["evaluation_id"],
                           "expires_at": context["access_request"]["expires_at"]}})
            assert response.status_code == 202, response.text
            return response.json()["task"]  # type: ignore[no-any-return]

        task = submit()
        assert task["items"][0]["status"] == "pending"
        cancelled = client.post(task["links"]["cancel"])
        assert cancelled.json()["task"]["status"] == "cancelled"
        assert client.post(task["links"]["cancel"]).status_code == 409
        assert client.get("/access/v1/requests/arq_unknown").status_code == 404
        denied_task = submit()
    with coding.client(headers=ADMIN) as admin:
        denied = admin.post(f"/v1/admin/requests/{denied_task['id']}/deny")
        assert denied.json()["task"]["status"] == "denied"
