"""`rune schema`: Cedar schemas made from other descriptions; `rune schema from-mcp` builds
one from an MCP server's tool list (a file, or a server it launches).

The schema has an action per tool, its context `{agent?, arguments}` with the tool's
`inputSchema` as `arguments` (see `rune.integrations.mcp.schema`), and the actions and
entity types of the COAZ-MCP default mappings; it is checked with RUNE's own schema
parser before it is printed. Exit 0, or 1 on an error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from rune.cli._common import CliError
from rune.cli.main import ExitCode

__all__ = ["command"]

_MAX_PAGES = 64


@click.group("schema")
def command() -> None:
    """Build Cedar schemas from other descriptions."""


def _tools_of(document: Any, source: str) -> list[Any]:
    """The tools of a `tools/list` result, a JSON-RPC response holding one, or a list."""
    if isinstance(document, dict) and isinstance(document.get("result"), dict):
        document = document["result"]
    if isinstance(document, dict):
        document = document.get("tools")
    if not isinstance(document, list):
        raise CliError(f"`{source}` holds no tool list (`tools` of a `tools/list` result)")
    return document


async def _list_tools(upstream: list[str]) -> list[Any]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    tools: list[Any] = []
    parameters = StdioServerParameters(command=upstream[0], args=upstream[1:])
    async with Client(parameters, mode="legacy") as client:
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            tools.extend(tool.model_dump(by_alias=True, exclude_none=True, mode="json")
                         for tool in page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
    return tools


@command.command("from-mcp")
@click.argument("source", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="Write the schema here (a bundle's `schema.json`) instead of stdout.")
def from_mcp(source: tuple[str, ...], output: Path | None) -> int:
    """A Cedar schema (JSON) from SOURCE: a `tools/list` result in a `.json` file (`-`
    for stdin), or else the command of an MCP server to launch and ask (after `--`).

    \b
      rune schema from-mcp tools.json -o bundle/schema.json
      rune schema from-mcp -- python server.py
    """
    from rune.cedar.schema import Schema
    from rune.integrations.mcp.schema import schema_from_tools

    if len(source) == 1 and (source[0] == "-" or source[0].endswith(".json")):
        name = source[0]
        if name != "-" and not Path(name).is_file():
            raise CliError(f"`{name}` does not exist")
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
        try:
            document = json.loads(text)
        except ValueError as error:
            raise CliError(f"`{name}` is not JSON: {error}") from None
        tools = _tools_of(document, name)
    else:
        try:
            import anyio
        except ImportError as error:
            raise CliError("reading tools from a server needs the mcp extra "
                           f"(pip install 'rune[mcp]'): {error}") from None
        try:
            tools = anyio.run(_list_tools, list(source))
        except Exception as error:
            raise CliError(f"could not list the tools of `{' '.join(source)}`: "
                           f"{type(error).__name__}: {error}") from None
    schema = schema_from_tools(tools)
    Schema.from_json(schema)  # RUNE's own parser: what is printed always loads
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    if output is not None:
        output.write_text(text)
    else:
        click.echo(text, nl=False)
    return int(ExitCode.OK)
