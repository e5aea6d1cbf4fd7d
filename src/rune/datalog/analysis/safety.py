"""Safety: every variable of a rule must be grounded, and aggregates must not depend on
each other's inner bindings.

A variable is grounded when a positive atom binds it or `v = e` computes it from grounded
variables; negations, comparisons, expressions and rule heads only consume bindings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rune.datalog.analysis.scoping import (
    AggregateScope,
    display_name,
    grounded_variables,
    literal_variables,
)
from rune.datalog.ast import (
    Aggregate,
    Atom,
    Clause,
    Comparison,
    Expr,
    Literal,
    Negation,
    Variable,
    Wildcard,
    expression_children,
)
from rune.datalog.errors import ErrorCode
from rune.errors import Diagnostic

__all__ = ["check_groundedness", "check_mutual_aggregates"]


def check_groundedness(scoped: Clause, scopes: dict[Aggregate, AggregateScope]) -> list[Diagnostic]:
    """Report each ungrounded variable of a scoped clause once, at its first problem."""
    first: dict[str, tuple[Variable, bool]] = {}

    def note(variable: Variable, in_aggregate: bool) -> None:
        offset = variable.span.offset if variable.span else 0
        known = first.get(variable.name)
        if known is None or (known[0].span is not None and known[0].span.offset > offset):
            first[variable.name] = (variable, in_aggregate)

    def need(expr: Expr, grounded: set[str], in_aggregate: bool) -> None:
        for node in _direct_nodes(expr):
            if isinstance(node, Variable) and node.name not in grounded:
                note(node, in_aggregate)
            elif isinstance(node, Aggregate):
                check_aggregate(node, grounded)

    def check_body(literals: Sequence[Literal], grounded: set[str], in_aggregate: bool) -> None:
        for literal in literals:
            if isinstance(literal, Atom):
                for arg in literal.args:
                    if not isinstance(arg, Variable | Wildcard):
                        need(arg, grounded, in_aggregate)
            elif isinstance(literal, Negation):
                for arg in literal.atom.args:
                    if not isinstance(arg, Wildcard):
                        need(arg, grounded, in_aggregate)
            elif isinstance(literal, Comparison):
                need(literal.left, grounded, in_aggregate)
                need(literal.right, grounded, in_aggregate)

    def check_aggregate(aggregate: Aggregate, outer: set[str]) -> None:
        scope = scopes[aggregate]
        inner = grounded_variables(aggregate.body, scope.injected & outer)
        if aggregate.target is not None:
            need(aggregate.target, inner, True)
        check_body(aggregate.body, inner, True)
        for literal in aggregate.body:
            for variable in literal_variables(literal):
                if variable.name in scope.witnesses and variable.name not in inner:
                    note(variable, True)

    grounded = grounded_variables(scoped.body, scopes=scopes)
    for arg in scoped.head.args:
        need(arg, grounded, False)
    check_body(scoped.body, grounded, False)

    diagnostics = []
    for variable, in_aggregate in first.values():
        where = " in an aggregate" if in_aggregate else ""
        diagnostics.append(
            Diagnostic(
                ErrorCode.UNGROUNDED_VARIABLE,
                f"ungrounded variable `{display_name(variable.name)}`{where}: "
                "no positive atom or `=` binds it",
                variable.span,
            )
        )
    return diagnostics


def check_mutual_aggregates(clause: Clause) -> list[Diagnostic]:
    """Aggregates in different literals that each need a variable only the other binds.

    Soufflé rejects such rules ("mutually dependent aggregate"): which scope a shared
    variable belongs to is then ambiguous. Checked on the clause before scoping.
    """
    literals = [lit for lit in clause.body if any(True for _ in _aggregates_of(lit))]
    if len(literals) < 2:
        return []
    summaries = []
    for literal in literals:
        names = {v.name for v in literal_variables(literal)}
        grounded = grounded_variables([literal, *_aggregate_body_literals(literal)])
        summaries.append((literal, names, grounded))
    diagnostics = []
    for index, (literal, names, grounded) in enumerate(summaries):
        for other_index, (_, other_names, other_grounded) in enumerate(summaries):
            if other_index == index:
                continue
            shared = names & other_names
            needs_other = any(n not in grounded and n in other_grounded for n in shared)
            needed_by_other = any(n not in other_grounded and n in grounded for n in shared)
            if needs_other and needed_by_other:
                aggregate = next(_aggregates_of(literal))
                diagnostics.append(
                    Diagnostic(
                        ErrorCode.MUTUALLY_DEPENDENT_AGGREGATES,
                        f"mutually dependent aggregate: `{aggregate.op}` shares variables "
                        "with another aggregate of the rule that each needs the other to bind",
                        aggregate.span,
                    )
                )
                break
    return diagnostics


def _direct_nodes(expr: Expr) -> Iterator[Expr]:
    """``expr`` and its sub-expressions, stopping at (but yielding) aggregates."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, Aggregate):
            stack.extend(reversed(expression_children(node)))


def _aggregates_of(literal: Literal) -> Iterator[Aggregate]:
    expressions: tuple[Expr, ...] = ()
    if isinstance(literal, Atom):
        expressions = literal.args
    elif isinstance(literal, Negation):
        expressions = literal.atom.args
    elif isinstance(literal, Comparison):
        expressions = (literal.left, literal.right)
    for expr in expressions:
        for node in _direct_nodes(expr):
            if isinstance(node, Aggregate):
                yield node


def _aggregate_body_literals(literal: Literal) -> list[Literal]:
    found: list[Literal] = []
    for aggregate in _aggregates_of(literal):
        for inner in aggregate.body:
            found.append(inner)
            found.extend(_aggregate_body_literals(inner))
    return found
