"""Compiling a program's per-call rules: which strata depend on the inputs, their plans,
and the driver function that runs them (see `rune.datalog.scoped`).

Built once per program and set of inputs/outputs, in order:

1. *dependent relations*: the inputs, and every relation a rule derives from one
   (through positive atoms, negations or aggregates), to a fixpoint;
2. *needed strata*: the strata holding a dependent relation some output reads,
   transitively; in each, the rules that read no dependent relation are *static*;
3. *plans*: every other (*dynamic*) rule is planned with each positive atom over a
   dependent relation as a delta atom (one plan per such atom; a single whole plan when
   it has none); index lookups into input relations become scans (`scan_inputs`);
4. *code*: the plans' functions, and a *driver* `evaluate(current, call, R)` that runs
   the non-recursive strata as straight-line code (recursive ones through
   `call.run_recursive`), with the base relations' resources unpacked from ``R``, a tuple
   `ScopedRules` binds once per base result following `ScopedPlans.layout`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rune._internal.code_cache import compile_generated
from rune.datalog._cache import ProgramCache
from rune.datalog.analysis import AnalysedRule, Stratum
from rune.datalog.ast import Comparison, Variable
from rune.datalog.codegen import RuleFunction, compile_plans
from rune.datalog.errors import DatalogError
from rune.datalog.maintenance import order_dependent
from rune.datalog.plan import (
    MAX_DELTA_VERSIONS,
    AggregateStep,
    AntiJoin,
    Exists,
    Filter,
    Resource,
    RulePlan,
    Scan,
    Source,
    Step,
    delta_atoms,
    plan_rule,
)
from rune.datalog.runtime import RuntimeFailure

if TYPE_CHECKING:
    from rune.datalog.program import Program

__all__ = ["ScopedPlans", "ScopedStratum", "ScopedVersion", "plans_for", "scan_inputs"]


@dataclass(frozen=True, slots=True)
class ScopedVersion:
    """One compiled plan of a dynamic rule.

    Attributes:
        plan: the plan.
        function: its generated function, ``function(env, out, seen, *resources)``.
        delta: the relation whose rows the plan's delta atom scans; ``None`` for a whole
            plan (the rule reads dependent relations only through negation/aggregates).
    """

    plan: RulePlan
    function: RuleFunction
    delta: str | None

    @property
    def head(self) -> str:
        """The relation the plan derives into."""
        return self.plan.head.relation


@dataclass(frozen=True, slots=True)
class ScopedStratum:
    """The dynamic rules of one needed dependent stratum.

    Attributes:
        stratum: the stratum.
        static: indexes of its static rules (they read no dependent relation).
        rules: per dynamic rule, its plans (one per positive dependent atom, or one whole).
        recursive: the plans whose delta relation is a member of the stratum (they run
            again on the rows each round adds; empty unless the stratum is recursive).
    """

    stratum: Stratum
    static: frozenset[int]
    rules: tuple[tuple[ScopedVersion, ...], ...]
    recursive: tuple[ScopedVersion, ...]


# What the driver unpacks from ``R``, in order: ("resource", Resource) for a base
# relation's tuple set or index, ("output", name) for the rows of an output no input
# reaches, ("stratum", position in `ScopedPlans.strata`) for a bound recursive stratum.
LayoutEntry = tuple[str, Any]


@dataclass(frozen=True, slots=True)
class ScopedPlans:
    """What a program needs to evaluate its outputs per call, for one set of inputs.

    Attributes:
        inputs: the inputs some needed stratum reads (facts for others cannot matter).
        dependent: every relation that depends on an input, the inputs included.
        strata: the needed dependent strata, in evaluation order.
        driver: the generated driver, ``driver(current, call, R)``: returns the outputs.
        layout: what ``R`` holds (see `LayoutEntry`).
        steps: the version each value of the driver's ``call.step`` stands for (to
            report which rule failed).
        source: the driver's generated source.
        fallback: why calls go through `Result.extended` instead, or ``None``.
    """

    inputs: frozenset[str]
    dependent: frozenset[str]
    strata: tuple[ScopedStratum, ...]
    driver: Callable[..., dict[str, Any]] | None
    layout: tuple[LayoutEntry, ...]
    steps: tuple[ScopedVersion, ...]
    source: str
    fallback: str | None


def _new_plans(program: Program, key: Any) -> ScopedPlans:
    inputs, outputs = key
    return _compile(program, inputs, outputs)


_PLANS: ProgramCache[ScopedPlans] = ProgramCache(_new_plans, "scoped-plans")


def plans_for(program: Program, inputs: frozenset[str], outputs: tuple[str, ...]
              ) -> ScopedPlans:
    """The plans of ``program`` for these inputs and outputs, compiled once and cached."""
    return _PLANS.get(program, (inputs, outputs))


def _fallback(reason: str) -> ScopedPlans:
    return ScopedPlans(frozenset(), frozenset(), (), None, (), (), "", reason)


def _reads(rule: AnalysedRule) -> set[str]:
    """Every relation a rule's body reads (negated and aggregated atoms included)."""
    from rune.datalog.analysis.dependencies import clause_dependencies

    return {dependency.body for dependency in clause_dependencies(rule.clause)}


