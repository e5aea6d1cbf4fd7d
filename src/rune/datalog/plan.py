"""Join plans: the order in which a rule's body is evaluated and the indexes it uses.

A plan is a list of steps, outermost first: scans over a relation (all of it, its delta,
or an index keyed by already-bound columns), existence tests, filters, assignments,
aggregates (each with its own inner plan) and `range` generators. Plans are data, so the
code generator, an interpreter, or a provenance-recording variant can all consume them.

For a recursive rule there is one plan per body atom over a relation of the rule's own
stratum: that atom scans the delta (the tuples new in the last round) and comes first.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rune.datalog.analysis.model import AnalysedRule
from rune.datalog.analysis.scoping import AggregateScope, computable, expression_variables
from rune.datalog.ast import (
    Aggregate,
    Atom,
    BooleanLiteral,
    Comparison,
    Expr,
    FunctorCall,
    Literal,
    Negation,
    Variable,
    Wildcard,
    map_expression,
)
from rune.datalog.errors import DatalogError, ErrorCode

__all__ = [
    "AggregateStep",
    "AntiJoin",
    "Assign",
    "Exists",
    "Filter",
    "Generate",
    "Resource",
    "RulePlan",
    "Scan",
    "Source",
    "Step",
    "delta_atoms",
    "plan_rule",
]

# A rule with more body atoms over the relations a delta version may read (its own
# stratum's; for incremental maintenance and scoped evaluation, the relations that
# change) than this gets no version per atom: there would be hundreds of plans, each
# as long as the body. Such a rule is evaluated whole instead (naively, for recursion).
MAX_DELTA_VERSIONS = 32


class Source(StrEnum):
    """Which tuples of a relation a step reads."""

    FULL = "full"
    DELTA = "delta"


@dataclass(frozen=True, slots=True)
class Resource:
    """A data structure a plan reads: a relation's tuple set, or its index on ``columns``."""

    relation: str
    source: Source
    columns: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Scan:
    """Match a positive atom.

    ``keys`` gives, for the key columns of ``resource`` (an index, or the tuple set when
    every column is a key), the expressions computing their values; ``binds`` gives for
    each column the variable it binds, or ``None``. With ``exists`` the step only tests
    that some row matches (nothing to bind and duplicates do not matter).
    """

    atom: Atom
    resource: Resource
    keys: tuple[Expr, ...]
    binds: tuple[str | None, ...]
    exists: bool


@dataclass(frozen=True, slots=True)
class AntiJoin:
    """`!atom`: no row of ``resource`` may match ``keys`` (the non-wildcard columns)."""

    atom: Atom
    resource: Resource
    keys: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Filter:
    """A comparison or boolean constant over bound variables."""

    condition: Comparison | BooleanLiteral


@dataclass(frozen=True, slots=True)
class Assign:
    """Bind ``variable`` to the value of ``expr``."""

    variable: str
    expr: Expr


@dataclass(frozen=True, slots=True)
class Generate:
    """Bind ``variable`` to each value of a `range(...)` call."""

    variable: str
    call: FunctorCall


@dataclass(frozen=True, slots=True)
class AggregateStep:
    """Evaluate an aggregate over its ``inner`` plan and bind its result (and witnesses).

    ``witnesses`` are variables bound by the inner plan and exported (`min`/`max` only):
    their values at the optimum are bound after the step.
    """

    variable: str
    aggregate: Aggregate
    inner: tuple[Step, ...]
    witnesses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Exists:
    """A part of the body sharing no variable with the rest or the head: it is tested once
    (does ``inner`` have any solution?) instead of being joined with everything else."""

    inner: tuple[Step, ...]


Step = Scan | AntiJoin | Filter | Assign | Generate | AggregateStep | Exists


@dataclass(frozen=True, slots=True)
class RulePlan:
    """An executable plan for one rule (or one delta version of a recursive rule)."""

    rule: AnalysedRule
    head: Atom
    steps: tuple[Step, ...]
    delta_atom: int | None
    resources: tuple[Resource, ...]

    @property
    def name(self) -> str:
        """A stable identifier: `rule3` or `rule3_delta1`."""
        suffix = "" if self.delta_atom is None else f"_delta{self.delta_atom}"
        return f"rule{self.rule.index}{suffix}"


