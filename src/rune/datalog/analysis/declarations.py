"""Relation declarations, and the structural checks every clause must pass first.

Structural errors (undeclared relation, wrong arity, variables in facts, misplaced
underscores) make a clause unusable; later passes skip such clauses so one mistake is
reported once, not again as an ungrounded variable or a type error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rune.datalog.analysis.model import RelationInfo
from rune.datalog.analysis.scoping import contains_aggregate
from rune.datalog.ast import (
    Aggregate,
    Atom,
    BooleanLiteral,
    Clause,
    Comparison,
    Counter,
    Expr,
    Literal,
    Negation,
    RelationDecl,
    Variable,
    Wildcard,
    expression_children,
    walk_expression,
)
from rune.datalog.errors import ErrorCode
from rune.datalog.types import Kind, TypeEnvironment
from rune.errors import Diagnostic

__all__ = ["check_clause", "declare_relations", "is_fact"]


def declare_relations(
    declarations: Iterable[RelationDecl], types: TypeEnvironment
) -> tuple[dict[str, RelationInfo], list[Diagnostic]]:
    """Index the `.decl`s by name, resolving each attribute's type to a kind."""
    relations: dict[str, RelationInfo] = {}
    diagnostics: list[Diagnostic] = []
    for decl in declarations:
        if decl.name in relations:
            diagnostics.append(
                Diagnostic(
                    ErrorCode.DUPLICATE_DECLARATION,
                    f"relation `{decl.name}` is declared more than once",
                    decl.span,
                )
            )
            continue
        kinds: list[Kind | None] = []
        seen: set[str] = set()
        for attribute in decl.attributes:
            if attribute.name in seen:
                diagnostics.append(
                    Diagnostic(
                        ErrorCode.DUPLICATE_DECLARATION,
                        f"attribute `{attribute.name}` of `{decl.name}` is declared twice",
                        attribute.span,
                    )
                )
            seen.add(attribute.name)
            kind = types.kind_of(attribute.type_name)
            if kind is None and attribute.type_name not in types.broken:
                diagnostics.append(
                    Diagnostic(
                        ErrorCode.UNDEFINED_TYPE,
                        f"undefined type `{attribute.type_name}` in attribute `{attribute.name}`",
                        attribute.span,
                    )
                )
            kinds.append(kind)
        relations[decl.name] = RelationInfo(decl, tuple(kinds))
    return relations, diagnostics


def is_fact(clause: Clause) -> bool:
    """A fact has no body and no aggregate in its head (its arguments must be constant)."""
    return clause.is_fact and not any(contains_aggregate(arg) for arg in clause.head.args)


def check_clause(clause: Clause, relations: dict[str, RelationInfo]) -> list[Diagnostic]:
    """Structural errors of one clause; an empty list means later passes may use it."""
    diagnostics: list[Diagnostic] = []
    head = clause.head
    _check_atom(head, relations, diagnostics)
    if is_fact(clause):
        for arg in head.args:
            culprit = _non_constant_part(arg)
            if culprit is None:
                continue
            if isinstance(culprit, Variable):
                detail = f"variable `{culprit.name}`"
            elif isinstance(culprit, Wildcard):
                detail = "variable `_`"
            else:
                detail = "non-constant argument"
            diagnostics.append(
                Diagnostic(
                    ErrorCode.VARIABLE_IN_FACT,
                    f"fact `{head.relation}` has a {detail}; facts take constants only",
                    culprit.span,
                )
            )
        return diagnostics
    for arg in head.args:
        if isinstance(arg, Wildcard):
            diagnostics.append(
                Diagnostic(
                    ErrorCode.UNDERSCORE_IN_HEAD,
                    f"underscore in the head of a rule for `{head.relation}`",
                    arg.span,
                )
            )
        else:
            _check_parts([arg], relations, diagnostics)
    _check_parts(clause.body, relations, diagnostics)
    return diagnostics


def _check_atom(atom: Atom, relations: dict[str, RelationInfo], out: list[Diagnostic]) -> None:
    info = relations.get(atom.relation)
    if info is None:
        out.append(
            Diagnostic(
                ErrorCode.UNDECLARED_RELATION,
                f"undeclared relation `{atom.relation}`",
                atom.span,
            )
        )
    elif info.arity != len(atom.args):
        out.append(
            Diagnostic(
                ErrorCode.ARITY_MISMATCH,
                f"relation `{atom.relation}` has arity {info.arity}, "
                f"but is used with {len(atom.args)} argument{'s' if len(atom.args) != 1 else ''}",
                atom.span,
            )
        )


def _check_parts(
    parts: Sequence[Literal | Expr],
    relations: dict[str, RelationInfo],
    out: list[Diagnostic],
) -> None:
    """Structural errors of body literals or head arguments: atoms, underscores inside
    expressions, nested aggregates, and aggregate bodies (with an explicit stack:
    expressions and aggregates may be deeply nested)."""
    # Work items: (a literal or an expression, whether it is inside an aggregate).
    work: list[tuple[Literal | Expr, bool]] = [(part, False) for part in reversed(parts)]
    while work:
        item, in_aggregate = work.pop()
        if isinstance(item, Negation):
            item = item.atom
        if isinstance(item, Atom):
            _check_atom(item, relations, out)
            work.extend((arg, in_aggregate) for arg in reversed(item.args)
                        if not isinstance(arg, Wildcard))
        elif isinstance(item, Comparison):
            work.append((item.right, in_aggregate))
            work.append((item.left, in_aggregate))
        elif isinstance(item, BooleanLiteral):
            continue
        elif isinstance(item, Wildcard):
            out.append(
                Diagnostic(
                    ErrorCode.UNDERSCORE_IN_EXPRESSION,
                    "underscore in an expression or comparison (it would never be grounded)",
                    item.span,
                )
            )
        elif isinstance(item, Aggregate):
            if in_aggregate:
                out.append(
                    Diagnostic(
                        ErrorCode.UNSUPPORTED,
                        f"unsupported nested aggregate `{item.op}` (aggregates cannot nest)",
                        item.span,
                    )
                )
                continue
            work.extend((child, True) for child in reversed(expression_children(item)))
            work.extend((inner, True) for inner in reversed(item.body))
        else:
            work.extend((child, in_aggregate) for child in reversed(expression_children(item)))


def _non_constant_part(expr: Expr) -> Expr | None:
    """The first part of a fact argument that is not a constant, if any."""
    for node in walk_expression(expr):
        if isinstance(node, Variable | Wildcard | Counter | Aggregate):
            return node
    return None
