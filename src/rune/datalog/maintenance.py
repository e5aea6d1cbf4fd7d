"""Rule plans for incremental maintenance, compiled once per program on first use.

Updating a result needs the rules in forms the full evaluation never uses:

* a *delta* version per positive body atom, which reads the rows inserted into (or
  deleted from) that atom's relation instead of the whole relation, and joins them
  with everything else;
* a *flipped* version per negated atom `!n(...)`, where the atom becomes a positive scan
  of the rows inserted into `n` (derivations that stop holding, checked against the
  old `n`) or deleted from it (derivations that start to hold, checked against the new
  `n`: the negation itself is kept, for atoms with wildcards);
* a *probe* version per rule, whose body starts with a scan of candidate head rows
  (binding the head's variables, see `probe_atom`), so that "is this row still
  derivable?" costs an indexed lookup, not a re-evaluation.

All of them are ordinary `RulePlan`s built by `plan_rule` (the changed literal is planned
as a delta atom, so it comes first) and compiled by the code generator in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rune.datalog._cache import ProgramCache
from rune.datalog.analysis import AnalysedProgram, AnalysedRule, RelationInfo, Stratum
from rune.datalog.ast import (
    Aggregate,
    Atom,
    BinaryOp,
    Comparison,
    Counter,
    Expr,
    FunctorCall,
    Literal,
    Negation,
    NumberConstant,
    StringConstant,
    Variable,
    Wildcard,
    walk_expression,
)
from rune.datalog.codegen import RuleFunction, compile_plans
from rune.datalog.engine import StratumProgram
from rune.datalog.errors import DatalogError, ErrorCode
from rune.datalog.plan import MAX_DELTA_VERSIONS, RulePlan, Source, plan_rule
from rune.datalog.relation import Relation, Row
from rune.datalog.runtime import EvaluationEnv, RuntimeFailure
from rune.datalog.types import Kind

if TYPE_CHECKING:
    from rune.datalog.program import Program

__all__ = [
    "Maintenance",
    "MaintenanceRule",
    "StratumMaintenance",
    "aggregated_relations",
    "maintenance_for",
    "order_dependent",
    "probe_atom",
]

# Names of the synthetic relations probe atoms scan; `@` cannot start a Soufflé name.
PROBE_PREFIX = "@probe:"

# A resource of a compiled plan: ``None`` for the change set, else (relation, columns)
# where columns ``None`` means the relation's tuple set and a tuple its index.
ResourceSlot = tuple[str, tuple[int, ...] | None] | None


@dataclass(frozen=True, slots=True)
class MaintenanceRule:
    """A rule compiled with one body literal reading a set of rows given at call time.

    Attributes:
        head: the relation the rule derives into.
        reads: the relation whose changed rows the literal reads (for a probe, the head).
        negated: whether the literal is a negation in the original rule.
        plan: the plan that was compiled.
        function: the generated function, ``function(env, out, seen, *resources)``.
        resources: what to pass for each resource of the plan (see `ResourceSlot`).
    """

    head: str
    reads: str
    negated: bool
    plan: RulePlan
    function: RuleFunction
    resources: tuple[ResourceSlot, ...]

    def run(
        self,
        env: EvaluationEnv,
        out: set[Row],
        seen: Any,
        rows: Any,
        relation_of: Callable[[str], Relation],
    ) -> None:
        """Add to ``out`` every head row not in ``seen`` derivable with ``rows`` as the
        changed literal's rows and ``relation_of(name)`` as every other relation."""
        arguments: list[Any] = []
        for slot in self.resources:
            if slot is None:
                arguments.append(rows)
                continue
            relation = relation_of(slot[0])
            arguments.append(relation.tuples if slot[1] is None else relation.index(slot[1]))
        try:
            self.function(env, out, seen, *arguments)
        except RuntimeFailure as failure:
            raise DatalogError(
                f"{failure} while evaluating a rule for `{self.head}`",
                code=ErrorCode.EVALUATION,
                span=self.plan.rule.clause.span,
            ) from None


