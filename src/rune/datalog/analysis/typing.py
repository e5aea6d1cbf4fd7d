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
    expression_children,
)
from rune.datalog.errors import ErrorCode
from rune.datalog.types import Kind, TypeEnvironment
from rune.errors import Diagnostic

__all__ = ["FUNCTOR_SIGNATURES", "NUMERIC_LITERAL", "SHIFT_OPERATORS", "KindInference",
           "infer_clause_kinds"]

NUMERIC_LITERAL: Final = "numeric-literal"
Natural = Kind | TypingLiteral["numeric-literal"] | None

_ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^"})
_BITWISE = frozenset({"band", "bor", "bxor", "land", "lor", "lxor"})
SHIFT_OPERATORS = frozenset({"bshl", "bshr", "bshru"})
# Functors with a fixed result kind, and the kinds of their arguments (None: any kind).
FUNCTOR_SIGNATURES: dict[str, tuple[Kind, tuple[Kind | None, ...] | None]] = {
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
    """Kinds of the expressions of one clause, given the kinds of its variables.

    With ``memoize``, `natural` remembers the kind of every sub-expression it computes (by
    identity), for callers that ask about the nodes of one tree again and again while the
    variables' kinds stay the same; `forget` clears what it remembers.
    """

    def __init__(
        self, types: TypeEnvironment, variable_kinds: dict[str, Kind], *, memoize: bool = False
    ) -> None:
        self.types = types
        self.variable_kinds = variable_kinds
        # id(node) -> (node, its natural kind); the node is kept so that its id stays its own.
        self._memo: dict[int, tuple[Expr, Natural]] | None = {} if memoize else None

    def forget(self) -> None:
        """Drop the remembered kinds (the variables' kinds are about to change)."""
        if self._memo is not None:
            self._memo.clear()

    def natural(self, expr: Expr) -> Natural:
        """The kind ``expr`` has by itself: a kind, a polymorphic literal, or unknown."""
        if not isinstance(expr, _COMPOSITE):
            return self._leaf(expr)
        memo = self._memo
        if memo is not None:
            found = memo.get(id(expr))
            if found is not None:
                return found[1]
        # Post-order over the sub-expressions, with an explicit stack (no recursion: an
        # expression may be thousands of levels deep).
        results: list[Natural] = []
        stack: list[tuple[Expr, bool]] = [(expr, False)]
        while stack:
            node, expanded = stack.pop()
            if not isinstance(node, _COMPOSITE):
                results.append(self._leaf(node))
                continue
            if not expanded:
                known = memo.get(id(node)) if memo is not None else None
                if known is not None:
                    results.append(known[1])
                    continue
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(_kind_children(node)))
                continue
            count = len(_kind_children(node))
            children = results[len(results) - count :] if count else []
            del results[len(results) - count :]
            value = self._combined(node, children)
            if memo is not None:
                memo[id(node)] = (node, value)
            results.append(value)
        return results[0]

    def _leaf(self, expr: Expr) -> Natural:
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
        return None

    def _combined(self, expr: Expr, children: list[Natural]) -> Natural:
        """The natural kind of a node with sub-expressions, from theirs."""
        if isinstance(expr, UnaryOp):
            return children[0]
        if isinstance(expr, BinaryOp):
            if expr.op in SHIFT_OPERATORS:
                return children[0]
            return _combine(children[0], children[1])
        if isinstance(expr, FunctorCall):
            signature = FUNCTOR_SIGNATURES.get(expr.name)
            if signature is not None:
                return signature[0]
            result: Natural = None
            for child in children:
                result = _combine(result, child)
            return result
        assert isinstance(expr, Aggregate)
        if expr.op == "count":
            return Kind.NUMBER
        if expr.op == "mean":
            return Kind.FLOAT
        return None if expr.target is None else children[0]

    def resolve(self, expr: Expr, expected: Kind | None = None) -> Kind:
        """The kind ``expr`` evaluates in: its own, else the one its context expects."""
        natural = self.natural(expr)
        if isinstance(natural, Kind):
            return natural
        if expected is not None and (natural is None or expected.is_numeric):
            return expected
        return Kind.NUMBER


# Nodes whose kind depends on their sub-expressions (a cast's kind is its type's).
_COMPOSITE = (UnaryOp, BinaryOp, FunctorCall, Aggregate)


def _kind_children(expr: Expr) -> tuple[Expr, ...]:
    """The sub-expressions whose kinds decide ``expr``'s (none for a fixed-kind functor)."""
    if isinstance(expr, FunctorCall) and expr.name in FUNCTOR_SIGNATURES:
        return ()
    if isinstance(expr, Aggregate) and expr.op in ("count", "mean"):
        return ()
    return expression_children(expr)


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
    memoized = KindInference(types, kinds, memoize=True)  # the kinds are settled now
    checker = _Checker(memoized, relations)
    checker.run(scoped)
    return kinds, checker.diagnostics


