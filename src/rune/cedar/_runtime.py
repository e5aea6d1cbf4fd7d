"""Evaluation primitives called by compiled policies when types are not known statically.

Every function either returns a Cedar value or raises `EvaluationError` exactly where
Cedar's evaluator raises one. Compiled code inlines the fast path and falls back here.
"""

from __future__ import annotations

from typing import Any, NoReturn

from rune.cedar.errors import EvaluationError
from rune.cedar.values import (
    LONG_MAX,
    LONG_MIN,
    CedarRecord,
    CedarSet,
    EntityUID,
    cedar_equal,
    set_key,
    type_name,
)

__all__ = [
    "EMPTY",
    "add",
    "attr",
    "check_bool",
    "contains",
    "contains_all",
    "contains_any",
    "entity_in",
    "fail",
    "get_tag",
    "has_attr",
    "has_path",
    "has_tag",
    "is_empty",
    "is_type",
    "like",
    "make_record",
    "make_set",
    "mul",
    "neg",
    "not_",
    "ordered",
    "sub",
]

EMPTY: frozenset[EntityUID] = frozenset()
_ENTITY = EntityUID
_SET = CedarSet
_RECORD = CedarRecord


def _type_error(expected: str, value: Any) -> NoReturn:
    raise EvaluationError(
        f"type error: expected {expected}, got {type_name(value)}", code="type-error"
    )


def fail(message: str, code: str = "evaluation-error") -> NoReturn:
    """Raise an evaluation error (used for constant subexpressions known to fail)."""
    raise EvaluationError(message, code=code)


def check_bool(value: Any) -> bool:
    """`value` if it is a Bool, else a type error."""
    if value is True or value is False:
        return value  # type: ignore[no-any-return]
    _type_error("Bool", value)


def not_(value: Any) -> bool:
    """Cedar `!`."""
    if value is True:
        return False
    if value is False:
        return True
    _type_error("Bool", value)


def _long(value: Any) -> int:
    if value.__class__ is not int:
        _type_error("Long", value)
    return value  # type: ignore[no-any-return]


def _overflow(op: str, a: int, b: int | None = None) -> NoReturn:
    detail = f"{op}{a}" if b is None else f"{a} {op} {b}"
    raise EvaluationError(f"integer overflow: `{detail}`", code="integer-overflow")


def add(a: Any, b: Any) -> int:
    """Cedar `+` on Longs with overflow checking."""
    r = _long(a) + _long(b)
    if LONG_MIN <= r <= LONG_MAX:
        return r
    _overflow("+", a, b)


def sub(a: Any, b: Any) -> int:
    """Cedar binary `-`."""
    r = _long(a) - _long(b)
    if LONG_MIN <= r <= LONG_MAX:
        return r
    _overflow("-", a, b)


def mul(a: Any, b: Any) -> int:
    """Cedar `*`."""
    r = _long(a) * _long(b)
    if LONG_MIN <= r <= LONG_MAX:
        return r
    _overflow("*", a, b)


def neg(a: Any) -> int:
    """Cedar unary `-`."""
    r = -_long(a)
    if r <= LONG_MAX:
        return r
    _overflow("-", a)


def ordered(a: Any, b: Any) -> None:
    """Check that `a` and `b` can be compared with `< <= > >=` (Long, or same ordered extension)."""
    ca = a.__class__
    if ca is int and b.__class__ is int:
        return
    if ca is b.__class__ and getattr(ca, "cedar_ordered", False):
        return
    if ca is int or not getattr(ca, "cedar_ordered", False):
        if ca is not int:
            _type_error("Long", a)
        _type_error("Long", b)
    _type_error(type_name(a), b)


def lt(a: Any, b: Any) -> bool:
    """Cedar `<`."""
    ordered(a, b)
    return bool(a < b)


def le(a: Any, b: Any) -> bool:
    """Cedar `<=`."""
    ordered(a, b)
    return bool(a <= b)


def entity_in(entities: dict[EntityUID, Any], a: Any, b: Any) -> bool:
    """Cedar `a in b`: `b` is an entity or a set of entities."""
    if a.__class__ is not _ENTITY:
        _type_error("Entity", a)
    if b.__class__ is _ENTITY:
        if a == b:
            return True
        e = entities.get(a)
        return e is not None and b in e.ancestors
    if b.__class__ is _SET:
        for item in b.keys:
            if item.__class__ is not _ENTITY:
                _type_error("Entity", item)
        if a in b.keys:
            return True
        e = entities.get(a)
        return e is not None and not b.keys.isdisjoint(e.ancestors)
    _type_error("Entity or Set", b)


