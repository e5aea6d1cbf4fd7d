"""The MCP gateway end to end: the SDK's real client talks to the real `rune mcp-gateway`
console script, which talks to a real SDK server, over stdio and streamable HTTP, deciding
in process (`--bundle`) and with a real `rune serve` (`--url`).

The SDK client connects in its default `auto` mode, so every session also shows that the
`server/discover` probe (a method the binding does not map) is denied and the client
falls back to the `initialize` handshake, which is authorized like any other request.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from rune.cedar import PolicySet
from rune.cedar.schema import Schema, validate
from tests.integrations.mcp.conftest import (
    BROKEN,
    BUNDLE,
    RUNE,
    SERVER,
    free_port,
    stop,
    wait_until_up,
)

DENIED, INVALID_PARAMS, INTERNAL = -32001, -32602, -32603
Session = Callable[[Client], Awaitable[None]]


def gateway(*options: str, upstream: list[str] | None = None) -> StdioServerParameters:
    tail = ["--", *upstream] if upstream is not None else []
    return StdioServerParameters(command=RUNE, args=["mcp-gateway", "--server-id", "files",
                                                     *options, *tail])


def stdio_upstream(script: Path = SERVER) -> list[str]:
    return [sys.executable, str(script)]


def run(parameters: StdioServerParameters, session: Session) -> None:
    async def main() -> None:
        with anyio.fail_after(45):
            async with Client(parameters) as client:
                await session(client)
    anyio.run(main)


async def text(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result
    return str(result.content[0].text)  # type: ignore[union-attr]


async def refused(client: Client, tool: str, arguments: dict[str, Any]) -> MCPError:
    with pytest.raises(MCPError) as caught:
        await client.call_tool(tool, arguments)
    return caught.value


async def names(client: Client) -> list[str]:
    return [tool.name for tool in (await client.list_tools()).tools]


def test_stdio_upstream_in_process() -> None:
    async def session(client: Client) -> None:
        # delete_file is forbidden and broken_mapping's mapping is malformed: hidden;
        # get_customer and copy_file need their arguments to be decided: listed.
        assert await names(client) == ["read_file", "write_file", "get_customer",
                                       "copy_file"]
        assert await text(client, "read_file", {"path": "/docs/readme.md"}) == "hello"
        assert await text(client, "write_file", {"path": "/docs/a.md", "content": "hi"}) \
            == "wrote 2 bytes to /docs/a.md"
        denial = await refused(client, "delete_file", {"path": "/docs/a.md"})
        assert denial.code == DENIED and "no-deletes" in denial.message
        # A declared mapping: get_customer is decided as `get_customer` on the customer.
        denial = await refused(client, "get_customer", {"id": "c-1"})
        assert denial.code == DENIED and 'customer::"c-1"' in denial.message
        error = await refused(client, "get_customer", {})
        assert error.code == INVALID_PARAMS and "no such key `id`" in error.message
        error = await refused(client, "broken_mapping", {"x": "1"})
        assert error.code == INVALID_PARAMS
        # Two evaluations: read the source, write the destination; both must permit.
        assert await text(client, "copy_file", {"source": "/docs/readme.md",
                                                "destination": "/docs/copy.md"}) \
            == "copied /docs/readme.md to /docs/copy.md"
        denial = await refused(client, "copy_file", {"source": "/docs/readme.md",
                                                     "destination": "/etc/passwd"})
        assert denial.code == DENIED and 'file::"/etc/passwd"' in denial.message
        # The file was never written: a denied call is not forwarded.
        assert await text(client, "read_file", {"path": "/etc/passwd"}) == "root:x:0:0"
        # prompts/list has a default mapping no policy permits; a method with no
        # mapping at all (resources/templates/list) is denied outright.
        with pytest.raises(MCPError) as caught:
            await client.list_prompts()
        assert caught.value.code == DENIED
        with pytest.raises(MCPError) as caught:
            await client.list_resource_templates()
        assert caught.value.code == DENIED and "not authorized" in caught.value.message

    run(gateway("--bundle", str(BUNDLE), "--principal", "alice", "--agent", "claude",
                upstream=stdio_upstream()), session)


def test_http_upstream_and_remote_decision_point(pdp_url: str, upstream_url: str) -> None:
    async def session(client: Client) -> None:
        # carol has no `tools/call` permit for get_customer (the default mapping would
        # deny) but may read EU customers: before any tool list, the gateway fetches the
        # list itself and uses the tool's declared mapping.
        assert await text(client, "get_customer", {"id": "c-1", "case": "k-7"}) \
            == "Ada (eu)"
        denial = await refused(client, "get_customer", {"id": "c-2"})
        assert denial.code == DENIED and 'customer::"c-2"' in denial.message
        assert await names(client) == ["read_file", "get_customer", "copy_file"]
        assert await text(client, "read_file", {"path": "/docs/readme.md"}) == "hello"
        denial = await refused(client, "write_file", {"path": "/docs/b.md", "content": ""})
        assert denial.code == DENIED and 'tool::"write_file"' in denial.message
        assert (await refused(client, "get_customer", {})).code == INVALID_PARAMS

    run(gateway("--url", pdp_url, "--principal", "carol", "--upstream-url", upstream_url),
        session)


def test_a_decision_point_that_goes_away_fails_closed(upstream_url: str) -> None:
    port = free_port()
    pdp = subprocess.Popen([RUNE, "serve", str(BUNDLE), "--port", str(port), "--no-watch"],
                           stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/ready", pdp)

        async def session(client: Client) -> None:
            assert await text(client, "read_file", {"path": "/docs/readme.md"}) == "hello"
            stop(pdp)
            error = await refused(client, "read_file", {"path": "/docs/readme.md"})
            assert error.code == INTERNAL and "unavailable" in error.message
            with pytest.raises(MCPError) as caught:
                await client.list_tools()
            assert caught.value.code == INTERNAL

        run(gateway("--url", url, "--principal", "bob", "--upstream-url", upstream_url),
            session)
    finally:
        stop(pdp)


def test_an_unreachable_decision_point_refuses_the_handshake() -> None:
    async def session(client: Client) -> None:
        raise AssertionError("connected without a decision point")

    with pytest.raises(BaseException) as caught:
        run(gateway("--url", f"http://127.0.0.1:{free_port()}", "--principal", "alice",
                    "--timeout", "2", upstream=stdio_upstream(BROKEN)), session)
    error = caught.value
    while isinstance(error, BaseExceptionGroup):  # the SDK's task group wraps it
        error = error.exceptions[0]
    assert isinstance(error, MCPError) and error.code == INTERNAL
    assert "cannot be reached" in error.message


def test_malformed_upstream_answers_never_reach_the_client() -> None:
    async def session(client: Client) -> None:
        with pytest.raises(MCPError) as caught:
            await client.list_tools()
        assert caught.value.code == INTERNAL and "malformed" in caught.value.message
        assert await text(client, "read_file", {"path": "/a"}) == "read /a"
        error = await refused(client, "read_file", {"path": "garble"})
        assert error.code == INTERNAL and "malformed" in error.message
        assert await text(client, "read_file", {"path": "/b"}) == "read /b"
        error = await refused(client, "read_file", {"path": "die"})
        assert error.code == INTERNAL and "gone" in error.message

    run(gateway("--bundle", str(BUNDLE), "--principal", "bob",
                upstream=stdio_upstream(BROKEN)), session)


def test_tool_actions_decide_on_arguments() -> None:
    async def session(client: Client) -> None:
        # Every tool here needs arguments to be decided, so every one is listed (but the
        # one with a malformed mapping); calls are decided on their arguments.
        assert await names(client) == ["read_file", "write_file", "delete_file",
                                       "get_customer", "copy_file"]
        assert (await refused(client, "delete_file", {"path": "/docs/a.md"})).code == DENIED
        assert await text(client, "write_file", {"path": "/docs/c.md", "content": "x"}) \
            == "wrote 1 bytes to /docs/c.md"
        denial = await refused(client, "write_file", {"path": "/etc/passwd", "content": "x"})
        assert denial.code == DENIED and 'Action::"write_file"' not in denial.message
        error = await refused(client, "write_file", {"path": 7, "content": "x"})
        assert error.code == INVALID_PARAMS and "must be a string" in error.message

    run(gateway("--bundle", str(BUNDLE), "--principal", "alice", "--tool-actions",
                upstream=stdio_upstream()), session)


def test_schema_from_a_server_validates_the_tool_action_policies(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    done = subprocess.run([RUNE, "schema", "from-mcp", "-o", str(out), "--",
                           *stdio_upstream()], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    actions = document[""]["actions"]
    assert "get_customer" not in actions  # it declares its own mapping
    context = actions["write_file"]["appliesTo"]["context"]["attributes"]
    assert context["arguments"]["attributes"] == {
        "path": {"type": "String"}, "content": {"type": "String"},
        "mode": {"type": "Long", "required": False}}
    schema = Schema.from_json(document)
    policies = PolicySet.from_str((BUNDLE / "policies" / "tool-actions.cedar").read_text())
    assert validate(policies, schema).passed
    wrong = PolicySet.from_str('permit(principal, action == Action::"write_file", resource) '
                               'when { context.arguments.size > 3 };')
    assert not validate(wrong, schema).passed