def _compile(program: Program, inputs: frozenset[str], outputs: tuple[str, ...]) -> ScopedPlans:
    analysed = program.analysed
    rules = analysed.rules
    unusable = sorted(
        name for name in inputs
        if name not in analysed.relations or "@" in name or name in program.compiled.demand_driven
    )
    if unusable:
        # `extended` reports the error, call by call, as it always has.
        return _fallback(f"`{unusable[0]}` cannot take input facts")
    if any(order_dependent(rules[i]) for s in analysed.strata for i in s.rules):
        return _fallback("the program uses `$` or `ord`")

    reads = {index: _reads(rules[index]) for s in analysed.strata for index in s.rules}
    dependent = set(inputs)
    changed = True
    while changed:
        changed = False
        for index, body in reads.items():
            head = rules[index].head
            if head not in dependent and body & dependent:
                dependent.add(head)
                changed = True

    # The dependent relations some output needs: the outputs, and what they read.
    by_head: dict[str, list[int]] = {}
    for index in reads:
        by_head.setdefault(rules[index].head, []).append(index)
    needed = {name for name in outputs if name in dependent}
    stack = list(needed)
    while stack:
        name = stack.pop()
        for index in by_head.get(name, ()):
            for read in reads[index] & dependent:
                if read not in needed:
                    needed.add(read)
                    stack.append(read)

    strata = [s for s in analysed.strata if any(name in needed for name in s.relations)]
    frozen = frozenset(dependent)
    plans: list[RulePlan] = []
    entries: list[tuple[Stratum, frozenset[int], list[list[RulePlan]]]] = []
    many = [i for s in strata for i in s.rules
            if delta_atoms(rules[i], frozen) > MAX_DELTA_VERSIONS]
    if many:
        return _fallback(f"a rule for `{rules[many[0]].head}` reads the inputs through more "
                         f"than {MAX_DELTA_VERSIONS} atoms")
    try:
        for stratum in strata:
            static = frozenset(i for i in stratum.rules if not reads[i] & frozen)
            dynamic = [[scan_inputs(plan, inputs) for plan in plan_rule(rules[i], frozen)]
                       for i in stratum.rules if i not in static]
            entries.append((stratum, static, dynamic))
            plans.extend(plan for versions in dynamic for plan in versions)
    except DatalogError as error:
        return _fallback(f"a rule cannot be planned: {error.message}")
    module = compile_plans(plans, analysed, program.number_bits)

    compiled: list[ScopedStratum] = []
    for stratum, static, dynamic in entries:
        members = set(stratum.relations)
        versions = tuple(
            tuple(
                ScopedVersion(plan, module.functions[plan.name],
                              None if plan.delta_atom is None else _delta_relation(plan))
                for plan in rule_plans
            )
            for rule_plans in dynamic
        )
        recursive = tuple(
            version for rule in versions for version in rule if version.delta in members
        )
        compiled.append(ScopedStratum(stratum, static, versions, recursive))
    driver = _DriverWriter(compiled, frozen, outputs)
    source = driver.write()
    namespace: dict[str, Any] = {**driver.functions, "_RuntimeFailure": RuntimeFailure}
    exec(compile_generated(source, "<rune.datalog scoped driver>"), namespace)
    return ScopedPlans(frozenset(needed & inputs), frozen, tuple(compiled), namespace["evaluate"],
                       tuple(driver.layout), tuple(driver.steps), source, None)


def scan_inputs(plan: RulePlan, inputs: frozenset[str]) -> RulePlan:
    """``plan`` with its index lookups into input relations turned into scans.

    An input holds a call's handful of rows: scanning them (and filtering on the key
    columns) costs less than building an index on them for every call.
    """
    fresh = itertools.count()

    def rewrite(steps: Sequence[Step]) -> tuple[Step, ...]:
        out: list[Step] = []
        for step in steps:
            if isinstance(step, Exists):
                out.append(Exists(rewrite(step.inner)))
                continue
            if (not isinstance(step, Scan) or step.atom.relation not in inputs
                    or step.resource.columns is None or step.resource.source is not Source.FULL):
                out.append(step)
                continue
            binds = list(step.binds)
            filters: list[Step] = []
            for column, key in zip(step.resource.columns, step.keys, strict=True):
                variable = f"@scan{next(fresh)}"
                binds[column] = variable
                filters.append(Filter(Comparison("=", Variable(variable), key)))
            scan = Scan(step.atom, Resource(step.atom.relation, Source.FULL), (), tuple(binds),
                        False)
            if step.exists:
                out.append(Exists((scan, *filters)))  # stops at the first matching row
            else:
                out.extend((scan, *filters))
        return tuple(out)

    steps = rewrite(plan.steps)
    if steps == plan.steps:
        return plan
    resources: dict[Resource, None] = {}
    stack: list[Step] = list(reversed(steps))
    while stack:
        step = stack.pop()
        if isinstance(step, Scan | AntiJoin):
            resources.setdefault(step.resource)
        elif isinstance(step, AggregateStep | Exists):
            stack.extend(reversed(step.inner))
    return replace(plan, steps=steps, resources=tuple(resources))