def attr(entities: dict[EntityUID, Any], value: Any, name: str) -> Any:
    """Cedar `value.name` on a record or an entity."""
    cls = value.__class__
    if cls is _RECORD:
        try:
            return value[name]
        except KeyError:
            raise EvaluationError(
                f"record does not have the attribute `{name}`", code="missing-attribute"
            ) from None
    if cls is _ENTITY:
        e = entities.get(value)
        if e is None:
            raise EvaluationError(f"entity `{value}` does not exist", code="entity-does-not-exist")
        try:
            return e.attrs[name]
        except KeyError:
            raise EvaluationError(
                f"`{value}` does not have the attribute `{name}`", code="missing-attribute"
            ) from None
    _type_error("Entity or Record", value)


def has_attr(entities: dict[EntityUID, Any], value: Any, name: str) -> bool:
    """Cedar `value has name` (false for an entity that does not exist)."""
    cls = value.__class__
    if cls is _RECORD:
        return name in value
    if cls is _ENTITY:
        e = entities.get(value)
        return e is not None and name in e.attrs
    _type_error("Entity or Record", value)


def has_path(entities: dict[EntityUID, Any], value: Any, names: tuple[str, ...]) -> bool:
    """Cedar `value has a.b.c`: `value has a && value.a has b && value.a.b has c`, walked
    once instead of re-reading `value.a` for every later name."""
    for name in names:
        if not has_attr(entities, value, name):
            return False
        value = attr(entities, value, name)
    return True


def get_tag(entities: dict[EntityUID, Any], value: Any, key: Any) -> Any:
    """Cedar `value.getTag(key)`."""
    if value.__class__ is not _ENTITY:
        _type_error("Entity", value)
    if key.__class__ is not str:
        _type_error("String", key)
    e = entities.get(value)
    if e is None:
        raise EvaluationError(f"entity `{value}` does not exist", code="entity-does-not-exist")
    try:
        return e.tags[key]
    except KeyError:
        raise EvaluationError(f"`{value}` does not have the tag `{key}`",
                              code="missing-tag") from None


def has_tag(entities: dict[EntityUID, Any], value: Any, key: Any) -> bool:
    """Cedar `value.hasTag(key)`."""
    if value.__class__ is not _ENTITY:
        _type_error("Entity", value)
    if key.__class__ is not str:
        _type_error("String", key)
    e = entities.get(value)
    return e is not None and key in e.tags


def is_type(value: Any, entity_type: str) -> bool:
    """Cedar `value is T`."""
    if value.__class__ is not _ENTITY:
        _type_error("Entity", value)
    return value[0] == entity_type  # type: ignore[no-any-return]


def like(value: Any, matcher: Any) -> bool:
    """Cedar `value like pattern`, the pattern precompiled to a matcher function."""
    if value.__class__ is not str:
        _type_error("String", value)
    return matcher(value)  # type: ignore[no-any-return]


def contains(s: Any, value: Any) -> bool:
    """Cedar `s.contains(value)`."""
    if s.__class__ is not _SET:
        _type_error("Set", s)
    return set_key(value) in s.keys


def contains_all(s: Any, other: Any) -> bool:
    """Cedar `s.containsAll(other)`."""
    if s.__class__ is not _SET:
        _type_error("Set", s)
    if other.__class__ is not _SET:
        _type_error("Set", other)
    return other.keys <= s.keys  # type: ignore[no-any-return]


def contains_any(s: Any, other: Any) -> bool:
    """Cedar `s.containsAny(other)`."""
    if s.__class__ is not _SET:
        _type_error("Set", s)
    if other.__class__ is not _SET:
        _type_error("Set", other)
    return not s.keys.isdisjoint(other.keys)


def is_empty(s: Any) -> bool:
    """Cedar `s.isEmpty()`."""
    if s.__class__ is not _SET:
        _type_error("Set", s)
    return not s.keys


def make_set(*elements: Any) -> CedarSet:
    """A set literal."""
    return CedarSet(elements)


def make_record(*pairs: Any) -> CedarRecord:
    """A record literal from alternating keys and values."""
    r = CedarRecord()
    for i in range(0, len(pairs), 2):
        r[pairs[i]] = pairs[i + 1]
    return r


def equal(a: Any, b: Any) -> bool:
    """Cedar `==`."""
    return cedar_equal(a, b)
