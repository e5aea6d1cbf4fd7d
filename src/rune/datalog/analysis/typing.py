"""Kind inference and checking: which values are numbers, unsigned, floats or symbols.

Columns take the kind of their declared type; a variable takes the kind of the columns
it appears in (or of the expression it is equated to); integer literals fit any numeric
kind their context asks for. Mixing kinds is a type error. The kinds found here also
decide the arithmetic the planner generates (signed and unsigned wrap-around, floats).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final
from typing import Literal as TypingLiteral

from rune.datalog.analysis.model import RelationInfo
from rune.datalog.analysis.scoping import display_name
from rune.datalog.ast import (
    Aggregate,
    Atom,
    BinaryOp,
    BooleanLiteral,
    Clause,
    Comparison,
    Counter,
    Expr,
    FunctorCall,
    Literal,
    Negation,
    NumberConstant,
    StringConstant,
    TypeCast,
    UnaryOp,
    Variable,
)
from rune.datalog.errors import ErrorCode
from rune.datalog.types import Kind, TypeEnvironment
from rune.errors import Diagnostic

__all__ = ["NUMERIC_LITERAL", "KindInference", "infer_clause_kinds"]

NUMERIC_LITERAL: Final = "numeric-literal"
Natural = Kind | TypingLiteral["numeric-literal"] | None

_ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^"})
_BITWISE = frozenset({"band", "bor", "bxor", "land", "lor", "lxor"})
_SHIFTS = frozenset({"bshl", "bshr", "bshru"})
# Functors with a fixed result kind, and the kinds of their arguments (None: any kind).
_SIGNATURES: dict[str, tuple[Kind, tuple[Kind | None, ...] | None]] = {
    "cat": (Kind.SYMBOL, None),
    "ord": (Kind.NUMBER, (Kind.SYMBOL,)),
    "strlen": (Kind.NUMBER, (Kind.SYMBOL,)),
    "substr": (Kind.SYMBOL, (Kind.SYMBOL, Kind.NUMBER, Kind.NUMBER)),
    "to_number": (Kind.NUMBER, (None,)),
    "to_string": (Kind.SYMBOL, (None,)),
    "to_float": (Kind.FLOAT, (None,)),
    "to_unsigned": (Kind.UNSIGNED, (None,)),
    "itof": (Kind.FLOAT, (Kind.NUMBER,)),
    "itou": (Kind.UNSIGNED, (Kind.NUMBER,)),
    "utoi": (Kind.NUMBER, (Kind.UNSIGNED,)),
    "utof": (Kind.FLOAT, (Kind.UNSIGNED,)),
    "ftoi": (Kind.NUMBER, (Kind.FLOAT,)),
    "ftou": (Kind.UNSIGNED, (Kind.FLOAT,)),
}


class KindInference:
    """Kinds of the expressions of one clause, given the kinds of its variables."""

    def __init__(self, types: TypeEnvironment, variable_kinds: dict[str, Kind]) -> None:
        self.types = types
        self.variable_kinds = variable_kinds

    def natural(self, expr: Expr) -> Natural:
        """The kind ``expr`` has by itself: a kind, a polymorphic literal, or unknown."""
        if isinstance(expr, Variable):
            return self.variable_kinds.get(expr.name)
        if isinstance(expr, NumberConstant):
            if expr.literal == "float":
                return Kind.FLOAT
            return Kind.UNSIGNED if expr.literal == "unsigned" else NUMERIC_LITERAL
        if isinstance(expr, StringConstant):
            return Kind.SYMBOL
        if isinstance(expr, Counter):
            return Kind.NUMBER
        if isinstance(expr, TypeCast):
            return self.types.kind_of(expr.type_name)
        if isinstance(expr, UnaryOp):
            return self.natural(expr.operand)
        if isinstance(expr, BinaryOp):
            if expr.op in _SHIFTS:
                return self.natural(expr.left)
            return _combine(self.natural(expr.left), self.natural(expr.right))
        if isinstance(expr, FunctorCall):
            signature = _SIGNATURES.get(expr.name)
            if signature is not None:
                return signature[0]
            result: Natural = None
            for arg in expr.args:
                result = _combine(result, self.natural(arg))
            return result
        if isinstance(expr, Aggregate):
            if expr.op == "count":
                return Kind.NUMBER
            if expr.op == "mean":
                return Kind.FLOAT
            return None if expr.target is None else self.natural(expr.target)
        return None

    def resolve(self, expr: Expr, expected: Kind | None = None) -> Kind:
        """The kind ``expr`` evaluates in: its own, else the one its context expects."""
        natural = self.natural(expr)
        if isinstance(natural, Kind):
            return natural
        if expected is not None and (natural is None or expected.is_numeric):
            return expected
        return Kind.NUMBER


def _combine(left: Natural, right: Natural) -> Natural:
    if left is None:
        return right
    if right is None or right == NUMERIC_LITERAL:
        return left
    if left == NUMERIC_LITERAL:
        return right
    return left


def infer_clause_kinds(
    scoped: Clause, relations: dict[str, RelationInfo], types: TypeEnvironment
) -> tuple[dict[str, Kind], list[Diagnostic]]:
    """Infer the kind of every variable of a scoped clause and report type errors."""
    kinds: dict[str, Kind] = {}
    atoms = list(_atoms(scoped))
    for atom in atoms:
        info = relations[atom.relation]
        for arg, kind in zip(atom.args, info.kinds, strict=True):
            if isinstance(arg, Variable) and kind is not None and arg.name not in kinds:
                kinds[arg.name] = kind
    inference = KindInference(types, kinds)
    equalities = [c for c in _comparisons(scoped) if c.op == "="]
    polymorphic: set[str] = set()
    changed = True
    while changed:
        changed = False
        for comparison in equalities:
            for side, other in (
                (comparison.left, comparison.right),
                (comparison.right, comparison.left),
            ):
                if isinstance(side, Variable) and side.name not in kinds:
                    natural = inference.natural(other)
                    if isinstance(natural, Kind):
                        kinds[side.name] = natural
                        changed = True
                    elif natural == NUMERIC_LITERAL:
                        polymorphic.add(side.name)
        if not changed:
            for name in sorted(polymorphic - kinds.keys()):
                kinds[name] = Kind.NUMBER
                changed = True
    checker = _Checker(inference, relations)
    head = scoped.head
    checker.check_atom(head)
    for literal in scoped.body:
        checker.check_literal(literal)
    return kinds, checker.diagnostics


class _Checker:
    def __init__(self, inference: KindInference, relations: dict[str, RelationInfo]) -> None:
        self.inference = inference
        self.relations = relations
        self.diagnostics: list[Diagnostic] = []

    def error(self, message: str, expr: Expr | Literal) -> None:
        self.diagnostics.append(Diagnostic(ErrorCode.TYPE_MISMATCH, message, expr.span))

    def check_atom(self, atom: Atom) -> None:
        info = self.relations[atom.relation]
        for position, (arg, kind) in enumerate(zip(atom.args, info.kinds, strict=True), 1):
            context = f"argument {position} of `{atom.relation}` is a {kind}"
            self.check(arg, kind, context)

    def check_literal(self, literal: Literal) -> None:
        if isinstance(literal, Atom):
            self.check_atom(literal)
        elif isinstance(literal, Negation):
            self.check_atom(literal.atom)
        elif isinstance(literal, Comparison):
            if literal.op in ("match", "contains", "not_match", "not_contains"):
                name = literal.op.removeprefix("not_")
                self.check(literal.left, Kind.SYMBOL, f"`{name}` takes symbols")
                self.check(literal.right, Kind.SYMBOL, f"`{name}` takes symbols")
                return
            left = self.inference.natural(literal.left)
            right = self.inference.natural(literal.right)
            if isinstance(left, Kind) and isinstance(right, Kind) and left != right:
                self.error(f"type mismatch: cannot compare a {left} with a {right}", literal)
                return
            common = left if isinstance(left, Kind) else right if isinstance(right, Kind) else None
            self.check(literal.left, common, "")
            self.check(literal.right, common, "")
        else:
            assert isinstance(literal, BooleanLiteral)

    def check(self, expr: Expr, expected: Kind | None, context: str) -> None:
        inference = self.inference
        natural = inference.natural(expr)
        if expected is not None and (
            (isinstance(natural, Kind) and natural != expected)
            or (natural == NUMERIC_LITERAL and expected is Kind.SYMBOL)
        ):
            found = Kind.NUMBER if natural == NUMERIC_LITERAL else natural
            where = f" but {context}" if context else f", expected a {expected}"
            self.error(f"type mismatch: {_describe(expr)} is a {found}{where}", expr)
            return
        own = inference.resolve(expr, expected)
        if isinstance(expr, UnaryOp):
            self.check_operator(expr.op, expr, own, (expr.operand,))
        elif isinstance(expr, BinaryOp):
            if expr.op in _SHIFTS:
                self.check_operator(expr.op, expr, own, (expr.left,))
                shift = inference.resolve(expr.right)
                if not shift.is_integral:
                    self.error(f"type mismatch: shift amount is a {shift}", expr.right)
            else:
                self.check_operator(expr.op, expr, own, (expr.left, expr.right))
        elif isinstance(expr, FunctorCall):
            signature = _SIGNATURES.get(expr.name)
            if signature is None:
                if expr.name == "range" and not own.is_numeric:
                    self.error("type mismatch: `range` takes numbers", expr)
                    return
                for arg in expr.args:
                    self.check(arg, own, f"the arguments of `{expr.name}` are {own}s")
                return
            kinds = signature[1] or (Kind.SYMBOL,) * len(expr.args)
            for arg, kind in zip(expr.args, kinds, strict=True):
                self.check(arg, kind, f"`{expr.name}` takes a {kind} here" if kind else "")
        elif isinstance(expr, TypeCast):
            if inference.types.kind_of(expr.type_name) is None:
                self.diagnostics.append(
                    Diagnostic(
                        ErrorCode.UNDEFINED_TYPE,
                        f"undefined type `{expr.type_name}` in `as`",
                        expr.span,
                    )
                )
            self.check(expr.value, None, "")
        elif isinstance(expr, Aggregate):
            if expr.target is not None:
                target = inference.resolve(expr.target)
                if expr.op in ("sum", "mean") and not target.is_numeric:
                    self.error(f"type mismatch: `{expr.op}` of a {target}", expr.target)
                else:
                    self.check(expr.target, None, "")
            for literal in expr.body:
                self.check_literal(literal)

    def check_operator(self, op: str, expr: Expr, kind: Kind, operands: tuple[Expr, ...]) -> None:
        allowed = kind.is_numeric if op in _ARITHMETIC or op == "-" else kind.is_integral
        if not allowed:
            self.error(f"type mismatch: operator `{op}` cannot apply to a {kind}", expr)
            return
        for operand in operands:
            self.check(operand, kind, f"operator `{op}` works on {kind}s here")


def _describe(expr: Expr) -> str:
    if isinstance(expr, Variable):
        return f"`{display_name(expr.name)}`"
    if isinstance(expr, NumberConstant):
        return f"`{expr.value}`"
    if isinstance(expr, StringConstant):
        return f'`"{expr.value}"`'
    if isinstance(expr, Aggregate):
        return f"the `{expr.op}` aggregate"
    return "the expression"


def _atoms(clause: Clause) -> Iterator[Atom]:
    for literal in clause.body:
        yield from _literal_atoms(literal)
    for arg in clause.head.args:
        yield from _expression_atoms(arg)


def _literal_atoms(literal: Literal) -> Iterator[Atom]:
    if isinstance(literal, Atom):
        yield literal
        for arg in literal.args:
            yield from _expression_atoms(arg)
    elif isinstance(literal, Negation):
        yield from _literal_atoms(literal.atom)
    elif isinstance(literal, Comparison):
        yield from _expression_atoms(literal.left)
        yield from _expression_atoms(literal.right)


def _expression_atoms(expr: Expr) -> Iterator[Atom]:
    if isinstance(expr, Aggregate):
        for literal in expr.body:
            yield from _literal_atoms(literal)
        if expr.target is not None:
            yield from _expression_atoms(expr.target)
    elif isinstance(expr, UnaryOp):
        yield from _expression_atoms(expr.operand)
    elif isinstance(expr, BinaryOp):
        yield from _expression_atoms(expr.left)
        yield from _expression_atoms(expr.right)
    elif isinstance(expr, FunctorCall):
        for arg in expr.args:
            yield from _expression_atoms(arg)
    elif isinstance(expr, TypeCast):
        yield from _expression_atoms(expr.value)


def _comparisons(clause: Clause) -> Iterator[Comparison]:
    stack: list[Literal] = list(clause.body)
    expressions: list[Expr] = list(clause.head.args)
    while stack or expressions:
        if stack:
            literal = stack.pop()
            if isinstance(literal, Comparison):
                yield literal
                expressions.extend((literal.left, literal.right))
            elif isinstance(literal, Atom):
                expressions.extend(literal.args)
            elif isinstance(literal, Negation):
                expressions.extend(literal.atom.args)
            continue
        expr = expressions.pop()
        if isinstance(expr, Aggregate):
            stack.extend(expr.body)
            if expr.target is not None:
                expressions.append(expr.target)
        elif isinstance(expr, UnaryOp):
            expressions.append(expr.operand)
        elif isinstance(expr, BinaryOp):
            expressions.extend((expr.left, expr.right))
        elif isinstance(expr, FunctorCall):
            expressions.extend(expr.args)
        elif isinstance(expr, TypeCast):
            expressions.append(expr.value)
