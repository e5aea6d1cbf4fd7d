"""The expression typechecker behind `rune.cedar.schema.typecheck`: types, request
environments, and the type of a policy's expression in one environment.

Follows cedar-policy's strict mode, as specified by Cedar's Lean model (`cedar-spec`,
`Validation/Typechecker.lean`): Booleans carry the singleton types True/False, so `&&`,
`||` and `if` skip what they never evaluate; `has` and `hasTag` grant *capabilities* that
make a later optional attribute or tag access safe; least upper bounds are strict (entity
types must be equal, records must have the same attributes); `e in x` has type False
when no type `e` may have descends (transitively) from a type `x` may have.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rune.cedar import ast
from rune.cedar.errors import EvaluationError
from rune.cedar.extensions import FUNCTIONS, METHODS
from rune.cedar.schema.model import (
    ActionDef,
    EntityType,
    EntityTypeDef,
    ExtensionType,
    PrimitiveType,
    RecordType,
    SchemaType,
    SetType,
    ancestor_types,
)
from rune.cedar.values import EntityUID, cedar_equal, format_value
from rune.errors import SourceSpan

__all__ = [
    "Env",
    "PolicyTypeError",
    "PreparedSchema",
    "check_in_environment",
]

# -- types ---------------------------------------------------------------------------------
TT, FF, ANY = "tt", "ff", "any"


@dataclass(frozen=True, slots=True)
class _Bool:
    kind: str  # TT, FF or ANY


@dataclass(frozen=True, slots=True)
class _Prim:
    name: str  # "Long" or "String"


@dataclass(frozen=True, slots=True)
class _Entity:
    name: str


@dataclass(frozen=True, slots=True)
class _Ext:
    name: str


@dataclass(frozen=True, slots=True)
class _Set:
    element: _Type


@dataclass(frozen=True, slots=True)
class _Record:
    attrs: tuple[tuple[str, bool, _Type], ...]  # (name, required, type), sorted by name

    def find(self, name: str) -> tuple[bool, _Type] | None:
        for attr, required, ty in self.attrs:
            if attr == name:
                return required, ty
        return None


_Type = _Bool | _Prim | _Entity | _Ext | _Set | _Record
_LONG, _STRING = _Prim("Long"), _Prim("String")
_BOOL_TYPES = {TT: _Bool(TT), FF: _Bool(FF), ANY: _Bool(ANY)}
_NOT = {TT: FF, FF: TT, ANY: ANY}


def _format(ty: _Type) -> str:
    if isinstance(ty, _Bool):
        return {TT: "__cedar::internal::True", FF: "__cedar::internal::False",
                ANY: "Bool"}[ty.kind]
    if isinstance(ty, _Prim | _Entity | _Ext):
        return ty.name
    if isinstance(ty, _Set):
        return f"Set<{_format(ty.element)}>"
    return "{" + "".join(f"{n}{'' if r else '?'}: {_format(t)}," for n, r, t in ty.attrs) + "}"


def _from_schema(ty: SchemaType) -> _Type:
    if isinstance(ty, PrimitiveType):
        return _BOOL_TYPES[ANY] if ty.name == "Bool" else _Prim(ty.name)
    if isinstance(ty, EntityType):
        return _Entity(ty.name)
    if isinstance(ty, ExtensionType):
        return _Ext(ty.name)
    if isinstance(ty, SetType):
        return _Set(_from_schema(ty.element))
    return _record_from_schema(ty)


def _record_from_schema(ty: RecordType) -> _Record:
    return _Record(tuple(sorted(
        (name, attr.required, _from_schema(attr.type)) for name, attr in ty.attributes.items()
    )))


def _lub(a: _Type, b: _Type) -> _Type | None:
    """The strict least upper bound: only Booleans widen; entity types must be equal."""
    if isinstance(a, _Bool) and isinstance(b, _Bool):
        return a if a.kind == b.kind else _BOOL_TYPES[ANY]
    if isinstance(a, _Set) and isinstance(b, _Set):
        element = _lub(a.element, b.element)
        return None if element is None else _Set(element)
    if isinstance(a, _Record) and isinstance(b, _Record):
        if len(a.attrs) != len(b.attrs):
            return None
        attrs = []
        for (na, ra, ta), (nb, rb, tb) in zip(a.attrs, b.attrs, strict=True):
            if na != nb or ra != rb:
                return None
            joined = _lub(ta, tb)
            if joined is None:
                return None
            attrs.append((na, ra, joined))
        return _Record(tuple(attrs))
    return a if a == b else None


# -- errors --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PolicyTypeError:
    """One validation error found by the typechecker: a stable code, a message, and the
    span of the innermost expression it was found in (when the parser recorded one)."""

    code: str
    message: str
    span: SourceSpan | None = field(default=None, compare=False)


class _Fail(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.span: SourceSpan | None = None

    @property
    def error(self) -> PolicyTypeError:
        return PolicyTypeError(self.code, self.message, self.span)


def _unexpected(expected: str, ty: _Type) -> _Fail:
    return _Fail("unexpected-type", f"unexpected type: expected {expected} but saw {_format(ty)}")


def _incompatible(a: _Type, b: _Type) -> _Fail:
    return _Fail("incompatible-types",
                 f"the types {_format(a)} and {_format(b)} are not compatible")


# -- environments --------------------------------------------------------------------------
Capabilities = frozenset[tuple[ast.Expr, str, object]]  # (expr, "attr"|"tag", name|expr)
_NO_CAPS: Capabilities = frozenset()


@dataclass(frozen=True, slots=True)
class Env:
    """One request environment; for a template, also the types its slots take in it."""

    principal: str
    action: ActionDef
    resource: str
    context: _Record
    principal_slot: str | None = None
    resource_slot: str | None = None


@dataclass(slots=True)
class PreparedSchema:
    """The parts of a schema the typechecker consults, precomputed once."""

    entity_types: Mapping[str, EntityTypeDef]
    actions: Mapping[EntityUID, ActionDef]
    ancestors: dict[str, frozenset[str]] = field(default_factory=dict)
    attrs: dict[str, _Record] = field(default_factory=dict)
    tags: dict[str, _Type | None] = field(default_factory=dict)
    action_types: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name, decl in self.entity_types.items():
            self.attrs[name] = _record_from_schema(decl.shape)
            self.tags[name] = None if decl.tags is None else _from_schema(decl.tags)
        self.ancestors = ancestor_types(self.entity_types)
        self.action_types = frozenset(uid.type for uid in self.actions)

    def descendant_type(self, child: str, parent: str) -> bool:
        return child == parent or parent in self.ancestors.get(child, frozenset())

    def action_in(self, child: EntityUID, parent: EntityUID) -> bool:
        action = self.actions.get(child)
        return child == parent or (action is not None and parent in action.ancestors)

    def environments(self, policy: ast.PolicyAST, *,
                     every_slot_type: bool = False) -> Iterator[Env]:
        """Every request environment; for a template, with the types its slots may take.

        With ``every_slot_type`` an environment is repeated for every type each slot may
        be linked to (`slot_types`), as cedar-policy enumerates them. Without, only for
        the slot variable's own type, which gives the same errors: a slot occurs only in
        its scope (`var == ?slot`, `var in ?slot`, `var is T in ?slot`), which for every
        one of those types has type Bool and grants nothing, and no error message names
        a slot's type. That keeps a template as cheap to check as a static policy, where
        enumerating would multiply the work by the square of a hierarchy's depth.
        """
        for action in self.actions.values():
            if not action.applies_to:
                continue
            context = _record_from_schema(action.context)
            for principal in action.principal_types:
                for resource in action.resource_types:
                    principal_slots = self.slot_types(policy.principal, principal)
                    resource_slots = self.slot_types(policy.resource, resource)
                    if not every_slot_type:
                        # INVARIANT: the variable's own type is always a candidate
                        # (`slot_types` ends with it), so it may stand for all of them.
                        principal_slots = principal_slots[-1:]
                        resource_slots = resource_slots[-1:]
                    for principal_slot in principal_slots:
                        for resource_slot in resource_slots:
                            yield Env(principal, action, resource, context,
                                       principal_slot, resource_slot)

    def slot_types(self, scope: ast.ScopeConstraint, var_type: str) -> tuple[str | None, ...]:
        """The types a slot in ``scope`` may be linked to when its variable has type
        ``var_type``, leaving out those that make the scope false (cedar-policy's
        `possible_slot_links`), ending with ``var_type``; ``(None,)`` without a slot."""
        if not isinstance(scope.entity, ast.Slot):
            return (None,)
        if scope.op is ast.ScopeOp.EQ:
            return (var_type,)
        # `var in ?slot` and `var is T in ?slot`: the slot's type must be the variable's
        # or one of its ancestor types (the `is T` part constrains the variable only).
        ancestors = sorted(self.ancestors.get(var_type, frozenset()) - {var_type})
        return (*ancestors, var_type)


# -- the typechecker -----------------------------------------------------------------------
_Answer = tuple[_Type, Capabilities]
_Request = tuple[ast.Expr, Capabilities]  # what a typing step yields: type this, please
_Typing = Generator[_Request, Any, _Answer]  # a typing step, run by `_Checker.run`
_NOT_A_LITERAL = object()


class _Checker:
    def __init__(self, schema: PreparedSchema, env: Env) -> None:
        self.schema = schema
        self.env = env
        self.action_uid = env.action.uid

    def literal_uid(self, expr: ast.Expr) -> EntityUID | None:
        """The entity a literal (or the substituted `action` variable) denotes."""
        if isinstance(expr, ast.Literal) and isinstance(expr.value, EntityUID):
            return expr.value
        if isinstance(expr, ast.Var) and expr.name == "action":
            return self.action_uid
        return None

    def is_literal(self, expr: ast.Expr) -> bool:
        return self.literal_value(expr) is not _NOT_A_LITERAL

    def literal_value(self, expr: ast.Expr) -> object:
        """The value of a literal (or of the substituted `action`), else `_NOT_A_LITERAL`.

        cedar-policy's AST builder folds `&&` and `||` of two Boolean literals into one
        literal (`true && false` is the literal `false`), so its typechecker sees
        `true == (true && false)` as an equality of literals, of type False.
        """
        if isinstance(expr, ast.Literal):
            return expr.value
        if isinstance(expr, ast.Var):
            return self.action_uid if expr.name == "action" else _NOT_A_LITERAL
        if not isinstance(expr, ast.And | ast.Or):
            return _NOT_A_LITERAL
        # Folded bottom-up with a stack: `&&`/`||` chains may be any length.
        values: dict[int, object] = {}
        stack: list[tuple[ast.Expr, bool]] = [(expr, False)]
        while stack:
            node, operands_done = stack.pop()
            if not isinstance(node, ast.And | ast.Or):
                values[id(node)] = self.literal_value(node)
            elif not operands_done:
                stack += ((node, True), (node.right, False), (node.left, False))
            else:
                left, right = values[id(node.left)], values[id(node.right)]
                if left.__class__ is bool and right.__class__ is bool:
                    values[id(node)] = ((left and right) if isinstance(node, ast.And)
                                        else (left or right))
                else:
                    values[id(node)] = _NOT_A_LITERAL
        return values[id(expr)]

    def run(self, expr: ast.Expr, caps: Capabilities) -> _Answer:
        """The type of ``expr``, computed without recursion.

        Every `type_of...` method is a generator: where it needs the type of a
        subexpression it yields ``(subexpression, capabilities)`` and is sent the answer.
        This loop keeps the generators on a list instead of Python's call stack, so an
        expression nested as deeply as the parser accepts (`MAX_NESTING_DEPTH`) or a
        chain of any length typechecks without `RecursionError`.
        """
        stack: list[_Typing] = [self.type_of(expr, caps)]
        answer: Any = None
        failure: _Fail | None = None
        while True:
            top = stack[-1]
            try:
                if failure is not None:
                    thrown, failure = failure, None
                    request = top.throw(thrown)
                else:
                    request = top.send(answer)
            except StopIteration as done:
                stack.pop()
                if not stack:
                    return done.value  # type: ignore[no-any-return]
                answer = done.value
                continue
            except _Fail as exc:
                stack.pop()
                if not stack:
                    raise
                failure = exc
                continue
            stack.append(self.type_of(*request))
            answer = None

    def expect_bool(self, expr: ast.Expr, caps: Capabilities
                    ) -> Generator[_Request, Any, tuple[str, Capabilities]]:
        ty, found = yield (expr, caps)
        return self.bool_kind(ty), found

    @staticmethod
    def bool_kind(ty: _Type) -> str:
        if not isinstance(ty, _Bool):
            raise _unexpected("Bool", ty)
        return ty.kind

    def type_of(self, expr: ast.Expr, caps: Capabilities) -> _Typing:
        try:
            return (yield from self.type_of_node(expr, caps))
        except _Fail as exc:
            if exc.span is None:
                exc.span = getattr(expr, "span", None)
            raise

    def type_of_node(self, expr: ast.Expr, caps: Capabilities) -> _Typing:
        if isinstance(expr, ast.Literal):
            return self.type_of_literal(expr.value), _NO_CAPS
        if isinstance(expr, ast.Var):
            name = expr.name
            if name == "principal":
                return _Entity(self.env.principal), _NO_CAPS
            if name == "resource":
                return _Entity(self.env.resource), _NO_CAPS
            if name == "action":
                return _Entity(self.action_uid.type), _NO_CAPS
            return self.env.context, _NO_CAPS
        if isinstance(expr, ast.Slot):
            slot_type = (self.env.principal_slot if expr.name == "principal"
                         else self.env.resource_slot)
            if slot_type is None:  # slots appear only in scopes, which set their types
                raise _Fail("internal-invariant-violated",
                            f"internal invariant violated: untyped slot `?{expr.name}`")
            return _Entity(slot_type), _NO_CAPS
        if isinstance(expr, ast.And | ast.Or):
            return (yield from self.type_of_chain(expr, caps))
        if isinstance(expr, ast.If):
            kind1, caps1 = yield from self.expect_bool(expr.cond, caps)
            if kind1 == TT:
                ty2, caps2 = yield (expr.then, caps | caps1)
                return ty2, caps1 | caps2
            if kind1 == FF:
                answer: _Answer = yield (expr.else_, caps)
                return answer
            ty2, caps2 = yield (expr.then, caps | caps1)
            ty3, caps3 = yield (expr.else_, caps)
            joined = _lub(ty2, ty3)
            if joined is None:
                raise _incompatible(ty2, ty3)
            return joined, (caps1 | caps2) & caps3
        if isinstance(expr, ast.Not):
            kind, _ = yield from self.expect_bool(expr.arg, caps)
            return _BOOL_TYPES[_NOT[kind]], _NO_CAPS
        if isinstance(expr, ast.Neg):
            ty, _ = yield (expr.arg, caps)
            if ty != _LONG:
                raise _unexpected("Long", ty)
            return _LONG, _NO_CAPS
        if isinstance(expr, ast.BinaryOp):
            return (yield from self.type_of_binary(expr, caps))
        if isinstance(expr, ast.Like):
            ty, _ = yield (expr.expr, caps)
            if ty != _STRING:
                raise _unexpected("String", ty)
            return _BOOL_TYPES[ANY], _NO_CAPS
        if isinstance(expr, ast.Is):
            return (yield from self.type_of_is(expr, caps))
        if isinstance(expr, ast.Has):
            ty, _ = yield (expr.expr, caps)
            return self.type_of_has(ty, expr.expr, expr.attr, caps)
        if isinstance(expr, ast.GetAttr):
            ty, _ = yield (expr.expr, caps)
            return self.type_of_get(ty, expr.expr, expr.attr, caps), _NO_CAPS
        if isinstance(expr, ast.SetLiteral):
            if not expr.elements:
                raise _Fail("empty-set-forbidden", "empty set literals are forbidden in policies")
            types = []
            for element_expr in expr.elements:
                types.append((yield (element_expr, caps))[0])
            element = types[0]
            for ty in types[1:]:
                widened = _lub(element, ty)
                if widened is None:
                    raise _incompatible(element, ty)
                element = widened
            return _Set(element), _NO_CAPS
        if isinstance(expr, ast.RecordLiteral):
            attrs = {}
            for name, value in expr.items:
                attrs[name] = (yield (value, caps))[0]
            return _Record(tuple(sorted((n, True, t) for n, t in attrs.items()))), _NO_CAPS
        if isinstance(expr, ast.MethodCall):
            return (yield from self.type_of_method(expr, caps))
        if isinstance(expr, ast.ExtensionCall):
            return (yield from self.type_of_call(expr.name, expr.args, caps)), _NO_CAPS
        raise _Fail("unsupported-expression", f"cannot typecheck `{type(expr).__name__}`")

    def type_of_chain(self, expr: ast.And | ast.Or, caps: Capabilities) -> _Typing:
        """`a && b && c ...` or `a || b || c ...` (nested to the left), one operand after
        the other: a chain of any length is one loop. Each step is the rule for one `&&`
        or `||` node, its left operand being the chain so far."""
        spine: list[ast.And | ast.Or] = []
        node: ast.Expr = expr
        while node.__class__ is expr.__class__:
            spine.append(node)  # type: ignore[arg-type]
            node = node.left  # type: ignore[attr-defined]
        ty, caps1 = yield (node, caps)
        for step in reversed(spine):
            try:
                kind1 = self.bool_kind(ty)
                if isinstance(step, ast.And):
                    ty, caps1 = yield from self.and_step(step, kind1, caps1, caps)
                else:
                    ty, caps1 = yield from self.or_step(step, kind1, caps1, caps)
            except _Fail as exc:
                if exc.span is None and step is not expr:
                    exc.span = getattr(step, "span", None)
                raise
        return ty, caps1

    def and_step(self, expr: ast.And, kind1: str, caps1: Capabilities, caps: Capabilities
                 ) -> _Typing:
        if kind1 == FF:
            return _BOOL_TYPES[FF], _NO_CAPS
        kind2, caps2 = yield from self.expect_bool(expr.right, caps | caps1)
        if kind2 == FF:
            return _BOOL_TYPES[FF], _NO_CAPS
        if kind2 == TT:
            return _BOOL_TYPES[kind1], caps1 | caps2
        return _BOOL_TYPES[ANY], caps1 | caps2

    def or_step(self, expr: ast.Or, kind1: str, caps1: Capabilities, caps: Capabilities
                ) -> _Typing:
        if kind1 == TT:
            return _BOOL_TYPES[TT], caps1
        if kind1 == FF:
            kind2, caps2 = yield from self.expect_bool(expr.right, caps)
            return _BOOL_TYPES[kind2], caps2
        kind2, caps2 = yield from self.expect_bool(expr.right, caps)
        if kind2 == TT:
            return _BOOL_TYPES[TT], _NO_CAPS
        if kind2 == FF:
            return _BOOL_TYPES[ANY], caps1
        return _BOOL_TYPES[ANY], caps1 & caps2

    def type_of_literal(self, value: object) -> _Type:
        cls = value.__class__
        if cls is bool:
            return _BOOL_TYPES[TT if value else FF]
        if cls is int:
            return _LONG
        if cls is str:
            return _STRING
        assert isinstance(value, EntityUID)
        if value in self.schema.actions:
            return _Entity(value.type)
        decl = self.schema.entity_types.get(value.type)
        if decl is None or (decl.enum is not None and value.id not in decl.enum):
            raise _Fail("unrecognized-entity", f"unrecognized entity `{value}`")
        return _Entity(value.type)

    def type_of_binary(self, expr: ast.BinaryOp, caps: Capabilities) -> _Typing:
        op = expr.op
        left, _ = yield (expr.left, caps)
        right, _ = yield (expr.right, caps)
        if op in ("==", "!="):
            kind = self.type_of_eq(left, right, expr.left, expr.right)
            return _BOOL_TYPES[kind if op == "==" else _NOT[kind]], _NO_CAPS
        if op == "in":
            return _BOOL_TYPES[self.type_of_in(left, right, expr.left, expr.right)], _NO_CAPS
        if op in ("<", "<=", ">", ">="):
            if left == right and (left == _LONG or left in (_Ext("datetime"), _Ext("duration"))):
                return _BOOL_TYPES[ANY], _NO_CAPS
            if left != _LONG and not (isinstance(left, _Ext)
                                      and left.name in ("datetime", "duration")):
                raise _unexpected("Long", left)
            raise _unexpected(_format(left), right)
        if op in ("+", "-", "*"):
            if left != _LONG:
                raise _unexpected("Long", left)
            if right != _LONG:
                raise _unexpected("Long", right)
            return _LONG, _NO_CAPS
        raise _Fail("unsupported-expression", f"unknown operator `{op}`")

    def type_of_eq(self, left: _Type, right: _Type, x1: ast.Expr, x2: ast.Expr) -> str:
        if self.is_literal(x1) and self.is_literal(x2):
            return TT if cedar_equal(self.literal_value(x1), self.literal_value(x2)) else FF
        if _lub(left, right) is not None:
            return ANY
        if isinstance(left, _Entity) and isinstance(right, _Entity):
            return FF
        raise _incompatible(left, right)

    def type_of_in(self, left: _Type, right: _Type, x1: ast.Expr, x2: ast.Expr) -> str:
        if not isinstance(left, _Entity):
            raise _unexpected("Entity", left)
        child = self.literal_uid(x1)
        action = child if child is not None and child in self.schema.actions else None
        if isinstance(right, _Entity):
            parent = self.literal_uid(x2)
            if action is not None and parent is not None:
                return TT if self.schema.action_in(action, parent) else FF
            return ANY if self.schema.descendant_type(left.name, right.name) else FF
        if isinstance(right, _Set) and isinstance(right.element, _Entity):
            parents = self.literal_uids(x2)
            if action is not None and parents is not None:
                return TT if any(self.schema.action_in(action, p) for p in parents) else FF
            return ANY if self.schema.descendant_type(left.name, right.element.name) else FF
        raise _unexpected("Entity or Set<Entity>", right)

    def literal_uids(self, expr: ast.Expr) -> list[EntityUID] | None:
        if isinstance(expr, ast.SetLiteral):
            uids: list[EntityUID] = []
            for element in expr.elements:
                uid = self.literal_uid(element)
                if uid is None:
                    return None
                uids.append(uid)
            return uids
        uid = self.literal_uid(expr)
        return None if uid is None else [uid]

    def type_of_is(self, expr: ast.Is, caps: Capabilities) -> _Typing:
        ty, _ = yield (expr.expr, caps)
        if not isinstance(ty, _Entity):
            raise _unexpected("Entity", ty)
        kind = TT if ty.name == expr.entity_type else FF
        if expr.in_expr is None or kind == FF:
            return _BOOL_TYPES[kind], _NO_CAPS
        right, _ = yield (expr.in_expr, caps)
        in_kind = self.type_of_in(ty, right, expr.expr, expr.in_expr)
        if in_kind == FF:
            return _BOOL_TYPES[FF], _NO_CAPS
        return _BOOL_TYPES[in_kind], _NO_CAPS

    def entity_attrs(self, ty: _Entity) -> _Record | None:
        return self.schema.attrs.get(ty.name)

    def type_of_has(self, ty: _Type, base: ast.Expr, attr: str, caps: Capabilities) -> _Answer:
        if isinstance(ty, _Record):
            record, known_to_exist = ty, True
        elif isinstance(ty, _Entity):
            found = self.entity_attrs(ty)
            if found is None:
                if ty.name in self.schema.action_types:
                    return _BOOL_TYPES[FF], _NO_CAPS
                raise _Fail("unrecognized-entity-type", f"unrecognized entity type `{ty.name}`")
            record, known_to_exist = found, False
        else:
            raise _unexpected("Entity or Record", ty)
        entry = record.find(attr)
        if entry is None:
            return _BOOL_TYPES[FF], _NO_CAPS
        key = (base, "attr", attr)
        if key in caps or (known_to_exist and entry[0]):
            return _BOOL_TYPES[TT], _NO_CAPS
        return _BOOL_TYPES[ANY], frozenset({key})

    def type_of_get(self, ty: _Type, base: ast.Expr, attr: str, caps: Capabilities) -> _Type:
        if isinstance(ty, _Record):
            record: _Record | None = ty
            where = "record"
        elif isinstance(ty, _Entity):
            record = self.entity_attrs(ty)
            where = f"entity type `{ty.name}`"
        else:
            raise _unexpected("Entity or Record", ty)
        entry = None if record is None else record.find(attr)
        if entry is None:
            raise _Fail("unsafe-attribute-access", f"attribute `{attr}` on {where} not found")
        required, attr_type = entry
        if not required and (base, "attr", attr) not in caps:
            raise _Fail("unsafe-optional-attribute-access",
                        f"unable to guarantee safety of access to optional attribute `{attr}` "
                        f"on {where}")
        return attr_type

    def type_of_method(self, expr: ast.MethodCall, caps: Capabilities) -> _Typing:
        name = expr.name
        receiver, _ = yield (expr.receiver, caps)
        args = []
        for arg_expr in expr.args:
            args.append((yield (arg_expr, caps))[0])
        if name in ("contains", "containsAll", "containsAny", "isEmpty"):
            expected = 0 if name == "isEmpty" else 1
            if len(args) != expected:
                raise _Fail("wrong-number-arguments",
                            f"wrong number of arguments to `{name}`: expected {expected}, "
                            f"got {len(args)}")
            if not isinstance(receiver, _Set):
                raise _unexpected("Set", receiver)
            if name == "isEmpty":
                return _BOOL_TYPES[ANY], _NO_CAPS
            (arg,) = args
            if name == "contains":
                if _lub(receiver.element, arg) is None:
                    raise _incompatible(receiver.element, arg)
                return _BOOL_TYPES[ANY], _NO_CAPS
            if not isinstance(arg, _Set):
                raise _unexpected("Set", arg)
            if _lub(receiver.element, arg.element) is None:
                raise _incompatible(receiver, arg)
            return _BOOL_TYPES[ANY], _NO_CAPS
        if name in ("hasTag", "getTag"):
            if len(args) != 1:
                raise _Fail("wrong-number-arguments",
                            f"wrong number of arguments to `{name}`: expected 1, got {len(args)}")
            if not isinstance(receiver, _Entity):
                raise _unexpected("Entity", receiver)
            if args[0] != _STRING:
                raise _unexpected("String", args[0])
            key = (expr.receiver, "tag", expr.args[0])
            tag_type = self.schema.tags.get(receiver.name)
            if name == "hasTag":
                if tag_type is None:
                    return _BOOL_TYPES[FF], _NO_CAPS
                if key in caps:
                    return _BOOL_TYPES[TT], _NO_CAPS
                return _BOOL_TYPES[ANY], frozenset({key})
            if tag_type is None or key not in caps:
                raise _Fail("unsafe-tag-access",
                            f"unable to guarantee safety of access to tag "
                            f"`{_describe(expr.args[0])}` on entity type `{receiver.name}`")
            return tag_type, _NO_CAPS
        return self.check_extension(name, [receiver, *args], None), _NO_CAPS

    def type_of_call(self, name: str, args: tuple[ast.Expr, ...], caps: Capabilities
                     ) -> Generator[_Request, Any, _Type]:
        types = []
        for arg in args:
            types.append((yield (arg, caps))[0])
        return self.check_extension(name, types, args)

    def check_extension(self, name: str, types: list[_Type],
                        args: tuple[ast.Expr, ...] | None) -> _Type:
        function = FUNCTIONS.get(name)
        if function is not None:
            if len(types) != function.arity:
                raise _Fail("wrong-number-arguments",
                            "wrong number of arguments in extension function application. "
                            f"Expected {function.arity}, got {len(types)}")
            assert args is not None
            (arg,) = args
            if not (isinstance(arg, ast.Literal) and arg.value.__class__ is str):
                raise _Fail("non-literal-extension-constructor",
                            "extension constructors may not be called with non-literal "
                            "expressions")
            try:
                function.impl(arg.value)
            except EvaluationError as exc:
                raise _Fail("invalid-extension-literal",
                            f"error during extension function argument validation: "
                            f"{exc.message}") from None
            return _Ext(function.return_type)
        method = METHODS.get(name)
        if method is None:
            raise _Fail("undefined-function", f"undefined extension function `{name}`")
        if len(types) != method.arity:
            raise _Fail("wrong-number-arguments",
                        "wrong number of arguments in extension function application. "
                        f"Expected {method.arity}, got {len(types)}")
        for expected, ty in zip((method.receiver_type, *method.argument_types), types,
                                strict=True):
            if _ext_or_prim(expected) != ty:
                raise _unexpected(expected, ty)
        return _BOOL_TYPES[ANY] if method.return_type == "Bool" else _ext_or_prim(
            method.return_type)


def _ext_or_prim(name: str) -> _Type:
    if name == "Bool":
        return _BOOL_TYPES[ANY]
    if name in ("Long", "String"):
        return _Prim(name)
    return _Ext(name)


def _describe(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Literal):
        return format_value(expr.value)
    return type(expr).__name__


def check_in_environment(schema: PreparedSchema, env: Env, expr: ast.Expr
                         ) -> PolicyTypeError | None:
    """The first error in ``expr`` (a whole policy's expression) in one environment, or
    None when it has a Boolean type there."""
    try:
        checker = _Checker(schema, env)
        checker.bool_kind(checker.run(expr, _NO_CAPS)[0])
    except _Fail as exc:
        return exc.error
    except RecursionError:
        # Expressions are typed without recursion, but types themselves are compared,
        # joined and printed recursively: a set literal nested ~1,000 levels deep has a
        # type as deep (cedar-policy overflows its stack on ~600). Refused, not crashed.
        return PolicyTypeError("nesting-too-deep",
                               "the types of this expression are nested too deeply to check",
                               getattr(expr, "span", None))
    return None
