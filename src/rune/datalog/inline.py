"""Inlining of relations declared `inline`: their rules are substituted into their uses.

An inline relation is never materialised; each positive use `r(a1, ..., an)` in a rule
body is replaced, once per rule `r(h1, ..., hn) :- body` of `r`, by that body (variables
renamed apart) plus the unification of the `ai` with the `hi`. This keeps programs such
as `pair(x, y) :- nat(x), nat(y).  q(x) :- pair(x, x).` from building huge relations.
Relations used under negation or in aggregates, recursive ones, IO relations, and ones
whose rules contain aggregates or `$` are materialised as ordinary relations instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from rune.datalog.analysis.model import AnalysedProgram
from rune.datalog.ast import (
    Aggregate,
    Atom,
    Clause,
    Comparison,
    Counter,
    Expr,
    Literal,
    Negation,
    ProgramAst,
    Variable,
    Wildcard,
    literal_expressions,
    map_expression,
    walk_expression,
)

__all__ = ["inline_relations"]


def inline_relations(ast: ProgramAst, analysed: AnalysedProgram) -> ProgramAst | None:
    """The program with inlinable `inline` relations substituted, or ``None`` if none."""
    candidates = {decl.name for decl in ast.relations if "inline" in decl.qualifiers}
    if not candidates:
        return None
    blocked = {name for s in analysed.strata if s.recursive for name in s.relations}
    blocked |= {directive.relation for directive in ast.directives}
    for clause in ast.clauses:
        if clause.head.relation in candidates and _has_aggregate_or_counter(clause):
            blocked.add(clause.head.relation)
        for expr in _all_expressions(clause):
            for node in walk_expression(expr):
                if isinstance(node, Aggregate):
                    blocked |= {a.relation for a in _aggregate_atoms(node)}
        for literal in clause.body:
            if isinstance(literal, Negation):
                blocked.add(literal.atom.relation)
    inlinable = candidates - blocked
    if not inlinable:
        return None
    definitions: dict[str, list[Clause]] = {name: [] for name in inlinable}
    for clause in ast.clauses:
        if clause.head.relation in inlinable:
            definitions[clause.head.relation].append(clause)
    renaming = itertools.count(1)
    clauses: list[Clause] = []
    for clause in ast.clauses:
        if clause.head.relation in inlinable:
            continue
        clauses.extend(_expand(clause, definitions, renaming))
    return ProgramAst(ast.relations, ast.types, tuple(clauses), ast.directives, ast.pragmas)


def _expand(
    clause: Clause, definitions: dict[str, list[Clause]], renaming: Iterator[int]
) -> list[Clause]:
    """Replace inline atoms of ``clause`` until none is left (definitions are acyclic)."""
    done: list[Clause] = []
    work = [clause]
    while work:
        current = work.pop()
        position = next(
            (
                i
                for i, literal in enumerate(current.body)
                if isinstance(literal, Atom) and literal.relation in definitions
            ),
            None,
        )
        if position is None:
            done.append(current)
            continue
        call = current.body[position]
        assert isinstance(call, Atom)
        before, after = current.body[:position], current.body[position + 1 :]
        for definition in reversed(definitions[call.relation]):
            suffix = f"#inline{next(renaming)}"
            mapping: dict[str, Expr] = {}
            constraints: list[Literal] = []
            for argument, parameter in zip(call.args, definition.head.args, strict=True):
                parameter = _substitute(_rename(parameter, suffix), mapping)
                if isinstance(argument, Wildcard):
                    continue
                if isinstance(parameter, Variable) and parameter.name not in mapping:
                    mapping[parameter.name] = argument
                else:
                    constraints.append(Comparison("=", argument, parameter, call.span))
            body = tuple(
                _substitute_literal(_rename_literal(lit, suffix), mapping)
                for lit in definition.body
            )
            work.append(Clause(current.head, (*before, *body, *constraints, *after), current.span))
    done.reverse()
    return done


def _has_aggregate_or_counter(clause: Clause) -> bool:
    return any(
        isinstance(node, Aggregate | Counter)
        for expr in _all_expressions(clause)
        for node in walk_expression(expr)
    )


def _all_expressions(clause: Clause) -> Iterator[Expr]:
    yield from clause.head.args
    for literal in clause.body:
        yield from literal_expressions(literal)


def _aggregate_atoms(aggregate: Aggregate) -> Iterator[Atom]:
    for literal in aggregate.body:
        if isinstance(literal, Atom):
            yield literal
        elif isinstance(literal, Negation):
            yield literal.atom


def _rename(expr: Expr, suffix: str) -> Expr:
    def rename(node: Expr) -> Expr | None:
        return Variable(node.name + suffix, node.span) if isinstance(node, Variable) else None

    return map_expression(expr, rename)


def _substitute(expr: Expr, mapping: dict[str, Expr]) -> Expr:
    def substitute(node: Expr) -> Expr | None:
        return mapping.get(node.name, node) if isinstance(node, Variable) else None

    return map_expression(expr, substitute)


def _rename_literal(literal: Literal, suffix: str) -> Literal:
    return _map_literal(literal, lambda e: _rename(e, suffix))


def _substitute_literal(literal: Literal, mapping: dict[str, Expr]) -> Literal:
    return _map_literal(literal, lambda e: _substitute(e, mapping))


def _map_literal(literal: Literal, function: object) -> Literal:
    assert callable(function)
    if isinstance(literal, Atom):
        return Atom(literal.relation, tuple(function(a) for a in literal.args), literal.span)
    if isinstance(literal, Negation):
        atom = _map_literal(literal.atom, function)
        assert isinstance(atom, Atom)
        return Negation(atom, literal.span)
    if isinstance(literal, Comparison):
        return Comparison(literal.op, function(literal.left), function(literal.right), literal.span)
    return literal
