"""Checking a parsed policy scope and turning it into principal/action/resource constraints.

The parser reads the scope loosely, as cedar-policy does: a comma-separated list of
`variable [op expression]` elements. This module enforces the rules of the policy head:
the three variables in order, entity uids or the matching slot on the right of `==`/`in`,
action uids of type `Action` (or `Ns::Action`), sets only in `action in [...]`, no `is`
for actions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rune.cedar.ast import (
    BinaryOp,
    Expr,
    Is,
    Literal,
    ScopeConstraint,
    ScopeOp,
    SetLiteral,
    Slot,
)
from rune.cedar.lexer import Token
from rune.cedar.values import EntityUID
from rune.errors import SourceSpan

__all__ = ["ScopeElement", "build_scope"]

ErrorSink = Callable[[str, str, int, int], None]
"""Records a diagnostic: (code, message, start offset, end offset)."""

_VARIABLES = ("principal", "action", "resource")


@dataclass(frozen=True, slots=True)
class ScopeElement:
    """One element of a policy scope as written: `principal`, `principal in E`, ...

    ``op`` is "" (no constraint), "is", or the relational operator; ``target`` is the
    expression after `==`/`in` (for "is", the optional `in` expression).
    """

    variable: Token
    op: str
    target: Expr | None
    entity_type: str | None
    span: SourceSpan


def _bounds(node: Expr | ScopeElement | None, fallback: SourceSpan) -> tuple[int, int]:
    span = getattr(node, "span", None) or fallback
    return span.offset, span.end_offset


def _describe(expr: Expr) -> str:
    if isinstance(expr, Literal):
        if isinstance(expr.value, bool):
            return f"literal `{'true' if expr.value else 'false'}`"
        if isinstance(expr.value, int):
            return f"literal `{expr.value}`"
        return "a string literal"
    if isinstance(expr, SetLiteral):
        return "a set"
    if isinstance(expr, BinaryOp):
        return f"a `{expr.op}` expression"
    name = type(expr).__name__
    return {
        "Var": "a variable",
        "Slot": "a template slot",
        "If": "an `if` expression",
        "And": "an `&&` expression",
        "Or": "an `||` expression",
        "Not": "a `!` expression",
        "Neg": "a `-` expression",
        "Like": "a `like` expression",
        "Is": "an `is` expression",
        "Has": "a `has` expression",
        "GetAttr": "an attribute access",
        "MethodCall": "a method call",
        "ExtensionCall": "a function call",
        "RecordLiteral": "a record",
    }.get(name, "an expression")


def _entity_or_slot(
    variable: str, expr: Expr, span: SourceSpan, error: ErrorSink
) -> EntityUID | Slot | None:
    """The right side of `principal ==`/`in` (or `resource ...`): a uid or the same-name slot."""
    if isinstance(expr, Literal) and isinstance(expr.value, EntityUID):
        return expr.value
    if isinstance(expr, Slot):
        if expr.name == variable:
            return expr
        message = f"expected an entity uid or `?{variable}`, found `?{expr.name}`"
    elif isinstance(expr, SetLiteral):
        message = f"expected a single entity uid or `?{variable}`, found a set of entity uids"
    elif isinstance(expr, Is):
        message = "when `is` and `in` are used together, `is` must come first"
    else:
        message = f"expected an entity uid or `?{variable}`, found {_describe(expr)}"
    error("invalid-scope", message, *_bounds(expr, span))
    return None


def _action_uid(expr: Expr, span: SourceSpan, error: ErrorSink) -> EntityUID | None:
    """One action entity uid: type `Action` or `Namespace::Action`."""
    if isinstance(expr, Literal) and isinstance(expr.value, EntityUID):
        uid = expr.value
        if uid.type == "Action" or uid.type.endswith("::Action"):
            return uid
        error(
            "invalid-action",
            f"expected an entity uid with type `Action`, found `{uid}`",
            *_bounds(expr, span),
        )
        return None
    if isinstance(expr, Slot):
        message = "template slots cannot appear in the action scope"
    elif isinstance(expr, SetLiteral):
        message = "expected a single action entity uid, found a set"
    else:
        message = f"expected an action entity uid, found {_describe(expr)}"
    error("invalid-scope", message, *_bounds(expr, span))
    return None


def _principal_or_resource(
    variable: str, element: ScopeElement, error: ErrorSink
) -> ScopeConstraint:
    op, target, span = element.op, element.target, element.span
    if op == "":
        return ScopeConstraint(span=span)
    if op == "is":
        if target is None:
            return ScopeConstraint(ScopeOp.IS, entity_type=element.entity_type, span=span)
        entity = _entity_or_slot(variable, target, span, error)
        return ScopeConstraint(
            ScopeOp.IS_IN, entity=entity, entity_type=element.entity_type, span=span
        )
    if op == "==" or op == "in":
        assert target is not None  # INVARIANT: the parser always reads the right side
        entity = _entity_or_slot(variable, target, span, error)
        return ScopeConstraint(ScopeOp.EQ if op == "==" else ScopeOp.IN, entity=entity, span=span)
    error("invalid-scope", f"invalid operator `{op}` in the policy scope", *_bounds(element, span))
    return ScopeConstraint(span=span)


def _action(element: ScopeElement, error: ErrorSink) -> ScopeConstraint:
    op, target, span = element.op, element.target, element.span
    if op == "":
        return ScopeConstraint(span=span)
    if op == "is":
        error("invalid-scope", "`is` cannot appear in the action scope", *_bounds(element, span))
        return ScopeConstraint(span=span)
    if op == "==" or op == "in":
        assert target is not None  # INVARIANT: the parser always reads the right side
        if op == "in" and isinstance(target, SetLiteral):
            uids = [_action_uid(e, span, error) for e in target.elements]
            entities = tuple(u for u in uids if u is not None)
            return ScopeConstraint(ScopeOp.IN_SET, entities=entities, span=span)
        uid = _action_uid(target, span, error)
        return ScopeConstraint(ScopeOp.EQ if op == "==" else ScopeOp.IN, entity=uid, span=span)
    error("invalid-scope", f"invalid operator `{op}` in the policy scope", *_bounds(element, span))
    return ScopeConstraint(span=span)


def build_scope(
    elements: list[ScopeElement], close: Token, error: ErrorSink
) -> tuple[ScopeConstraint, ScopeConstraint, ScopeConstraint]:
    """Check the scope elements and build the (principal, action, resource) constraints.

    Args:
        elements: the scope elements in source order.
        close: the scope's closing parenthesis, where a missing variable is reported.
        error: records each problem found.
    """
    constraints: list[ScopeConstraint] = []
    missing_reported = False
    for index, variable in enumerate(_VARIABLES):
        if index >= len(elements):
            if not missing_reported:  # report only the first missing variable
                missing_reported = True
                error(
                    "invalid-scope",
                    f"the policy scope is missing the `{variable}` variable",
                    close.start,
                    close.end,
                )
            constraints.append(ScopeConstraint())
            continue
        element = elements[index]
        found = element.variable.text
        if found != variable:
            if found in _VARIABLES:
                message = (
                    f"found the variable `{found}` where the variable `{variable}` must be used"
                )
            else:
                message = f"invalid variable `{found}` in the policy scope, expected `{variable}`"
            token = element.variable
            error("invalid-scope", message, token.start, token.end)
            constraints.append(ScopeConstraint(span=element.span))
        elif variable == "action":
            constraints.append(_action(element, error))
        else:
            constraints.append(_principal_or_resource(variable, element, error))
    for extra in elements[len(_VARIABLES) :]:
        error(
            "invalid-scope",
            f"the policy scope has an extra element `{extra.variable.text}`",
            *_bounds(extra, extra.span),
        )
    return constraints[0], constraints[1], constraints[2]
