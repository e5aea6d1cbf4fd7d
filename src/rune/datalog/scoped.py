"""Per-call evaluation of the rules that read a few per-call relations, over a shared base.

A service that asks the same rules about many calls (an authorization engine asking
what applies to one request) evaluates the program once over its stored facts, then
adds, for each call, a handful of rows to a few *input* relations (`request`,
`context`) and reads a few *output* relations. Only relations that depend on the inputs
can differ from the base result; everything else, indexes included, is the base's.

    scoped = base.scoped(["request"], ["allowed"])      # once per base result
    scoped.evaluate({"request": [("alice", "read", "doc")]})["allowed"]

`evaluate` gives, in every output relation, exactly the rows `base.extended(facts)` has
there (the program's model with the call's facts added), without copying, overlaying or
maintaining anything. It evaluates, in order, the *dependent* strata the outputs need
(those of relations that depend on an input), each from its *static part*:

* a rule of a dependent stratum is *static* when its body (negations and aggregates
  included) reads no dependent relation: what it derives is the same for every call.
  A relation's static part is its input facts plus what its static rules derive, built
  once per base result. Usually it is the base relation itself: that is the case when
  the other, *dynamic*, rules derive nothing over the base (they need a call's rows);
* the dynamic rules are compiled once per program with every positive atom over a
  dependent relation planned as a delta atom, scanned first (one plan per such atom),
  so a call's few rows drive the join into the base relations' indexes. A rule runs
  in the plan whose delta relation has the fewest rows this call, not at all when one
  of them is empty, and as a whole plan when it reads dependent relations only through
  negation or an aggregate. Lookups into an input scan its few rows rather than build
  an index per call. A generated driver runs the non-recursive strata as straight-line
  code (see `rune.datalog.scoped_plans`); recursive strata iterate semi-naively over
  the new rows, like `rune.datalog.engine`.

Since every dependent stratum is evaluated whole, negation and aggregates over dependent
relations need nothing special: a base row a call retracts is simply not derived.

Each call runs within `Limits` (given when the rules are bound, or to `evaluate` for one
call): the tuples it derives, its rounds and its time are checked after every rule and
round and inside long rules, so a runaway request-scoped rule fails within its budget
(see `rune.datalog.limits`) with a `derivation-limit` error.

`evaluate` calls `Result.extended` instead (decided once, when the rules are bound, never
per call) when the program uses `$` or `ord`, whose values depend on evaluation order;
when planning fails; and when a rule reaching the inputs only through negation or an
aggregate would scan a large base relation on every call, where the incremental
maintenance of `extended` costs less than evaluating that rule whole.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from rune.datalog.errors import DatalogError, ErrorCode
from rune.datalog.limits import CHECK_INTERVAL, Budget, Limits
from rune.datalog.overlay import SMALL_RELATION, OverlayRelation, OverlaySet
from rune.datalog.plan import Resource, RulePlan, Scan, Source
from rune.datalog.relation import Index, Relation, Row
from rune.datalog.runtime import RuntimeFailure
from rune.datalog.scoped_plans import ScopedPlans, ScopedStratum, ScopedVersion, plans_for

if TYPE_CHECKING:
    from rune.datalog.program import Result

__all__ = ["ScopedRules"]

Facts = Mapping[str, Iterable[Sequence[Any]]]
Rows = AbstractSet[Row]

# A rule that reaches the inputs only through negation or an aggregate is evaluated whole
# on every call; past this many base rows scanned without a key, that costs more than the
# incremental maintenance `Result.extended` does, so the rules fall back to it.
MAX_WHOLE_SCAN = 1000

_NO_ROWS: frozenset[Row] = frozenset()


# -- bound once per base result ------------------------------------------------------------------


class _Bound:
    """A compiled plan with the base relations it reads resolved.

    ``arguments`` holds the plan's resources in parameter order: base resources resolved,
    the delta slot and dependent resources as placeholders; ``slots`` lists, for the
    dependent resources, ``(position, relation, columns)`` to fill in per call.
    """

    __slots__ = ("arguments", "delta", "delta_slot", "function", "head", "slots", "version")

    def __init__(self, version: ScopedVersion, base: Result, dependent: frozenset[str]) -> None:
        self.version = version
        self.function = version.function
        self.head = version.head
        self.delta = version.delta
        self.delta_slot = -1
        arguments: list[Any] = []
        slots: list[tuple[int, str, tuple[int, ...] | None]] = []
        for position, resource in enumerate(version.plan.resources):
            if resource.source is Source.DELTA:
                self.delta_slot = position
                arguments.append(None)
            elif resource.relation in dependent:
                slots.append((position, resource.relation, resource.columns))
                arguments.append(None)
            else:
                arguments.append(_resolve(base.relation(resource.relation), resource))
        self.arguments = arguments
        self.slots = tuple(slots)


def _resolve(relation: Relation, resource: Resource) -> Any:
    return relation.tuples if resource.columns is None else relation.index(resource.columns)


class _Stratum:
    """A dependent stratum bound to a base result: its static parts and its plans."""

    __slots__ = ("members", "readers", "recursive", "rules")

    def __init__(self, plans: ScopedStratum, base: Result, dependent: frozenset[str]) -> None:
        self.members = plans.stratum.relations
        self.rules = tuple(
            tuple(_Bound(version, base, dependent) for version in rule) for rule in plans.rules
        )
        self.recursive = tuple(_Bound(version, base, dependent) for version in plans.recursive)
        # For each member, the recursive plans that read its new rows.
        self.readers: dict[str, tuple[int, ...]] = {
            name: tuple(i for i, v in enumerate(self.recursive) if v.delta == name)
            for name in self.members
        }


class ScopedRules:
    """The dependent rules of a program, bound to one base result (see the module doc).

    Immutable once built; `evaluate` may run from many threads at once. Built by
    `Result.scoped(inputs, outputs, limits=...)`; ``limits`` (default `Limits()`) bound
    every call, unless a call passes its own to `evaluate`.

    Attributes:
        result: the base result.
        inputs: the input relations whose rows can change an output (facts for other
            inputs may be left out of `evaluate`).
        outputs: the relations `evaluate` returns.
        fallback: why calls go through `Result.extended`, or ``None`` on the fast path.
    """

    __slots__ = ("_limits", "_max_rows", "_plans", "_resources", "_seed_index", "_seeds",
                 "_static", "fallback", "inputs", "outputs", "result")

    def __init__(self, result: Result, inputs: Iterable[str], outputs: Iterable[str] | None,
                 limits: Limits | None = None) -> None:
        program = result.program
        for argument, names in (("inputs", inputs), ("outputs", outputs)):
            if isinstance(names, str | bytes):
                raise DatalogError(
                    f"`{argument}` must be a collection of relation names, not a single "
                    f"{type(names).__name__}", code=ErrorCode.INVALID_INPUT)
        wanted = tuple(outputs) if outputs is not None else program.relation_names
        for name in wanted:
            if name not in program.analysed.relations or "@" in name:
                raise DatalogError(f"no relation named {name!r} among the outputs",
                                   code=ErrorCode.INVALID_INPUT)
        plans = plans_for(program, frozenset(inputs), wanted)
        self.result = result
        self.outputs = wanted
        self.inputs = plans.inputs
        self.fallback = plans.fallback
        self._plans = plans
        self._limits = limits or Limits()
        max_rows = self._limits.max_tuples
        self._max_rows = sys.maxsize if max_rows is None else max_rows
        # Per dependent relation: its static part, that part's rows (the relation's rows
        # at the start of every call), and the indexes of it plans read.
        self._seeds: dict[str, Relation] = {}
        self._static: dict[str, Rows] = {}
        self._seed_index: dict[tuple[str, tuple[int, ...] | None], Any] = {}
        self._resources: tuple[Any, ...] = ()
        if self.fallback is None:
            self.fallback = self._bind(plans)

    def _bind(self, plans: ScopedPlans) -> str | None:
        """Bind the plans to the base result: static parts, base resources; or say why not."""
        result = self.result
        strata: list[_Stratum] = []
        for stratum_plans in plans.strata:
            for rule_plans in stratum_plans.rules:
                whole = rule_plans[0]
                if whole.delta is None and _scans_large(whole.plan, result, plans.dependent):
                    return (f"a rule for `{whole.head}` reads the inputs only through "
                            "negation or an aggregate and scans a large relation")
            stratum = _Stratum(stratum_plans, result, plans.dependent)
            if any(_derives_over_base(bound, result) for rule in stratum.rules for bound in rule):
                self._seeds.update(_static_parts(stratum_plans, result))
            else:
                for name in stratum.members:
                    self._seeds[name] = result.relation(name)
            strata.append(stratum)
        for name in self.outputs:
            if name in plans.dependent and name not in self._seeds:
                # An output no needed stratum holds: an input nothing derives into.
                self._seeds[name] = result.relation(name)
        for stratum_plans in plans.strata:
            for rule in (*stratum_plans.rules, stratum_plans.recursive):
                for version in rule:
                    for resource in version.plan.resources:
                        if (resource.relation in plans.dependent
                                and resource.source is Source.FULL):
                            seed = self._seeds[resource.relation]
                            self._seed_index[resource.relation, resource.columns] = (
                                _resolve(seed, resource))
        self._static = {name: seed.tuples for name, seed in self._seeds.items()}
        resources: list[Any] = []
        for kind, value in plans.layout:
            if kind == "resource":
                resources.append(_resolve(result.relation(value.relation), value))
            elif kind == "output":
                resources.append(result.relation(value).tuples)
            else:
                resources.append(strata[value])
        self._resources = tuple(resources)
        return None

    # -- per call --------------------------------------------------------------------------------

    def evaluate(self, facts: Facts, *, limits: Limits | None = None) -> dict[str, Rows]:
        """The rows of every output relation with ``facts`` added to the inputs.

        Rows must already have their columns' kinds (the checks `Program.evaluate` makes
        on input facts are not repeated here, this is the per-request path;
        `Result.extended` makes them when it is the fallback). The returned sets may be
        shared with the base result or with ``facts``: read them, do not modify them.

        Args:
            facts: rows by input relation.
            limits: the bounds of this call (default: those the rules were bound with),
                e.g. ``Limits(max_tuples=10_000, max_seconds=0.05)`` per request.

        Raises:
            DatalogError: (`evaluation-error`) a rule failed, (`derivation-limit`) a
                bound of the limits was hit, or any error of `Result.extended`.
        """
        limits = limits or self._limits
        if self.fallback is not None:
            extended = self.result.extended(facts, limits=limits)
            return {name: extended.relation(name).tuples for name in self.outputs}
        static = self._static
        call = _Call(self, limits)
        current = call.current
        for name, given in facts.items():
            part = static.get(name)
            if part is None:
                continue  # an input no output depends on
            rows = given if given.__class__ is set else set(map(tuple, given))
            if not rows:
                continue
            if part:
                call.grow(name, rows)  # type: ignore[arg-type]
            else:
                current[name] = rows  # type: ignore[assignment]
        try:
            return self._plans.driver(current, call, self._resources)  # type: ignore[misc]
        except RuntimeFailure as failure:
            version = self._plans.steps[call.step] if call.step >= 0 else call.running
            assert version is not None
            if isinstance(failure, _OutOfBudget):
                budget = call.as_budget((version.head,))
                raise (budget.out_of_time() if failure.time else budget.too_many_tuples()) from None
            error = DatalogError(f"{failure} while evaluating a rule for `{version.head}`",
                                 code=ErrorCode.EVALUATION, span=version.plan.rule.clause.span)
            raise self.result.program._with_sources(error) from None
        except DatalogError as error:
            raise self.result.program._with_sources(error) from None


def _derives_over_base(bound: _Bound, result: Result) -> bool:
    """Whether a dynamic plan derives any row over the base relations (the base's
    dependent relations then hold more than their static parts)."""
    arguments = list(bound.arguments)
    for position, name, columns in bound.slots:
        arguments[position] = _resolve(result.relation(name), Resource(name, Source.FULL,
                                                                        columns))
    if bound.delta is not None:
        rows = result.relation(bound.delta).tuples
        if not rows:
            return False
        arguments[bound.delta_slot] = rows
    out: set[Row] = set()
    bound.function(None, out, _NO_ROWS, *arguments)
    return bool(out)


def _scans_large(plan: RulePlan, result: Result, dependent: frozenset[str]) -> bool:
    """Whether a plan scans, without a key, a base relation of more than `MAX_WHOLE_SCAN`."""
    for step in plan.steps:
        if (isinstance(step, Scan) and not step.keys and not step.exists
                and step.atom.relation not in dependent
                and len(result.relation(step.atom.relation)) > MAX_WHOLE_SCAN):
            return True
    return False


def _static_parts(plans: ScopedStratum, result: Result) -> dict[str, Relation]:
    """Each member's input facts plus what the stratum's static rules derive."""
    program = result.program
    compiled = program.compiled.strata[plans.stratum.index]
    parts: dict[str, Relation] = {}
    for name in plans.stratum.relations:
        relation = result.relation(name)
        rows = set(result.base_facts.get(name, _NO_ROWS))
        if not any(program.analysed.rules[i].head == name for i in plans.stratum.rules):
            rows = set(relation.tuples)  # no rule derives it: every row is an input
        parts[name] = Relation(name, relation.arity, rows)
    for rule in compiled.initial:
        if rule.plan.rule.index not in plans.static:
            continue
        arguments = [_resolve(result.relation(r.relation), r) for r in rule.plan.resources]
        out: set[Row] = set()
        rule.function(None, out, _NO_ROWS, *arguments)
        parts[rule.head].add(out)
    for name, part in parts.items():
        relation = result.relation(name)
        if len(part) == len(relation):
            parts[name] = relation  # the base's own rows (and indexes)
    return parts


class _OutOfBudget(RuntimeFailure):
    """A limit of the call was passed inside a rule (`ScopedRules.evaluate` reports it as a
    `derivation-limit` error naming the rule's relation)."""

    def __init__(self, time: bool) -> None:
        super().__init__("out of time" if time else "too many tuples")
        self.time = time


class _Call:
    """The state of one `ScopedRules.evaluate` call, and its budget: generated code gets
    the call as its ``env`` and calls `check` every `CHECK_INTERVAL` loop iterations.

    ``current`` holds every dependent relation's rows as they stand (its static part
    until the call adds to it); ``added`` the rows beyond a non-empty static part;
    ``working`` the relations built when a plan needs an index of a relation the call
    changed and its static part is not empty, and the working relations of recursive
    strata; ``indexes`` the indexes built on rows the call added to an empty static part.
    ``derived`` counts the rows the call derives (against ``max_rows``); ``deadline`` is
    when its time is up (``None``: no time limit).
    """

    __slots__ = ("added", "current", "deadline", "derived", "indexes", "limits", "max_rows",
                 "running", "scoped", "step", "working")

    def __init__(self, scoped: ScopedRules, limits: Limits) -> None:
        # (Per request: only what every call needs, the clock only with a time limit.)
        self.scoped = scoped
        self.limits = limits
        self.current: dict[str, Rows] = scoped._static.copy()
        self.added: dict[str, set[Row]] = {}
        self.working: dict[str, Relation] = {}
        self.indexes: dict[tuple[str, tuple[int, ...]], Index] = {}
        self.derived = 0
        maximum = limits.max_tuples
        self.max_rows = sys.maxsize if maximum is None else maximum
        seconds = limits.max_seconds
        self.deadline = None if seconds is None else time.perf_counter() + seconds
        # What was running when a rule failed: a step of the driver, or a version.
        self.step = -1
        self.running: ScopedVersion | None = None

    def check(self, out: Any) -> int:
        """From generated loops: stop the call past its deadline or tuple limit."""
        deadline = self.deadline
        if deadline is not None and time.perf_counter() > deadline:
            raise _OutOfBudget(time=True)
        if self.derived + len(out) > self.max_rows:
            raise _OutOfBudget(time=False)
        return CHECK_INTERVAL

    def as_budget(self, relations: Sequence[str]) -> Budget:
        """A `Budget` like this call's, to word a limit's error."""
        budget = Budget(self.limits)
        budget.deadline = self.deadline
        budget.derived = self.derived
        budget.relations = relations
        return budget

    def grow(self, name: str, rows: set[Row]) -> None:
        """Add ``rows`` to a relation that is not being evaluated (rows of its static
        part among them are ignored)."""
        static = self.scoped._static[name]
        if not static:
            rows_now = self.current[name]
            self.current[name] = rows if not rows_now else rows_now | rows  # type: ignore[operator]
            return
        fresh = {row for row in rows if row not in static}
        if not fresh:
            return
        earlier = self.added.get(name)
        added = self.added[name] = fresh if not earlier else earlier | fresh
        self.current[name] = OverlaySet(static, added, set())  # type: ignore[arg-type]

    def resource(self, name: str, columns: tuple[int, ...] | None) -> Any:
        """A dependent relation's tuple set or index, as it stands."""
        relation = self.working.get(name)
        if relation is not None:
            return relation.tuples if columns is None else relation.index(columns)
        rows = self.current[name]
        scoped = self.scoped
        if columns is None:
            return rows
        if rows is scoped._static[name]:
            return scoped._seed_index[name, columns]
        if not scoped._static[name]:
            # A call's few rows: a plain index, built for this call.
            key = (name, columns)
            index = self.indexes.get(key)
            if index is None:
                index = self.indexes[key] = _index(rows, columns)
            return index
        overlay = OverlayRelation.fork(scoped._seeds[name])  # (the seed may be an overlay)
        overlay.insert(self.added[name])
        self.working[name] = overlay
        return overlay.index(columns)

    def arguments(self, bound: _Bound, delta: Rows | None) -> list[Any]:
        arguments = bound.arguments.copy()
        for position, name, columns in bound.slots:
            arguments[position] = self.resource(name, columns)
        if delta is not None:
            arguments[bound.delta_slot] = delta
        return arguments

    def pick(self, rule: tuple[_Bound, ...]) -> tuple[_Bound, Rows] | None:
        """The plan to run a rule in: the one whose delta relation has fewest rows now
        (``None`` when one is empty: the rule derives nothing)."""
        best: tuple[_Bound, Rows] | None = None
        for bound in rule:
            rows = self.current[bound.delta]  # type: ignore[index]
            if not rows:
                return None
            if best is None or len(rows) < len(best[1]):
                best = (bound, rows)
        return best

    def run_recursive(self, stratum: _Stratum) -> None:
        """A recursive stratum: every rule once, then semi-naive rounds on new rows."""
        work: dict[str, Relation] = {}
        for name in stratum.members:
            seed = self.scoped._seeds[name]
            rows = self.current[name]
            if not seed.tuples or len(seed) <= SMALL_RELATION:
                relation = Relation(name, seed.arity, rows)
            else:
                relation = OverlayRelation.fork(seed)
                relation.insert(self.added.get(name) or set())
            work[name] = self.working[name] = relation
            self.current[name] = relation.tuples
        pending: list[list[Rows]] = [[] for _ in stratum.recursive]
        readers = stratum.readers

        def run(bound: _Bound, delta: Rows | None) -> None:
            self.running = bound.version
            out: set[Row] = set()
            relation = work[bound.head]
            bound.function(self, out, relation.tuples, *self.arguments(bound, delta))
            if out:
                self.derived += len(out)
                if self.derived > self.max_rows:
                    self.too_many(stratum.members)
                relation.insert(out)
                for reader in readers[bound.head]:
                    pending[reader].append(out)

        for rule in stratum.rules:
            if rule[0].delta is None:
                run(rule[0], None)
                continue
            picked = self.pick(rule)
            if picked is not None:
                # (A member's live set is safe to scan: rows are added after the call.)
                run(*picked)
        rounds = 0
        limit = self.limits.max_iterations
        while any(pending):
            rounds += 1
            if (limit is not None and rounds > limit) or (
                self.deadline is not None and time.perf_counter() > self.deadline
            ):
                self.as_budget(stratum.members).round(rounds)  # raises
            for number, bound in enumerate(stratum.recursive):
                chunks = pending[number]
                if chunks:
                    pending[number] = []
                    run(bound, chunks[0] if len(chunks) == 1 else set().union(*chunks))
        self.running = None

    def too_many(self, members: Sequence[str]) -> None:
        """Stop the call: more than `Limits.max_tuples` derived (in ``members``)."""
        raise self.as_budget(members).too_many_tuples()


def _index(rows: Iterable[Row], columns: tuple[int, ...]) -> Index:
    """An index of ``rows`` on ``columns`` (see `Relation`)."""
    index: Index = {}
    if len(columns) == 1:
        column = columns[0]
        for row in rows:
            index.setdefault(row[column], []).append(row)
        return index
    for row in rows:
        index.setdefault(tuple(row[c] for c in columns), []).append(row)
    return index
