"""The Cedar abstract syntax tree: policies, templates, scopes and expressions.

Nodes are frozen dataclasses; `span` fields are excluded from equality so two trees
parsed from differently formatted text compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum

from rune.cedar.values import EntityUID
from rune.errors import SourceSpan

__all__ = [
    "ActionScope",
    "And",
    "Annotation",
    "BinaryOp",
    "Condition",
    "Effect",
    "Expr",
    "ExtensionCall",
    "GetAttr",
    "Has",
    "If",
    "Is",
    "Like",
    "Literal",
    "MethodCall",
    "Neg",
    "Not",
    "Or",
    "PolicyAST",
    "RecordLiteral",
    "ScopeConstraint",
    "ScopeOp",
    "SetLiteral",
    "Slot",
    "Var",
    "Wildcard",
]


class Effect(StrEnum):
    """A policy's effect."""

    PERMIT = "permit"
    FORBID = "forbid"


class ScopeOp(StrEnum):
    """The shape of a principal/resource/action scope constraint."""

    ANY = "any"  # `principal`
    EQ = "eq"  # `principal == E`
    IN = "in"  # `principal in E` (action: `action in E`)
    IS = "is"  # `principal is T`
    IS_IN = "is_in"  # `principal is T in E`
    IN_SET = "in_set"  # `action in [E1, E2]` (actions only)


@dataclass(frozen=True, slots=True)
class Literal:
    """A Bool, Long, String or entity-uid literal."""

    value: bool | int | str | EntityUID
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Var:
    """One of `principal`, `action`, `resource`, `context`."""

    name: str
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Slot:
    """A template slot, `?principal` or `?resource` (name without the `?`)."""

    name: str
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class If:
    """`if cond then then_ else else_`."""

    cond: Expr
    then: Expr
    else_: Expr
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    """Short-circuiting `left && right`."""

    left: Expr
    right: Expr
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or:
    """Short-circuiting `left || right`."""

    left: Expr
    right: Expr
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    """`!arg`."""

    arg: Expr
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Neg:
    """Unary minus `-arg` (a negative Long literal is folded into a `Literal` by the parser)."""

    arg: Expr
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BinaryOp:
    """A binary operator: `== != < <= > >= + - * in`."""

    op: str
    left: Expr
    right: Expr
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Wildcard:
    """The `*` of a `like` pattern."""


@dataclass(frozen=True, slots=True)
class Like:
    """`expr like "pattern"`; the pattern is a tuple of literal strings and `Wildcard`s."""

    expr: Expr
    pattern: tuple[str | Wildcard, ...]
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Is:
    """`expr is T` or `expr is T in in_expr`."""

    expr: Expr
    entity_type: str
    in_expr: Expr | None = None
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Has:
    """`expr has attr` (`e has a.b` is desugared by the parser into `e has a && e.a has b`)."""

    expr: Expr
    attr: str
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class GetAttr:
    """`expr.attr` or `expr["attr"]`."""

    expr: Expr
    attr: str
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class MethodCall:
    """`receiver.name(args...)`: set methods, tag methods and extension methods."""

    receiver: Expr
    name: str
    args: tuple[Expr, ...]
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ExtensionCall:
    """A function-style call `name(args...)` such as `ip("10.0.0.1")` (name may be namespaced)."""

    name: str
    args: tuple[Expr, ...]
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SetLiteral:
    """`[e1, e2, ...]`."""

    elements: tuple[Expr, ...]
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RecordLiteral:
    """`{k1: e1, ...}`; keys in source order (duplicate keys are a parse error)."""

    items: tuple[tuple[str, Expr], ...]
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


Expr = (
    Literal | Var | Slot | If | And | Or | Not | Neg | BinaryOp | Like | Is | Has | GetAttr
    | MethodCall | ExtensionCall | SetLiteral | RecordLiteral
)


@dataclass(frozen=True, slots=True)
class ScopeConstraint:
    """A principal, action or resource constraint in a policy head.

    ``entity`` is an `EntityUID` or a `Slot` for EQ/IN/IS_IN; ``entities`` is used by
    the action form `action in [...]` (IN_SET); ``entity_type`` by IS/IS_IN.
    """

    op: ScopeOp = ScopeOp.ANY
    entity: EntityUID | Slot | None = None
    entity_type: str | None = None
    entities: tuple[EntityUID, ...] = ()
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


ActionScope = ScopeConstraint


@dataclass(frozen=True, slots=True)
class Condition:
    """A `when { ... }` (``is_when``) or `unless { ... }` clause."""

    is_when: bool
    body: Expr
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Annotation:
    """`@key("value")` (value may be absent: `@key`, which Cedar treats as `""`)."""

    key: str
    value: str
    span: SourceSpan | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PolicyAST:
    """One parsed policy or template, as written (before an id is assigned)."""

    effect: Effect
    principal: ScopeConstraint
    action: ScopeConstraint
    resource: ScopeConstraint
    conditions: tuple[Condition, ...]
    annotations: tuple[Annotation, ...] = ()
    span: SourceSpan | None = field(default=None, compare=False, repr=False)

    @property
    def is_template(self) -> bool:
        """True when the head or body mentions `?principal` or `?resource`."""
        return bool(self.slots)

    @property
    def slots(self) -> frozenset[str]:
        """The slot names (`principal`, `resource`) this policy uses."""
        found: set[str] = set()
        for scope in (self.principal, self.resource):
            if isinstance(scope.entity, Slot):
                found.add(scope.entity.name)
        for cond in self.conditions:
            _collect_slots(cond.body, found)
        return frozenset(found)


