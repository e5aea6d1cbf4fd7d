"""The MCP SDK's transports as the gateway sees them: JSON-RPC messages as dicts.

The client side is the SDK's stdio server transport (the gateway is the MCP server its
client launched); the upstream side is the SDK's stdio client (the gateway launches the
server) or its streamable HTTP client. Messages cross as the SDK's JSON-RPC envelopes
(`SessionMessage`); only the envelope is validated here, never a method's params, so the
gateway relays what it does not need to understand untouched.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import mcp_types
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp_types.jsonrpc import (
    ErrorData,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
)

__all__ = ["Endpoint", "client_stdio", "serve", "upstream_http", "upstream_stdio"]

_PROTOCOL_VERSION_HEADER: Final = "mcp-protocol-version"
_NO_ID: Final = object()
# Never handed to the upstream server: the decision point's credentials.
_PRIVATE_ENVIRONMENT: Final = frozenset({"RUNE_API_TOKEN", "RUNE_ADMIN_TOKEN"})


def _as_dict(item: SessionMessage | Exception) -> dict[str, Any] | Exception:
    """The envelope as a dict (params and results are the SDK's own dicts, not copied)."""
    if isinstance(item, Exception):
        return item
    envelope = item.message
    if isinstance(envelope, JSONRPCRequest | JSONRPCNotification):
        out: dict[str, Any] = {"jsonrpc": "2.0", "method": envelope.method}
        if isinstance(envelope, JSONRPCRequest):
            out["id"] = envelope.id
        if envelope.params is not None:
            out["params"] = envelope.params
        return out
    if isinstance(envelope, JSONRPCResponse):
        return {"jsonrpc": "2.0", "id": envelope.id, "result": envelope.result}
    return {"jsonrpc": "2.0", "id": envelope.id,
            "error": envelope.error.model_dump(exclude_unset=True, mode="json")}


def _as_envelope(message: dict[str, Any]) -> Any:
    """The SDK envelope of a message: built without validation when the message is one
    the gateway relays or makes (already checked, or well-formed by construction), else
    validated."""
    method, ident = message.get("method"), message.get("id", _NO_ID)
    params = message.get("params")
    if isinstance(method, str) and (params is None or isinstance(params, dict)):
        fields: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            fields["params"] = params
        if ident is _NO_ID:
            return JSONRPCNotification.model_construct(**fields)
        if isinstance(ident, str | int) and not isinstance(ident, bool):
            return JSONRPCRequest.model_construct(id=ident, **fields)
    error = message.get("error")
    if method is None and isinstance(error, dict) and isinstance(error.get("code"), int) \
            and isinstance(error.get("message"), str) and (
                ident is None or isinstance(ident, str | int)) and len(error) == 2:
        return JSONRPCError.model_construct(jsonrpc="2.0", id=ident, error=ErrorData(
            code=error["code"], message=error["message"]))
    result = message.get("result")
    if method is None and isinstance(result, dict) and isinstance(ident, str | int) and \
            not isinstance(ident, bool):
        return JSONRPCResponse.model_construct(jsonrpc="2.0", id=ident, result=result)
    return mcp_types.jsonrpc_message_adapter.validate_python(message, by_name=False)


class Endpoint:
    """One side's streams, read and written as dicts. ``stamp_version`` (streamable
    HTTP) sends the protocol version negotiated by `initialize` with every later message,
    as the SDK's own client session does."""

    def __init__(self, read: Any, write: Any, *, stamp_version: bool = False) -> None:
        self._read = read
        self._write = write
        self._stamp = stamp_version
        self._initialize_id: Any = None
        self._version: str | None = None

    async def __aiter__(self) -> AsyncIterator[dict[str, Any] | Exception]:
        async for item in self._read:
            message = _as_dict(item)
            if self._stamp and isinstance(message, dict) and self._initialize_id is not None \
                    and message.get("id") == self._initialize_id:
                result = message.get("result")
                version = result.get("protocolVersion") if isinstance(result, dict) else None
                self._version = version if isinstance(version, str) else None
                self._initialize_id = None
            yield message

    async def send(self, message: dict[str, Any]) -> None:
        envelope = _as_envelope(message)
        metadata = None
        if self._stamp:
            if message.get("method") == "initialize":
                self._initialize_id = message.get("id")
            elif self._version is not None:
                metadata = ClientMessageMetadata(
                    headers={_PROTOCOL_VERSION_HEADER: self._version})
        await self._write.send(SessionMessage(envelope, metadata))


@asynccontextmanager
async def client_stdio() -> AsyncIterator[Endpoint]:
    """The gateway's client: the MCP client that launched it, over stdin and stdout."""
    async with stdio_server() as (read, write):
        yield Endpoint(read, write)


@asynccontextmanager
async def upstream_stdio(command: Sequence[str]) -> AsyncIterator[Endpoint]:
    """An MCP server launched as ``command`` (its stderr is the gateway's)."""
    environment = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENVIRONMENT}
    parameters = StdioServerParameters(command=command[0], args=list(command[1:]),
                                       env=environment)
    async with stdio_client(parameters) as (read, write):
        yield Endpoint(read, write)


@asynccontextmanager
async def upstream_http(url: str) -> AsyncIterator[Endpoint]:
    """An MCP server at ``url`` over streamable HTTP."""
    async with streamable_http_client(url) as (read, write):
        yield Endpoint(read, write, stamp_version=True)


async def serve(gateway: Any, *, command: Sequence[str] | None = None,
                url: str | None = None) -> None:
    """Run ``gateway`` (a `Gateway`) between this process's stdio client and the upstream
    server (launched as ``command``, or reached at ``url``) until either goes away."""
    if (command is None) == (url is None):
        raise ValueError("give exactly one of an upstream command or URL")
    upstream = upstream_stdio(command) if command is not None else upstream_http(url or "")
    async with client_stdio() as client, upstream as server:
        await gateway.run(client, client, server, server)
