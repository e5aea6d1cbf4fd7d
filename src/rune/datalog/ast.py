"""The Datalog abstract syntax tree: declarations, directives, clauses and expressions.

Nodes are frozen dataclasses; `span` fields are excluded from equality so two programs
parsed from differently formatted text compare equal. Disjunctions and multi-head rules
are already expanded by the parser: every `Clause` has one head and a conjunctive body.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

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
    "literal_expressions",
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


@dataclass(frozen=True, slots=True)
class UnaryOp:
    """A prefix operator: `-`, `bnot` or `lnot`."""

    op: str
    operand: Expr
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class BinaryOp:
    """An infix operator: arithmetic (`+ - * / % ^`), bitwise (`band` ...) or logical (`land`)."""

    op: str
    left: Expr
    right: Expr
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class FunctorCall:
    """An intrinsic functor such as `cat(a, b)`, `strlen(s)`, `min(a, b)` or `range(a, b)`."""

    name: str
    args: tuple[Expr, ...]
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class TypeCast:
    """`as(value, Type)`: reinterpret a value as another type of the same representation."""

    value: Expr
    type_name: str
    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class Counter:
    """The auto-increment functor `$` / `autoinc()`: a fresh number at each use."""

    span: SourceSpan | None = _NO_SPAN


@dataclass(frozen=True, slots=True)
class Aggregate:
    """`op target : { body }` with op one of count, sum, min, max, mean (count has no target)."""

    op: str
    target: Expr | None
    body: tuple[Literal, ...]
    span: SourceSpan | None = _NO_SPAN


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
