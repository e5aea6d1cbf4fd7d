"""Variables of clauses: where they occur, which are grounded, and aggregate scopes.

A variable used inside an aggregate is *injected* (correlated with the enclosing rule)
when the rest of the rule grounds it without the help of any aggregate; every other
variable of the aggregate is local to it. `scope_clause` renames local variables to
`name#k` (k numbers the aggregates of the clause) so later passes see one flat namespace.
"""

from __future__ import annotations

import itertools
from collections import Counter as CounterType
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from rune.datalog.ast import (
    Aggregate,
    Atom,
    BooleanLiteral,
    Clause,
    Comparison,
    Expr,
    Literal,
    Negation,
    Variable,
    Wildcard,
    expression_children,
    map_expression,
    walk_expression,
)

__all__ = [
    "AggregateScope",
    "clause_variable_counts",
    "computable",
    "contains_aggregate",
    "display_name",
    "expression_variables",
    "grounded_variables",
    "literal_variables",
    "rename_literal",
    "scope_clause",
]


def display_name(name: str) -> str:
    """The name a variable has in the source (without its `#k` scope suffix)."""
    return name.split("#", 1)[0]


def expression_variables(expr: Expr) -> Iterator[Variable]:
    """Every variable occurrence in ``expr``, aggregate bodies included, in source order."""
    return _variables([expr])


def literal_variables(literal: Literal) -> Iterator[Variable]:
    """Every variable occurrence in ``literal``, in source order."""
    return _variables([literal])


def _variables(items: list[Expr | Literal]) -> Iterator[Variable]:
    """Variable occurrences of expressions and literals, in source order, without recursion
    (expressions may be deeply nested)."""
    stack = list(reversed(items))
    while stack:
        item = stack.pop()
        if isinstance(item, Variable):
            yield item
        elif isinstance(item, Atom):
            stack.extend(reversed(item.args))
        elif isinstance(item, Negation):
            stack.append(item.atom)
        elif isinstance(item, Comparison):
            stack.append(item.right)
            stack.append(item.left)
        elif isinstance(item, Aggregate):
            stack.extend(reversed(item.body))
            if item.target is not None:
                stack.append(item.target)
        elif not isinstance(item, BooleanLiteral):
            stack.extend(reversed(expression_children(item)))


def contains_aggregate(expr: Expr) -> bool:
    """Whether an aggregate occurs in ``expr`` (not looking inside aggregate bodies)."""
    return any(isinstance(node, Aggregate) for node in walk_expression(expr))


def clause_variable_counts(clause: Clause) -> CounterType[str]:
    """How many times each variable name occurs in ``clause`` (aggregates included)."""
    counts: CounterType[str] = CounterType()
    for arg in clause.head.args:
        counts.update(v.name for v in expression_variables(arg))
    for literal in clause.body:
        counts.update(v.name for v in literal_variables(literal))
    return counts


def computable(
    expr: Expr, grounded: set[str], aggregates_ground: bool, excluded: Aggregate | None = None
) -> bool:
    """Whether ``expr`` has a value once the ``grounded`` variables are bound.

    Aggregates count as values when ``aggregates_ground``, except ``excluded`` (by identity).
    """
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Variable):
            if node.name not in grounded:
                return False
        elif isinstance(node, Wildcard):
            return False
        elif isinstance(node, Aggregate):
            if not aggregates_ground or node is excluded:
                return False
        else:
            stack.extend(expression_children(node))
    return True


def grounded_variables(
    literals: Sequence[Literal],
    bound: Iterable[str] = (),
    *,
    aggregates_ground: bool = True,
    scopes: Mapping[Aggregate, AggregateScope] | None = None,
    excluded: Aggregate | None = None,
) -> set[str]:
    """The variables a conjunction grounds, starting from the ``bound`` ones.

    Positive atoms ground the variables that are their direct arguments; `v = e` grounds
    `v` once `e` is computable. With ``aggregates_ground`` false, aggregates count as
    unknown values; ``excluded`` is one aggregate that counts as unknown in any case.
    With ``scopes``, `v = aggregate` also grounds the aggregate's witnesses.
    """
    grounded = set(bound)
    changed = True
    while changed:
        changed = False
        for literal in literals:
            if isinstance(literal, Atom):
                for arg in literal.args:
                    if isinstance(arg, Variable) and arg.name not in grounded:
                        grounded.add(arg.name)
                        changed = True
            elif isinstance(literal, Comparison) and literal.op == "=":
                for side, other in ((literal.left, literal.right), (literal.right, literal.left)):
                    if (
                        isinstance(side, Variable)
                        and side.name not in grounded
                        and computable(other, grounded, aggregates_ground, excluded)
                    ):
                        grounded.add(side.name)
                        changed = True
                if scopes:
                    for side in (literal.left, literal.right):
                        scope = scopes.get(side) if isinstance(side, Aggregate) else None
                        if scope is not None and not scope.witnesses <= grounded:
                            grounded |= scope.witnesses
                            changed = True
    return grounded


