"""What the rules say about one request: configuration, obligations, denials, approvals.

Built once per snapshot, with it. When some output depends on the request, the request's
facts (`request`, `context*`, `now`) go through `rune.datalog.scoped`,
which evaluates only the rules that read them, joined against the snapshot's result and
its indexes; otherwise the outputs are the same for every request and are converted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from types import MappingProxyType
from typing import Any

from rune.engine.decision import Obligation
from rune.store.mapping import (
    CONTEXT_RELATIONS,
    context_facts,
    path_key,
    symbol,
    text_of,
    uid_text,
)
from rune.store.prelude import OUTPUT_RELATIONS, REQUEST_RELATIONS

__all__ = ["RequestRules", "config_of", "obligations_of", "request_facts"]

Row = tuple[Any, ...]
# (configuration, obligations, deny reasons, approval reasons), as a decision reports them.
RuleOutputs = tuple[Mapping[str, Any], tuple[Obligation, ...], tuple[str, ...], tuple[str, ...]]

_EMPTY_CONFIG: Mapping[str, Any] = MappingProxyType({})
_NOTHING: RuleOutputs = (_EMPTY_CONFIG, (), (), ())

_KEYS_MAX = 1 << 12


def _key(key: str) -> str:
    """A top-level context key as rules see it (a path, as a symbol), remembered."""
    found = _KEYS.get(key)
    if found is None:
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        found = _KEYS[key] = symbol(path_key("", key))
    return found


_KEYS: dict[str, str] = {}


def _context_facts(context: Mapping[str, Any]) -> dict[str, AbstractSet[Row]]:
    """`rune.store.mapping.context_facts`, with the common flat strings and numbers
    written out (they are most contexts)."""
    strings: set[Row] = set()
    numbers: set[Row] = set()
    rest: dict[str, Any] = {}
    for key, value in context.items():
        cls = value.__class__
        if cls is int:
            numbers.add((_key(key), value))
        elif cls is str:
            strings.add((_key(key), symbol(value)))
        else:
            rest[key] = value
    if not rest:
        facts: dict[str, AbstractSet[Row]] = dict.fromkeys(CONTEXT_RELATIONS, _NONE)
        facts["context"] = strings
        facts["context_num"] = numbers
        return facts
    found = context_facts(rest)
    found["context"] |= strings
    found["context_num"] |= numbers
    return dict(found)


_NONE: frozenset[Row] = frozenset()


def request_facts(request: Any, now: float) -> dict[str, AbstractSet[Row]]:
    """The prelude's request relations for ``request`` decided at time ``now``."""
    p, a, r, c = request
    return {
        "request": {(uid_text(p), uid_text(a), uid_text(r))},
        **_context_facts(c),
        "now": {(int(now),)},
    }


def config_of(rows: Mapping[str, Iterable[Row]]) -> Mapping[str, Any]:
    """The configuration in ``config``/``config_num`` rows: key -> value, or a sorted
    tuple of the values when rules derive several for one key (texts read back from their
    symbols, see `rune.store.mapping`)."""
    text, number = rows["config"], rows["config_num"]
    if not text and not number:
        return _EMPTY_CONFIG
    rows_key = (tuple(text), tuple(number))
    found = _CONFIGS.get(rows_key)
    if found is None:
        values: dict[str, list[Any]] = {}
        for name, value in text:
            values.setdefault(text_of(name), []).append(text_of(value))
        for name, value in number:
            values.setdefault(text_of(name), []).append(value)
        found = MappingProxyType({k: v[0] if len(v) == 1 else tuple(sorted(v, key=repr))
                                  for k, v in sorted(values.items())})
        _remember(_CONFIGS, rows_key, found)
    return found


def obligations_of(rows: Mapping[str, Iterable[Row]]) -> tuple[Obligation, ...]:
    """Rate limits, budgets, then other obligations, each kind sorted by its row."""
    rate_limits, budgets, others = rows["rate_limit"], rows["budget"], rows["obligation"]
    if not rate_limits and not budgets and not others:
        return ()
    rows_key = (tuple(rate_limits), tuple(budgets), tuple(others))
    found = _OBLIGATIONS.get(rows_key)
    if found is None:
        found = tuple(
            [Obligation("rate_limit", text_of(key), limit=limit, window_seconds=window)
             for key, limit, window in sorted(rate_limits)]
            + [Obligation("budget", text_of(key), limit=limit, window_seconds=window,
                          amount=amount)
               for key, limit, window, amount in sorted(budgets)]
            + [Obligation(text_of(kind), detail=text_of(detail))
               for kind, detail in sorted(others)])
        _remember(_OBLIGATIONS, rows_key, found)
    return found


# Outputs already converted, by their rows (in the sets' iteration order: equal sets that
# iterate differently only miss): the same few configurations and limits come back
# request after request.
_CONFIGS: dict[tuple[Any, ...], Mapping[str, Any]] = {}
_OBLIGATIONS: dict[tuple[Any, ...], tuple[Obligation, ...]] = {}
_CONVERTED_MAX = 1 << 12


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CONVERTED_MAX:
        cache.clear()
    cache[key] = value


def _outputs(rows: Mapping[str, Any]) -> RuleOutputs:
    denials = rows["deny"]
    approvals = rows["require_approval"]
    return (
        config_of(rows),
        obligations_of(rows),
        tuple(sorted(f"rule:{text_of(row[0])}" for row in denials)) if denials else (),
        tuple(sorted(f"approval:{text_of(row[0])}" for row in approvals)) if approvals
        else (),
    )


class RequestRules:
    """The rules' outputs for any request on one snapshot.

    Args:
        result: the rules' `rune.datalog.Result` over the snapshot's store.
        request_scoped: whether some rule reads the request.
    """

    __slots__ = ("_context", "_fixed", "_now", "_reads", "_request", "_scoped", "limits")

    def __init__(self, result: Any, request_scoped: bool, limits: Any = None) -> None:
        self.limits = limits
        self._scoped = None
        self._fixed: RuleOutputs = _NOTHING
        self._reads: frozenset[str] = frozenset()
        if request_scoped:
            self._scoped = result.scoped(REQUEST_RELATIONS, OUTPUT_RELATIONS, limits=limits)
            self._reads = self._scoped.inputs if self._scoped.fallback is None \
                else frozenset(REQUEST_RELATIONS)
        if not self._reads:
            # No output depends on the request: the same outputs for every request.
            self._scoped = None
            self._fixed = _outputs(result)
        # Which request relations to build (the others cannot change an output).
        self._request = "request" in self._reads
        self._context = not self._reads.isdisjoint(CONTEXT_RELATIONS)
        self._now = "now" in self._reads

    def outputs(self, request: Any, now: float) -> RuleOutputs:
        """(configuration, obligations, deny reasons, approval reasons) for ``request``.

        Raises:
            DatalogError: a rule failed for this request.
        """
        scoped = self._scoped
        if scoped is None:
            return self._fixed
        p, a, r, c = request._p, request._a, request._r, request._c
        facts: dict[str, AbstractSet[Row]] = {}
        if self._request:
            facts["request"] = {(uid_text(p), uid_text(a), uid_text(r))}
        if self._context:
            facts.update(_context_facts(c))
        if self._now:
            facts["now"] = {(int(now),)}
        return _outputs(scoped.evaluate(facts))
