"""RUNE in front of an MCP server: an agent (the MCP SDK's client) talks to the `files`
server of `examples/mcp-gateway/` through `rune mcp-gateway`, once as alice (an engineer)
and once as bob (a guest), and prints what each may see and do.

Run with `python examples/mcp_gateway_demo.py` (needs `pip install 'rune[mcp]'`; `make
test` installs it). The gateway decides in process with the example bundle; add `--url`
to ask a running `rune serve examples/mcp-gateway` instead.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "mcp-gateway"
RUNE = shutil.which("rune", path=str(Path(sys.executable).parent)) or "rune"

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("read_file", {"path": "/docs/readme.md"}),
    ("write_file", {"path": "/docs/notes.md", "content": "hi"}),
    ("delete_file", {"path": "/docs/readme.md"}),
    ("copy_file", {"source": "/docs/readme.md", "destination": "/etc/passwd"}),
    ("get_customer", {}),
]


async def session(principal: str) -> None:
    """List the tools and make each call as ``principal``, through the gateway."""
    gateway = StdioServerParameters(command=RUNE, args=[
        "mcp-gateway", "--bundle", str(BUNDLE), "--principal", principal,
        "--agent", "demo-agent", "--server-id", "files",
        "--", sys.executable, str(BUNDLE / "server.py")])
    async with Client(gateway) as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        print(f"{principal}: tools {', '.join(tools)}")
        for name, arguments in CALLS:
            try:
                result = await client.call_tool(name, arguments)
                print(f"  ALLOW  {name}: {result.content[0].text}")  # type: ignore[union-attr]
            except MCPError as error:
                print(f"  {'DENY ' if error.code == -32001 else 'ERROR'}  {name}: "
                      f"[{error.code}] {error.message}")


def main() -> None:
    """Alice, then Bob."""
    for principal in ("alice", "bob"):
        anyio.run(session, principal)


if __name__ == "__main__":
    main()