@dataclass(frozen=True, slots=True)
class AggregateScope:
    """How an aggregate relates to its rule.

    ``injected`` variables come from the rule (the aggregate is computed once per binding
    of them); ``witnesses`` are bound inside a `min`/`max` aggregate and exported to the
    rule (the values of the tuple reaching the optimum). Every other variable is local.
    """

    injected: frozenset[str]
    witnesses: frozenset[str]


def scope_clause(clause: Clause) -> tuple[Clause, dict[Aggregate, AggregateScope]]:
    """Rename the local variables of every aggregate in ``clause`` to `name#k`.

    Following Soufflé: a variable of an aggregate is *injected* when the rest of the rule
    (other aggregates counting as values, this one not) grounds it and it does not occur
    in the aggregate's target expression; it is a *witness* of a `min`/`max` when the
    aggregate's body grounds it, it also occurs outside, and nothing outside grounds it.
    Returns the scoped clause and the scope of each (scoped) aggregate. Aggregates must
    not be nested (the structural checks reject that first).
    """
    counter = itertools.count(1)
    counts = clause_variable_counts(clause)
    outside_values = grounded_variables(clause.body)
    scopes: dict[Aggregate, AggregateScope] = {}

    def scope_aggregate(expr: Expr) -> Expr | None:
        if not isinstance(expr, Aggregate):
            return None
        number = next(counter)
        inside = CounterType(v.name for v in expression_variables(expr))
        outside = {name for name, count in inside.items() if counts[name] > count}
        without = grounded_variables(clause.body, excluded=expr)
        target = set()
        if expr.target is not None:
            target = {v.name for v in expression_variables(expr.target)}
        injected = frozenset((inside.keys() & without) - target)
        witnesses: frozenset[str] = frozenset()
        if expr.op in ("min", "max"):
            inner = grounded_variables(expr.body)
            witnesses = frozenset((inner & outside) - outside_values - injected)
        local = inside.keys() - injected - witnesses
        renamed = _rename_expression(expr, {name: f"{name}#{number}" for name in local})
        assert isinstance(renamed, Aggregate)
        scopes[renamed] = AggregateScope(injected, witnesses)
        return renamed

    def scope(expr: Expr) -> Expr:
        return map_expression(expr, scope_aggregate)

    body = tuple(_map_literal(literal, scope) for literal in clause.body)
    head = Atom(clause.head.relation, tuple(scope(a) for a in clause.head.args), clause.head.span)
    return Clause(head, body, clause.span), scopes


def _map_literal(literal: Literal, function: Callable[[Expr], Expr]) -> Literal:
    if isinstance(literal, Atom):
        return Atom(literal.relation, tuple(function(a) for a in literal.args), literal.span)
    if isinstance(literal, Negation):
        atom = _map_literal(literal.atom, function)
        assert isinstance(atom, Atom)
        return Negation(atom, literal.span)
    if isinstance(literal, Comparison):
        left, right = function(literal.left), function(literal.right)
        return Comparison(literal.op, left, right, literal.span)
    return literal


def rename_literal(literal: Literal, mapping: Mapping[str, str]) -> Literal:
    """``literal`` with variables renamed by ``mapping`` (everywhere, aggregates included)."""
    if isinstance(literal, Atom):
        return Atom(
            literal.relation,
            tuple(_rename_expression(a, mapping) for a in literal.args),
            literal.span,
        )
    if isinstance(literal, Negation):
        atom = rename_literal(literal.atom, mapping)
        assert isinstance(atom, Atom)
        return Negation(atom, literal.span)
    if isinstance(literal, Comparison):
        return Comparison(
            literal.op,
            _rename_expression(literal.left, mapping),
            _rename_expression(literal.right, mapping),
            literal.span,
        )
    assert isinstance(literal, BooleanLiteral)
    return literal


def _rename_expression(expr: Expr, mapping: Mapping[str, str]) -> Expr:
    def rename(node: Expr) -> Expr | None:
        if isinstance(node, Variable):
            name = mapping.get(node.name)
            return node if name is None else Variable(name, node.span)
        if isinstance(node, Aggregate):
            target = None if node.target is None else _rename_expression(node.target, mapping)
            body = tuple(rename_literal(literal, mapping) for literal in node.body)
            return Aggregate(node.op, target, body, node.span)
        return None

    return map_expression(expr, rename)
