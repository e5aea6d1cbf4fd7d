"""Claude Code's hooks answered by RUNE: one payload in, one answer out, failing closed.

`answer(payload, engine)` decides a `PreToolUse` or `PermissionRequest` payload (or
records a `PostToolUse` one) with an `Engine` or a `RemoteEngine`, and returns the JSON
Claude Code reads with the exit code a `command` hook should end with. The mapping itself
is `rune.hooks.claude_code` (shared with the server's `POST /v1/hooks/claude-code`).

Failing closed: bad input, an engine that did not load, a server that cannot be reached
or any bug still answers a deny that says why. When the event is known the deny is the
event's own JSON with exit 0 (Claude Code reads JSON only on exit 0); when it is not
(the payload is not JSON, say) the answer is also printed but the exit code is 2, which
Claude Code treats as a blocking error whatever the event, with the reason on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rune.hooks.claude_code import (
    HookDecision,
    decision_output,
    denial_output,
    event_of,
    parse_payload,
    record_failure_output,
    request_of,
)

__all__ = ["BLOCKING_EXIT", "HookAnswer", "HookEngine", "answer", "refusal"]

# Claude Code: exit 0 means "read the JSON on stdout"; exit 2 is a blocking error.
BLOCKING_EXIT = 2


class HookEngine(Protocol):
    """What answering a hook needs: `rune.Engine` and `rune.RemoteEngine` both fit."""

    def authorize(self, principal: Any, action: Any, resource: Any,
                  context: Mapping[str, Any] | None = None) -> HookDecision: ...

    def record(self, principal: Any, action: Any, resource: Any, *,
               at: float | None = None, amount: int | None = None) -> int: ...


@dataclass(frozen=True, slots=True)
class HookAnswer:
    """The JSON to print, the exit code, and (for exit 2) the reason for stderr."""

    output: dict[str, Any]
    exit_code: int = 0
    message: str = ""
    decision: Any = field(default=None, compare=False)  # the engine's, when there was one

    def to_json_text(self) -> str:
        """The output as one line of JSON."""
        return json.dumps(self.output, ensure_ascii=False, separators=(",", ":"))


def refusal(event: str | None, reason: str) -> HookAnswer:
    """A deny for ``event`` saying why: exit 0 for a known event, else exit 2."""
    if event is None:
        return HookAnswer(denial_output(None, reason), BLOCKING_EXIT, f"RUNE: deny: {reason}")
    return HookAnswer(denial_output(event, reason))


def _why(error: BaseException) -> str:
    from rune.errors import RuneError

    if isinstance(error, RuneError):
        where = f" at `{error.path}`" if getattr(error, "path", None) else ""
        return f"{error.message}{where}"
    return f"internal error ({type(error).__name__}: {str(error)[:300]})"


def answer(payload: bytes | str | Mapping[str, Any], engine: HookEngine | None, *,
           principal: str | None = None, unavailable: str | None = None) -> HookAnswer:
    """Answer one hook payload with ``engine`` (see the module docstring).

    Args:
        payload: the payload as Claude Code sent it (bytes or text), or already parsed.
        engine: an `Engine` or a `RemoteEngine`; None when it could not be made, with
            ``unavailable`` saying why (every answer is then a deny).
        principal: the principal's uid text (default `Agent::"claude-code"`).
    """
    event: str | None = None
    try:
        data = payload if isinstance(payload, Mapping) else parse_payload(payload)
        event = event_of(data)
        request = request_of(data, principal)
        if engine is None:
            return refusal(event, unavailable or "no engine to decide with")
        if request.event == "PostToolUse":
            try:
                engine.record(request.principal, request.action, request.resource)
            except Exception as error:  # fail closed: say the history is incomplete
                return HookAnswer(record_failure_output(_why(error)))
            return HookAnswer({})
        decision = engine.authorize(request.principal, request.action, request.resource,
                                    request.context)
        return HookAnswer(decision_output(decision, request), decision=decision)
    except Exception as error:  # INVARIANT: whatever fails (bad input included), a deny
        return refusal(event, _why(error))
