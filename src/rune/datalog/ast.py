"""The Datalog abstract syntax tree: declarations, directives, clauses and expressions.

Nodes are frozen dataclasses; `span` fields are excluded from equality so two programs
parsed from differently formatted text compare equal. Disjunctions and multi-head rules
are already expanded by the parser: every `Clause` has one head and a conjunctive body.

Expressions can be very deep: `x = 1 + 1 + ... + 1` with a thousand terms is a tree a
thousand levels deep. Nothing here recurses on an expression's depth: the nodes with
sub-expressions cache their hash when built and compare without recursion, and
`walk_expression`, `map_expression` and `fold_expression` traverse with explicit
stacks. Every pass over expressions uses them (or a stack of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rune.errors import SourceSpan

__all__ = [
    "Aggregate",
    "Atom",
    "Attribute",
    "BinaryOp",
    "BooleanLiteral",
    "Clause",
    "Comparison",
    "Counter",
    "Directive",
    "Expr",
    "FunctorCall",
    "Literal",
    "Negation",
    "NumberConstant",
    "Pragma",
    "ProgramAst",
    "RelationDecl",
    "StringConstant",
    "TypeCast",
    "TypeDecl",
    "UnaryOp",
    "Variable",
    "Wildcard",
    "expression_children",
    "fold_expression",
    "literal_expressions",
    "map_expression",
    "rebuild_expression",
    "walk_expression",
]

_NO_SPAN = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Variable:
    """A named variable; its scope is the clause (or the aggregate that hides it)."""

    name: str
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class Wildcard:
    """The anonymous variable `_`: a fresh variable at each occurrence."""

    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class NumberConstant:
    """A numeric literal; ``literal`` is `int` (fits any numeric type), `unsigned` or `float`."""

    value: int | float
    literal: str = "int"
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class StringConstant:
    """A symbol literal, the text between the quotes kept as written."""

    value: str
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True, eq=False)
class UnaryOp:
    """A prefix operator: `-`, `bnot` or `lnot`."""

    op: str
    operand: Expr
    span: SourceSpan | None = _NO_SPAN
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((UnaryOp, self.op, self.operand)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        equal: bool = _equal(self, other)
        return equal

    def __reduce__(self) -> tuple[Any, ...]:
        return (UnaryOp, (self.op, self.operand, self.span))


@dataclass(frozen=True, slots=True, eq=False)
class BinaryOp:
    """An infix operator: arithmetic (`+ - * / % ^`), bitwise (`band` ...) or logical (`land`)."""

    op: str
    left: Expr
    right: Expr
    span: SourceSpan | None = _NO_SPAN
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((BinaryOp, self.op, self.left, self.right)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        equal: bool = _equal(self, other)
        return equal

    def __reduce__(self) -> tuple[Any, ...]:
        return (BinaryOp, (self.op, self.left, self.right, self.span))


@dataclass(frozen=True, slots=True, eq=False)
class FunctorCall:
    """An intrinsic functor such as `cat(a, b)`, `strlen(s)`, `min(a, b)` or `range(a, b)`."""

    name: str
    args: tuple[Expr, ...]
    span: SourceSpan | None = _NO_SPAN
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((FunctorCall, self.name, self.args)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        equal: bool = _equal(self, other)
        return equal

    def __reduce__(self) -> tuple[Any, ...]:
        return (FunctorCall, (self.name, self.args, self.span))


@dataclass(frozen=True, slots=True, eq=False)
class TypeCast:
    """`as(value, Type)`: reinterpret a value as another type of the same representation."""

    value: Expr
    type_name: str
    span: SourceSpan | None = _NO_SPAN
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((TypeCast, self.value, self.type_name)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        equal: bool = _equal(self, other)
        return equal

    def __reduce__(self) -> tuple[Any, ...]:
        return (TypeCast, (self.value, self.type_name, self.span))


@dataclass(frozen=True, slots=True)
class Counter:
    """The auto-increment functor `$` / `autoinc()`: a fresh number at each use."""

    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True, eq=False)
class Aggregate:
    """`op target : { body }` with op one of count, sum, min, max, mean (count has no target)."""

    op: str
    target: Expr | None
    body: tuple[Literal, ...]
    span: SourceSpan | None = _NO_SPAN
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((Aggregate, self.op, self.target, self.body)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        equal: bool = _equal(self, other)
        return equal

    def __reduce__(self) -> tuple[Any, ...]:
        return (Aggregate, (self.op, self.target, self.body, self.span))


Expr = (
    Variable
    | Wildcard
    | NumberConstant
    | StringConstant
    | UnaryOp
    | BinaryOp
    | FunctorCall
    | TypeCast
    | Counter
    | Aggregate
)


@dataclass(frozen=True, slots=True)
class Atom:
    """`relation(arg, ...)`; the span covers the relation name."""

    relation: str
    args: tuple[Expr, ...]
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class Negation:
    """`!atom`: true when no tuple of the (lower-stratum) relation matches."""

    atom: Atom
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class Comparison:
    """A constraint: `= != < <= > >=`, or the string tests `match`, `contains` (and negations)."""

    op: str
    left: Expr
    right: Expr
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class BooleanLiteral:
    """The constraints `true` and `false`."""

    value: bool
    span: SourceSpan | None = _NO_SPAN


Literal = Atom | Negation | Comparison | BooleanLiteral


@dataclass(frozen=True, slots=True)
class Clause:
    """A fact (empty body) or a rule with one head and a conjunctive body."""

    head: Atom
    body: tuple[Literal, ...]
    span: SourceSpan | None = _NO_SPAN

    @property
    def is_fact(self) -> bool:
        """Whether the clause has no body."""
        return not self.body


@dataclass(frozen=True, slots=True)
class Attribute:
    """One column of a relation: its name and its type's name; the span covers the type."""

    name: str
    type_name: str
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class RelationDecl:
    """`.decl name(attr: type, ...) qualifiers`; the span covers the name."""

    name: str
    attributes: tuple[Attribute, ...]
    qualifiers: frozenset[str] = frozenset()
    span: SourceSpan | None = _NO_SPAN

    @property
    def arity(self) -> int:
        """The number of columns."""
        return len(self.attributes)


