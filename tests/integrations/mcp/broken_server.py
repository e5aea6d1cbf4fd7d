"""A misbehaving MCP server on stdio (raw JSON-RPC lines, no SDK) for the gateway's tests
of malformed upstream answers: its first tool list to the client is not a list,
`read_file` of `garble` answers with a line that is not JSON, `read_file` of `die` exits
mid-call, and any other call answers normally."""

from __future__ import annotations

import json
import sys


def send(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


listed = False
for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message:
        continue
    method, ident = message.get("method"), message["id"]
    params = message.get("params") or {}
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": ident, "result": {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {"tools": {}}, "serverInfo": {"name": "broken", "version": "0"}}})
    elif method == "tools/list" and (str(ident).startswith("rune-mcp-gateway:") or listed):
        # The gateway's own catalog fetch gets a good list (so calls can be decided)...
        send({"jsonrpc": "2.0", "id": ident, "result": {"tools": [
            {"name": "read_file", "inputSchema": {"type": "object"}}]}})
    elif method == "tools/list":
        # ...and the client's first a malformed one, which must not reach it unfiltered.
        listed = True
        send({"jsonrpc": "2.0", "id": ident, "result": {"tools": "not a list"}})
    elif method == "tools/call":
        path = (params.get("arguments") or {}).get("path")
        if path == "garble":
            sys.stdout.write("this is not JSON-RPC\n")
            sys.stdout.flush()
        elif path == "die":
            sys.exit(3)
        else:
            send({"jsonrpc": "2.0", "id": ident,
                  "result": {"content": [{"type": "text", "text": f"read {path}"}]}})
    else:
        send({"jsonrpc": "2.0", "id": ident, "error": {"code": -32601, "message": "no"}})
