"""The MCP server of the gateway's tests: the example's `files` server
(`examples/mcp-gateway/server.py`: files in memory, a customer lookup that declares a
COAZ mapping, a copy that declares two evaluations) plus one tool whose declared mapping
is malformed. `python server.py` serves stdio; `python server.py --http PORT` serves
streamable HTTP on 127.0.0.1:PORT/mcp."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

_EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "mcp-gateway" / "server.py"
server = runpy.run_path(str(_EXAMPLE))["server"]  # (not as __main__: it does not serve)


@server.tool()
def broken_mapping(x: str) -> str:
    """A tool whose declared mapping is malformed (two envelopes)."""
    return x


server._tool_manager.get_tool("broken_mapping").parameters["x-authzen-mapping"] = {
    "evaluation": {}, "evaluations": {}}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