@dataclass(frozen=True, slots=True)
class TypeDecl:
    """`.type T <: base` (``form`` "subtype") or `.type T = A | B` (``form`` "union")."""

    name: str
    form: str
    bases: tuple[str, ...]
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class Directive:
    """`.input`, `.output`, `.printsize` or `.limitsize` for one relation, with IO options."""

    kind: str
    relation: str
    parameters: tuple[tuple[str, str], ...] = ()
    span: SourceSpan | None = _NO_SPAN

    def parameter(self, key: str, default: str | None = None) -> str | None:
        """The value of one IO option, or ``default``."""
        for name, value in self.parameters:
            if name == key:
                return value
        return default


@dataclass(frozen=True, slots=True)
class Pragma:
    """`.pragma "key" "value"`: recorded, not interpreted."""

    key: str
    value: str
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class ProgramAst:
    """A whole program (all included files merged), in source order within each kind."""

    relations: tuple[RelationDecl, ...]
    types: tuple[TypeDecl, ...]
    clauses: tuple[Clause, ...]
    directives: tuple[Directive, ...]
    pragmas: tuple[Pragma, ...] = ()


def expression_children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``expr`` (an aggregate's target only, not its body)."""
    if isinstance(expr, BinaryOp):
        return (expr.left, expr.right)
    if isinstance(expr, UnaryOp):
        return (expr.operand,)
    if isinstance(expr, FunctorCall):
        return expr.args
    if isinstance(expr, TypeCast):
        return (expr.value,)
    if isinstance(expr, Aggregate):
        return () if expr.target is None else (expr.target,)
    return ()


def walk_expression(expr: Expr) -> Iterator[Expr]:
    """``expr`` and every sub-expression, pre-order, not entering aggregate bodies."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(expression_children(node)))


def literal_expressions(literal: Literal) -> tuple[Expr, ...]:
    """The top-level expressions of a body literal."""
    if isinstance(literal, Atom):
        return literal.args
    if isinstance(literal, Negation):
        return literal.atom.args
    if isinstance(literal, Comparison):
        return (literal.left, literal.right)
    return ()


_T = TypeVar("_T")
_Composite = (UnaryOp, BinaryOp, FunctorCall, TypeCast, Aggregate)


def _equal(first: Expr, other: object) -> Any:
    """Structural equality of two expressions (spans ignored), without recursion;
    `NotImplemented` for another class (as generated `__eq__` methods do)."""
    if first is other:
        return True
    if other.__class__ is not first.__class__:
        return NotImplemented
    pairs: list[tuple[Any, Any]] = [(first, other)]
    while pairs:
        a, b = pairs.pop()
        if a is b:
            continue
        if a.__class__ is not b.__class__:
            return False
        if not isinstance(a, _Composite):
            if a != b:  # a leaf, or a literal of an aggregate body (shallow)
                return False
            continue
        if a._hash != b._hash:
            return False
        if isinstance(a, UnaryOp):
            if a.op != b.op:
                return False
            pairs.append((a.operand, b.operand))
        elif isinstance(a, BinaryOp):
            if a.op != b.op:
                return False
            pairs.append((a.left, b.left))
            pairs.append((a.right, b.right))
        elif isinstance(a, FunctorCall):
            if a.name != b.name or len(a.args) != len(b.args):
                return False
            pairs.extend(zip(a.args, b.args, strict=True))
        elif isinstance(a, TypeCast):
            if a.type_name != b.type_name:
                return False
            pairs.append((a.value, b.value))
        else:
            assert isinstance(a, Aggregate)
            if a.op != b.op or a.body != b.body:
                return False
            if (a.target is None) != (b.target is None):
                return False
            if a.target is not None:
                pairs.append((a.target, b.target))
    return True


def rebuild_expression(expr: Expr, children: Sequence[Expr]) -> Expr:
    """A copy of ``expr`` with new children (in `expression_children` order)."""
    if isinstance(expr, BinaryOp):
        return BinaryOp(expr.op, children[0], children[1], expr.span)
    if isinstance(expr, UnaryOp):
        return UnaryOp(expr.op, children[0], expr.span)
    if isinstance(expr, FunctorCall):
        return FunctorCall(expr.name, tuple(children), expr.span)
    if isinstance(expr, TypeCast):
        return TypeCast(children[0], expr.type_name, expr.span)
    if isinstance(expr, Aggregate):
        return Aggregate(expr.op, children[0] if children else None, expr.body, expr.span)
    if children:
        raise TypeError(f"unexpected node {type(expr).__name__}")
    return expr


def map_expression(expr: Expr, visit: Callable[[Expr], Expr | None]) -> Expr:
    """``expr`` rewritten bottom-up, without recursion.

    ``visit(node)`` is called on each node before its children: a result replaces the
    node (its children are not visited); ``None`` visits the children and rebuilds the
    node if any of them changed. Aggregates are entered through their target only: to
    rewrite their bodies, handle them in ``visit``.
    """
    # Each entry: a node, its children, and their results so far.
    replaced = visit(expr)
    if replaced is not None:
        return replaced
    stack: list[tuple[Expr, tuple[Expr, ...], list[Expr]]] = [
        (expr, expression_children(expr), [])
    ]
    while True:
        node, children, done = stack[-1]
        if len(done) < len(children):
            child = children[len(done)]
            result = visit(child)
            if result is not None:
                done.append(result)
            else:
                stack.append((child, expression_children(child), []))
            continue
        stack.pop()
        changed = any(new is not old for new, old in zip(done, children, strict=True))
        built = rebuild_expression(node, done) if changed else node
        if not stack:
            return built
        stack[-1][2].append(built)


def fold_expression(expr: Expr, combine: Callable[[Expr, list[_T]], _T]) -> _T:
    """``combine(node, results of its children)`` bottom-up over ``expr`` (children as in
    `expression_children`: an aggregate's target, not its body), without recursion."""
    stack: list[tuple[Expr, tuple[Expr, ...], list[_T]]] = [
        (expr, expression_children(expr), [])
    ]
    while True:
        node, children, done = stack[-1]
        if len(done) < len(children):
            child = children[len(done)]
            stack.append((child, expression_children(child), []))
            continue
        stack.pop()
        value = combine(node, done)
        if not stack:
            return value
        stack[-1][2].append(value)