def plan_rule(rule: AnalysedRule, stratum: frozenset[str]) -> list[RulePlan]:
    """Plans for a rule: one full plan, or one per body atom over the rule's own stratum."""
    extraction = _Extraction(rule)
    body, head = extraction.run()
    recursive_atoms = [
        position
        for position, literal in enumerate(body)
        if isinstance(literal, Atom) and literal.relation in stratum
    ]
    if not recursive_atoms:
        return [_schedule(rule, body, head, None, extraction)]
    return [_schedule(rule, body, head, position, extraction) for position in recursive_atoms]


def delta_atoms(rule: AnalysedRule, relations: frozenset[str]) -> int:
    """How many positive body atoms of ``rule`` read ``relations`` (how many delta
    versions `plan_rule` would make of it)."""
    body = rule.scoped.body
    return sum(1 for item in body if isinstance(item, Atom) and item.relation in relations)


class _Extraction:
    """Pull aggregates and `range` calls out of expressions into their own steps.

    Each aggregate becomes a fresh variable `_aggN`; `v = range(...)` becomes a generator.
    """

    def __init__(self, rule: AnalysedRule) -> None:
        self.rule = rule
        self.aggregates: dict[str, Aggregate] = {}
        self.generators: list[tuple[str, FunctorCall]] = []
        self.fresh = itertools.count()

    def run(self) -> tuple[list[Literal | _Pending], Atom]:
        body: list[Literal | _Pending] = []
        for literal in self.rule.scoped.body:
            if (
                isinstance(literal, Comparison)
                and literal.op == "="
                and isinstance(literal.left, Variable)
                and isinstance(literal.right, FunctorCall)
                and literal.right.name == "range"
            ):
                call = FunctorCall(
                    "range",
                    tuple(self.expression(a) for a in literal.right.args),
                    literal.right.span,
                )
                body.append(_Pending("generate", literal.left.name, call))
                continue
            body.append(self.literal(literal))
        head_atom = self.rule.scoped.head
        head = Atom(
            head_atom.relation, tuple(self.expression(a) for a in head_atom.args), head_atom.span
        )
        for name, aggregate in self.aggregates.items():
            body.append(_Pending("aggregate", name, aggregate))
        return body, head

    def literal(self, literal: Literal) -> Literal:
        if isinstance(literal, Atom):
            return Atom(
                literal.relation, tuple(self.expression(a) for a in literal.args), literal.span
            )
        if isinstance(literal, Negation):
            atom = self.literal(literal.atom)
            assert isinstance(atom, Atom)
            return Negation(atom, literal.span)
        if isinstance(literal, Comparison):
            return Comparison(
                literal.op,
                self.expression(literal.left),
                self.expression(literal.right),
                literal.span,
            )
        return literal

    def expression(self, expr: Expr) -> Expr:
        return map_expression(expr, self.extract)

    def extract(self, expr: Expr) -> Expr | None:
        if isinstance(expr, Aggregate):
            name = f"_agg{next(self.fresh)}"
            self.aggregates[name] = expr
            return Variable(name, expr.span)
        if isinstance(expr, FunctorCall) and expr.name == "range":
            raise DatalogError(
                "`range` is only supported as `variable = range(...)`",
                code=ErrorCode.UNSUPPORTED,
                span=expr.span,
            )
        return None


@dataclass(frozen=True, slots=True)
class _Pending:
    """A body element that is not a literal: an extracted aggregate or a generator."""

    kind: str
    variable: str
    payload: Aggregate | FunctorCall