def _collect_slots(expr: Expr, found: set[str]) -> None:
    stack: list[object] = [expr]
    # Trees share subtrees (`e has a.b.c` reuses `e.a` in `e.a.b`): each node is read
    # once, or a long `has` path costs quadratic time.
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if isinstance(node, Slot):
            found.add(node.name)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        for name in getattr(node, "__dataclass_fields__", ()):
            if name == "span":
                continue
            child = getattr(node, name)
            if isinstance(child, tuple):
                for item in child:
                    if isinstance(item, tuple):
                        stack.extend(item)
                    else:
                        stack.append(item)
            elif child is not None and hasattr(child, "__dataclass_fields__"):
                stack.append(child)


# -- equality, hashing and repr without recursion ----------------------------------------------
#
# A tree is as deep as its text is long (`a || b || ...` nests to the left), and the methods
# dataclasses generate recurse once per level: comparing, hashing or printing a policy of a
# few thousand `||` would raise RecursionError. These replace them with loops over an explicit
# stack. They read the same fields (spans excluded) as the generated ones, with two
# differences: values of different classes are never equal (`Literal(True)` is not
# `Literal(1)`, as in Cedar), and a repr longer than `_REPR_MAX` characters is cut short.

_NODE_CLASSES: tuple[type, ...] = (
    Literal, Var, Slot, If, And, Or, Not, Neg, BinaryOp, Like, Is, Has, GetAttr, MethodCall,
    ExtensionCall, SetLiteral, RecordLiteral, ScopeConstraint, Condition, Annotation, PolicyAST,
)  # fmt: skip
_COMPARED: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls) if f.compare) for cls in _NODE_CLASSES
}
_SHOWN: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls) if f.repr) for cls in _NODE_CLASSES
}
_HASHED_NODES = 64  # nodes read to hash a tree: enough to tell trees apart in practice
_REPR_MAX = 100_000


def _tree_eq(self: object, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented  # type: ignore[no-any-return]
    stack = [(self, other)]
    # Shared subtrees (`e has a.b.c` reuses `e.a`) are compared once.
    seen: set[tuple[int, int]] = set()
    while stack:
        a, b = stack.pop()
        if a is b:
            continue
        cls = a.__class__
        if b.__class__ is not cls:
            return False
        names = _COMPARED.get(cls)
        if names is None:
            if cls is tuple:
                if len(a) != len(b):  # type: ignore[arg-type]
                    return False
                stack.extend(zip(a, b, strict=True))  # type: ignore[call-overload]
            elif a != b:
                return False
            continue
        pair = (id(a), id(b))
        if pair in seen:
            continue
        seen.add(pair)
        for name in names:
            stack.append((getattr(a, name), getattr(b, name)))
    return True


def _tree_ne(self: object, other: object) -> bool:
    equal = _tree_eq(self, other)
    if equal is NotImplemented:
        return NotImplemented  # type: ignore[no-any-return]
    return not equal


def _tree_hash(self: object) -> int:
    # A hash of the first `_HASHED_NODES` nodes in a fixed order: equal trees read the
    # same nodes, so they hash alike.
    parts: list[object] = []
    stack: list[object] = [self]
    count = 0
    while stack and count < _HASHED_NODES:
        node = stack.pop()
        cls = node.__class__
        names = _COMPARED.get(cls)
        if names is None:
            if cls is tuple:
                parts.append(len(node))  # type: ignore[arg-type]
                stack.extend(reversed(node))  # type: ignore[call-overload]
            else:
                parts.append(node)
            continue
        count += 1
        parts.append(cls)
        stack.extend(getattr(node, name) for name in reversed(names))
    return hash(tuple(parts))


def _tree_repr(self: object) -> str:
    out: list[str] = []
    size = 0
    stack: list[object] = [self]
    while stack:
        item = stack.pop()
        if item.__class__ is _Text:
            text = str(item)
        else:
            cls = item.__class__
            names = _SHOWN.get(cls)
            if names is not None:
                stack.append(_Text(")"))
                for i in range(len(names) - 1, -1, -1):
                    stack.append(getattr(item, names[i]))
                    stack.append(_Text(f"{', ' if i else ''}{names[i]}="))
                text = f"{cls.__qualname__}("
            elif cls is tuple:
                stack.append(_Text(",)" if len(item) == 1 else ")"))  # type: ignore[arg-type]
                for i in range(len(item) - 1, -1, -1):  # type: ignore[arg-type]
                    stack.append(item[i])  # type: ignore[index]
                    if i:
                        stack.append(_Text(", "))
                text = "("
            else:
                text = repr(item)
        out.append(text)
        size += len(text)
        if size > _REPR_MAX:
            out.append("...")
            break
    return "".join(out)


class _Text(str):
    """Literal text in `_tree_repr`'s work stack (as opposed to a value to show)."""

    __slots__ = ()


for _cls in _NODE_CLASSES:
    _cls.__eq__ = _tree_eq  # type: ignore[assignment, method-assign]
    _cls.__ne__ = _tree_ne  # type: ignore[assignment, method-assign]
    _cls.__hash__ = _tree_hash  # type: ignore[assignment, method-assign]
    _cls.__repr__ = _tree_repr  # type: ignore[assignment, method-assign]
del _cls