@dataclass(frozen=True, slots=True)
class StratumMaintenance:
    """How to maintain one stratum.

    Attributes:
        stratum: the stratum.
        compiled: its rules as the full evaluation runs them (for recomputation).
        positive: delta rules by the relation of the positive atom they read.
        negative: flipped rules by the relation of the negated atom they read.
        probes: probe rules by head relation.
        aggregated: relations read inside an aggregate: a change to one of them makes
            the stratum recompute (an aggregate's value is not maintained by deltas).
        reads: every relation the stratum's rules read, its own included.
        recompute: whether the stratum is always recomputed (its rules could not be
            planned for maintenance).
    """

    stratum: Stratum
    compiled: StratumProgram
    positive: dict[str, tuple[MaintenanceRule, ...]]
    negative: dict[str, tuple[MaintenanceRule, ...]]
    probes: dict[str, tuple[MaintenanceRule, ...]]
    aggregated: frozenset[str]
    reads: frozenset[str]
    recompute: bool


@dataclass(frozen=True, slots=True)
class Maintenance:
    """Everything incremental updates of one program need, built once.

    Attributes:
        strata: per stratum, in evaluation order.
        stratum_of: the stratum index of every relation.
        readers: for each relation, the strata (other than its own) whose rules read it.
        derived: the relations some rule derives into.
        reevaluate: the program uses `$` or `ord`, whose values depend on the order of
            evaluation, so updates re-evaluate every stratum (to match `evaluate`).
        source: the generated Python source of every maintenance rule.
    """

    strata: tuple[StratumMaintenance, ...]
    stratum_of: dict[str, int]
    readers: dict[str, tuple[int, ...]]
    derived: frozenset[str]
    reevaluate: bool
    source: str


def maintenance_for(program: Program) -> Maintenance:
    """The maintenance plans of ``program``, compiled on first use and cached."""
    return _MAINTENANCE.get(program)


def _new_maintenance(program: Program, _key: object) -> Maintenance:
    compiled = program.compiled
    bits: int = program.number_bits
    return _build(compiled.analysed, compiled.strata, bits)


def _build(
    analysed: AnalysedProgram, compiled: tuple[StratumProgram, ...], bits: int
) -> Maintenance:
    stratum_of = {name: s.index for s in analysed.strata for name in s.relations}
    derived = frozenset(analysed.rules[i].head for s in analysed.strata for i in s.rules)
    reevaluate = any(order_dependent(analysed.rules[i]) for s in analysed.strata for i in s.rules)
    probe_relations = {
        PROBE_PREFIX + name: _probe_relation(analysed.relations[name], PROBE_PREFIX + name)
        for name in derived
    }
    extended = replace(analysed, relations={**analysed.relations, **probe_relations})

    planned: list[tuple[Stratum, list[tuple[MaintenanceRule, RulePlan]] | None]] = []
    plans: list[RulePlan] = []
    for stratum in analysed.strata:
        if any(_changing_atoms(analysed.rules[i]) > MAX_DELTA_VERSIONS for i in stratum.rules):
            # Too many versions to compile: the stratum is evaluated again on a change.
            planned.append((stratum, None))
            continue
        try:
            entries = [
                entry
                for index in stratum.rules
                for entry in _rule_plans(
                    analysed.rules[index],
                    analysed.relations[analysed.rules[index].head].kinds,
                )
            ]
        except DatalogError:
            planned.append((stratum, None))
            continue
        planned.append((stratum, entries))
        plans.extend(plan for _, plan in entries)
    module = compile_plans(plans, extended, bits)

    strata: list[StratumMaintenance] = []
    readers: dict[str, set[int]] = {name: set() for name in analysed.relations}
    for (stratum, rules), program in zip(planned, compiled, strict=True):
        positive: dict[str, list[MaintenanceRule]] = {}
        negative: dict[str, list[MaintenanceRule]] = {}
        probes: dict[str, list[MaintenanceRule]] = {}
        for template, plan in rules or ():
            rule = replace(
                template,
                function=module.functions[plan.name],
                resources=tuple(_slot(r.relation, r.source, r.columns) for r in plan.resources),
            )
            if rule.reads.startswith(PROBE_PREFIX):
                probes.setdefault(rule.head, []).append(replace(rule, reads=rule.head))
            elif rule.negated:
                negative.setdefault(rule.reads, []).append(rule)
            else:
                positive.setdefault(rule.reads, []).append(rule)
        reads: set[str] = set()
        aggregated: set[str] = set()
        for index in stratum.rules:
            reads.update(_body_relations(analysed.rules[index]))
            aggregated.update(aggregated_relations(analysed.rules[index]))
        reads |= aggregated
        for name in reads:
            if stratum_of.get(name) != stratum.index and name in readers:
                readers[name].add(stratum.index)
        strata.append(
            StratumMaintenance(
                stratum=stratum,
                compiled=program,
                positive={k: tuple(v) for k, v in positive.items()},
                negative={k: tuple(v) for k, v in negative.items()},
                probes={k: tuple(v) for k, v in probes.items()},
                aggregated=frozenset(aggregated),
                reads=frozenset(reads),
                recompute=rules is None,
            )
        )
    return Maintenance(
        strata=tuple(strata),
        stratum_of=stratum_of,
        readers={name: tuple(sorted(found)) for name, found in readers.items()},
        derived=derived,
        reevaluate=reevaluate,
        source=module.source,
    )


