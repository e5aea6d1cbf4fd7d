"""Explanations: why a row holds, as a proof tree down to input facts.

    proof = result.explain("path", (1, 3))
    print(proof.to_text())
    # path(1, 3)  by path(x, z) :- edge(x, y), path(y, z).  [<input>:5:1]
    #   edge(1, 2)  [input]
    #   path(2, 3)  by path(x, y) :- edge(x, y).  [<input>:4:1]
    #     edge(2, 3)  [input]
    proof.to_dict()   # the same as JSON-ready data

A `Proof` names the rule that derives the row and the premises that rule used: a proof
of each positive body atom's row, an `Absent` leaf for each negated atom (no matching
row), and an `AggregateValue` leaf for each aggregate. Input facts are leaves.

Nothing is recorded during evaluation: derivations are searched on demand against the
result, so full and incremental results are explained alike. For each rule of the row's
relation a *witness* version of the rule is compiled, whose head lists the values of
every body atom and aggregate and whose body starts with a probe atom binding the row's
columns, so finding the derivations of one row is an indexed lookup.

A derivation found this way might use the row itself, or a row derived only through it
(``path(1, 3)`` from ``path(1, 3)``). To stay well founded a proof in a recursive stratum
uses only premises of lower *rank*: the semi-naive round that first derives them when
the stratum is evaluated again (once per result and stratum, on the first explanation
that needs it, then kept). Every derived row has a derivation from rows of lower rank,
so the search always succeeds and proofs are finite.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rune.datalog._cache import ProgramCache
from rune.datalog.analysis import AnalysedProgram, AnalysedRule, KindInference, RelationInfo
from rune.datalog.analysis.scoping import display_name
from rune.datalog.ast import (
    Aggregate,
    Atom,
    Attribute,
    BinaryOp,
    Comparison,
    Counter,
    Expr,
    FunctorCall,
    Literal,
    Negation,
    NumberConstant,
    RelationDecl,
    StringConstant,
    TypeCast,
    UnaryOp,
    Variable,
    Wildcard,
    fold_expression,
    map_expression,
)
from rune.datalog.codegen import RuleFunction, compile_plans
from rune.datalog.engine import StratumProgram
from rune.datalog.errors import DatalogError, ErrorCode
from rune.datalog.maintenance import PROBE_PREFIX, probe_atom
from rune.datalog.plan import RulePlan, Source, plan_rule
from rune.datalog.relation import Relation, Row
from rune.datalog.runtime import EvaluationEnv, RuntimeFailure, format_float
from rune.datalog.types import Kind
from rune.errors import SourceSpan, shown

if TYPE_CHECKING:
    from rune.datalog.program import Program, Result

__all__ = ["Absent", "AggregateValue", "Premise", "Proof", "ProofRule", "explain"]

WITNESS_PREFIX = "@witness:"


@dataclass(frozen=True, slots=True)
class ProofRule:
    """The rule a proof step used.

    Attributes:
        index: the rule's position among the program's (checked) rules.
        text: the clause as written (a disjunction or multi-head clause in full).
        span: where the clause is.
    """

    index: int
    text: str
    span: SourceSpan | None = field(default=None, compare=False)

    @property
    def location(self) -> str:
        """`file:line:column` of the clause, or ``""``."""
        return "" if self.span is None else str(self.span)


@dataclass(frozen=True, slots=True)
class Absent:
    """A negated atom that held: no row of ``relation`` matches ``pattern``.

    ``pattern`` has a value per column, ``None`` where the atom has a wildcard.
    """

    relation: str
    pattern: tuple[Any, ...]

    def to_text(self) -> str:
        """The negated atom with its values, e.g. `!on_leave(3)`."""
        values = ", ".join("_" if v is None else format_value(v) for v in self.pattern)
        return f"!{self.relation}({values})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {"kind": "absent", "relation": self.relation, "pattern": list(self.pattern)}


@dataclass(frozen=True, slots=True)
class AggregateValue:
    """An aggregate of the rule and the value it had in the derivation."""

    text: str
    value: Any
    span: SourceSpan | None = field(default=None, compare=False)

    def to_text(self) -> str:
        """The aggregate as written and its value, e.g. `count : { r(x, _) } = 3`."""
        return f"{self.text} = {format_value(self.value)}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {"kind": "aggregate", "text": self.text, "value": self.value}


@dataclass(frozen=True, slots=True)
class Proof:
    """Why ``row`` is in ``relation``: an input fact (``rule`` is ``None``), or ``rule``
    applied to ``premises`` (one per body atom, negation and aggregate, in body order)."""

    relation: str
    row: Row
    rule: ProofRule | None = None
    premises: tuple[Premise, ...] = ()

    @property
    def is_input(self) -> bool:
        """Whether the row is an input fact (given, not derived)."""
        return self.rule is None

    def fact_text(self) -> str:
        """The row as a fact, e.g. `path(1, "a")`."""
        return f"{self.relation}({', '.join(format_value(v) for v in self.row)})"

    def input_facts(self) -> set[tuple[str, Row]]:
        """Every input fact the proof rests on."""
        found: set[tuple[str, Row]] = set()
        for proof in self.walk():
            if proof.is_input:
                found.add((proof.relation, proof.row))
        return found

    def walk(self) -> Iterator[Proof]:
        """This proof and every sub-proof, each once, parents before children."""
        seen: set[int] = set()
        stack: list[Proof] = [self]
        while stack:
            proof = stack.pop()
            if id(proof) in seen:
                continue
            seen.add(id(proof))
            yield proof
            stack.extend(p for p in reversed(proof.premises) if isinstance(p, Proof))

    def _post_order(self) -> list[Proof]:
        """Every sub-proof once, each after all of its own sub-proofs (no recursion, so
        proofs thousands of steps deep are fine)."""
        order: list[Proof] = []
        seen: set[int] = set()
        stack: list[tuple[Proof, bool]] = [(self, False)]
        while stack:
            proof, done = stack.pop()
            if done:
                order.append(proof)
                continue
            if id(proof) in seen:
                continue
            seen.add(id(proof))
            stack.append((proof, True))
            stack.extend(
                (p, False) for p in proof.premises if isinstance(p, Proof) and id(p) not in seen
            )
        return order

    def to_text(self) -> str:
        """An indented tree, one fact per line; a sub-proof shown before is not repeated."""
        lines: list[str] = []
        shown: set[tuple[str, Row]] = set()
        stack: list[tuple[Premise, int]] = [(self, 0)]
        while stack:
            node, depth = stack.pop()
            indent = "  " * depth
            if not isinstance(node, Proof):
                tag = "absent" if isinstance(node, Absent) else "aggregate"
                lines.append(f"{indent}{node.to_text()}  [{tag}]")
                continue
            if node.rule is None:
                lines.append(f"{indent}{node.fact_text()}  [input]")
                continue
            key = (node.relation, node.row)
            if key in shown:
                lines.append(f"{indent}{node.fact_text()}  [shown above]")
                continue
            shown.add(key)
            where = f"  [{node.rule.location}]" if node.rule.location else ""
            lines.append(f"{indent}{node.fact_text()}  by {node.rule.text}{where}")
            stack.extend((premise, depth + 1) for premise in reversed(node.premises))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested data (sub-proofs shared in the tree are repeated)."""
        memo: dict[int, dict[str, Any]] = {}
        for proof in self._post_order():
            data: dict[str, Any] = {
                "kind": "input" if proof.rule is None else "rule",
                "relation": proof.relation,
                "row": list(proof.row),
            }
            if proof.rule is not None:
                data["rule"] = {
                    "index": proof.rule.index,
                    "text": proof.rule.text,
                    "location": proof.rule.location,
                }
                data["premises"] = [
                    memo[id(p)] if isinstance(p, Proof) else p.to_dict() for p in proof.premises
                ]
            memo[id(proof)] = data
        return memo[id(self)]


