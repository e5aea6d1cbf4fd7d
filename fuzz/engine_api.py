"""Fuzz target: `rune.Engine`'s public calls with arbitrary Python arguments.

Each input loads a fresh engine from one of the example bundles and makes a short
sequence of calls (`authorize`, `authorize_batch`, `write`, `record`, `approve`,
`transaction`, `query`, `Decision.explain`) whose arguments are built from the bytes:
uids with odd characters, huge integers, floats, NaN, bytes, None, deep and cyclic
structures. Only `RuneError` (or a `TypeError` naming the argument) may escape, every
call ends within the time limit, an allow always has a permit among its reasons that did
not fail, the same request decided twice on one version gets the same answer, and a
refused write publishes nothing.

Run: ``python -m fuzz.engine_api [libFuzzer options] [corpus dirs]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fuzz._harness import FuzzFailure, calls, main, odd_text, odd_uid, odd_value
from rune import Engine
from rune.cedar.ast import Effect

__all__ = ["BUNDLES", "check", "check_decision", "run_calls"]

_EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BUNDLES = ("coding-agent", "data-access-agent", "infra-agent")
"""The example bundles an input may start from."""

_ACTIONS = ('Action::"write_file"', 'Action::"read_file"', 'Action::"call_api"',
            'Action::"select"', 'Action::"deploy"')
_QUERIES = ("config(k, v)", "performed(p, a, r, at, seq)", 'derived_parent("Agent::\\"a1\\"", p)',
            "spent(p, n, at, seq)", "nope(x)", "config(", "config(1, 2, 3)")


def check_decision(engine: Engine, decision: Any) -> None:
    """An allow (or ask) needs a determining permit that did not fail."""
    if decision.decision not in ("allow", "deny", "ask"):
        raise FuzzFailure(f"unknown verdict {decision.decision!r}")
    if decision.decision == "deny":
        return
    policies = {p.id: p for p in decision.snapshot.policies}
    permits = [r for r in decision.reasons
               if r in policies and policies[r].ast.effect is Effect.PERMIT]
    if not permits and not any(r.startswith("approval:") for r in decision.reasons):
        raise FuzzFailure(f"{decision.decision} without a permit among the reasons "
                          f"{decision.reasons} (errors {decision.errors})")
    if set(permits) & set(decision.errors):
        raise FuzzFailure(f"a failing permit decided: {decision.reasons} / {decision.errors}")


def _context(fdp: Any) -> Any:
    if fdp.ConsumeIntInRange(0, 3) == 0:
        return odd_value(fdp)
    return {odd_text(fdp, 6) if fdp.ConsumeBool() else "env": odd_value(fdp, 2)
            for _ in range(fdp.ConsumeIntInRange(0, 3))}


def _request(fdp: Any) -> tuple[Any, Any, Any]:
    action = fdp.PickValueInList(list(_ACTIONS)) if fdp.ConsumeBool() else odd_uid(fdp)
    return odd_uid(fdp), action, odd_uid(fdp)


def _entity(fdp: Any) -> Any:
    if fdp.ConsumeIntInRange(0, 4) == 0:
        return odd_value(fdp)
    return {"uid": odd_uid(fdp),
            "attrs": {odd_text(fdp, 6): odd_value(fdp, 2)
                      for _ in range(fdp.ConsumeIntInRange(0, 3))},
            "parents": [odd_uid(fdp) for _ in range(fdp.ConsumeIntInRange(0, 2))]}


def _facts(fdp: Any) -> Any:
    if fdp.ConsumeIntInRange(0, 3) == 0:
        return odd_value(fdp)
    name = fdp.PickValueInList(["member", "tier", "budget_of", "nope", "config"])
    return {name: [tuple(odd_value(fdp, 1) for _ in range(fdp.ConsumeIntInRange(0, 3)))
                   for _ in range(fdp.ConsumeIntInRange(0, 2))]}


def _authorize(engine: Engine, fdp: Any) -> None:
    p, a, r = _request(fdp)
    context = _context(fdp)
    decision, error = calls(engine.authorize, p, a, r, context, argument_types=True)
    if error is not None:
        return
    check_decision(engine, decision)
    again, error = calls(engine.authorize, p, a, r, context, argument_types=True)
    if error is not None or (again.version == decision.version
                             and again.decision != decision.decision):
        raise FuzzFailure(f"the same request decided again: {decision.decision} then "
                          f"{getattr(again, 'decision', error)!r}")
    if fdp.ConsumeIntInRange(0, 3) == 0:
        explanation, error = calls(decision.explain)
        if error is None:
            calls(str, explanation)


def _write(engine: Engine, fdp: Any, target: Any) -> None:
    kwargs: dict[str, Any] = {}
    if fdp.ConsumeBool():
        kwargs["entities"] = [_entity(fdp) for _ in range(fdp.ConsumeIntInRange(0, 3))] \
            if fdp.ConsumeIntInRange(0, 4) else odd_value(fdp)
    if fdp.ConsumeBool():
        kwargs["remove_entities"] = [odd_uid(fdp) for _ in range(fdp.ConsumeIntInRange(0, 2))]
    if fdp.ConsumeBool():
        kwargs["facts"] = _facts(fdp)
    if fdp.ConsumeBool():
        kwargs["retract"] = _facts(fdp)
    calls(target.write, argument_types=True, **kwargs)


def _record(fdp: Any, target: Any) -> None:
    p, a, r = _request(fdp)
    kwargs = {}
    if fdp.ConsumeBool():
        kwargs["at"] = odd_value(fdp, 0) if fdp.ConsumeBool() else fdp.ConsumeFloat()
    if fdp.ConsumeBool():
        kwargs["amount"] = odd_value(fdp, 0)
    calls(target.record, p, a, r, argument_types=True, **kwargs)


def _approve(fdp: Any, target: Any) -> None:
    p, a, r = _request(fdp)
    kwargs = {}
    if fdp.ConsumeBool():
        kwargs["ttl_seconds"] = odd_value(fdp, 0) if fdp.ConsumeBool() else fdp.ConsumeFloat()
    calls(target.approve, p, a, r, argument_types=True, **kwargs)


class _Abort(Exception):
    """Raised inside a transaction block to check that it publishes nothing."""


def _transaction(engine: Engine, fdp: Any) -> None:
    before = engine.version
    abort = fdp.ConsumeBool()

    def block() -> None:
        with engine.transaction() as tx:
            for _ in range(fdp.ConsumeIntInRange(1, 3)):
                step = fdp.ConsumeIntInRange(0, 2)
                if step == 0:
                    _write(engine, fdp, tx)
                elif step == 1:
                    _record(fdp, tx)
                else:
                    _approve(fdp, tx)
            if abort:
                raise _Abort

    try:
        calls(block)
    except FuzzFailure as failure:
        if not isinstance(failure.__cause__, _Abort):
            raise
        if engine.version != before:
            raise FuzzFailure("an aborted transaction published a version") from None


def run_calls(engine: Engine, fdp: Any) -> None:
    """A short sequence of calls chosen by ``fdp``."""
    for _ in range(fdp.ConsumeIntInRange(1, 6)):
        step = fdp.ConsumeIntInRange(0, 7)
        if step <= 1:
            _authorize(engine, fdp)
        elif step == 2:
            batch = [(*_request(fdp), _context(fdp)) for _ in range(fdp.ConsumeIntInRange(0, 3))]
            if fdp.ConsumeIntInRange(0, 3) == 0:
                batch.append(odd_value(fdp, 1))
            decisions, _ = calls(engine.authorize_batch, batch, argument_types=True)
            for decision in decisions or ():
                check_decision(engine, decision)
        elif step == 3:
            before = engine.version
            _write(engine, fdp, engine)
            if engine.version not in (before, before + 1):
                raise FuzzFailure("one write published more than one version")
        elif step == 4:
            _record(fdp, engine)
        elif step == 5:
            _approve(fdp, engine)
        elif step == 6:
            _transaction(engine, fdp)
        else:
            text = fdp.PickValueInList(list(_QUERIES)) if fdp.ConsumeBool() else odd_value(fdp)
            calls(engine.query, text, argument_types=True)


_engines: dict[str, tuple[Engine, int]] = {}
_REUSE = 64
"""Inputs one engine serves before a fresh one is loaded: loading costs far more than
an input's calls, and a store that grows across inputs reaches states one input cannot."""


def engine_for(bundle: str) -> Engine:
    """The engine of ``bundle`` that the next input uses."""
    engine, served = _engines.get(bundle, (None, _REUSE))
    if engine is None or served >= _REUSE:
        if engine is not None:
            engine.close()
        engine, served = Engine.load(_EXAMPLES / bundle, clock=lambda: 1_700_000_000.0), 0
    _engines[bundle] = (engine, served + 1)
    return engine


def check(data: bytes) -> None:
    """One fuzz input: a bundle choice and a sequence of calls."""
    import atheris

    fdp = atheris.FuzzedDataProvider(data)
    run_calls(engine_for(BUNDLES[fdp.ConsumeIntInRange(0, len(BUNDLES) - 1)]), fdp)


if __name__ == "__main__":
    main(__name__, check)