def _delta_relation(plan: RulePlan) -> str:
    return next(r.relation for r in plan.resources if r.source is Source.DELTA)


class _DriverWriter:
    """Writes the driver: per needed stratum, its rules as straight-line calls."""

    def __init__(self, strata: Sequence[ScopedStratum], dependent: frozenset[str],
                 outputs: Sequence[str]) -> None:
        self.strata = strata
        self.dependent = dependent
        self.outputs = outputs
        self.layout: list[LayoutEntry] = []
        self.constants: dict[LayoutEntry, str] = {}
        self.functions: dict[str, RuleFunction] = {}
        self.steps: list[ScopedVersion] = []
        self.lines: list[str] = []

    def constant(self, entry: LayoutEntry) -> str:
        name = self.constants.get(entry)
        if name is None:
            name = self.constants[entry] = f"k{len(self.layout)}"
            self.layout.append(entry)
        return name

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def write(self) -> str:
        body_start = len(self.lines)
        for position, stratum in enumerate(self.strata):
            if not stratum.rules:
                continue  # an input's stratum: the call's rows are all it holds
            names = ", ".join(stratum.stratum.relations)
            self.emit(2, f"# stratum {stratum.stratum.index}: {names}")
            if stratum.recursive:
                self.emit(2, "step = -1")
                self.emit(2, f"call.run_recursive({self.constant(('stratum', position))})")
                continue
            self.stratum(stratum)
        body = self.lines[body_start:]
        self.lines = self.lines[:body_start]
        outputs = ", ".join(
            f"{name!r}: current[{name!r}]" if name in self.dependent
            else f"{name!r}: {self.constant(('output', name))}"
            for name in self.outputs
        )
        head = [
            "# Generated by rune.datalog.scoped_plans: the per-call driver.",
            "def evaluate(current, call, R):",
        ]
        if self.layout:
            head.append(f"    ({', '.join(f'k{i}' for i in range(len(self.layout)))},) = R")
        head += ["    step = -1", "    try:"]
        tail = [
            "    except _RuntimeFailure:",
            "        call.step = step",
            "        raise",
            f"    return {{{outputs}}}",
        ]
        return "\n".join([*head, *(body or ["        pass"]), *tail]) + "\n"

    def stratum(self, stratum: ScopedStratum) -> None:
        """A non-recursive stratum (one relation): each rule once, then publish."""
        name = stratum.stratum.relations[0]
        self.emit(2, f"seen = current[{name!r}]")
        self.emit(2, "out = set()")
        for rule in stratum.rules:
            if rule[0].delta is None:
                self.call(2, rule[0], None)
            elif len(rule) == 1:
                self.emit(2, f"delta = current[{rule[0].delta!r}]")
                self.emit(2, "if delta:")
                self.call(3, rule[0], "delta")
            else:
                self.choose(rule)
        self.emit(2, "if out:")
        self.emit(3, "call.derived += len(out)")
        self.emit(3, "if call.derived > call.max_rows:")
        self.emit(4, f"call.too_many({stratum.stratum.relations!r})")
        self.emit(3, "if seen:")
        self.emit(4, f"call.grow({name!r}, out)")
        self.emit(3, "else:")
        self.emit(4, f"current[{name!r}] = out")

    def choose(self, rule: tuple[ScopedVersion, ...]) -> None:
        """Run the plan whose delta relation has the fewest rows now; none when one of
        them is empty (the rule cannot match)."""
        deltas = [f"d{i}" for i in range(len(rule))]
        for variable, version in zip(deltas, rule, strict=True):
            self.emit(2, f"{variable} = current[{version.delta!r}]")
        self.emit(2, f"if {' and '.join(deltas)}:")
        self.emit(3, "best = 0")
        self.emit(3, "size = len(d0)")
        for i in range(1, len(rule)):
            self.emit(3, f"if len(d{i}) < size:")
            self.emit(4, f"best = {i}")
            self.emit(4, f"size = len(d{i})")
        for i, version in enumerate(rule):
            self.emit(3, f"{'if' if i == 0 else 'elif'} best == {i}:")
            self.call(4, version, f"d{i}")

    def call(self, indent: int, version: ScopedVersion, delta: str | None) -> None:
        function = f"f{len(self.steps)}"
        self.functions[function] = version.function
        arguments = []
        for resource in version.plan.resources:
            if resource.source is Source.DELTA:
                assert delta is not None
                arguments.append(delta)
            elif resource.relation in self.dependent and resource.columns is None:
                arguments.append(f"current[{resource.relation!r}]")
            elif resource.relation in self.dependent:
                arguments.append(f"call.resource({resource.relation!r}, {resource.columns!r})")
            else:
                arguments.append(self.constant(("resource", resource)))
        self.emit(indent, f"step = {len(self.steps)}")
        # The call is the function's `env`: its loops check the call's limits with it.
        self.emit(indent, f"{function}(call, out, seen, {', '.join(arguments)})")
        self.steps.append(version)
