"""`POST /v1/hooks/claude-code`: Claude Code's `http` hook type, answered like the command.

Claude Code posts the same payload a `command` hook reads on stdin and reads the same
JSON answer; any answer but a 2xx is a hook failure, which lets the tool call through
unless the hook says `"onFailure": "block"`. So this route answers 200 whenever it can:
bad input, a body over the size limit or an engine error is a deny that says why. Only
a refused token (401) and a server shutting down answer otherwise.

The mapping is `rune.hooks.claude_code`, shared with `rune hook claude-code`. A
`PostToolUse` payload records the action (history-aware rules then count it) with the
API token: recording through this route adds only history, never an approval, an amount
spent or an entity.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rune.errors import RuneError
from rune.hooks.claude_code import (
    HookInputError,
    decision_output,
    denial_output,
    event_of,
    parse_payload,
    record_failure_output,
    request_json,
    request_of,
)
from rune.server.errors import ServerError
from rune.server.http import Call, Reply, json_reply

if TYPE_CHECKING:
    from rune.server.app import App

__all__ = ["claude_code_route"]

_API = "claude-code"


def _why(error: Exception) -> str:
    if isinstance(error, RuneError):
        where = f" at `{error.path}`" if error.path else ""
        return f"{error.message}{where}"
    return f"internal error ({type(error).__name__})"


async def claude_code_route(app: App, call: Call) -> Reply:
    """`POST /v1/hooks/claude-code`: the body is read raw (see `App._handle`)."""
    body = call.body
    if isinstance(body, ServerError):  # the body was refused (too large): still a deny
        app.metrics.decided(_API, "deny")
        return json_reply(denial_output(None, body.message))
    event: str | None = None
    try:
        payload = parse_payload(body if isinstance(body, bytes) else b"")
        event = event_of(payload)
        request = request_of(payload)
    except HookInputError as error:
        app.metrics.decided(_API, "deny")
        return json_reply(denial_output(event, _why(error)))
    if request.event == "PostToolUse":
        try:
            await asyncio.to_thread(app.engine.record, request.principal, request.action,
                                    request.resource)
        except (RuneError, TypeError, ValueError, OSError) as error:
            return json_reply(record_failure_output(_why(error)))
        return json_reply({})
    try:
        decision = app.engine.authorize(request.principal, request.action, request.resource,
                                        request.context)
    except (RuneError, TypeError, ValueError) as error:
        app.metrics.decided(_API, "deny")
        return json_reply(denial_output(event, _why(error)))
    app.metrics.decided(_API, decision.decision)
    if app.log is not None:
        future = app.log.record(app.next_id(), _API, call.request_id, request_json(request),
                                decision)
        if future is not None:
            try:
                await future
            except OSError:
                return json_reply(denial_output(event, "the decision log cannot be "
                                                "written, so no decision is given"))
    out: Any = decision_output(decision, request)
    return json_reply(out)