def _changing_atoms(rule: AnalysedRule) -> int:
    """How many delta and flipped versions `_rule_plans` would make of ``rule``."""
    return sum(1 for literal in rule.scoped.body if isinstance(literal, Atom | Negation))


def _slot(relation: str, source: Source, columns: tuple[int, ...] | None) -> ResourceSlot:
    if source is Source.DELTA:
        return None
    return (relation, columns)


def _unbound(head: str, reads: str, negated: bool, plan: RulePlan) -> MaintenanceRule:
    # The function and resources are filled in once the module is compiled.
    return MaintenanceRule(head, reads, negated, plan, _not_compiled, ())


def _not_compiled(*arguments: Any) -> None:
    raise AssertionError("maintenance rule used before compilation")


def _rule_plans(
    rule: AnalysedRule, kinds: Sequence[Kind | None]
) -> Iterator[tuple[MaintenanceRule, RulePlan]]:
    """Delta, flipped and probe plans for one rule (``kinds``: its head's columns)."""
    head = rule.head
    body = rule.scoped.body
    positive = {literal.relation for literal in body if isinstance(literal, Atom)}
    for relation in sorted(positive):
        for plan in plan_rule(rule, frozenset({relation})):
            yield _unbound(head, relation, False, plan), plan
    for position, literal in enumerate(body):
        if not isinstance(literal, Negation):
            continue
        relation = literal.atom.relation
        # The negation stays too: with wildcards (`!n(x, _)`) one changed row of `n` does
        # not decide the negation alone, other rows may still match.
        flipped_body = (*body[:position], literal.atom, *body[position + 1 :], literal)
        flipped = replace(rule, scoped=replace(rule.scoped, body=flipped_body))
        for plan in plan_rule(flipped, frozenset({relation})):
            if plan.delta_atom == position:
                yield _unbound(head, relation, True, plan), plan
    probe = PROBE_PREFIX + head
    atom, bindings = probe_atom(probe, rule.scoped.head.args, kinds)
    probing = replace(rule, scoped=replace(rule.scoped, body=(*body, *bindings, atom)))
    for plan in plan_rule(probing, frozenset({probe})):
        yield _unbound(head, probe, False, plan), plan


