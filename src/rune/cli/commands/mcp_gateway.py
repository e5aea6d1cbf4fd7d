"""`rune mcp-gateway`: an MCP server (stdio) in front of another MCP server, enforcing the
COAZ-MCP binding of AuthZEN with a bundle (in process) or a running `rune serve`.

The upstream server is launched from the arguments after `--` (stdio), or reached with
`--upstream-url` (streamable HTTP). Who the caller is: the gateway has no OAuth token on
stdio, so the launcher states the token's claims: `--principal` is `sub` (default:
`RUNE_MCP_PRINCIPAL`, else the user running the gateway), `--agent` is `client_id`,
`--server-id` is `aud` (the resource of server-wide methods), `--claims` adds others.
Needs the `mcp` extra. Exit 0 when the client closes the session, 1 on an error.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from rune.cli._common import CliError, load_engine
from rune.cli.main import ExitCode

__all__ = ["command"]


def _claims(principal: str | None, agent: str | None, server_id: str,
            claims: str | None, subject_claim: str) -> dict[str, Any]:
    extra: Any = {}
    if claims is not None:
        try:
            extra = json.loads(claims)
        except ValueError as error:
            raise CliError(f"`--claims` is not JSON: {error}") from None
        if not isinstance(extra, dict):
            raise CliError("`--claims` must be a JSON object")
    token: dict[str, Any] = {"aud": server_id, **extra}
    if principal is None and subject_claim not in token:
        principal = os.environ.get("RUNE_MCP_PRINCIPAL") or getpass.getuser()
    if principal is not None:
        token[subject_claim] = principal
    if agent is not None:
        token["client_id"] = agent
    return token


@click.command("mcp-gateway", context_settings={"ignore_unknown_options": False})
@click.option("--bundle", type=click.Path(path_type=Path),
              help="Decide in process with this bundle.")
@click.option("--url", help="Decide with the AuthZEN PDP at this URL (`rune serve`); its "
                            "bearer token comes from RUNE_API_TOKEN.")
@click.option("--upstream-url", help="The upstream MCP server's streamable HTTP endpoint "
                                     "(instead of a command after `--`).")
@click.option("--principal", help="The caller (the token's `sub`) [RUNE_MCP_PRINCIPAL, "
                                  "else the user running the gateway].")
@click.option("--agent", help="The agent (the token's `client_id`, `context.agent`).")
@click.option("--server-id", default="upstream", show_default=True,
              help="This server's identifier (the token's `aud`): the resource of "
                   "`initialize`, `tools/list` and other server-wide methods.")
@click.option("--claims", help="More token claims, a JSON object (e.g. roles).")
@click.option("--subject-claim", default="sub", show_default=True,
              help="The claim that identifies the subject (an on-behalf-of claim).")
@click.option("--tool-actions", is_flag=True,
              help="Authorize a tool call as the action named by the tool, its arguments "
                   "in `context.arguments` (see `rune schema from-mcp`), instead of the "
                   "binding's `tools/call` on `tool::\"<name>\"`.")
@click.option("--trust-declared-subjects", is_flag=True,
              help="Accept a tool's declared mapping whose subject is not the token's "
                   "(a warning each time) instead of refusing the call.")
@click.option("--state", type=click.Path(path_type=Path),
              help="With --bundle: a state file (approvals, history).")
@click.option("--timeout", type=float, default=5.0, show_default=True,
              help="With --url: seconds to wait for a decision.")
@click.argument("upstream", nargs=-1, type=click.UNPROCESSED)
def command(bundle: Path | None, url: str | None, upstream_url: str | None,
            principal: str | None, agent: str | None, server_id: str, claims: str | None,
            subject_claim: str, tool_actions: bool, trust_declared_subjects: bool,
            state: Path | None, timeout: float,
            upstream: tuple[str, ...]) -> int:
    """Serve MCP on stdio in front of UPSTREAM (a command after `--`, or --upstream-url),
    allowing only what the policies allow: denied calls get JSON-RPC error -32001, tools
    the caller may not call are hidden from `tools/list`.

    \b
      rune mcp-gateway --bundle examples/mcp-gateway --principal alice \\
          -- python examples/mcp-gateway/server.py
    """
    if (bundle is None) == (url is None):
        raise CliError("give exactly one of `--bundle` or `--url`")
    if bool(upstream) == (upstream_url is not None):
        raise CliError("give the upstream server as a command after `--` or as "
                       "`--upstream-url`, not both")
    try:
        import anyio

        from rune.integrations.mcp import (
            Caller,
            EngineDecisionPoint,
            Gateway,
            HttpDecisionPoint,
        )
        from rune.integrations.mcp.transports import serve
    except ImportError as error:
        raise CliError("`rune mcp-gateway` needs the mcp extra (pip install 'rune[mcp]'): "
                       f"{error}") from None
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="rune mcp-gateway: %(levelname)s: %(message)s")
    token = _claims(principal, agent, server_id, claims, subject_claim)
    decision_point: Any
    if bundle is not None:
        decision_point = EngineDecisionPoint(load_engine(bundle, state=state))
    else:
        decision_point = HttpDecisionPoint(url or "", timeout=timeout)
    gateway = Gateway(decision_point, Caller(token, subject_claim), tool_actions=tool_actions,
                      trust_declared_subjects=trust_declared_subjects)

    async def run() -> None:
        try:
            await serve(gateway, command=list(upstream) or None, url=upstream_url)
        finally:
            await decision_point.close()

    anyio.run(run)
    return int(ExitCode.OK)
