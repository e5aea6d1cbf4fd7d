"""The AuthZEN Authorization API 1.0 certification scenario, every test, over HTTP.

`rune serve examples/authzen-certification` against certification-scenario-1_0.md:
Basic (Core and Properties), Batch (Core and Properties), Search (Core and Properties),
Discovery, and the transport requirements. Test names carry the scenario's section ids.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.server.conftest import JSON

ALICE = {"type": "user", "id": "alice"}
BOB = {"type": "user", "id": "bob"}
BOB_ADMIN = {"type": "user", "id": "bob", "properties": {"role": "admin"}}
READ, WRITE = {"name": "read"}, {"name": "write"}
RECORD_1 = {"type": "record", "id": "record-1"}
RECORD_2 = {"type": "record", "id": "record-2"}
ARCHIVED_2 = {"type": "record", "id": "record-2", "properties": {"status": "archived"}}
CONTEXT = {"time": "2025-06-27T18:03-07:00", "ip": "192.168.1.1"}


def post(client: httpx.Client, path: str, body: Any, **headers: str) -> httpx.Response:
    return client.post(path, json=body, headers=headers)


def decide(client: httpx.Client, body: dict[str, Any]) -> bool:
    response = post(client, "/access/v1/evaluation", body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    decision = response.json()["decision"]
    assert isinstance(decision, bool)
    context = response.json().get("context")
    assert context is None or isinstance(context, dict)  # c-2-3-2
    return decision


# -- Basic ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("case", "body", "expected"), [
    ("c-2-2-1", {"subject": ALICE, "action": READ, "resource": RECORD_1}, True),
    ("c-2-2-2", {"subject": BOB, "action": WRITE, "resource": RECORD_1}, False),
    ("c-2-2-3", {"subject": ALICE, "action": READ, "resource": RECORD_1, "context": CONTEXT},
     True),
    ("c-2-2-4", {"subject": ALICE, "action": WRITE, "resource": ARCHIVED_2}, False),
    ("c-2-2-5", {"subject": BOB_ADMIN, "action": WRITE, "resource": ARCHIVED_2}, True),
    ("c-2-2-6", {"subject": ALICE, "action": {"name": "delete", "properties": {"soft": True}},
                 "resource": RECORD_1}, True),
    ("c-2-2-7", {"subject": ALICE, "action": {"name": "delete", "properties": {"soft": False}},
                 "resource": RECORD_1}, False),
    ("c-2-2-8", {"subject": {**ALICE, "properties": {"department": "Sales", "role": "manager"}},
                 "action": {"name": "read", "properties": {"method": "GET"}},
                 "resource": {**RECORD_1, "properties": {"status": "active", "owner": "bob"}}},
     True),
    ("c-2-2-9", {"subject": ALICE, "action": READ, "resource": RECORD_1, "foo": "bar",
                 "futureField": {"nested": True}}, True),
    # The fixture's remaining decision rules (c-1-4): 2 and 3.
    ("rule-2", {"subject": ALICE, "action": WRITE, "resource": RECORD_1}, True),
    ("rule-3", {"subject": BOB, "action": READ, "resource": RECORD_1}, True),
])
def test_basic_fixture_decisions(client: httpx.Client, case: str, body: dict[str, Any],
                                 expected: bool) -> None:
    assert decide(client, body) is expected, case


@pytest.mark.parametrize(("case", "body"), [
    ("c-2-4-1 missing subject", {"action": READ, "resource": RECORD_1}),
    ("c-2-4-1 missing action", {"subject": ALICE, "resource": RECORD_1}),
    ("c-2-4-1 missing resource", {"subject": ALICE, "action": READ}),
    ("c-2-4-2 subject type", {"subject": {"id": "alice"}, "action": READ, "resource": RECORD_1}),
    ("c-2-4-2 subject id", {"subject": {"type": "user"}, "action": READ, "resource": RECORD_1}),
    ("c-2-4-2 action name", {"subject": ALICE, "action": {}, "resource": RECORD_1}),
    ("c-2-4-2 resource type", {"subject": ALICE, "action": READ, "resource": {"id": "record-1"}}),
    ("c-2-4-2 resource id", {"subject": ALICE, "action": READ, "resource": {"type": "record"}}),
    ("c-2-4-6 subject string", {"subject": "alice", "action": READ, "resource": RECORD_1}),
    ("c-2-4-6 name number", {"subject": ALICE, "action": {"name": 123}, "resource": RECORD_1}),
])
def test_basic_errors_are_400(client: httpx.Client, case: str, body: dict[str, Any]) -> None:
    response = post(client, "/access/v1/evaluation", body)
    assert response.status_code == 400, case
    assert response.json()["error"]["status"] == 400


def test_c_2_4_3_to_5_content_type_malformed_and_empty_bodies(client: httpx.Client) -> None:
    good = '{"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"}, ' \
           '"resource": {"type": "record", "id": "record-1"}}'
    assert client.post("/access/v1/evaluation", content=good,
                       headers={"content-type": "text/plain"}).status_code == 400
    assert client.post("/access/v1/evaluation", content=good).status_code == 400  # none
    assert client.post("/access/v1/evaluation", content=good[:-3],
                       headers=JSON).status_code == 400
    assert client.post("/access/v1/evaluation", content=b"", headers=JSON).status_code == 400


def test_c_2_5_request_id_is_echoed_and_optional(client: httpx.Client) -> None:
    body = {"subject": ALICE, "action": READ, "resource": RECORD_1}
    echoed = post(client, "/access/v1/evaluation", body,
                  **{"X-Request-ID": "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"})
    assert echoed.headers["x-request-id"] == "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"
    assert post(client, "/access/v1/evaluation", body).status_code == 200
    # Echoed on errors too.
    failed = post(client, "/access/v1/evaluation", {}, **{"X-Request-ID": "req-7"})
    assert failed.status_code == 400 and failed.headers["x-request-id"] == "req-7"


def test_c_2_6_idempotency(client: httpx.Client) -> None:
    body = {"subject": BOB, "action": WRITE, "resource": RECORD_1}
    assert [decide(client, body) for _ in range(5)] == [False] * 5


# -- Batch ----------------------------------------------------------------------------------

def evaluations(client: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = post(client, "/access/v1/evaluations", body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    items = response.json()["evaluations"]
    assert all(isinstance(item["decision"], bool) for item in items)
    return items  # type: ignore[no-any-return]


@pytest.mark.parametrize(("case", "body", "expected"), [
    ("c-3-2-1", {"subject": ALICE, "action": READ,
                 "evaluations": [{"resource": RECORD_1}, {"resource": RECORD_2}]}, None),
    ("c-3-2-2", {"subject": BOB, "resource": RECORD_1,
                 "evaluations": [{"action": READ}, {"action": WRITE}]}, [True, False]),
    ("c-3-2-3", {"subject": ALICE, "action": WRITE, "evaluations": [
        {"resource": {**RECORD_1, "properties": {"status": "active"}}},
        {"resource": ARCHIVED_2}]}, [True, False]),
    ("c-3-2-4", {"action": WRITE, "resource": ARCHIVED_2,
                 "evaluations": [{"subject": ALICE}, {"subject": BOB_ADMIN}]}, [False, True]),
    ("c-3-2-5", {"evaluations": [
        {"subject": ALICE, "action": READ, "resource": RECORD_1},
        {"subject": BOB, "action": WRITE, "resource": RECORD_1}]}, [True, False]),
    ("c-3-2-6", {"subject": ALICE, "action": READ, "context": {"time": "2025-06-27T18:03-07:00"},
                 "evaluations": [{"resource": RECORD_1}, {"resource": RECORD_2, "context": {
                     "time": "2025-06-27T19:00-07:00", "source": "batch-override"}}]}, None),
    ("c-3-2-7", {"subject": ALICE, "action": WRITE,
                 "resource": {**RECORD_1, "properties": {"status": "active"}},
                 "evaluations": [{}, {"resource": ARCHIVED_2}]}, [True, False]),
])
def test_batch_requests(client: httpx.Client, case: str, body: dict[str, Any],
                        expected: list[bool] | None) -> None:
    items = evaluations(client, body)
    assert len(items) == len(body["evaluations"]), case  # c-3-3-1
    if expected is not None:
        assert [item["decision"] for item in items] == expected, case  # c-3-3-2 order
    assert "decision" not in post(client, "/access/v1/evaluations", body).json()  # c-3-3-4


def test_c_3_4_1_a_failed_item_is_a_deny_under_execute_all(client: httpx.Client) -> None:
    items = evaluations(client, {"subject": ALICE, "action": READ,
                                 "options": {"evaluations_semantic": "execute_all"},
                                 "evaluations": [{"resource": RECORD_1}, {}]})
    assert [item["decision"] for item in items] == [True, False]
    assert items[1]["context"]["error"]["status"] == 400


@pytest.mark.parametrize("evaluations_member", [None, []])
def test_c_3_4_2_and_3_no_evaluations_is_a_single_evaluation(
        client: httpx.Client, evaluations_member: list[Any] | None) -> None:
    body: dict[str, Any] = {"subject": ALICE, "action": READ, "resource": RECORD_1}
    if evaluations_member is not None:
        body["evaluations"] = evaluations_member
    response = post(client, "/access/v1/evaluations", body)
    assert response.status_code == 200 and response.json() == {"decision": True}


def test_evaluation_semantics_short_circuit(client: httpx.Client) -> None:
    def run(semantic: str) -> list[dict[str, Any]]:
        return evaluations(client, {"subject": ALICE, "action": WRITE, "options": {
            "evaluations_semantic": semantic}, "evaluations": [
            {"resource": RECORD_1}, {"resource": RECORD_2}, {"resource": RECORD_1}]})

    assert [i["decision"] for i in run("execute_all")] == [True, False, True]
    first_deny = run("deny_on_first_deny")
    assert [i["decision"] for i in first_deny] == [True, False]
    assert first_deny[1]["context"]["reason"] == "deny_on_first_deny"
    assert [i["decision"] for i in run("permit_on_first_permit")] == [True]
    bad = post(client, "/access/v1/evaluations", {"subject": ALICE, "action": READ, "options": {
        "evaluations_semantic": "sometimes"}, "evaluations": [{"resource": RECORD_1}]})
    assert bad.status_code == 400


# -- Search ---------------------------------------------------------------------------------

def search(client: httpx.Client, kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = post(client, f"/access/v1/search/{kind}", body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    results = response.json()["results"]
    assert isinstance(results, list)
    return results  # type: ignore[no-any-return]


def ids(results: list[dict[str, Any]], kind: str) -> set[str]:
    assert all(r["type"] == kind for r in results)
    return {r["id"] for r in results}


@pytest.mark.parametrize(("case", "body"), [
    ("c-4-2-1", {"subject": {"type": "user"}, "action": READ, "resource": RECORD_1}),
    ("c-4-2-2", {"subject": {"type": "user"}, "action": READ, "resource": RECORD_1,
                 "context": CONTEXT}),
    ("c-4-2-3", {"subject": ALICE, "action": READ, "resource": RECORD_1}),
])
def test_subject_search(client: httpx.Client, case: str, body: dict[str, Any]) -> None:
    assert {"alice", "bob"} <= ids(search(client, "subject", body), "user"), case


def test_c_4_2_4_subject_search_with_resource_properties(client: httpx.Client) -> None:
    found = search(client, "subject", {"subject": {"type": "user"}, "action": WRITE,
                                       "resource": ARCHIVED_2})
    assert "bob" in ids(found, "user")


@pytest.mark.parametrize(("case", "body"), [
    ("c-4-3-1", {"subject": ALICE, "action": READ, "resource": {"type": "record"}}),
    ("c-4-3-2", {"subject": ALICE, "action": READ, "resource": {"type": "record"},
                 "context": CONTEXT}),
    ("c-4-3-3", {"subject": ALICE, "action": READ, "resource": RECORD_1}),
])
def test_resource_search(client: httpx.Client, case: str, body: dict[str, Any]) -> None:
    assert "record-1" in ids(search(client, "resource", body), "record"), case


def test_c_4_3_4_resource_search_with_subject_properties(client: httpx.Client) -> None:
    found = search(client, "resource", {"subject": BOB_ADMIN, "action": WRITE,
                                        "resource": {"type": "record"}})
    assert "record-2" in ids(found, "record")


@pytest.mark.parametrize(("case", "body", "expected"), [
    ("c-4-4-1", {"subject": ALICE, "resource": RECORD_1}, {"read", "write"}),
    ("c-4-4-2", {"subject": ALICE, "resource": RECORD_1, "context": CONTEXT}, {"read", "write"}),
    ("c-4-4-3", {"subject": BOB_ADMIN, "resource": ARCHIVED_2}, {"write"}),
])
def test_action_search(client: httpx.Client, case: str, body: dict[str, Any],
                       expected: set[str]) -> None:
    results = search(client, "action", body)
    assert expected <= {r["name"] for r in results}, case


def test_c_4_5_pagination(client: httpx.Client) -> None:
    body: dict[str, Any] = {"subject": {"type": "user"}, "action": READ, "resource": RECORD_1,
                            "page": {"limit": 1}}
    seen: list[str] = []
    for _ in range(5):
        response = post(client, "/access/v1/search/subject", body).json()
        page = response["page"]
        assert isinstance(page, dict) and isinstance(page["next_token"], str)
        seen += [r["id"] for r in response["results"]]
        if not page["next_token"]:
            break
        body["page"] = {"limit": 1, "token": page["next_token"]}
    assert seen == ["alice", "bob"]
    # A token is bound to its request: change the request and it is refused.
    first = post(client, "/access/v1/search/subject", {**body, "page": {"limit": 1}}).json()
    changed = {**body, "action": WRITE, "page": {"limit": 1,
                                                 "token": first["page"]["next_token"]}}
    assert post(client, "/access/v1/search/subject", changed).status_code == 400


@pytest.mark.parametrize(("kind", "body"), [
    ("action", {"subject": {"type": "user", "id": "nonexistent-user"}, "resource": RECORD_1}),
    ("subject", {"subject": {"type": "spaceship"}, "action": READ, "resource": RECORD_1}),
    ("resource", {"subject": ALICE, "action": READ, "resource": {"type": "spaceship"}}),
    ("subject", {"subject": {"type": "user"}, "action": READ,
                 "resource": {"type": "record", "id": "nope"}}),
])
def test_c_4_6_empty_results(client: httpx.Client, kind: str, body: dict[str, Any]) -> None:
    assert search(client, kind, body) == []


@pytest.mark.parametrize(("kind", "body"), [
    ("subject", {"subject": {"type": "user"}, "resource": RECORD_1}),  # c-4-7-1
    ("resource", {"action": READ, "resource": {"type": "record"}}),
    ("action", {"subject": ALICE}),
    ("subject", {"subject": {"type": "user"}, "action": READ, "resource": {"type": "record"}}),
    ("resource", {"subject": {"type": "user"}, "action": READ, "resource": {"type": "record"}}),
    ("action", {"subject": {"type": "user"}, "resource": RECORD_1}),  # c-4-7-2
])
def test_c_4_7_search_errors_are_400(client: httpx.Client, kind: str,
                                     body: dict[str, Any]) -> None:
    assert post(client, f"/access/v1/search/{kind}", body).status_code == 400


# -- Transport and Discovery ------------------------------------------------------------------

def test_c_5_transport(client: httpx.Client) -> None:
    ok = post(client, "/access/v1/evaluation",
              {"subject": ALICE, "action": READ, "resource": RECORD_1, "extra": [1, 2]})
    assert ok.status_code == 200 and ok.headers["content-type"] == "application/json"


def test_c_6_discovery(certification_server: Any, client: httpx.Client) -> None:
    response = client.get("/.well-known/authzen-configuration")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    metadata = response.json()
    base = certification_server.url
    assert metadata["policy_decision_point"] == base
    assert metadata["access_evaluation_endpoint"] == f"{base}/access/v1/evaluation"
    for name, path in [("access_evaluations_endpoint", "evaluations"),
                       ("search_subject_endpoint", "search/subject"),
                       ("search_resource_endpoint", "search/resource"),
                       ("search_action_endpoint", "search/action")]:
        assert metadata[name] == f"{base}/access/v1/{path}"
    assert all(isinstance(c, str) for c in metadata["capabilities"])
    # Every advertised endpoint answers.
    assert post(client, metadata["access_evaluations_endpoint"],
                {"subject": ALICE, "action": READ, "resource": RECORD_1}).status_code == 200
