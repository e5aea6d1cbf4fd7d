"""Guarded Python tools: `@rune.guard(...)` and `with engine.guarded(...)`.

An agent's tool is a plain function (AutoGPT-style agents, or any code): guarding it
asks the engine first and records the action after.

```python
engine = rune.Engine.load("examples/claude-code", state="var/state.db")

@rune.guard(engine, principal='Agent::"a1"', action='Action::"Bash"',
            resource=lambda command: {"type": "Command", "id": command},
            context=lambda command: {"tool_input": {"command": command}})
def run(command: str) -> str: ...

try:
    run("ls")
except rune.ApprovalRequired as asked:   # "ask": a human must approve first
    ...
except rune.Denied as denied:            # "deny" (ApprovalRequired is a Denied too)
    denied.decision.reasons

with engine.guarded('Agent::"a1"', 'Action::"Read"', 'File::"/w/a.py"') as decision:
    decision.config                       # the configuration derived for this call
```

* `principal`, `action`, `resource` and `context` are values, or callables that receive
  the guarded function's own arguments (``*args, **kwargs``) and return one. `action`
  defaults to `Action::"<function name>"`.
* Before the call: `authorize`. "allow" runs the function; "deny" raises `Denied` and
  "ask" raises `ApprovalRequired`, both carrying the decision; the function does not run.
  Rate limits and budgets are enforced by the engine as it decides (an allow is within
  every limit). With a `RemoteEngine`, a server that cannot be reached is a deny.
* After the call returns (not when it raises): `record` the action, so history-aware
  rules count it; a failed record raises (the history would be wrong otherwise).
* Coroutine functions are guarded with the same arguments; a remote engine's calls and
  every record (which may write a state file) run in a worker thread (a remote engine
  then opens a connection per call, closed after it).

Works with an `Engine` or a `RemoteEngine`: anything with `authorize` and `record`. Only
the standard library is used.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

from rune.errors import RuneError

__all__ = ["ApprovalRequired", "Denied", "Guarded", "guard"]

F = TypeVar("F", bound=Callable[..., Any])


class GuardEngine(Protocol):
    """What guarding needs (`rune.Engine`, `rune.RemoteEngine`)."""

    def authorize(self, principal: Any, action: Any, resource: Any,
                  context: Mapping[str, Any] | None = None) -> Any: ...

    def record(self, principal: Any, action: Any, resource: Any, *,
               at: float | None = None, amount: int | None = None) -> int: ...


class Denied(RuneError):
    """The engine did not allow a guarded call; ``decision`` says why."""

    code = "denied"

    def __init__(self, decision: Any, what: str, *, message: str | None = None) -> None:
        if message is None:
            reasons = ", ".join(getattr(decision, "reasons", ()) or ()) or \
                "no policy permits it"
            message = f"{what} was denied: {reasons}"
            errors = getattr(decision, "errors", ())
            if errors:
                message += f" (errors: {'; '.join(errors)})"
        super().__init__(message)
        self.decision = decision


class ApprovalRequired(Denied):
    """The engine asks for a human's approval first (the decision is "ask")."""

    code = "approval-required"

    def __init__(self, decision: Any, what: str) -> None:
        reasons = ", ".join(getattr(decision, "reasons", ()) or ())
        super().__init__(decision, what, message=f"{what} needs a human's approval: {reasons}")


def _value(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return value(*args, **kwargs) if callable(value) else value


def _shown(uid: Any) -> str:
    if isinstance(uid, dict):
        return f"{uid.get('type')}::\"{uid.get('id')}\""
    return str(uid)


def _remote(engine: Any) -> bool:
    # A RemoteEngine blocks on the network: async callers run it in a thread.
    return hasattr(engine, "authorize_or_deny")


class Guarded:
    """One guarded action: authorize on entry, record on a clean exit.

    As a context manager (`with` or `async with`) it yields the decision (an allow);
    `engine.guarded(...)` makes one.
    """

    def __init__(self, engine: GuardEngine, principal: Any, action: Any, resource: Any,
                 context: Mapping[str, Any] | None = None, *, record: bool = True,
                 amount: int | None = None) -> None:
        self.engine = engine
        self.principal = principal
        self.action = action
        self.resource = resource
        self.context = context
        self.record = record
        self.amount = amount
        self.decision: Any = None

    def _what(self) -> str:
        return f"{_shown(self.action)} on {_shown(self.resource)}"

    def _decide(self) -> Any:
        engine: Any = self.engine
        ask = engine.authorize_or_deny if _remote(engine) else engine.authorize
        decision = ask(self.principal, self.action, self.resource, self.context)
        verdict = str(decision.decision)
        if verdict == "ask":
            raise ApprovalRequired(decision, self._what())
        if verdict != "allow":  # INVARIANT: only an explicit allow runs the action
            raise Denied(decision, self._what())
        self.decision = decision
        return decision

    def _record(self) -> None:
        if self.record:
            self.engine.record(self.principal, self.action, self.resource,
                               amount=self.amount)

    def __enter__(self) -> Any:
        return self._decide()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: Any) -> None:
        if kind is None:
            self._record()

    def _in_worker(self, work: Callable[[], Any]) -> Any:
        """``work`` in a worker thread; a remote engine's connection in that thread is
        closed after it (the pool's threads outlive this call, not the event loop)."""
        try:
            return work()
        finally:
            if _remote(self.engine):
                cast(Any, self.engine).close()

    async def __aenter__(self) -> Any:
        if _remote(self.engine):
            return await asyncio.to_thread(self._in_worker, self._decide)
        return self._decide()

    async def __aexit__(self, kind: type[BaseException] | None,
                        error: BaseException | None, trace: Any) -> None:
        if kind is None and self.record:
            await asyncio.to_thread(self._in_worker, self._record)


def guard(engine: GuardEngine, *, principal: Any, action: Any = None, resource: Any,
          context: Any = None, record: bool = True, amount: Any = None) -> Callable[[F], F]:
    """Guard a function or coroutine function with ``engine`` (see the module docstring).

    Args:
        engine: an `Engine` or a `RemoteEngine`.
        principal, action, resource: uids (`'Type::"id"'`, `{"type", "id"}`), or
            callables of the function's arguments returning one; ``action`` defaults to
            `Action::"<function name>"`.
        context: the Cedar context (a mapping), or a callable returning one.
        record: record the action when the function returns (default True).
        amount: the amount to record (budgets), or a callable returning it.

    Raises (from the guarded function):
        Denied: the decision is "deny" (the function did not run).
        ApprovalRequired: the decision is "ask" (the function did not run).
    """
    def decorate(function: F) -> F:
        name = getattr(function, "__name__", "call")
        chosen = action if action is not None else f'Action::"{name}"'

        def guarded(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Guarded:
            return Guarded(engine, _value(principal, args, kwargs),
                           _value(chosen, args, kwargs), _value(resource, args, kwargs),
                           _value(context, args, kwargs), record=record,
                           amount=_value(amount, args, kwargs))

        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with guarded(args, kwargs):
                    return await function(*args, **kwargs)
            return cast(F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with guarded(args, kwargs):
                return function(*args, **kwargs)
        return cast(F, run)

    return decorate
