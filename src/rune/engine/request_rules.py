"""What the rules say about one request: configuration, obligations, denials, approvals.

Built once per snapshot, with it. When some output depends on the request, the request's
facts (`request`, `context*`, `now`) go through `rune.datalog.scoped`,
which evaluates only the rules that read them, joined against the snapshot's result and
its indexes; otherwise the outputs are the same for every request and are converted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class _Binding:
    """The rules bound to one result: the scoped rules (None when no output depends on
    the request, then ``fixed`` holds the outputs), and which request facts to build."""

    scoped: Any
    fixed: RuleOutputs
    reads: frozenset[str]
    request: bool
    context: bool
    now: bool


class RequestRules:
    """The rules' outputs for any request on one snapshot.

    Args:
        result: the rules' `rune.datalog.Result` over the snapshot's store.
        request_scoped: whether some rule reads the request.
        limits: the bounds of each request's evaluation.
        lazy: bind the rules to ``result`` on the first request instead of now (a write
            publishes a version per change, and binding costs more than the rest of a
            small write; the first decision on the version pays it instead, once).
    """

    __slots__ = ("_binding", "_request_scoped", "_result", "limits")

    def __init__(self, result: Any, request_scoped: bool, limits: Any = None, *,
                 lazy: bool = False) -> None:
        self.limits = limits
        self._result = result
        self._request_scoped = request_scoped
        self._binding: _Binding | None = None if lazy else self._bind()

    def _bind(self) -> _Binding:
        # Built whole, then published with one assignment: readers of a lazily bound
        # version may bind it at the same time, and each sees a complete binding.
        result = self._result
        scoped = None
        fixed: RuleOutputs = _NOTHING
        reads: frozenset[str] = frozenset()
        if self._request_scoped:
            scoped = result.scoped(REQUEST_RELATIONS, OUTPUT_RELATIONS, limits=self.limits)
            reads = scoped.inputs if scoped.fallback is None else frozenset(REQUEST_RELATIONS)
        if not reads:
            # No output depends on the request: the same outputs for every request.
            scoped = None
            fixed = _outputs(result)
        # Which request relations to build (the others cannot change an output).
        binding = _Binding(scoped, fixed, reads, "request" in reads,
                           not reads.isdisjoint(CONTEXT_RELATIONS), "now" in reads)
        self._binding = binding
        return binding

    @property
    def binding(self) -> _Binding:
        """The rules bound to the result (bound now if they were not yet)."""
        return self._binding or self._bind()

    def outputs(self, request: Any, now: float) -> RuleOutputs:
        """(configuration, obligations, deny reasons, approval reasons) for ``request``.

        Raises:
            DatalogError: a rule failed for this request.
        """
        binding = self._binding or self._bind()
        scoped = binding.scoped
        if scoped is None:
            return binding.fixed
        p, a, r, c = request._p, request._a, request._r, request._c
        facts: dict[str, AbstractSet[Row]] = {}
        if binding.request:
            facts["request"] = {(uid_text(p), uid_text(a), uid_text(r))}
        if binding.context:
            facts.update(_context_facts(c))
        if binding.now:
            facts["now"] = {(int(now),)}
        return _outputs(scoped.evaluate(facts))
