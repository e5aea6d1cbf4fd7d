"""RUNE in front of LangChain 1.x agents: a middleware that authorizes every tool call.

```python
from langchain.agents import create_agent
from langgraph.checkpoint.memory import InMemorySaver
from rune.integrations.langchain import RuneMiddleware

agent = create_agent(model, tools=[search_docs, send_email],
                     middleware=[RuneMiddleware(engine, principal='Agent::"assistant"')],
                     checkpointer=InMemorySaver())
```

`engine` is a `rune.Engine` (decided in-process) or the URL of a running `rune serve`
(a `rune.RemoteEngine` is made for it; pass ``token`` and, for approvals and records,
``admin_token``). Install with `pip install 'rune[langchain]'`.

**The request a tool call becomes** (policies are written against it):

* principal: ``principal=`` — a uid (`'Agent::"assistant"'`, an `EntityUID` or
  `{"type", "id"}`), or a callable given the `ToolCallRequest` (its ``runtime.context``
  is the agent's context, its ``state`` the agent state) that returns one;
* action: `Action::"<tool name>"`;
* resource: ``resource=`` — a callable given the `ToolCallRequest`; by default
  `Tool::"<tool name>"`;
* context: the tool call's arguments as a Cedar record (`tool_context`): `null` members
  and elements are dropped; booleans, strings and integers that fit a Cedar Long stay
  what they are (a larger integer becomes its decimal text); a float becomes a Cedar
  `decimal` when it has at most four decimal places and fits decimal's range, else its
  text (`"0.12345"`, `"1e+300"`, `"nan"`); lists, tuples and sets become sets; mappings
  with text keys become records, at most 32 levels deep. A key that is a Cedar JSON
  escape (`__entity`, `__extn`, `__expr`) is refused, so a model cannot forge an entity
  or an extension value, and so is any other kind of value: a call that cannot be
  mapped is denied, never run. ``context=`` (a callable given the `ToolCallRequest`
  returning a mapping) replaces the arguments as the source of the record.

**What each decision does.**

* deny: the tool does not run; the model gets a `ToolMessage` with `status="error"`
  naming the reasons (the determining policies, or the limit that was hit, e.g.
  `rate-limit:fetch:Agent::"assistant"`) and the decision in its ``artifact``.
* ask: the graph is interrupted exactly as `HumanInTheLoopMiddleware` interrupts it (so
  existing approval UIs work): with ``interrupt_mode="batched"`` (the default) the value
  is a `HITLRequest` with one action request, answered with `{"decisions": [decision]}`;
  with ``"per_call"`` it is a `ToolApprovalRequest` with a ``response_schema``, answered
  with one decision. `approve` records the approval (`engine.approve`, for
  ``approval_ttl_seconds``), decides again and runs the tool when that allows it; `edit`
  (when allowed) approves and decides the edited call instead; `reject` and `respond`
  answer with a `ToolMessage` without running the tool. Anything else is a reject.
* allow: the tool runs with the decision available to it — `rune_decision(runtime)` in a
  tool that takes a `runtime: ToolRuntime` argument (it is at
  ``runtime.config["configurable"]["rune"]``), or `rune_decision()` anywhere in the tool's
  call: `{"decision", "reasons", "config", "obligations", "version"}`, where ``config``
  is the configuration the rules derived. Once the tool returned without raising (and
  its result is not an error `ToolMessage`), the action is recorded (`engine.record`), so
  rate limits and other history-aware rules count it.

Everything fails closed: a principal or resource callable that raises, arguments that
cannot be mapped, an engine error or a server that cannot be reached each give a denial
`ToolMessage`, and the tool does not run.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import logging
import threading
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Annotated, Any, Literal, Protocol, Union, cast

from langchain.agents.middleware.human_in_the_loop import (
    ActionRequest,
    ApproveDecision,
    EditDecision,
    HITLRequest,
    RejectDecision,
    RespondDecision,
    ReviewConfig,
    ToolApprovalRequest,
)
from langchain.agents.middleware.types import AgentMiddleware, ToolCallRequest
from langchain_core.messages import ToolCall, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphBubbleUp, is_invalid_resume
from langgraph.prebuilt.tool_node import ToolRuntime
from langgraph.types import Command, interrupt
from pydantic import Discriminator

from rune.cedar import EntityUID
from rune.engine import Engine
from rune.errors import RuneError
from rune.remote import RemoteEngine

__all__ = ["DecisionPoint", "RuneMiddleware", "ToolMappingError", "rune_decision",
           "tool_context"]

_LOG = logging.getLogger("rune.integrations.langchain")

_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_DECIMAL_LIMIT = Decimal("922337203685477.5807")  # Cedar decimal: a Long of ten-thousandths
_MAX_DEPTH = 32
# Cedar's JSON escapes: a record with one of these keys would be read as an entity or an
# extension value, which a model's arguments must never be able to produce.
_ESCAPES = frozenset({"__entity", "__extn", "__expr"})
CONFIG_KEY = "rune"

DecisionKind = Literal["approve", "edit", "reject", "respond"]
InterruptMode = Literal["batched", "per_call"]
Uid = str | EntityUID | Mapping[str, str]

# The decision of the tool call running now (see `rune_decision`).
_CURRENT: ContextVar[Mapping[str, Any] | None] = ContextVar("rune_decision", default=None)


class ToolMappingError(RuneError, ValueError):
    """A tool call that cannot become a Cedar request (its call is denied)."""

    code = "invalid-tool-call"


class DecisionPoint(Protocol):
    """What the middleware needs of a policy decision point: `rune.Engine` and
    `rune.RemoteEngine` both are one."""

    def authorize(self, principal: Any, action: Any, resource: Any,
                  context: Mapping[str, Any] | None = None) -> Any:
        """A decision with ``decision``, ``reasons``, ``errors``, ``config``,
        ``obligations`` and ``version``."""

    def record(self, principal: Any, action: Any, resource: Any, *, at: float | None = None,
               amount: int | None = None) -> int:
        """Record a performed action."""

    def approve(self, principal: Any, action: Any, resource: Any, *,
                ttl_seconds: float | None = None) -> int:
        """Approve one request."""


# -- the mapping ----------------------------------------------------------------------------


def tool_context(args: Any) -> dict[str, Any]:
    """A tool call's arguments as a Cedar context record in Cedar's JSON form (see the
    module docstring for each kind of value).

    Raises:
        ToolMappingError: the arguments are not a mapping with text keys, hold a Cedar
            JSON escape or a value of another kind, or nest deeper than 32 levels.
    """
    if not isinstance(args, Mapping):
        raise ToolMappingError(f"the tool arguments must be an object, not "
                               f"`{type(args).__name__}`", path="$")
    return _record(args, "$", _MAX_DEPTH)


def _record(value: Mapping[Any, Any], path: str, depth: int) -> dict[str, Any]:
    if depth <= 0:
        raise ToolMappingError("the tool arguments are nested too deeply", path=path)
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ToolMappingError(f"`{_shown(repr(key))}` is not a text key", path=path)
        if key in _ESCAPES:
            raise ToolMappingError(f"`{key}` is a Cedar JSON escape, not an argument name",
                                   path=f"{path}.{key}")
        if item is not None:
            out[key] = _value(item, f"{path}.{key}", depth - 1)
    return out


def _value(value: Any, path: str, depth: int) -> Any:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _LONG_MIN <= value <= _LONG_MAX else str(value)
    if isinstance(value, float | Decimal):
        return _number(value)
    if isinstance(value, Mapping):
        return _record(value, path, depth)
    if isinstance(value, list | tuple | set | frozenset):
        if depth <= 0:
            raise ToolMappingError("the tool arguments are nested too deeply", path=path)
        return [_value(item, f"{path}[{i}]", depth - 1)
                for i, item in enumerate(value) if item is not None]
    raise ToolMappingError(f"a `{_shown(type(value).__name__)}` value cannot be a Cedar "
                           "value", path=path)


def _number(value: float | Decimal) -> Any:
    """A Cedar `decimal` where the number fits one, else its text."""
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else value
    except InvalidOperation:
        return repr(value)
    if number.is_finite() and abs(number) <= _DECIMAL_LIMIT:
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent >= -4:
            return {"__extn": {"fn": "decimal", "arg": f"{number:.{max(1, -exponent)}f}"}}
    return repr(value) if isinstance(value, float) else str(value)


def _shown(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


def _uid(kind: str, name: str) -> str | EntityUID:
    """`Kind::"name"` as uid text (which the engine caches) when no escape is needed."""
    if name.isascii() and name.isprintable() and not any(c in name for c in "\"\\'"):
        return f'{kind}::"{name}"'
    return EntityUID(kind, name)


def _default_resource(request: ToolCallRequest) -> Uid:
    return _uid("Tool", str(request.tool_call["name"]))


# -- the decision, as the tool sees it ---------------------------------------------------------


def rune_decision(runtime: ToolRuntime[Any, Any] | None = None) -> Mapping[str, Any] | None:
    """The decision that let the running tool call run: `{"decision", "reasons",
    "config", "obligations", "version"}` (JSON-ready), or None outside such a call.

    With ``runtime`` (a tool's `ToolRuntime` argument) it is read from the runtime's
    config; without, from the context of the call in progress.
    """
    if runtime is None:
        return _CURRENT.get()
    configurable = (runtime.config or {}).get("configurable") or {}
    found = configurable.get(CONFIG_KEY)
    return found if isinstance(found, Mapping) else None


def _summary(decision: Any) -> dict[str, Any]:
    return {"decision": str(decision.decision), "reasons": list(decision.reasons),
            "config": dict(decision.config),
            "obligations": [o.to_json() for o in decision.obligations],
            "version": decision.version}


# -- the middleware -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Target:
    """The Cedar request of one tool call."""

    principal: Any
    action: Any
    resource: Any
    context: dict[str, Any]

    def triple(self) -> tuple[Any, Any, Any]:
        return self.principal, self.action, self.resource


@dataclasses.dataclass(frozen=True, slots=True)
class _Grant:
    """An allowed tool call: what to run, what to record, what the tool may read."""

    request: ToolCallRequest
    target: _Target
    summary: Mapping[str, Any]


_Step = Callable[[], Any]
_Flow = Generator[_Step, Any, "ToolMessage | _Grant"]


class _Workers:
    """The threads that call a server: a few long-lived ones, so each keeps its
    connection alive across tool calls (LangGraph runs sync tools in short-lived threads,
    whose connections would be opened once and dropped unclosed), and `close` can close
    every connection they opened."""

    _SIZE = 4

    def __init__(self, engine: DecisionPoint) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._pools: list[ThreadPoolExecutor] = []
        self._turn = itertools.count()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if len(self._pools) < self._SIZE:
                self._pools.append(ThreadPoolExecutor(1, thread_name_prefix="rune-langchain"))
            return self._pools[next(self._turn) % len(self._pools)]

    def call(self, step: _Step) -> Any:
        return self._pool().submit(step).result()

    async def acall(self, step: _Step) -> Any:
        return await asyncio.wrap_future(self._pool().submit(step))

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, []
        close = getattr(self._engine, "close", None)
        for pool in pools:
            if callable(close):
                pool.submit(close).result()  # each thread closes its own connection
            pool.shutdown()


class RuneMiddleware(AgentMiddleware):  # type: ignore[type-arg]
    """Authorizes every tool call of a LangChain agent with RUNE (see the module
    docstring for the mapping and what each decision does).

    Args:
        engine_or_url: a `rune.Engine`, a `rune.RemoteEngine` (or any `DecisionPoint`),
            or the URL of a running `rune serve`.
        principal: the principal uid, or a callable given the `ToolCallRequest`.
        resource: a callable given the `ToolCallRequest` returning the resource uid
            (default `Tool::"<tool name>"`).
        context: a callable given the `ToolCallRequest` returning the mapping to use as
            the Cedar context instead of the tool arguments.
        token: the server's API token (URL only).
        admin_token: the server's admin token, needed to record and approve (URL only).
        timeout: seconds allowed for each call to the server (URL only).
        allowed_decisions: what a reviewer may answer to an "ask" (of approve, edit,
            reject, respond).
        interrupt_mode: "batched" (a `HITLRequest`, answered `{"decisions": [...]}`) or
            "per_call" (a `ToolApprovalRequest`, answered with one decision).
        description_prefix: the start of the text shown to the reviewer.
        approval_ttl_seconds: how long an approval lasts (None: the bundle's default).
    """

    def __init__(
        self,
        engine_or_url: DecisionPoint | str,
        *,
        principal: Uid | Callable[[ToolCallRequest], Uid],
        resource: Callable[[ToolCallRequest], Uid] | None = None,
        context: Callable[[ToolCallRequest], Mapping[str, Any]] | None = None,
        token: str | None = None,
        admin_token: str | None = None,
        timeout: float = 5.0,
        allowed_decisions: Sequence[DecisionKind] = ("approve", "reject"),
        interrupt_mode: InterruptMode = "batched",
        description_prefix: str = "Tool execution requires approval",
        approval_ttl_seconds: float | None = None,
    ) -> None:
        super().__init__()
        if isinstance(engine_or_url, str):
            engine_or_url = RemoteEngine(engine_or_url, token=token, admin_token=admin_token,
                                         timeout=timeout)
        if interrupt_mode not in ("batched", "per_call"):
            raise ValueError(f"`interrupt_mode` must be \"batched\" or \"per_call\", not "
                             f"`{_shown(repr(interrupt_mode))}`")
        allowed = list(dict.fromkeys(allowed_decisions))
        unknown = [d for d in allowed if d not in ("approve", "edit", "reject", "respond")]
        if not allowed or unknown:
            raise ValueError("`allowed_decisions` must name some of approve, edit, reject "
                             "and respond")
        self.engine: DecisionPoint = engine_or_url
        # An in-process engine decides in microseconds: both paths call it directly.
        # Anything else (a server) is I/O: it runs in the workers, off the event loop.
        self._workers = None if isinstance(engine_or_url, Engine) else _Workers(engine_or_url)
        self._principal = principal
        self._resource = resource or _default_resource
        self._context = context
        self.allowed_decisions: list[DecisionKind] = allowed
        self.interrupt_mode: InterruptMode = interrupt_mode
        self.description_prefix = description_prefix
        self.approval_ttl_seconds = approval_ttl_seconds

    # -- LangChain's hooks ---------------------------------------------------------------

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        """Decide the call; run it (then record it) only when RUNE allows it."""
        workers = self._workers
        outcome = _drive(self._flow(request), workers)
        if isinstance(outcome, ToolMessage):
            return outcome
        token = _CURRENT.set(outcome.summary)
        try:
            result = handler(outcome.request)
        finally:
            _CURRENT.reset(token)
        if _succeeded(result):
            if workers is None:
                self._record(outcome)
            else:
                workers.call(partial(self._record, outcome))
        return result

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        """`wrap_tool_call` for `ainvoke`/`astream`; calls to a server run in a thread."""
        workers = self._workers
        outcome = await _adrive(self._flow(request), workers)
        if isinstance(outcome, ToolMessage):
            return outcome
        token = _CURRENT.set(outcome.summary)
        try:
            result = await handler(outcome.request)
        finally:
            _CURRENT.reset(token)
        if _succeeded(result):
            if workers is None:
                self._record(outcome)
            else:
                await workers.acall(partial(self._record, outcome))
        return result

    def close(self) -> None:
        """Close the connections made to a server (nothing to do in-process); the
        middleware opens new ones if it is used again."""
        if self._workers is not None:
            self._workers.close()

    # -- the decision flow -----------------------------------------------------------------

    def _flow(self, request: ToolCallRequest) -> _Flow:
        """The decision for one call, written once for both drivers: it yields each call
        to the engine (I/O with a server) and gets its result back."""
        call = request.tool_call
        try:
            target = self._target(request)
            decision = yield partial(self.engine.authorize, *target.triple(), target.context)
            if str(decision.decision) == "ask":
                answer = self._ask(request, decision)
                kind = answer.get("type")
                if kind in ("reject", "respond"):
                    return _answer_message(call, answer)
                if kind == "edit":
                    request = self._edited(request, answer)
                    target = self._target(request)
                yield partial(self.engine.approve, *target.triple(),
                              ttl_seconds=self.approval_ttl_seconds)
                decision = yield partial(self.engine.authorize, *target.triple(),
                                         target.context)
            if str(decision.decision) != "allow":
                return _denial(request.tool_call, decision)
            summary = _summary(decision)
            return _Grant(_with_decision(request, summary), target, summary)
        except GraphBubbleUp:
            raise  # the interrupt itself: LangGraph pauses the graph here
        except Exception as error:
            if is_invalid_resume(error):
                raise  # a resume value the schema refused: answered again, not denied
            return _failure(call, error)

    def _target(self, request: ToolCallRequest) -> _Target:
        call = request.tool_call
        name = call.get("name")
        if not isinstance(name, str) or not name:
            raise ToolMappingError("the tool call has no name", path="$.name")
        principal = self._principal(request) if callable(self._principal) \
            else self._principal
        resource = self._resource(request)
        source = self._context(request) if self._context is not None else call.get("args")
        return _Target(principal, _uid("Action", name), resource, tool_context(source))

    def _ask(self, request: ToolCallRequest, decision: Any) -> Mapping[str, Any]:
        """Interrupt as `HumanInTheLoopMiddleware` does; the reviewer's decision (a
        reject for any answer that is not one of the allowed decisions)."""
        call = request.tool_call
        why = ", ".join(decision.reasons)
        description = (f"{self.description_prefix} ({'RUNE: ' + why if why else 'RUNE'})"
                       f"\n\nTool: {call['name']}\nArgs: {call['args']}")
        answer: Any
        if self.interrupt_mode == "per_call":
            call_id = call.get("id")
            if call_id is None:
                raise ToolMappingError("the tool call has no id, so it cannot be reviewed",
                                       path="$.id")
            value = ToolApprovalRequest(type="tool_approval", tool_call_id=call_id,
                                        name=call["name"], args=call["args"],
                                        description=description)
            answer = interrupt(value, response_schema=_response_schema(
                self.allowed_decisions))
        else:
            hitl = HITLRequest(
                action_requests=[ActionRequest(name=call["name"], args=call["args"],
                                               description=description)],
                review_configs=[ReviewConfig(action_name=call["name"],
                                             allowed_decisions=list(self.allowed_decisions))])
            response = interrupt(hitl)
            decisions = response.get("decisions") if isinstance(response, Mapping) else None
            answer = decisions[0] if isinstance(decisions, list) and len(decisions) == 1 \
                else None
        if not isinstance(answer, Mapping) or answer.get("type") not in self.allowed_decisions:
            return {"type": "reject", "message": "the review's answer is not one of the "
                    f"allowed decisions ({', '.join(self.allowed_decisions)})"}
        if answer["type"] == "respond" and not isinstance(answer.get("message"), str):
            return {"type": "reject", "message": "a respond decision needs a message"}
        return answer

    def _edited(self, request: ToolCallRequest, answer: Mapping[str, Any]) -> ToolCallRequest:
        action = answer.get("edited_action")
        if not isinstance(action, Mapping) or action.get("name") != request.tool_call["name"] \
                or not isinstance(action.get("args"), Mapping):
            raise ToolMappingError("an edit must keep the tool and give its arguments",
                                   path="$.edited_action")
        edited: ToolCall = {**request.tool_call, "args": dict(action["args"])}
        return request.override(tool_call=edited)

    def _record(self, grant: _Grant) -> None:
        """Record a call that ran. The tool already ran, so a failure cannot undo it:
        it is logged (history-aware rules will undercount that call)."""
        try:
            self.engine.record(*grant.target.triple())
        except Exception:
            _LOG.exception("the tool call `%s` ran but RUNE could not record it",
                           grant.request.tool_call.get("name"))


def _drive(flow: _Flow, workers: _Workers | None) -> ToolMessage | _Grant:
    """Run a decision flow, calling the engine in this thread or the workers."""
    try:
        step = next(flow)
        while True:
            try:
                result = step() if workers is None else workers.call(step)
            except Exception as error:
                step = flow.throw(error)
            else:
                step = flow.send(result)
    except StopIteration as stop:
        return cast("ToolMessage | _Grant", stop.value)


async def _adrive(flow: _Flow, workers: _Workers | None) -> ToolMessage | _Grant:
    """Run a decision flow without blocking the event loop on a server."""
    try:
        step = next(flow)
        while True:
            try:
                result = step() if workers is None else await workers.acall(step)
            except Exception as error:
                step = flow.throw(error)
            else:
                step = flow.send(result)
    except StopIteration as stop:
        return cast("ToolMessage | _Grant", stop.value)


def _succeeded(result: ToolMessage | Command[Any]) -> bool:
    return not (isinstance(result, ToolMessage) and result.status == "error")


def _with_decision(request: ToolCallRequest, summary: Mapping[str, Any]) -> ToolCallRequest:
    """The request with the decision in its runtime's config, for the tool to read."""
    runtime = request.runtime
    if not isinstance(runtime, ToolRuntime):
        return request
    config: dict[str, Any] = dict(runtime.config or {})
    config["configurable"] = {**(config.get("configurable") or {}), CONFIG_KEY: summary}
    # `override` does not take a runtime, and `dataclasses.replace` costs more than the
    # decision: shallow copies, changed before anyone else sees them (the originals stay).
    runtime = copy.copy(runtime)
    runtime.config = cast("RunnableConfig", config)
    request = copy.copy(request)
    object.__setattr__(request, "runtime", runtime)  # (its __setattr__ warns on reuse)
    return request


def _response_schema(allowed: Sequence[DecisionKind]) -> Any:
    """The per-call `response_schema`: the decision types the reviewer may answer."""
    by_kind: dict[str, Any] = {"approve": ApproveDecision, "edit": EditDecision,
                               "reject": RejectDecision, "respond": RespondDecision}
    members = tuple(by_kind[d] for d in allowed)
    if len(members) == 1:
        return members[0]
    return Annotated[Union[members], Discriminator("type")]  # noqa: UP007


def _answer_message(call: ToolCall, answer: Mapping[str, Any]) -> ToolMessage:
    """A reject or respond answer, as `HumanInTheLoopMiddleware` words it."""
    name, call_id = call["name"], call.get("id")
    if answer["type"] == "respond":
        content = str(answer["message"])
    elif reason := answer.get("message"):
        content = f"User rejected the tool call for `{name}` with reason: {reason}"
    else:
        content = (f"User rejected the tool call for `{name}` with id {call_id}. The tool "
                   "was not executed. Do not retry this tool call unless the user "
                   "explicitly requests it.")
    return ToolMessage(content=content, name=name, tool_call_id=call_id or "",
                       status="success" if answer["type"] == "respond" else "error")


def _denial(call: ToolCall, decision: Any) -> ToolMessage:
    """The message a denied call gets: why, and that the tool did not run."""
    reasons, errors = list(decision.reasons), list(decision.errors)
    if reasons:
        why = ", ".join(reasons)
    elif errors:
        why = "the decision failed: " + "; ".join(errors)
    elif str(decision.decision) == "ask":
        why = "it needs an approval that was not given"
    else:
        why = "no policy permits it"
    return ToolMessage(
        content=f"RUNE denied the tool call `{call['name']}`: {why}. The tool was not "
                "executed.",
        name=call["name"], tool_call_id=call.get("id") or "", status="error",
        artifact={CONFIG_KEY: {"decision": "deny", "reasons": reasons, "errors": errors}})


def _failure(call: ToolCall, error: Exception) -> ToolMessage:
    """The message a call gets when no decision could be made: denied, saying why."""
    if isinstance(error, RuneError):
        why = f"{error.code}: {error.message}"
    else:
        _LOG.exception("RUNE could not decide the tool call `%s`", call.get("name"))
        why = f"internal error ({type(error).__name__})"
    name = str(call.get("name") or "")
    return ToolMessage(
        content=f"RUNE denied the tool call `{name}`: no decision could be made "
                f"({_shown(why, 300)}). The tool was not executed.",
        name=name, tool_call_id=call.get("id") or "", status="error",
        artifact={CONFIG_KEY: {"decision": "deny", "reasons": [], "errors": [why]}})