def _schedule(
    rule: AnalysedRule,
    body: Sequence[Literal | _Pending],
    head: Atom,
    delta_position: int | None,
    extraction: _Extraction,
) -> RulePlan:
    produced = frozenset(extraction.aggregates) | frozenset(
        item.variable for item in body if isinstance(item, _Pending) and item.kind == "generate"
    )
    scheduler = _Scheduler(rule.scopes, extraction.fresh, produced)
    head_variables = {v for arg in head.args for v in _variables(arg)}
    first = body[delta_position] if delta_position is not None else None
    groups = _independent_groups(body, head_variables, rule.scopes)
    steps: list[Step] = []
    connected: list[Literal | _Pending] = []
    main_first = first
    for group in groups:
        if group.independent:
            group_first = (
                first if first is not None and any(i is first for i in group.items) else None
            )
            if group_first is not None:
                main_first = None
            items = [i for i in group.items if i is not group_first]
            inner = scheduler.schedule(items, set(), counting=False, first=group_first)
            steps.append(Exists(tuple(_prune(inner, set(), scheduler))))
        else:
            connected.extend(i for i in group.items if i is not first)
    main = scheduler.schedule(connected, set(), counting=False, first=main_first)
    steps.extend(_prune(main, head_variables, scheduler))
    resources: list[Resource] = []
    for resource in _resources(steps):
        if resource not in resources:
            resources.append(resource)
    return RulePlan(rule, head, tuple(steps), delta_position, tuple(resources))


@dataclass(frozen=True, slots=True)
class _Group:
    items: tuple[Literal | _Pending, ...]
    independent: bool


def _item_variables(item: Literal | _Pending, scopes: dict[Aggregate, AggregateScope]) -> set[str]:
    if isinstance(item, _Pending):
        names = {item.variable}
        if isinstance(item.payload, Aggregate):
            # An aggregate connects its result with the variables it imports or exports;
            # its local variables connect nothing.
            scope = scopes[item.payload]
            names |= scope.injected | scope.witnesses
        else:
            names |= {v for arg in item.payload.args for v in _variables(arg)}
        return names
    if isinstance(item, Atom):
        return {v for arg in item.args for v in _variables(arg)}
    if isinstance(item, Negation):
        return {v for arg in item.atom.args for v in _variables(arg)}
    if isinstance(item, Comparison):
        return set(_variables(item.left)) | set(_variables(item.right))
    return set()


def _independent_groups(
    body: Sequence[Literal | _Pending],
    head_variables: set[str],
    scopes: dict[Aggregate, AggregateScope],
) -> list[_Group]:
    """Split the body into parts connected by shared variables.

    A part is independent when it shares no variable with the head, contains an atom and
    binds no aggregate or generator result (so it is a pure yes/no condition).
    """
    items = list(body)
    variables = [_item_variables(item, scopes) for item in items]
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for index, names in enumerate(variables):
        for name in names:
            if name in owner:
                parent[find(index)] = find(owner[name])
            else:
                owner[name] = index
    members: dict[int, list[int]] = {}
    for index in range(len(items)):
        members.setdefault(find(index), []).append(index)
    if len(members) == 1:
        return [_Group(tuple(items), False)]
    groups = []
    for indexes in members.values():
        names = set().union(*(variables[i] for i in indexes))
        group_items = tuple(items[i] for i in indexes)
        independent = (
            not names & head_variables
            and any(isinstance(i, Atom) for i in group_items)
            and not any(isinstance(i, _Pending) for i in group_items)
        )
        groups.append(_Group(group_items, independent))
    return groups


def _variables(expr: Expr) -> Iterator[str]:
    """The names of the variables of ``expr``, aggregate bodies included."""
    return (variable.name for variable in expression_variables(expr))


def _prune(steps: Sequence[Step], needed_after: set[str], scheduler: _Scheduler) -> list[Step]:
    """Drop bindings nothing later uses; a scan left binding nothing becomes a test.

    Only for plans with set semantics (rule bodies, `min`/`max` bodies): there, rows
    that differ only in unused columns give the same result, so one is enough.
    """
    needed = set(needed_after)
    pruned: list[Step] = []
    for step in reversed(steps):
        if isinstance(step, Scan):
            binds = tuple(b if b is not None and b in needed else None for b in step.binds)
            if binds != step.binds and not any(b is not None for b in binds):
                step = _existence_scan(step)
            elif binds != step.binds:
                step = Scan(step.atom, step.resource, step.keys, binds, step.exists)
            for key in step.keys:
                needed.update(_variables(key))
        elif isinstance(step, Filter):
            if isinstance(step.condition, Comparison):
                needed.update(_variables(step.condition.left))
                needed.update(_variables(step.condition.right))
        elif isinstance(step, AntiJoin):
            for key in step.keys:
                needed.update(_variables(key))
        elif isinstance(step, Assign):
            needed.update(_variables(step.expr))
        elif isinstance(step, Generate):
            for arg in step.call.args:
                needed.update(_variables(arg))
        elif isinstance(step, AggregateStep):
            scope = scheduler.scopes[step.aggregate]
            needed.update(scope.injected)
        pruned.append(step)
    pruned.reverse()
    return pruned