Premise = Proof | Absent | AggregateValue


def format_value(value: Any) -> str:
    """A value as Datalog source: symbols quoted, floats like Soufflé prints them."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return format_float(value)
    return str(value)


def explain(result: Result, relation: str, row: Sequence[Any]) -> Proof:
    """A proof that ``row`` is in ``relation`` of ``result``.

    Raises:
        DatalogError: (`invalid-input`) no such relation or a row of the wrong length,
            (`missing-fact`) the row is not in the relation.
    """
    program = result.program
    info = program.analysed.relations.get(relation) if isinstance(relation, str) else None
    if info is None or "@" in relation:
        raise DatalogError(f"no relation named `{relation}`", code=ErrorCode.INVALID_INPUT)
    if type(row) not in (tuple, list):
        raise DatalogError(
            f"`row` must be a tuple or a list, not {type(row).__name__}",
            code=ErrorCode.INVALID_INPUT,
        )
    values = tuple(row)
    if len(values) != info.arity:
        raise DatalogError(
            f"row `{shown(values, 80)}` for `{relation}` has {len(values)} values, "
            f"expected {info.arity}",
            code=ErrorCode.INVALID_INPUT,
        )
    if Kind.FLOAT in info.kinds:
        values = tuple(
            float(v) if k is Kind.FLOAT and isinstance(v, int) else v
            for v, k in zip(values, info.kinds, strict=True)
        )
    try:
        present = values in result.relation(relation).tuples
    except TypeError:  # an unhashable value (a list, a dict) is in no relation
        present = False
    if not present:
        raise DatalogError(
            f"`{relation}` does not hold `{shown(values, 80)}`: there is nothing to explain",
            code=ErrorCode.MISSING_FACT,
        )
    explainer = result._memo.get("explainer")
    if explainer is None:
        explainer = result._memo.setdefault("explainer", _Explainer(result))
    assert isinstance(explainer, _Explainer)
    return explainer.proof(relation, values)


# -- witness rules --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Part:
    """Which columns of a witness row belong to one premise, and what it is."""

    kind: str  # "atom", "absent" or "aggregate"
    start: int
    stop: int
    relation: str = ""
    wildcards: tuple[bool, ...] = ()
    aggregate: Aggregate | None = None


@dataclass(frozen=True, slots=True)
class _Witness:
    """A rule compiled to list, for given head rows, the premises of each derivation."""

    rule: AnalysedRule
    head_arity: int
    parts: tuple[_Part, ...]
    plan: RulePlan
    function: RuleFunction


@dataclass(frozen=True, slots=True)
class _Witnesses:
    by_head: dict[str, tuple[_Witness, ...]]
    strata: dict[str, int]


def _witnesses_for(program: Program) -> _Witnesses:
    return _WITNESSES.get(program)


def _new_witnesses(program: Program, _key: object) -> _Witnesses:
    bits: int = program.number_bits
    return _build_witnesses(program.compiled.analysed, bits)


def _build_witnesses(analysed: AnalysedProgram, bits: int) -> _Witnesses:
    extra: dict[str, RelationInfo] = {}
    entries: list[tuple[AnalysedRule, int, tuple[_Part, ...], RulePlan]] = []
    for stratum in analysed.strata:
        for index in stratum.rules:
            rule = analysed.rules[index]
            witness_rule, parts, kinds = _witness_rule(rule, analysed)
            name = WITNESS_PREFIX + str(rule.index)
            extra[name] = _relation_info(name, kinds)
            probe = PROBE_PREFIX + rule.head
            extra[probe] = _relation_info(probe, analysed.relations[rule.head].kinds)
            try:
                plans = plan_rule(witness_rule, frozenset({probe}))
            except DatalogError:
                continue  # its rows are reported as having no derivation found
            entries.append((rule, len(rule.scoped.head.args), parts, plans[0]))
    extended = replace(analysed, relations={**analysed.relations, **extra})
    module = compile_plans([plan for *_, plan in entries], extended, bits)
    by_head: dict[str, list[_Witness]] = {}
    for rule, arity, parts, plan in entries:
        witness = _Witness(rule, arity, parts, plan, module.functions[plan.name])
        by_head.setdefault(rule.head, []).append(witness)
    strata = {name: s.index for s in analysed.strata for name in s.relations}
    return _Witnesses({k: tuple(v) for k, v in by_head.items()}, strata)


def _relation_info(name: str, kinds: Sequence[Kind | None]) -> RelationInfo:
    attributes = tuple(Attribute(f"c{i}", "number") for i in range(len(kinds)))
    return RelationInfo(RelationDecl(name, attributes), tuple(kinds))


def _witness_rule(
    rule: AnalysedRule, analysed: AnalysedProgram
) -> tuple[AnalysedRule, tuple[_Part, ...], list[Kind | None]]:
    """``@witness:N(head..., premise values...) :- body, @probe:H(head)``.

    Every aggregate is first bound to a variable of its own (``_a0 = count : {...}``) so
    its value can be listed; wildcards of positive atoms become variables.
    """
    kinds = dict(rule.variable_kinds)
    inference = KindInference(analysed.types, kinds)
    aggregates: list[tuple[str, Aggregate]] = []

    def lift_aggregate(expr: Expr) -> Expr | None:
        if not isinstance(expr, Aggregate):
            return None
        name = f"_a{len(aggregates)}"
        aggregates.append((name, expr))
        natural = inference.natural(expr)
        kinds[name] = natural if isinstance(natural, Kind) else Kind.NUMBER
        return Variable(name)

    def lift(expr: Expr) -> Expr:
        return map_expression(expr, lift_aggregate)

    head = rule.scoped.head
    head_kinds = analysed.relations[head.relation].kinds
    head_args = tuple(lift(arg) for arg in head.args)
    body: list[Literal] = []
    columns: list[Expr] = list(head_args)
    column_kinds: list[Kind | None] = list(head_kinds)
    parts: list[_Part] = []
    wildcards = 0
    for literal in rule.scoped.body:
        if isinstance(literal, Atom):
            relation_kinds = analysed.relations[literal.relation].kinds
            args: list[Expr] = []
            for arg, kind in zip(literal.args, relation_kinds, strict=True):
                if isinstance(arg, Wildcard):
                    name = f"_w{wildcards}"
                    wildcards += 1
                    if kind is not None:
                        kinds[name] = kind
                    args.append(Variable(name))
                else:
                    args.append(lift(arg))
            atom = Atom(literal.relation, tuple(args), literal.span)
            body.append(atom)
            parts.append(_Part("atom", len(columns), len(columns) + len(args), literal.relation))
            columns.extend(args)
            column_kinds.extend(relation_kinds)
        elif isinstance(literal, Negation):
            inner = literal.atom
            relation_kinds = analysed.relations[inner.relation].kinds
            lifted = tuple(lift(a) for a in inner.args)
            body.append(Negation(Atom(inner.relation, lifted, inner.span), literal.span))
            kept = [a for a in lifted if not isinstance(a, Wildcard)]
            parts.append(
                _Part(
                    "absent",
                    len(columns),
                    len(columns) + len(kept),
                    inner.relation,
                    tuple(isinstance(a, Wildcard) for a in lifted),
                )
            )
            columns.extend(kept)
            column_kinds.extend(
                kind
                for arg, kind in zip(lifted, relation_kinds, strict=True)
                if not isinstance(arg, Wildcard)
            )
        elif isinstance(literal, Comparison):
            body.append(
                Comparison(literal.op, lift(literal.left), lift(literal.right), literal.span)
            )
        else:
            body.append(literal)
    for name, aggregate in aggregates:
        body.append(Comparison("=", Variable(name), aggregate, aggregate.span))
        parts.append(_Part("aggregate", len(columns), len(columns) + 1, aggregate=aggregate))
        columns.append(Variable(name))
        column_kinds.append(kinds[name])
    atom, bindings = probe_atom(PROBE_PREFIX + head.relation, head_args, head_kinds)
    body.extend(bindings)
    body.append(atom)
    witness_head = Atom(WITNESS_PREFIX + str(rule.index), tuple(columns), head.span)
    scoped = replace(rule.scoped, head=witness_head, body=tuple(body))
    return replace(rule, scoped=scoped, variable_kinds=kinds), tuple(parts), column_kinds


# -- the search -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Choice:
    """The derivation chosen for one row: its rule and premises (positive ones as keys)."""

    witness: _Witness
    values: Row
    premises: list[tuple[str, Row]]


class _Enough(Exception):
    """Raised by `_Collector` to stop a witness rule once enough derivations are found."""


class _Collector:
    """Stands for the ``out`` set of a witness rule: keeps derivations of the row whose
    premises rank low enough, and stops the rule after a few."""

    __slots__ = ("found", "limit", "ranks", "row", "witness")

    WANTED = 8

    def __init__(
        self, witness: _Witness, row: Row, ranks: dict[str, dict[Row, int]] | None, limit: int
    ) -> None:
        self.witness = witness
        self.row = row
        self.ranks = ranks
        self.limit = limit
        self.found: list[tuple[int, Row, list[tuple[str, Row]]]] = []

    def add(self, values: Row) -> None:
        witness = self.witness
        if values[: witness.head_arity] != self.row:
            return
        premises = [
            (part.relation, values[part.start : part.stop])
            for part in witness.parts
            if part.kind == "atom"
        ]
        height = 0
        if self.ranks is not None:
            height = _height(self.ranks, premises)
            if height > self.limit:
                return
        self.found.append((height, values, premises))
        if height <= 1 or len(self.found) >= self.WANTED:
            raise _Enough


class _Explainer:
    """Finds and memoises proofs over one result (kept in the result's memo)."""

    def __init__(self, result: Result) -> None:
        self.result = result
        self.program = result.program
        self.witnesses = _witnesses_for(result.program)
        self.proofs: dict[tuple[str, Row], Proof] = {}
        self.ranks: dict[int, dict[str, dict[Row, int]]] = {}
        self.lock = threading.Lock()

    def proof(self, relation: str, row: Row) -> Proof:
        with self.lock:
            return self._proof((relation, row))

    def _proof(self, goal: tuple[str, Row]) -> Proof:
        proofs = self.proofs
        choices: dict[tuple[str, Row], _Choice | None] = {}
        # Rows whose premises are being proved: the path from the goal to the stack top.
        expanding: set[tuple[str, Row]] = set()
        stack = [goal]
        while stack:
            key = stack[-1]
            if key in proofs:
                stack.pop()
                continue
            if key not in choices:
                choices[key] = self.choose(*key)
            choice = choices[key]
            if choice is None:
                proofs[key] = Proof(key[0], key[1])
                continue
            missing = [p for p in dict.fromkeys(choice.premises) if p not in proofs]
            if missing:
                expanding.add(key)
                for premise in missing:
                    # INVARIANT: premises have a lower stratum or a lower rank, so a proof
                    # never needs itself.
                    assert premise not in expanding, f"cyclic proof through {premise}"
                    stack.append(premise)
                continue
            proofs[key] = self.build(key, choice)
            expanding.discard(key)
        return proofs[goal]

    def build(self, key: tuple[str, Row], choice: _Choice) -> Proof:
        witness = choice.witness
        clause = witness.rule.clause
        rule = ProofRule(
            witness.rule.index, _clause_text(clause.span, self.program.sources), clause.span
        )
        premises: list[Premise] = []
        values = choice.values
        for part in witness.parts:
            chunk = values[part.start : part.stop]
            if part.kind == "atom":
                premises.append(self.proofs[(part.relation, chunk)])
            elif part.kind == "absent":
                given = iter(chunk)
                pattern = tuple(None if wild else next(given) for wild in part.wildcards)
                premises.append(Absent(part.relation, pattern))
            else:
                aggregate = part.aggregate
                assert aggregate is not None
                text = expression_text(aggregate)
                premises.append(AggregateValue(text, chunk[0], aggregate.span))
        return Proof(key[0], key[1], rule, tuple(premises))

    def choose(self, relation: str, row: Row) -> _Choice | None:
        """A derivation of ``row`` from lower-ranked premises; ``None`` for an input.

        Among the first few derivations found per rule, the one whose premises have the
        lowest rank wins (so proofs stay short); the search stops early because a rule
        can have very many derivations of one row (a body of unrelated atoms).
        """
        result = self.result
        witnesses = self.witnesses.by_head.get(relation)
        if not witnesses or row in result.base_facts.get(relation, ()):
            return None
        stratum = self.witnesses.strata[relation]
        members = self.program.compiled.strata[stratum].stratum
        ranks = self.stratum_ranks(stratum) if members.recursive else None
        limit = 0 if ranks is None else ranks[relation].get(row, 0)
        best: tuple[tuple[int, int, str], _Choice] | None = None
        for order, witness in enumerate(witnesses):
            for height, values, premises in self.derivations(witness, row, ranks, limit):
                key = (height, order, repr(values))
                if best is None or key < best[0]:
                    best = (key, _Choice(witness, values, premises))
            if best is not None and (ranks is None or best[0][0] <= 1):
                break
        if best is None:
            raise DatalogError(
                f"no derivation of {relation}{row!r} found (rows computed with `$` or "
                "`ord` cannot be explained)",
                code=ErrorCode.UNSUPPORTED,
            )
        return best[1]

    def derivations(
        self,
        witness: _Witness,
        row: Row,
        ranks: dict[str, dict[Row, int]] | None,
        limit: int,
    ) -> list[tuple[int, Row, list[tuple[str, Row]]]]:
        """Up to a few derivations of ``row`` by one rule whose premises rank below it."""
        collector = _Collector(witness, row, ranks, limit)
        arguments: list[Any] = []
        relation = self.result.relation
        for resource in witness.plan.resources:
            if resource.source is Source.DELTA:
                arguments.append({row})
                continue
            target = relation(resource.relation)
            columns = resource.columns
            arguments.append(target.tuples if columns is None else target.index(columns))
        # A rule failing on some binding (division by zero) just yields no derivation there.
        with contextlib.suppress(_Enough, RuntimeFailure):
            witness.function(EvaluationEnv(), collector, frozenset(), *arguments)
        return collector.found

    def stratum_ranks(self, stratum: int) -> dict[str, dict[Row, int]]:
        """The round in which a fresh semi-naive evaluation first derives each row."""
        found = self.ranks.get(stratum)
        if found is None:
            program = self.program.compiled.strata[stratum]
            found = self.ranks[stratum] = _ranks(self.result, program)
        return found


def _height(ranks: dict[str, dict[Row, int]], premises: list[tuple[str, Row]]) -> int:
    """One more than the highest rank among premises of the stratum (0 if none)."""
    height = 0
    for relation, row in premises:
        rank = ranks.get(relation)
        if rank is None:
            continue
        found = rank.get(row)
        if found is None:
            return 1 << 62  # not derivable at all: never chosen
        height = max(height, found + 1)
    return height


def _ranks(result: Result, program: StratumProgram) -> dict[str, dict[Row, int]]:
    members = program.stratum.relations
    relation_of = result.relation
    fresh = {
        name: Relation(name, relation_of(name).arity, result.base_facts.get(name, ()))
        for name in members
    }

    def resolve(name: str) -> Relation:
        return fresh[name] if name in fresh else relation_of(name)

    env = EvaluationEnv()
    new: dict[str, set[Row]] = {name: set() for name in members}
    for rule in program.initial:
        arguments = [
            _resource(resolve, r.relation, r.source, r.columns, None) for r in rule.plan.resources
        ]
        rule.function(env, new[rule.head], fresh[rule.head].tuples, *arguments)
    ranks: dict[str, dict[Row, int]] = {}
    for name in members:
        fresh[name].insert(new[name] - fresh[name].tuples)
        ranks[name] = dict.fromkeys(fresh[name].tuples, 0)
    delta = {name: set(fresh[name].tuples) for name in members}
    rounds = 0
    while any(delta.values()):
        rounds += 1
        new = {name: set() for name in members}
        for rule in program.recursive:
            arguments = []
            # (A rule planned whole, without a delta atom, runs on any change.)
            changes: Any = rule.plan.delta_atom is None and any(delta.values())
            for resource in rule.plan.resources:
                if resource.source is Source.DELTA:
                    changes = delta[resource.relation]
                arguments.append(
                    _resource(resolve, resource.relation, resource.source, resource.columns, delta)
                )
            if changes:
                rule.function(env, new[rule.head], fresh[rule.head].tuples, *arguments)
        for name in members:
            fresh[name].insert(new[name])
            rank = ranks[name]
            for row in new[name]:
                rank[row] = rounds
        delta = new
    return ranks


def _resource(
    resolve: Any,
    relation: str,
    source: Source,
    columns: tuple[int, ...] | None,
    delta: dict[str, set[Row]] | None,
) -> Any:
    if source is Source.DELTA:
        assert delta is not None
        return delta[relation]
    target: Relation = resolve(relation)
    return target.tuples if columns is None else target.index(columns)


def expression_text(expr: Expr) -> str:
    """An expression as Datalog source (aggregate-local variables by their own names)."""
    return fold_expression(expr, _node_text)


def _node_text(expr: Expr, children: list[str]) -> str:
    """The source of one node, given its children's (without recursion on depth)."""
    if isinstance(expr, Variable):
        return display_name(expr.name)
    if isinstance(expr, Wildcard):
        return "_"
    if isinstance(expr, NumberConstant):
        return format_value(expr.value) + ("u" if expr.literal == "unsigned" else "")
    if isinstance(expr, StringConstant):
        return json.dumps(expr.value, ensure_ascii=False)
    if isinstance(expr, UnaryOp):
        return f"-{children[0]}" if expr.op == "-" else f"{expr.op}({children[0]})"
    if isinstance(expr, BinaryOp):
        return f"({children[0]} {expr.op} {children[1]})"
    if isinstance(expr, FunctorCall):
        return f"{expr.name}({', '.join(children)})"
    if isinstance(expr, TypeCast):
        return f"as({children[0]}, {expr.type_name})"
    if isinstance(expr, Counter):
        return "$"
    assert isinstance(expr, Aggregate)
    target = f" {children[0]}" if children else ""
    body = ", ".join(literal_text(literal) for literal in expr.body)
    return f"{expr.op}{target} : {{ {body} }}"


def literal_text(literal: Literal) -> str:
    """A body literal as Datalog source."""
    if isinstance(literal, Atom):
        return f"{literal.relation}({', '.join(expression_text(a) for a in literal.args)})"
    if isinstance(literal, Negation):
        return "!" + literal_text(literal.atom)
    if isinstance(literal, Comparison):
        left, right = expression_text(literal.left), expression_text(literal.right)
        if literal.op in ("=", "!=", "<", "<=", ">", ">="):
            return f"{left} {literal.op} {right}"
        name = literal.op.removeprefix("not_")
        test = f"{name}({left}, {right})"
        return f"!{test}" if literal.op.startswith("not_") else test
    return "true" if literal.value else "false"


def _clause_text(span: SourceSpan | None, sources: dict[str | None, str]) -> str:
    """The source text under ``span``, whitespace runs collapsed to one space."""
    if span is None:
        return ""
    text = sources.get(span.file)
    if text is None:
        return ""
    return " ".join(text[span.offset : span.end_offset].split())


_WITNESSES: ProgramCache[_Witnesses] = ProgramCache(_new_witnesses, "witnesses")