def probe_atom(
    name: str, head: Sequence[Expr], kinds: Sequence[Kind | None]
) -> tuple[Atom, tuple[Comparison, ...]]:
    """An atom over the probe relation ``name`` binding what it can of a head's columns.

    A variable or constant column is bound as is. An integer column `x + c` or `x - c`
    (`c` a constant) binds a fresh variable `p` and adds `x = p - c` (or `p + c`), exact
    in wrap-around arithmetic, so that `x` is known before the body is joined. Any other
    column is left unbound (a wildcard); callers keep only derived rows that are among
    the probed ones.
    """
    args: list[Expr] = []
    bindings: list[Comparison] = []
    for position, (arg, kind) in enumerate(zip(head, kinds, strict=True)):
        if isinstance(arg, Variable | NumberConstant | StringConstant):
            args.append(arg)
            continue
        inverse = _inverse(arg, Variable(f"@p{position}")) if kind in _INTEGRAL else None
        if inverse is None:
            args.append(Wildcard())
            continue
        variable, value = inverse
        args.append(Variable(f"@p{position}"))
        bindings.append(Comparison("=", variable, value))
    return Atom(name, tuple(args)), tuple(bindings)


_INTEGRAL = (Kind.NUMBER, Kind.UNSIGNED)


def _inverse(expr: Expr, probed: Variable) -> tuple[Variable, Expr] | None:
    """For `x + c`, `c + x`, `x - c` or `c - x`: ``(x, its value given probed = expr)``."""
    if not isinstance(expr, BinaryOp) or expr.op not in ("+", "-"):
        return None
    left, right = expr.left, expr.right
    if isinstance(left, Variable) and isinstance(right, NumberConstant):
        return left, BinaryOp("-" if expr.op == "+" else "+", probed, right)
    if isinstance(left, NumberConstant) and isinstance(right, Variable):
        if expr.op == "+":
            return right, BinaryOp("-", probed, left)
        return right, BinaryOp("-", left, probed)
    return None


def _probe_relation(info: RelationInfo, name: str) -> RelationInfo:
    return RelationInfo(replace(info.decl, name=name), info.kinds)


def _body_relations(rule: AnalysedRule) -> Iterator[str]:
    for literal in rule.scoped.body:
        if isinstance(literal, Atom):
            yield literal.relation
        elif isinstance(literal, Negation):
            yield literal.atom.relation


def aggregated_relations(rule: AnalysedRule) -> set[str]:
    """Every relation read inside an aggregate of ``rule`` (negated ones included)."""
    found: set[str] = set()
    stack: list[Expr] = list(rule.scoped.head.args)
    for literal in rule.scoped.body:
        stack.extend(_literal_expressions(literal))
    while stack:
        for node in walk_expression(stack.pop()):
            if not isinstance(node, Aggregate):
                continue
            for inner in node.body:
                if isinstance(inner, Atom):
                    found.add(inner.relation)
                elif isinstance(inner, Negation):
                    found.add(inner.atom.relation)
                stack.extend(_literal_expressions(inner))
    return found


def _literal_expressions(literal: Literal) -> tuple[Expr, ...]:
    if isinstance(literal, Atom):
        return literal.args
    if isinstance(literal, Negation):
        return literal.atom.args
    if isinstance(literal, Comparison):
        return (literal.left, literal.right)
    return ()


def order_dependent(rule: AnalysedRule) -> bool:
    """Whether a rule uses `$` or `ord`, whose values depend on evaluation order."""
    stack: list[Expr] = list(rule.scoped.head.args)
    for literal in rule.scoped.body:
        stack.extend(_literal_expressions(literal))
    while stack:
        for node in walk_expression(stack.pop()):
            if isinstance(node, Counter):
                return True
            if isinstance(node, FunctorCall) and node.name == "ord":
                return True
            if isinstance(node, Aggregate):
                for inner in node.body:
                    stack.extend(_literal_expressions(inner))
    return False


_MAINTENANCE: ProgramCache[Maintenance] = ProgramCache(_new_maintenance, "maintenance")
