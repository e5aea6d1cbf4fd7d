"""RUNE in front of MCP servers: a gateway enforcing the COAZ-MCP binding of AuthZEN, and
Cedar schemas built from a server's tool list.

Needs the `mcp` extra (`pip install 'rune[mcp]'`, the MCP SDK 2.3) for the gateway's
transports; the mappings, the CEL subset and the schema builder need nothing else.

```python
import anyio, rune
from rune.integrations.mcp import Caller, EngineDecisionPoint, Gateway, serve

gateway = Gateway(EngineDecisionPoint(rune.Engine.load("examples/mcp-gateway")),
                  Caller({"sub": "alice", "aud": "files"}))
anyio.run(lambda: serve(gateway, command=["python", "server.py"]))
```

`rune mcp-gateway` is this on the command line; `rune schema from-mcp` the schema builder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rune.integrations.mcp.cel import Expression, OptionalValue, compile_expression
from rune.integrations.mcp.decision_point import (
    DecisionPoint,
    EngineDecisionPoint,
    HttpDecisionPoint,
    Outcome,
)
from rune.integrations.mcp.errors import (
    DecisionPointError,
    MappingError,
    McpGatewayError,
)
from rune.integrations.mcp.gateway import Gateway, GatewayStats, MessageSink
from rune.integrations.mcp.mapping import (
    DEFAULT_MAPPINGS,
    AuthorizationRequest,
    Caller,
    CompiledMapping,
    compile_mapping,
    default_mapping,
    resolve,
)
from rune.integrations.mcp.schema import cedar_type, project_arguments, schema_from_tools

if TYPE_CHECKING:
    from rune.integrations.mcp.transports import serve
else:
    def __getattr__(name: str) -> Any:
        # The transports import the MCP SDK: only when they are used.
        if name == "serve":
            from rune.integrations.mcp.transports import serve

            return serve
        raise AttributeError(name)

__all__ = [
    "AuthorizationRequest",
    "Caller",
    "CompiledMapping",
    "DEFAULT_MAPPINGS",
    "DecisionPoint",
    "DecisionPointError",
    "EngineDecisionPoint",
    "Expression",
    "Gateway",
    "GatewayStats",
    "HttpDecisionPoint",
    "MappingError",
    "McpGatewayError",
    "MessageSink",
    "OptionalValue",
    "Outcome",
    "cedar_type",
    "compile_expression",
    "compile_mapping",
    "default_mapping",
    "project_arguments",
    "resolve",
    "schema_from_tools",
    "serve",
]