def _existence_scan(step: Scan) -> Scan:
    """The scan as a pure existence test on its key columns."""
    atom = step.atom
    if step.resource.source is Source.DELTA or not step.keys:
        resource = Resource(atom.relation, step.resource.source)
        return Scan(atom, resource, (), tuple(None for _ in atom.args), True)
    key_columns = step.resource.columns
    if key_columns is None:
        key_columns = tuple(range(len(atom.args)))
    if len(key_columns) == len(atom.args):
        resource = Resource(atom.relation, Source.FULL)
    else:
        resource = Resource(atom.relation, Source.FULL, key_columns)
    return Scan(atom, resource, step.keys, tuple(None for _ in atom.args), True)


def _resources(steps: Sequence[Step]) -> Iterator[Resource]:
    for step in steps:
        if isinstance(step, Scan | AntiJoin):
            yield step.resource
        elif isinstance(step, AggregateStep | Exists):
            yield from _resources(step.inner)


class _Scheduler:
    """Greedy ordering: cheap tests as soon as possible, then the most selective atom."""

    def __init__(
        self,
        scopes: dict[Aggregate, AggregateScope],
        fresh: Iterator[int],
        produced: frozenset[str],
    ) -> None:
        self.scopes = scopes
        self.fresh = fresh
        # Variables only their own step may bind (aggregate results, generator outputs).
        self.produced = produced

    def fresh_variable(self) -> str:
        return f"_col{next(self.fresh)}"

    def schedule(
        self,
        items: Sequence[Literal | _Pending],
        bound: set[str],
        *,
        counting: bool,
        first: Literal | _Pending | None = None,
    ) -> list[Step]:
        agenda = _Agenda(items, bound, self.scopes)
        steps: list[Step] = []
        if first is not None:
            assert isinstance(first, Atom)
            steps.append(self.scan(first, bound, agenda.pending, counting, Source.DELTA))
            agenda.refresh()
        while True:
            self.drain(agenda, bound, steps)
            # The most selective atom; the first written among equals.
            atom = agenda.best_atom()
            if atom is None:
                break
            agenda.remove(atom)
            steps.append(self.scan(atom, bound, agenda.pending, counting, Source.FULL))
            agenda.refresh()
        if agenda.pending:
            raise DatalogError(
                "cannot order the body of the rule: its aggregates need each other's results",
                code=ErrorCode.MUTUALLY_DEPENDENT_AGGREGATES,
                span=getattr(agenda.pending[0], "span", None),
            )
        return steps

    def drain(self, agenda: _Agenda, bound: set[str], steps: list[Step]) -> None:
        """Emit every non-atom element whose inputs are bound, tests before bindings.

        Elements whose test (or binding) failed are not tried again until a variable of
        theirs is bound: with long bodies, trying all of them after every atom would
        make planning cubic.
        """
        progress = True
        while progress:
            progress = False
            for item in agenda.to_test():
                step = self.test_step(item, bound)
                if step is not None:
                    agenda.remove(item)
                    steps.append(step)
                    progress = True
                else:
                    agenda.tested(item)
            for item in agenda.to_bind():
                new_steps = self.binding_step(item, bound)
                if new_steps is not None:
                    agenda.remove(item)
                    steps.extend(new_steps)
                    agenda.refresh()
                    progress = True
                    break
                agenda.tried_binding(item)

    def test_step(self, item: Literal | _Pending, bound: set[str]) -> Step | None:
        if isinstance(item, BooleanLiteral):
            return Filter(item)
        if isinstance(item, Comparison):
            if computable(item.left, bound, False) and computable(item.right, bound, False):
                return Filter(item)
            return None
        if isinstance(item, Negation):
            atom = item.atom
            if not all(isinstance(a, Wildcard) or computable(a, bound, False) for a in atom.args):
                return None
            columns = tuple(i for i, a in enumerate(atom.args) if not isinstance(a, Wildcard))
            keys = tuple(atom.args[i] for i in columns)
            resource = Resource(
                atom.relation, Source.FULL, None if len(columns) == len(atom.args) else columns
            )
            return AntiJoin(atom, resource, keys)
        return None

    def binding_step(self, item: Literal | _Pending, bound: set[str]) -> list[Step] | None:
        if isinstance(item, Comparison) and item.op == "=":
            for side, other in ((item.left, item.right), (item.right, item.left)):
                if (
                    isinstance(side, Variable)
                    and side.name not in bound
                    and side.name not in self.produced
                    and computable(other, bound, False)
                ):
                    bound.add(side.name)
                    return [Assign(side.name, other)]
            return None
        if isinstance(item, _Pending) and item.kind == "generate":
            call = item.payload
            assert isinstance(call, FunctorCall)
            if not all(computable(a, bound, False) for a in call.args):
                return None
            if item.variable in bound:
                # `x = range(...)` with x already bound: generate, then compare.
                fresh = self.fresh_variable()
                bound.add(fresh)
                comparison = Comparison("=", Variable(fresh), Variable(item.variable))
                return [Generate(fresh, call), Filter(comparison)]
            bound.add(item.variable)
            return [Generate(item.variable, call)]
        if isinstance(item, _Pending) and item.kind == "aggregate":
            aggregate = item.payload
            assert isinstance(aggregate, Aggregate)
            scope = self.scopes[aggregate]
            if not scope.injected <= bound:
                return None
            inner_bound = set(scope.injected)
            counting = aggregate.op in ("count", "sum", "mean")
            inner = self.schedule(list(aggregate.body), inner_bound, counting=counting)
            witnesses = tuple(sorted(scope.witnesses - bound))
            if not counting:
                needed = set(witnesses)
                if aggregate.target is not None:
                    needed.update(_variables(aggregate.target))
                inner = _prune(inner, needed, self)
            bound.add(item.variable)
            bound.update(witnesses)
            return [AggregateStep(item.variable, aggregate, tuple(inner), witnesses)]
        return None

    def scan(
        self,
        atom: Atom,
        bound: set[str],
        pending: list[Literal | _Pending],
        counting: bool,
        source: Source,
    ) -> Step:
        key_columns: list[int] = []
        keys: list[Expr] = []
        binds: list[str | None] = []
        newly: set[str] = set()
        for column, arg in enumerate(atom.args):
            if isinstance(arg, Wildcard):
                binds.append(None)
            elif isinstance(arg, Variable) and arg.name not in bound and arg.name not in newly:
                binds.append(arg.name)
                newly.add(arg.name)
            elif source is Source.FULL and computable(arg, bound, False):
                key_columns.append(column)
                keys.append(arg)
                binds.append(None)
            else:
                # A delta scan cannot use an index, and an expression over variables bound
                # later (or a variable repeated in this atom) is checked once known.
                fresh = self.fresh_variable()
                binds.append(fresh)
                newly.add(fresh)
                pending.insert(0, Comparison("=", Variable(fresh), arg, atom.span))
        bound.update(newly)
        has_bindings = any(b is not None for b in binds)
        wildcards = any(isinstance(a, Wildcard) for a in atom.args)
        exists = not has_bindings and not (counting and wildcards)
        if source is Source.DELTA:
            resource = Resource(atom.relation, Source.DELTA)
        elif exists and len(key_columns) == len(atom.args):
            resource = Resource(atom.relation, Source.FULL)
        elif key_columns:
            resource = Resource(atom.relation, Source.FULL, tuple(key_columns))
        else:
            resource = Resource(atom.relation, Source.FULL)
        return Scan(atom, resource, tuple(keys), tuple(binds), exists)


