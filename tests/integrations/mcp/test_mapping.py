"""COAZ-MCP mappings resolve to the AuthZEN requests the binding's own examples show."""

from __future__ import annotations

from typing import Any

import pytest

from rune.integrations.mcp import Caller, MappingError, compile_mapping, default_mapping, resolve

TOKEN = {"sub": "alice@example.com", "client_id": "http://agentprovider.com/agent-app-id",
         "iss": "https://auth.example.com", "aud": "https://mcp.example.com",
         "exp": 1750000000}
CALLER = Caller(TOKEN)
CALL = {"name": "get_customer", "arguments": {"id": "cust-12345", "case": "case-67890"}}
GET_CUSTOMER = {"evaluation": {
    "subject": {"type": "identity", "id": "$token.sub"},
    "action": {"name": "get_customer"},
    "resource": {"type": "customer", "id": "$params.arguments.id"},
    "context": {"agent": "$token.?client_id", "case": "$params.arguments.case"},
}}


def test_the_single_evaluation_example() -> None:
    request = resolve(compile_mapping(GET_CUSTOMER), CALL, CALLER, "get_customer")
    assert request.envelope == "evaluation"
    assert request.body == {
        "subject": {"type": "identity", "id": "alice@example.com"},
        "action": {"name": "get_customer"},
        "resource": {"type": "customer", "id": "cust-12345"},
        "context": {"agent": "http://agentprovider.com/agent-app-id", "case": "case-67890"},
    }


def test_the_multi_evaluation_example() -> None:
    mapping = compile_mapping({"evaluations": {
        "subject": {"type": "identity", "id": "$token.sub"},
        "context": {"agent": "$token.?client_id"},
        "evaluations": [
            {"action": {"name": "read"},
             "resource": {"type": "storage_object", "id": "$params.arguments.source"}},
            {"action": {"name": "write"},
             "resource": {"type": "storage_object", "id": "$params.arguments.destination"}},
        ]}})
    request = resolve(mapping, {"name": "copy_object", "arguments": {
        "source": "/bucket/reports/q1.pdf", "destination": "/bucket/archive/q1.pdf"}}, CALLER)
    assert request.envelope == "evaluations"
    assert request.body["evaluations"][1] == {
        "action": {"name": "write"},
        "resource": {"type": "storage_object", "id": "/bucket/archive/q1.pdf"}}
    assert [e["subject"]["id"] for e in request.evaluations] == ["alice@example.com"] * 2
    assert [e["context"] for e in request.evaluations] == [
        {"agent": "http://agentprovider.com/agent-app-id"}] * 2


@pytest.mark.parametrize(("method", "params", "action", "resource"), [
    ("initialize", {"protocolVersion": "2025-11-25"}, "initialize",
     {"type": "mcp_server", "id": "https://mcp.example.com"}),
    ("tools/list", {}, "tools/list", {"type": "mcp_server", "id": "https://mcp.example.com"}),
    ("tools/call", CALL, "tools/call", {"type": "tool", "id": "get_customer"}),
    ("resources/read", {"uri": "file:///a"}, "resources/read",
     {"type": "resource", "id": "file:///a"}),
    ("prompts/get", {"name": "p"}, "prompts/get", {"type": "prompt", "id": "p"}),
    ("completion/complete", {"ref": {"type": "ref/resource", "uri": "file:///b"}},
     "completion/complete", {"type": "resource", "id": "file:///b"}),
    ("completion/complete", {"ref": {"type": "ref/prompt", "name": "p"}},
     "completion/complete", {"type": "prompt", "id": "p"}),
    ("tasks/cancel", {"taskId": "t1"}, "tasks/cancel", {"type": "task", "id": "t1"}),
])
def test_default_mappings(method: str, params: dict[str, Any], action: str,
                          resource: dict[str, str]) -> None:
    mapping = default_mapping(method)
    assert mapping is not None
    body = resolve(mapping, params, CALLER).body
    assert body["subject"] == {"type": "identity", "id": "alice@example.com"}
    assert body["action"] == {"name": action} and body["resource"] == resource
    assert body["context"]["agent"] == TOKEN["client_id"]


