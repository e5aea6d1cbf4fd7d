"""A small MCP server (the SDK's `MCPServer`, formerly FastMCP) for the gateway's tests:
files in memory, a customer lookup that declares a COAZ mapping, and a copy that declares
two evaluations. `python server.py` serves stdio; `python server.py --http PORT` serves
streamable HTTP on 127.0.0.1:PORT/mcp."""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("files")
FILES = {"/docs/readme.md": "hello", "/etc/passwd": "root:x:0:0"}
CUSTOMERS = {"c-1": "Ada (eu)", "c-2": "Bob (us)"}


@server.tool()
def read_file(path: str) -> str:
    """Read a file."""
    return FILES.get(path, "")


@server.tool()
def write_file(path: str, content: str, mode: int = 0o644) -> str:
    """Write a file."""
    FILES[path] = content
    return f"wrote {len(content)} bytes to {path}"


@server.tool()
def delete_file(path: str) -> str:
    """Delete a file."""
    FILES.pop(path, None)
    return f"deleted {path}"


@server.tool()
def get_customer(id: str, case: str | None = None) -> str:  # noqa: A002 - the spec's name
    """A customer record (declares its own COAZ mapping)."""
    return CUSTOMERS.get(id, "unknown")


@server.tool()
def copy_file(source: str, destination: str) -> str:
    """Copy a file (declares two evaluations: read the source, write the destination)."""
    FILES[destination] = FILES.get(source, "")
    return f"copied {source} to {destination}"


@server.tool()
def broken_mapping(x: str) -> str:
    """A tool whose declared mapping is malformed (two envelopes)."""
    return x


# The declared mappings travel in each tool's inputSchema (COAZ-MCP "Declaring a Mapping").
_MAPPINGS = {
    "get_customer": {"evaluation": {
        "subject": {"type": "identity", "id": "$token.sub"},
        "action": {"name": "get_customer"},
        "resource": {"type": "customer", "id": "$params.arguments.id"},
        "context": {"agent": "$token.?client_id", "case": "$params.arguments.?case"},
    }},
    "copy_file": {"evaluations": {
        "subject": {"type": "identity", "id": "$token.sub"},
        "context": {"agent": "$token.?client_id"},
        "evaluations": [
            {"action": {"name": "read"},
             "resource": {"type": "file", "id": "$params.arguments.source"}},
            {"action": {"name": "write"},
             "resource": {"type": "file", "id": "$params.arguments.destination"}},
        ],
    }},
    "broken_mapping": {"evaluation": {}, "evaluations": {}},
}
for _name, _mapping in _MAPPINGS.items():
    _tool = server._tool_manager.get_tool(_name)
    assert _tool is not None
    _tool.parameters["x-authzen-mapping"] = _mapping


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
