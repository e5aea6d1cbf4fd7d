"""The MCP gateway: a policy enforcement point between an MCP client and an MCP server.

`Gateway.run` relays JSON-RPC messages between two pairs of SDK transport streams, the
client's (the gateway is its MCP server) and the upstream server's (the gateway is its
client), and enforces the COAZ-MCP binding on every client request:

* `ping` and notifications pass through; a method with neither a default mapping nor a
  declared one is denied (-32001), so methods of future MCP versions fail closed (an
  SDK client that probes with `server/discover` falls back to `initialize`);
* `tools/call` of a tool whose `inputSchema` declares `x-authzen-mapping` is authorized
  by that mapping, any other request by the method's default mapping;
* a denial is JSON-RPC error -32001, a mapping error -32602, a decision point that
  cannot be reached or answers nonsense -32603, and so is a malformed upstream answer
  to a `tools/list`; nothing that fails is ever forwarded;
* a `tools/list` answer keeps only the tools the caller may call (each tool's
  `tools/call` mapping decided with no arguments; a declared mapping that needs
  arguments to resolve keeps its tool listed, and is enforced per call).

The gateway learns declared mappings from the `tools/list` answers it relays and, when a
`tools/call` names a tool it has not seen, asks the upstream server for its tool list
itself (following `nextCursor`), so that a call is never authorized by the default
mapping when the tool declares one. Server-initiated requests (sampling, elicitation,
roots) are out of the binding's scope and are relayed as they are.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import anyio

from rune.integrations.mcp.decision_point import DecisionPoint
from rune.integrations.mcp.errors import (
    DECISION_POINT_FAILED,
    DENIED,
    INVALID_PARAMS,
    McpGatewayError,
)
from rune.integrations.mcp.mapping import (
    PASS_THROUGH,
    AuthorizationRequest,
    Caller,
    CompiledMapping,
    compile_mapping,
    declared_mapping,
    default_mapping,
    resolve,
)
from rune.integrations.mcp.schema import project_arguments

__all__ = ["Gateway", "GatewayStats", "MessageSink", "MessageSource"]

_log = logging.getLogger("rune.integrations.mcp")

_INTERNAL_PREFIX: Final = "rune-mcp-gateway:"
_CATALOG_PAGES: Final = 64
_CATALOG_TIMEOUT: Final = 30.0
_REFRESH_INTERVAL: Final = 1.0
_PARSE_ERROR: Final = -32700
_INVALID_REQUEST: Final = -32600


MessageSource = AsyncIterable[dict[str, Any] | Exception]
"""JSON-RPC messages as dicts (an `Exception` for a line that was not JSON-RPC)."""


class MessageSink(Protocol):
    """Where JSON-RPC messages (dicts) are sent."""

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message; raises `anyio.ClosedResourceError` or
        `anyio.BrokenResourceError` when the other side is gone."""
        ...


@dataclass(slots=True)
class GatewayStats:
    """Counters of what the gateway did (for logs and tests)."""

    forwarded: int = 0
    denied: int = 0
    mapping_errors: int = 0
    decision_point_errors: int = 0
    hidden_tools: int = 0


@dataclass(slots=True)
class _Tool:
    mapping: CompiledMapping | McpGatewayError | None  # None: the default mapping
    input_schema: Any = None


@dataclass(slots=True)
class _Catalog:
    tools: dict[str, _Tool] = field(default_factory=dict)
    complete: bool = False
    fetched_at: float = -math.inf