def test_defaults_and_escapes() -> None:
    assert default_mapping("ping") is None and default_mapping("server/discover") is None
    # No client_id: `agent` is left out, not null; `$$` is a literal `$`.
    mapping = compile_mapping({"evaluation": {
        "action": {"name": "$$pay"}, "resource": {"type": "t", "id": "x"},
        "context": {"agent": "$token.?client_id", "price": "$$50"}}})
    body = resolve(mapping, {}, Caller({"sub": "bob"})).body
    assert body["subject"] == {"type": "identity", "id": "bob"}  # supplied by the PEP
    assert body["action"] == {"name": "$pay"} and body["context"] == {"price": "$50"}


def test_an_on_behalf_of_claim() -> None:
    caller = Caller({"sub": "agent-7", "act_for": "carol", "aud": "s"}, subject_claim="act_for")
    mapping = default_mapping("tools/list", "act_for")
    assert mapping is not None
    assert resolve(mapping, {}, caller).body["subject"]["id"] == "carol"


@pytest.mark.parametrize(("mapping", "code"), [
    ({}, "mapping-malformed"),
    ({"evaluation": {}, "evaluations": {}}, "mapping-malformed"),
    ({"search": {}}, "mapping-malformed"),
    ({"evaluation": []}, "mapping-malformed"),
    ({"evaluations": {"evaluations": []}}, "mapping-malformed"),
    ({"evaluations": {"evaluations": [{"subject": {"id": "$params.arguments.u"},
                                       "action": {"name": "a"}}]}},
     "mapping-subject-smuggled"),
    ({"evaluation": {"action": {"name": "$params.("}}}, "cel-syntax"),
])
def test_malformed_mappings(mapping: Any, code: str) -> None:
    with pytest.raises(MappingError) as caught:
        compile_mapping(mapping)
    assert caught.value.code == code


@pytest.mark.parametrize(("params", "token", "code"), [
    ({"name": 7}, TOKEN, "mapping-invalid-field"),
    ({}, TOKEN, "cel-evaluation"),
    ({"name": "x"}, {"aud": "s"}, "cel-evaluation"),  # `$token.sub` of no `sub`
])
def test_mapping_errors(params: dict[str, Any], token: dict[str, Any], code: str) -> None:
    mapping = default_mapping("tools/call")
    assert mapping is not None
    with pytest.raises(MappingError) as caught:
        resolve(mapping, params, Caller(token))
    assert caught.value.code == code


def test_a_declared_mapping_without_subject_needs_the_claim() -> None:
    mapping = compile_mapping({"evaluation": {"action": {"name": "a"},
                                              "resource": {"type": "t", "id": "x"}}})
    with pytest.raises(MappingError) as caught:
        resolve(mapping, {}, Caller({"aud": "s"}))
    assert caught.value.code == "mapping-no-subject"


def test_a_server_wide_method_needs_an_audience() -> None:
    mapping = default_mapping("tools/list")
    assert mapping is not None
    with pytest.raises(MappingError) as caught:
        resolve(mapping, {}, Caller({"sub": "a", "aud": ["x", "y"]}))
    assert caught.value.code == "mapping-invalid-field"  # an array is no server id


def test_an_unverifiable_subject_is_refused_unless_trusted() -> None:
    mapping = compile_mapping({"evaluation": {
        "subject": {"type": "identity", "id": "$params.arguments.user"},
        "action": {"name": "a"}, "resource": {"type": "t", "id": "x"}}})
    params = {"name": "t", "arguments": {"user": "root"}}
    with pytest.raises(MappingError) as caught:
        resolve(mapping, params, CALLER, "t")
    assert caught.value.code == "mapping-subject-unverified"
    body = resolve(mapping, params, CALLER, "t", trust_declared_subjects=True).body
    assert body["subject"]["id"] == "root"
