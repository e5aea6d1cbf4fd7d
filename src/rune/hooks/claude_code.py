"""Claude Code's hooks contract (2.1) as a RUNE request, and a decision as its answer.

Claude Code runs a hook for `PreToolUse`, `PostToolUse` and `PermissionRequest` with a
JSON payload (on stdin for a `command` hook, as the body of a `http` hook). This module
turns that payload into a request, and a decision into the JSON Claude Code reads. It is
pure (no I/O, no engine) and depends only on the standard library, so `rune hook
claude-code`, `rune serve`'s `POST /v1/hooks/claude-code` and `rune.integrations` share it.

The mapping (policies are written against it; docs/integrations.md has examples):

* principal: the configured one (`--principal`), else `Agent::"claude-code"`;
* action: `Action::"<tool_name>"` (`Bash`, `Read`, `mcp__server__tool`, ...);
* resource: `File::"<file_path>"` for the file tools (`Read`, `Write`, `Edit`,
  `MultiEdit`; `NotebookEdit` by its `notebook_path`), `Command::"<command>"` for `Bash`
  (and `PowerShell`), `Url::"<url>"` for `WebFetch`, `Tool::"<tool_name>"` otherwise;
* context: `tool_input` as a Cedar record, plus `cwd`, `session_id`, `permission_mode`,
  `agent_id` and `agent_type` when the payload has them. In `tool_input`, `null`s are
  dropped (members and set elements), a number with a fraction is a `decimal` when it
  has at most four decimal places and fits decimal's range (else its text), an integer
  beyond Cedar's 64-bit Long is its text, and a one-member object whose key is one of
  Cedar's JSON escapes (`__entity`, `__extn`, `__expr`) is its JSON text, so a tool's
  input can never forge an entity reference or an extension value.

Anything else is bad input (`HookInputError`), which callers answer with a deny.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from rune.errors import RuneError

__all__ = [
    "DEFAULT_PRINCIPAL",
    "EVENTS",
    "MAX_DEPTH",
    "MAX_PAYLOAD_BYTES",
    "HookDecision",
    "HookInputError",
    "HookRequest",
    "cedar_value",
    "decision_output",
    "denial_output",
    "event_of",
    "parse_payload",
    "record_failure_output",
    "request_json",
    "request_of",
]

DEFAULT_PRINCIPAL = 'Agent::"claude-code"'
EVENTS = ("PreToolUse", "PostToolUse", "PermissionRequest")
# The largest payload read: a `Write` carries the whole file, so this is generous.
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
# How deeply `tool_input` may nest (as the server's `[limits] max_context_depth`).
MAX_DEPTH = 32
# Claude Code caps what a hook injects into the conversation at 10,000 characters.
_MAX_REASON = 2_000
_MAX_CONTEXT = 8_000

_FILE_TOOLS = {"Read": "file_path", "Write": "file_path", "Edit": "file_path",
               "MultiEdit": "file_path", "NotebookEdit": "notebook_path"}
_COMMAND_TOOLS = {"Bash": "command", "PowerShell": "command"}
_URL_TOOLS = {"WebFetch": "url"}
_OPTIONAL_TEXT = ("permission_mode", "agent_id", "agent_type")
_ESCAPES = frozenset({"__entity", "__extn", "__expr"})
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_DECIMAL_LIMIT = "922337203685477.5807"  # Cedar decimal: a Long of ten-thousandths


class HookInputError(RuneError):
    """A hook payload that is not what Claude Code sends (answered with a deny)."""

    code = "invalid-hook-input"


@dataclass(frozen=True, slots=True, kw_only=True)
class HookRequest:
    """A hook payload as a RUNE request: uids as `{"type", "id"}` (or the configured
    principal's text) and the context as Cedar JSON."""

    event: str
    tool_name: str
    principal: str | dict[str, str]
    action: dict[str, str]
    resource: dict[str, str]
    context: dict[str, Any]


class HookDecision(Protocol):
    """What a decision must say to answer a hook (`rune.Decision`, `RemoteDecision`)."""

    @property
    def decision(self) -> str: ...
    @property
    def reasons(self) -> tuple[str, ...]: ...
    @property
    def errors(self) -> tuple[str, ...]: ...
    @property
    def config(self) -> Mapping[str, Any]: ...


# -- payload -> request ------------------------------------------------------------------

def _no_constant(name: str) -> Any:
    raise HookInputError(f"`{name}` is not a JSON number", path="$")


def parse_payload(raw: bytes | str) -> dict[str, Any]:
    """The payload as a JSON object.

    Raises:
        HookInputError: larger than `MAX_PAYLOAD_BYTES`, not UTF-8, not JSON (`NaN` and
            `Infinity` included), nested too deeply to read, or not an object.
    """
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise HookInputError(f"the payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except HookInputError:
        raise
    except UnicodeDecodeError:
        raise HookInputError("the payload is not UTF-8 text") from None
    except ValueError as error:
        reason = str(error)[:200]
        raise HookInputError(f"the payload is not JSON: {reason[:1].lower()}{reason[1:]}") \
            from None
    except RecursionError:
        raise HookInputError("the payload is nested too deeply") from None
    if not isinstance(data, dict):
        raise HookInputError("the payload must be a JSON object", path="$")
    return data


def event_of(payload: Any) -> str | None:
    """The payload's `hook_event_name` when it is one this module answers, else None."""
    if isinstance(payload, dict):
        event = payload.get("hook_event_name")
        if event in EVENTS:
            return event  # type: ignore[no-any-return]
    return None


def _text(payload: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        what = "missing" if value is None else f"a {type(value).__name__}"
        raise HookInputError(f"`{key}` must be a non-empty string, not {what}",
                             path=f"$.{key}")
    return value


def _uid(kind: str, ident: str) -> dict[str, str]:
    return {"type": kind, "id": ident}


def _resource(tool: str, tool_input: Mapping[str, Any]) -> dict[str, str]:
    for table, kind in ((_FILE_TOOLS, "File"), (_COMMAND_TOOLS, "Command"),
                        (_URL_TOOLS, "Url")):
        key = table.get(tool)
        if key is not None:
            value = tool_input.get(key)
            if not isinstance(value, str) or not value:
                raise HookInputError(f"`{tool}` needs `tool_input.{key}` as a non-empty "
                                     "string", path=f"$.tool_input.{key}")
            return _uid(kind, value)
    return _uid("Tool", tool)


def _decimal(value: float) -> Any:
    """A float as Cedar JSON: a `decimal` when exact in four places and in range, else
    its text."""
    # Imported here: few tool inputs hold a float, and every hook process would pay.
    from decimal import Decimal, InvalidOperation

    try:
        number = Decimal(repr(value))
    except InvalidOperation:
        return repr(value)
    if number.is_finite() and abs(number) <= Decimal(_DECIMAL_LIMIT):
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent >= -4:
            places = max(1, -exponent)
            return {"__extn": {"fn": "decimal", "arg": f"{number:.{places}f}"}}
    return repr(value)


def cedar_value(value: Any, path: str, depth: int = MAX_DEPTH) -> Any:
    """A JSON value of `tool_input` as Cedar JSON (see the module docstring); None for
    `null`, which the caller drops.

    Raises:
        HookInputError: nested deeper than ``depth``.
    """
    cls = value.__class__
    if cls is str or cls is bool or value is None:
        return value
    if cls is int:
        return value if _LONG_MIN <= value <= _LONG_MAX else str(value)
    if cls is float:
        return _decimal(value) if math.isfinite(value) else repr(value)
    if depth <= 0:
        raise HookInputError(f"`tool_input` is nested more than {MAX_DEPTH} levels deep",
                             path=path)
    if cls is dict:
        if len(value) == 1 and next(iter(value)) in _ESCAPES:
            return json.dumps(value, sort_keys=True, ensure_ascii=False)
        out = {}
        for key, item in value.items():
            converted = cedar_value(item, f"{path}.{key}", depth - 1)
            if converted is not None:
                out[key] = converted
        return out
    if cls is list:
        items = (cedar_value(item, f"{path}[{i}]", depth - 1) for i, item in enumerate(value))
        return [item for item in items if item is not None]
    raise HookInputError(f"unsupported value of type {cls.__name__}", path=path)


def request_of(payload: Mapping[str, Any], principal: str | None = None) -> HookRequest:
    """The RUNE request for one hook payload (see the module docstring).

    Raises:
        HookInputError: an event this module does not answer, or a field that is missing
            or of the wrong type (with its JSON path).
    """
    event = payload.get("hook_event_name")
    if event not in EVENTS:
        shown = json.dumps(event)[:80] if event is not None else "missing"
        raise HookInputError(f"`hook_event_name` must be one of {', '.join(EVENTS)}, not "
                             f"{shown}", path="$.hook_event_name")
    tool = _text(payload, "tool_name", required=True)
    assert tool is not None
    tool_input = payload.get("tool_input")
    if not isinstance(tool_input, dict):
        what = "missing" if tool_input is None else f"a {type(tool_input).__name__}"
        raise HookInputError(f"`tool_input` must be an object, not {what}",
                             path="$.tool_input")
    context: dict[str, Any] = {"tool_input": cedar_value(tool_input, "$.tool_input")}
    for key in ("cwd", "session_id"):
        context[key] = _text(payload, key, required=True)
    for key in _OPTIONAL_TEXT:
        value = _text(payload, key, required=False)
        if value is not None:
            context[key] = value
    return HookRequest(event=event, tool_name=tool,
                       principal=principal if principal is not None else DEFAULT_PRINCIPAL,
                       action=_uid("Action", tool), resource=_resource(tool, tool_input),
                       context=context)


# -- decision -> answer ------------------------------------------------------------------

def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def _uid_text(uid: Any) -> str:
    if isinstance(uid, dict):
        return f"{uid.get('type')}::{json.dumps(uid.get('id'), ensure_ascii=False)}"
    return str(uid)


def _reason(decision: HookDecision, request: HookRequest) -> str:
    verdict = str(decision.decision)
    what = f"{request.tool_name} on {_uid_text(request.resource)}"
    if decision.reasons:
        because = ", ".join(decision.reasons)
    elif verdict == "deny":
        because = "no policy permits it"
    else:
        because = "no reason given"
    text = f"RUNE: {verdict} {what}: {because}"
    if decision.errors:
        text += f" (errors: {'; '.join(decision.errors)})"
    return _cut(text, _MAX_REASON)


def _config_context(decision: HookDecision, request: HookRequest) -> str | None:
    if not decision.config:
        return None
    try:
        shown = json.dumps(dict(decision.config), sort_keys=True, ensure_ascii=False,
                           default=_jsonable)
    except (TypeError, ValueError):
        return None
    text = f"RUNE configuration for this {request.tool_name} call: {shown}"
    if len(text) > _MAX_CONTEXT:
        return f"RUNE configuration for this {request.tool_name} call is too large to show"
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, frozenset, set)):
        return sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
    return str(value)


def decision_output(decision: HookDecision, request: HookRequest) -> dict[str, Any]:
    """Claude Code's answer to a decision on ``request`` (`PreToolUse` or
    `PermissionRequest`).

    `PreToolUse`: `hookSpecificOutput` with `permissionDecision` allow/deny/ask, the
    reason, and the derived configuration as `additionalContext`. `PermissionRequest`:
    `decision.behavior` allow or deny; an "ask" makes no decision (`{}` with a
    `systemMessage`), so Claude Code shows its permission dialog to the human.
    """
    verdict = str(decision.decision)
    if verdict not in ("allow", "deny", "ask"):
        verdict = "deny"  # INVARIANT: nothing but a known verdict ever allows
    reason = _reason(decision, request)
    if request.event == "PermissionRequest":
        if verdict == "ask":
            return {"systemMessage": reason}
        body: dict[str, Any] = {"behavior": verdict}
        if verdict == "deny":
            body["message"] = reason
        return {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                       "decision": body}}
    out: dict[str, Any] = {"hookEventName": "PreToolUse", "permissionDecision": verdict,
                           "permissionDecisionReason": reason}
    if verdict != "deny":
        extra = _config_context(decision, request)
        if extra is not None:
            out["additionalContext"] = extra
    return {"hookSpecificOutput": out}


def denial_output(event: str | None, reason: str) -> dict[str, Any]:
    """A deny for ``event`` that says why (bad input, an unreachable server, a bug).

    For an unknown event it is the `PreToolUse` shape (the hook that gates tools); the
    command line then also exits 2, which blocks whatever the event was.
    """
    text = _cut(f"RUNE: deny: {reason}", _MAX_REASON)
    if event == "PermissionRequest":
        return {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                       "decision": {"behavior": "deny", "message": text}}}
    if event == "PostToolUse":
        return record_failure_output(reason)
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse",
                                   "permissionDecision": "deny",
                                   "permissionDecisionReason": text}}


def record_failure_output(reason: str) -> dict[str, Any]:
    """`PostToolUse`'s answer when the action could not be recorded: the tool already
    ran, so this blocks Claude's next step with the reason (`decision: block`)."""
    return {"decision": "block",
            "reason": _cut(f"RUNE: the action was not recorded: {reason}", _MAX_REASON)}


def request_json(request: HookRequest) -> dict[str, Any]:
    """The request as JSON (for a decision log)."""
    return {"principal": request.principal, "action": request.action,
            "resource": request.resource, "context": request.context}