def _selectivity(atom: Atom, bound: set[str]) -> tuple[int, int]:
    """Rank atoms: fully bound (a membership test) first, then more bound columns (a more
    selective index lookup); callers keep the order the rule was written in otherwise."""
    keys = 0
    free = 0
    for arg in atom.args:
        if isinstance(arg, Wildcard):
            continue
        if isinstance(arg, Variable) and arg.name not in bound:
            free += 1
        elif computable(arg, bound, False):
            keys += 1
    return (int(free == 0), keys)


class _Agenda:
    """The body elements a scheduler has still to place, with what makes it linear-ish.

    ``pending`` keeps the elements in order (atoms, and tests and bindings, some added by
    `_Scheduler.scan`). Atoms wait in a heap by selectivity, which only grows as
    variables are bound: when one is, the atoms using it get a new entry and the old ones
    are skipped. Tests and bindings that failed wait until a variable of theirs is bound.
    The choices are those of trying everything at every step, in the same order.
    """

    def __init__(
        self,
        items: Sequence[Literal | _Pending],
        bound: set[str],
        scopes: dict[Aggregate, AggregateScope],
    ) -> None:
        self.pending: list[Literal | _Pending] = list(items)
        self.bound = bound
        self.scopes = scopes
        self.known: set[str] = set(bound)
        self.registered: set[int] = set()
        # Elements by variable; atoms' heap entries (-fully bound, -keys, order, id).
        self.users: dict[str, list[Literal | _Pending]] = {}
        self.heap: list[tuple[int, int, int, int]] = []
        self.score: dict[int, tuple[int, int]] = {}
        self.order: dict[int, int] = {}
        self.atoms: dict[int, Atom] = {}
        # Elements whose test, or binding, is worth trying again.
        self.untested: set[int] = set()
        self.unbound: set[int] = set()
        for item in self.pending:
            self.register(item)

    def register(self, item: Literal | _Pending) -> None:
        key = id(item)
        self.registered.add(key)
        names = (
            _item_variables(item, self.scopes)
            if isinstance(item, _Pending)
            else {name for expr in _expressions(item) for name in _variables(expr)}
        )
        for name in names:
            self.users.setdefault(name, []).append(item)
        if isinstance(item, Atom):
            self.order[key] = len(self.order)
            self.atoms[key] = item
            self.rank(item)
        else:
            self.untested.add(key)
            self.unbound.add(key)

    def rank(self, atom: Atom) -> None:
        key = id(atom)
        score = _selectivity(atom, self.bound)
        if self.score.get(key) != score:
            self.score[key] = score
            heapq.heappush(self.heap, (-score[0], -score[1], self.order[key], key))

    def refresh(self) -> None:
        """Take in elements added at the front of ``pending`` and variables newly bound."""
        for item in self.pending:
            if id(item) in self.registered:
                break
            self.register(item)
        fresh = self.bound - self.known
        if not fresh:
            return
        self.known |= fresh
        for name in fresh:
            for item in self.users.get(name, ()):
                key = id(item)
                if key in self.atoms:
                    self.rank(self.atoms[key])
                else:
                    self.untested.add(key)
                    self.unbound.add(key)

    def best_atom(self) -> Atom | None:
        heap = self.heap
        while heap:
            full, keys, _, key = heap[0]
            atom = self.atoms.get(key)
            if atom is not None and self.score[key] == (-full, -keys):
                return atom
            heapq.heappop(heap)  # placed already, or ranked higher since
        return None

    def to_test(self) -> list[Literal | _Pending]:
        untested = self.untested
        return [item for item in self.pending if id(item) in untested]

    def to_bind(self) -> list[Literal | _Pending]:
        unbound = self.unbound
        return [item for item in self.pending if id(item) in unbound]

    def tested(self, item: Literal | _Pending) -> None:
        self.untested.discard(id(item))

    def tried_binding(self, item: Literal | _Pending) -> None:
        self.unbound.discard(id(item))

    def remove(self, item: Literal | _Pending) -> None:
        key = id(item)
        for position, candidate in enumerate(self.pending):
            if candidate is item:
                del self.pending[position]
                break
        self.atoms.pop(key, None)
        self.untested.discard(key)
        self.unbound.discard(key)


def _expressions(item: Literal) -> tuple[Expr, ...]:
    if isinstance(item, Atom):
        return item.args
    if isinstance(item, Negation):
        return item.atom.args
    if isinstance(item, Comparison):
        return (item.left, item.right)
    return ()
