"""The gateway's relay in memory (no processes): what passes, what is refused with which
JSON-RPC code, and that nothing refused or failed is ever forwarded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import pytest

import rune
from rune.integrations.mcp import (
    AuthorizationRequest,
    Caller,
    DecisionPointError,
    EngineDecisionPoint,
    Gateway,
    MappingError,
    Outcome,
)
from tests.integrations.mcp.conftest import BUNDLE

TOOLS = [{"name": "read_file", "inputSchema": {"type": "object"}},
         {"name": "delete_file", "inputSchema": {"type": "object"}},
         {"name": "nameless"}, "junk"]


class Failing:
    """A decision point that fails, as a remote one that is down does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def decide(self, request: AuthorizationRequest) -> Outcome:
        raise self.error

    async def decide_each(self, evaluations: Sequence[Mapping[str, Any]]) -> list[bool | None]:
        raise self.error

    async def close(self) -> None:
        return None


def exchange(messages: list[Any], decision_point: Any = None, *, principal: str = "alice",
             upstream_exits: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Send ``messages`` from the client; returns (what the client got, what the upstream
    server got). The upstream server answers tools/list with TOOLS and echoes the rest."""
    if decision_point is None:
        decision_point = EngineDecisionPoint(rune.Engine.load(BUNDLE))
    gateway = Gateway(decision_point, Caller({"sub": principal, "aud": "files"}))
    to_client: list[dict[str, Any]] = []
    to_upstream: list[dict[str, Any]] = []

    async def main() -> None:
        client_send, client_in = anyio.create_memory_object_stream[Any](100)
        client_out, client_recv = anyio.create_memory_object_stream[Any](100)
        upstream_send, upstream_in = anyio.create_memory_object_stream[Any](100)
        upstream_out, upstream_recv = anyio.create_memory_object_stream[Any](100)

        async def upstream() -> None:
            async with upstream_send:
                async for message in upstream_recv:
                    to_upstream.append(message)
                    if upstream_exits:
                        return
                    if "id" not in message or "method" not in message:
                        continue
                    result = ({"tools": TOOLS} if message["method"] == "tools/list"
                              else {"echo": message["method"]})
                    await upstream_send.send({"jsonrpc": "2.0", "id": message["id"],
                                              "result": result})

        async def client() -> None:
            async with client_send:
                for message in messages:
                    await client_send.send(message)
                with anyio.move_on_after(1):
                    async for answer in client_recv:
                        to_client.append(answer)
                        if len(to_client) == sum(1 for m in messages
                                                 if isinstance(m, Exception) or "id" in m):
                            return

        streams = (client_send, client_in, client_out, client_recv, upstream_send,
                   upstream_in, upstream_out, upstream_recv)
        try:
            with anyio.fail_after(10):
                async with anyio.create_task_group() as group:
                    group.start_soon(upstream)
                    group.start_soon(gateway.run, client_in, client_out, upstream_in,
                                     upstream_out)
                    await client()
                    group.cancel_scope.cancel()
        finally:
            for stream in streams:
                stream.close()

    anyio.run(main)
    return to_client, to_upstream


def request(ident: Any, method: str, params: Any = None) -> dict[str, Any]:
    message = {"jsonrpc": "2.0", "id": ident, "method": method}
    if params is not None:
        message["params"] = params
    return message


def codes(answers: list[dict[str, Any]]) -> dict[Any, Any]:
    return {a["id"]: a["error"]["code"] if "error" in a else "ok" for a in answers}


def test_pass_through_and_unknown_methods() -> None:
    failing = Failing(AssertionError("ping and notifications never reach the PDP"))
    answers, forwarded = exchange([
        request(1, "ping"), {"jsonrpc": "2.0", "method": "notifications/initialized"},
        request(2, "server/discover"), request(3, "sampling/whatever")], failing)
    assert codes(answers) == {1: "ok", 2: -32001, 3: -32001}
    assert [m.get("method") for m in forwarded] == ["ping", "notifications/initialized"]


def test_a_list_is_filtered_and_calls_are_decided() -> None:
    answers, forwarded = exchange([
        request(1, "initialize", {"protocolVersion": "2025-11-25"}),
        request(2, "tools/list"),
        request(3, "tools/call", {"name": "read_file", "arguments": {}}),
        request(4, "tools/call", {"name": "delete_file", "arguments": {}}),
        request(5, "tools/call", {"arguments": {}}),
        request(6, "tools/call", "not an object"),
        request(7, "prompts/list")])
    assert codes(answers) == {1: "ok", 2: "ok", 3: "ok", 4: -32001, 5: -32602, 6: -32600,
                              7: -32001}
    listed = next(a for a in answers if a["id"] == 2)["result"]["tools"]
    assert [t["name"] for t in listed] == ["read_file"]  # denied, nameless, junk: gone
    # (the gateway may fetch the tool list itself when call 3 overtakes answer 2)
    assert [m["id"] for m in forwarded if isinstance(m["id"], int)] == [1, 2, 3]


def test_a_parse_error_is_answered_with_a_null_id() -> None:
    answers, forwarded = exchange([ValueError("not JSON")])
    assert answers == [{"jsonrpc": "2.0", "id": None,
                        "error": {"code": -32700, "message": "parse error"}}]
    assert forwarded == []


@pytest.mark.parametrize("error", [DecisionPointError("down"), RuntimeError("a bug")])
def test_a_failing_decision_point_forwards_nothing(error: Exception) -> None:
    answers, forwarded = exchange([
        request(1, "tools/call", {"name": "read_file", "arguments": {}}),
        request(2, "tools/list")], Failing(error))
    assert codes(answers) == {1: -32603, 2: -32603}
    # Only the gateway's own catalog fetch reached the server; the call never did.
    assert [m["method"] for m in forwarded] == ["tools/list"]
    assert str(forwarded[0]["id"]).startswith("rune-mcp-gateway:")


def test_requests_in_flight_when_the_upstream_server_goes_fail() -> None:
    answers, _ = exchange([request(1, "initialize", {"protocolVersion": "2025-11-25"})],
                          upstream_exits=True)
    assert codes(answers) == {1: -32603}


def test_an_entity_type_that_is_not_a_cedar_name_is_a_mapping_error() -> None:
    point = EngineDecisionPoint(rune.Engine.load(BUNDLE))
    evaluation = {"subject": {"type": "identity", "id": "alice"},
                  "action": {"name": "read"}, "resource": {"type": "no such", "id": "x"}}
    request = AuthorizationRequest("evaluation", evaluation, (evaluation,))
    with pytest.raises(MappingError) as caught:
        anyio.run(point.decide, request)
    assert caught.value.code == "mapping-invalid-field"