class _Checker:
    def __init__(self, inference: KindInference, relations: dict[str, RelationInfo]) -> None:
        self.inference = inference
        self.relations = relations
        self.diagnostics: list[Diagnostic] = []
        # What is left to check: literals, and (expression, expected kind, context) - an
        # explicit stack, as expressions may be thousands of levels deep.
        self.work: list[Literal | tuple[Expr, Kind | None, str]] = []

    def error(self, message: str, expr: Expr | Literal) -> None:
        self.diagnostics.append(Diagnostic(ErrorCode.TYPE_MISMATCH, message, expr.span))

    def run(self, clause: Clause) -> None:
        """Check the head and body of ``clause``."""
        self.work.extend(reversed(clause.body))
        self.check_atom(clause.head)
        while self.work:
            item = self.work.pop()
            if isinstance(item, tuple):
                self.check(*item)
            else:
                self.check_literal(item)

    def check_atom(self, atom: Atom) -> None:
        info = self.relations[atom.relation]
        for position, (arg, kind) in reversed(
            list(enumerate(zip(atom.args, info.kinds, strict=True), 1))
        ):
            context = f"argument {position} of `{atom.relation}` is a {kind}"
            self.work.append((arg, kind, context))

    def check_literal(self, literal: Literal) -> None:
        if isinstance(literal, Atom):
            self.check_atom(literal)
        elif isinstance(literal, Negation):
            self.check_atom(literal.atom)
        elif isinstance(literal, Comparison):
            if literal.op in ("match", "contains", "not_match", "not_contains"):
                name = literal.op.removeprefix("not_")
                self.work.append((literal.right, Kind.SYMBOL, f"`{name}` takes symbols"))
                self.work.append((literal.left, Kind.SYMBOL, f"`{name}` takes symbols"))
                return
            left = self.inference.natural(literal.left)
            right = self.inference.natural(literal.right)
            if isinstance(left, Kind) and isinstance(right, Kind) and left != right:
                self.error(f"type mismatch: cannot compare a {left} with a {right}", literal)
                return
            common = left if isinstance(left, Kind) else right if isinstance(right, Kind) else None
            self.work.append((literal.right, common, ""))
            self.work.append((literal.left, common, ""))
        else:
            assert isinstance(literal, BooleanLiteral)

    def check(self, expr: Expr, expected: Kind | None, context: str) -> None:
        """Check one node against the kind its context expects; its sub-expressions are
        queued, each with the kind expected of it."""
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
        queued: list[tuple[Expr, Kind | None, str]] = []
        if isinstance(expr, UnaryOp):
            self.check_operator(expr.op, expr, own, (expr.operand,), queued)
        elif isinstance(expr, BinaryOp):
            if expr.op in SHIFT_OPERATORS:
                self.check_operator(expr.op, expr, own, (expr.left,), queued)
                shift = inference.resolve(expr.right)
                if not shift.is_integral:
                    self.error(f"type mismatch: shift amount is a {shift}", expr.right)
            else:
                self.check_operator(expr.op, expr, own, (expr.left, expr.right), queued)
        elif isinstance(expr, FunctorCall):
            signature = FUNCTOR_SIGNATURES.get(expr.name)
            if signature is None:
                if expr.name == "range" and not own.is_numeric:
                    self.error("type mismatch: `range` takes numbers", expr)
                    return
                for arg in expr.args:
                    queued.append((arg, own, f"the arguments of `{expr.name}` are {own}s"))
            else:
                kinds = signature[1] or (Kind.SYMBOL,) * len(expr.args)
                for arg, kind in zip(expr.args, kinds, strict=True):
                    queued.append((arg, kind, f"`{expr.name}` takes a {kind} here" if kind else ""))
        elif isinstance(expr, TypeCast):
            if inference.types.kind_of(expr.type_name) is None:
                self.diagnostics.append(
                    Diagnostic(
                        ErrorCode.UNDEFINED_TYPE,
                        f"undefined type `{expr.type_name}` in `as`",
                        expr.span,
                    )
                )
            queued.append((expr.value, None, ""))
        elif isinstance(expr, Aggregate):
            if expr.target is not None:
                target = inference.resolve(expr.target)
                if expr.op in ("sum", "mean") and not target.is_numeric:
                    self.error(f"type mismatch: `{expr.op}` of a {target}", expr.target)
                else:
                    queued.append((expr.target, None, ""))
            self.work.extend(reversed(expr.body))
        self.work.extend(reversed(queued))

    def check_operator(
        self,
        op: str,
        expr: Expr,
        kind: Kind,
        operands: tuple[Expr, ...],
        queued: list[tuple[Expr, Kind | None, str]],
    ) -> None:
        allowed = kind.is_numeric if op in _ARITHMETIC or op == "-" else kind.is_integral
        if not allowed:
            self.error(f"type mismatch: operator `{op}` cannot apply to a {kind}", expr)
            return
        for operand in operands:
            queued.append((operand, kind, f"operator `{op}` works on {kind}s here"))


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
    """Every atom of the clause, aggregate bodies included (negated ones too)."""
    stack: list[Literal | Expr] = [*reversed(clause.head.args), *reversed(clause.body)]
    while stack:
        item = stack.pop()
        if isinstance(item, Atom):
            yield item
            stack.extend(reversed(item.args))
        elif isinstance(item, Negation):
            stack.append(item.atom)
        elif isinstance(item, Comparison):
            stack.append(item.right)
            stack.append(item.left)
        elif isinstance(item, Aggregate):
            if item.target is not None:
                stack.append(item.target)
            stack.extend(reversed(item.body))
        elif not isinstance(item, BooleanLiteral):
            stack.extend(reversed(expression_children(item)))


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