class Gateway:
    """Enforces COAZ-MCP between an MCP client and an upstream MCP server.

    Args:
        decision_point: where AuthZEN requests are decided.
        caller: the token claims of whoever the client acts for.
        tool_actions: authorize a call of a tool that declares no mapping as the action
            named by the tool, on `tool::"<name>"`, with its arguments (projected on
            its inputSchema, see `rune.integrations.mcp.schema`) in `context.arguments`,
            instead of the binding's default (action `tools/call`, no arguments).
        trust_declared_subjects: accept a declared mapping whose `subject.id` is not the
            token's subject (with a warning) instead of refusing it (-32602).
    """

    def __init__(self, decision_point: DecisionPoint, caller: Caller, *,
                 tool_actions: bool = False, trust_declared_subjects: bool = False) -> None:
        self.decision_point = decision_point
        self.caller = caller
        self.tool_actions = tool_actions
        self.trust_declared_subjects = trust_declared_subjects
        self.stats = GatewayStats()
        self._catalog = _Catalog()
        self._pending: dict[Any, str] = {}  # forwarded client request id -> method
        self._internal: dict[str, tuple[anyio.Event, list[Any]]] = {}
        self._counter = 0
        self._upstream_gone = False
        self._to_client: MessageSink | None = None
        self._to_upstream: MessageSink | None = None
        self._fetch_lock = anyio.Lock()

    # -- the two relays ---------------------------------------------------------------------

    async def run(self, client_in: MessageSource, client_out: MessageSink,
                  upstream_in: MessageSource, upstream_out: MessageSink) -> None:
        """Relay until the client or the upstream server goes away."""
        self._to_client, self._to_upstream = client_out, upstream_out
        async with anyio.create_task_group() as group:
            group.start_soon(self._from_upstream, upstream_in, group.cancel_scope)
            await self._from_client(client_in)
            group.cancel_scope.cancel()

    async def _from_client(self, stream: MessageSource) -> None:
        # INVARIANT: client messages reach the upstream server in the order sent (the
        # `initialized` notification must follow `initialize`), so each request is decided
        # before the next message is read; the upstream relay runs beside, so a catalog
        # fetch in the middle of a decision gets its answer.
        async for message in stream:
            if isinstance(message, Exception):
                await self._reply_error(None, _PARSE_ERROR, "parse error")
            elif "method" in message and "id" in message:
                await self._on_request(message)
            elif "method" in message or "id" in message:
                # A notification (pass-through), or the answer to a server request.
                await self._send_upstream(message)
            else:
                await self._reply_error(None, _INVALID_REQUEST, "invalid request")

    async def _from_upstream(self, stream: MessageSource, scope: anyio.CancelScope) -> None:
        try:
            async for message in stream:
                if isinstance(message, Exception):
                    # A line that is not JSON-RPC cannot be matched to its request: every
                    # request in flight is answered with an error rather than left hanging.
                    _log.warning("the upstream server sent a malformed message: %s", message)
                    await self._fail_pending("the upstream server sent a malformed message")
                    continue
                await self._on_upstream(message)
        finally:
            self._upstream_gone = True
            # Shielded (the relay may be ending under a cancellation) but bounded: a
            # client that no longer reads must not keep the gateway from exiting.
            with anyio.CancelScope(shield=True) as cleanup:
                cleanup.deadline = anyio.current_time() + 5
                await self._fail_pending("the upstream server is gone")
                for event, _ in self._internal.values():
                    event.set()
            scope.cancel()

    # -- client requests --------------------------------------------------------------------

    async def _on_request(self, message: dict[str, Any]) -> None:
        request_id, method = message["id"], message["method"]
        params = message.get("params")
        if not isinstance(method, str) or (params is not None and not isinstance(params, dict)):
            await self._reply_error(request_id, _INVALID_REQUEST, "invalid request")
            return
        params = params or {}
        try:
            if method not in PASS_THROUGH:
                mapping, tool = await self._mapping_for(method, params)
                if mapping is None:
                    self.stats.denied += 1
                    await self._reply_error(request_id, DENIED,
                                            f"access denied: method `{method}` is not "
                                            "authorized by this gateway")
                    return
                request = self._resolve(mapping, params, tool)
                outcome = await self.decision_point.decide(request)
                if not outcome.allowed:
                    self.stats.denied += 1
                    await self._reply_error(request_id, DENIED,
                                            f"access denied: {outcome.reason}".rstrip(": "))
                    return
        except McpGatewayError as error:
            await self._reply_failure(request_id, error)
            return
        except Exception as error:  # fail closed on anything unforeseen
            _log.exception("the gateway failed on `%s`", method)
            await self._reply_failure(request_id, McpGatewayError(
                f"internal error: {type(error).__name__}"))
            return
        if self._upstream_gone:
            await self._reply_error(request_id, DECISION_POINT_FAILED,
                                    "the upstream server is gone")
            return
        self._pending[request_id] = method
        self.stats.forwarded += 1
        await self._send_upstream(message)

    async def _mapping_for(self, method: str, params: Mapping[str, Any]
                           ) -> tuple[CompiledMapping | None, str | None]:
        claim = self.caller.subject_claim
        if method != "tools/call":
            return default_mapping(method, claim), None
        name = params.get("name")
        if not isinstance(name, str):
            return default_mapping(method, claim), None  # resolving it is the mapping error
        tool = self._catalog.tools.get(name)
        if tool is None and time.monotonic() - self._catalog.fetched_at > _REFRESH_INTERVAL:
            await self._fetch_catalog()
            tool = self._catalog.tools.get(name)
        if tool is None or tool.mapping is None:
            if self.tool_actions:
                return _tool_action_mapping(claim), name
            return default_mapping(method, claim), name
        if isinstance(tool.mapping, McpGatewayError):
            raise tool.mapping
        return tool.mapping, name

    def _resolve(self, mapping: CompiledMapping, params: Mapping[str, Any],
                 tool: str | None) -> AuthorizationRequest:
        request = resolve(mapping, params, self.caller, tool,
                          trust_declared_subjects=self.trust_declared_subjects)
        if mapping.declared or not self.tool_actions or tool is None or \
                mapping is not _tool_action_mapping(self.caller.subject_claim):
            return request
        entry = self._catalog.tools.get(tool)
        arguments = project_arguments(params.get("arguments") or {},
                                      entry.input_schema if entry is not None else None)
        evaluation = dict(request.evaluations[0])
        evaluation["context"] = {**evaluation.get("context", {}), "arguments": arguments}
        return AuthorizationRequest("evaluation", evaluation, (evaluation,))

    # -- the tool catalog -------------------------------------------------------------------

    def _learn(self, tools: list[Any]) -> None:
        for tool in tools:
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                continue
            declared = declared_mapping(tool)
            mapping: CompiledMapping | McpGatewayError | None = None
            if declared is not None:
                try:
                    mapping = compile_mapping(declared, subject_claim=self.caller.subject_claim)
                except McpGatewayError as error:
                    mapping = error
            self._catalog.tools[tool["name"]] = _Tool(mapping, tool.get("inputSchema"))

    async def _fetch_catalog(self) -> None:
        """Ask the upstream server for every page of its tool list (bounded)."""
        async with self._fetch_lock:
            if time.monotonic() - self._catalog.fetched_at <= _REFRESH_INTERVAL:
                return
            self._catalog.fetched_at = time.monotonic()
            cursor: Any = None
            for _ in range(_CATALOG_PAGES):
                params = {} if cursor is None else {"cursor": cursor}
                answer = await self._ask_upstream("tools/list", params)
                result = answer.get("result") if isinstance(answer, dict) else None
                tools = result.get("tools") if isinstance(result, dict) else None
                if not isinstance(tools, list):
                    raise McpGatewayError("the upstream server's tool list is malformed",
                                          code="upstream-malformed")
                self._learn(tools)
                cursor = result.get("nextCursor") if isinstance(result, dict) else None
                if not isinstance(cursor, str):
                    self._catalog.complete = True
                    return

    async def _ask_upstream(self, method: str, params: Mapping[str, Any]) -> Any:
        self._counter += 1
        request_id = f"{_INTERNAL_PREFIX}{self._counter}"
        event, box = anyio.Event(), list[Any]()
        self._internal[request_id] = (event, box)
        try:
            if self._upstream_gone:
                raise McpGatewayError("the upstream server is gone", code="upstream-gone")
            await self._send_upstream({"jsonrpc": "2.0", "id": request_id, "method": method,
                                       "params": dict(params)})
            with anyio.move_on_after(_CATALOG_TIMEOUT):
                await event.wait()
            if not box:
                raise McpGatewayError(f"the upstream server did not answer `{method}`",
                                      code="upstream-timeout")
            return box[0]
        finally:
            self._internal.pop(request_id, None)

    async def _visible(self, tools: list[Any]) -> list[Any]:
        """The tools of a list the caller may call (hidden: the others)."""
        claim = self.caller.subject_claim
        candidates: list[tuple[int, Any]] = []
        keep = [False] * len(tools)
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                continue  # an entry without a name cannot be authorized: dropped
            entry = self._catalog.tools.get(tool["name"])
            mapping = entry.mapping if entry is not None else None
            if isinstance(mapping, McpGatewayError):
                continue  # a malformed declared mapping: never callable, so not listed
            mapping = mapping or (_tool_action_mapping(claim) if self.tool_actions
                                  else default_mapping("tools/call", claim))
            assert mapping is not None
            try:
                request = self._resolve(mapping, {"name": tool["name"], "arguments": {}},
                                        tool["name"])
            except McpGatewayError as error:
                # Needs the call's arguments: listed, and decided when it is called; but a
                # subject the gateway refuses to trust makes the tool uncallable: hidden.
                keep[i] = error.code != "mapping-subject-unverified"
                continue
            candidates.append((i, request))
        evaluations = [e for _, request in candidates for e in request.evaluations]
        verdicts = await self.decision_point.decide_each(evaluations)
        position = 0
        for i, request in candidates:
            count = len(request.evaluations)
            # A verdict of None (the PDP refused the evaluation) is no denial: the tool is
            # listed, and its calls are decided one by one.
            keep[i] = all(v is not False for v in verdicts[position:position + count])
            position += count
        self.stats.hidden_tools += keep.count(False)
        return [tool for tool, shown in zip(tools, keep, strict=True) if shown]

    # -- upstream messages ------------------------------------------------------------------

    async def _on_upstream(self, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        if "method" in message:
            if message["method"] == "notifications/tools/list_changed":
                self._catalog = _Catalog()
            await self._send_client(message)  # server-initiated: out of the binding's scope
            return
        if isinstance(request_id, str) and request_id in self._internal:
            event, box = self._internal[request_id]
            box.append(message)
            event.set()
            return
        method = self._pending.pop(request_id, None) if _hashable(request_id) else None
        if method == "tools/list" and "error" not in message:
            message = await self._filtered(message)
        await self._send_client(message)

    async def _filtered(self, message: dict[str, Any]) -> dict[str, Any]:
        result = message.get("result")
        tools = result.get("tools") if isinstance(result, dict) else None
        if not isinstance(tools, list):
            self.stats.decision_point_errors += 1
            return _error(message.get("id"), DECISION_POINT_FAILED,
                          "the upstream server's tool list is malformed")
        assert isinstance(result, dict)
        self._learn(tools)
        try:
            visible = await self._visible(tools)
        except McpGatewayError as error:
            self.stats.decision_point_errors += 1
            return _error(message.get("id"), DECISION_POINT_FAILED, error.message)
        except Exception as error:  # fail closed: no unfiltered list ever goes out
            _log.exception("filtering a tool list failed")
            return _error(message.get("id"), DECISION_POINT_FAILED,
                          f"internal error: {type(error).__name__}")
        return {**message, "result": {**result, "tools": visible}}

    # -- sending ----------------------------------------------------------------------------

    async def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for request_id in pending:
            await self._reply_error(request_id, DECISION_POINT_FAILED, reason)

    async def _reply_failure(self, request_id: Any, error: McpGatewayError) -> None:
        if error.rpc_code == INVALID_PARAMS:
            self.stats.mapping_errors += 1
            text = f"COAZ mapping error: {error.message}"
        else:
            self.stats.decision_point_errors += 1
            text = f"authorization service unavailable: {error.message}"
        await self._reply_error(request_id, error.rpc_code, text)

    async def _reply_error(self, request_id: Any, code: int, text: str) -> None:
        await self._send_client(_error(request_id, code, text))

    async def _send_client(self, message: dict[str, Any]) -> None:
        assert self._to_client is not None
        try:
            await self._to_client.send(message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            _log.debug("the client is gone")

    async def _send_upstream(self, message: dict[str, Any]) -> None:
        assert self._to_upstream is not None
        try:
            await self._to_upstream.send(message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._upstream_gone = True
            request_id = message.get("id")
            if "method" in message and request_id is not None and \
                    not str(request_id).startswith(_INTERNAL_PREFIX):
                self._pending.pop(request_id, None) if _hashable(request_id) else None
                await self._reply_error(request_id, DECISION_POINT_FAILED,
                                        "the upstream server is gone")


_TOOL_ACTIONS: dict[str, CompiledMapping] = {}


def _tool_action_mapping(subject_claim: str) -> CompiledMapping:
    """RUNE's mapping of `tools/call` with `tool_actions` (arguments are added after)."""
    found = _TOOL_ACTIONS.get(subject_claim)
    if found is None:
        found = _TOOL_ACTIONS[subject_claim] = compile_mapping({"evaluation": {
            "subject": {"type": "identity", "id": f"$token.{subject_claim}"},
            "action": {"name": "$params.name"},
            "resource": {"type": "tool", "id": "$params.name"},
            "context": {"agent": "$token.?client_id"},
        }}, subject_claim=subject_claim, declared=False)
    return found


def _hashable(value: Any) -> bool:
    return isinstance(value, str | int | float) or value is None


def _error(request_id: Any, code: int, text: str) -> dict[str, Any]:
    if not (_hashable(request_id) and not isinstance(request_id, bool)):
        request_id = None
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": text}}
