"""The MCP gateway's errors, each tied to the JSON-RPC error code the COAZ-MCP binding
prescribes for its category (mapping error, denial, PDP failure)."""

from __future__ import annotations

from rune.errors import RuneError

__all__ = [
    "DECISION_POINT_FAILED",
    "DENIED",
    "INVALID_PARAMS",
    "DecisionPointError",
    "MappingError",
    "McpGatewayError",
]

# JSON-RPC codes of the binding's error categories (COAZ-MCP "Error Handling").
INVALID_PARAMS = -32602  # a mapping error: no valid AuthZEN request could be built
DENIED = -32001  # an authorization denial (implementation-defined server error range)
DECISION_POINT_FAILED = -32603  # the PDP is unreachable or answered something invalid


class McpGatewayError(RuneError):
    """Root of the MCP gateway's errors; ``rpc_code`` is the JSON-RPC error it becomes."""

    code = "mcp-gateway-error"
    rpc_code = DECISION_POINT_FAILED


class MappingError(McpGatewayError, ValueError):
    """A mapping that cannot produce a valid AuthZEN request: a malformed declared
    mapping, a CEL expression that does not parse or fails, a required field that is
    absent, a subject that is not the token's (answered with -32602)."""

    code = "mapping-error"
    rpc_code = INVALID_PARAMS


class DecisionPointError(McpGatewayError):
    """The decision point could not be asked or answered something that is not a valid
    AuthZEN response (answered with -32603)."""

    code = "decision-point-error"
    rpc_code = DECISION_POINT_FAILED
