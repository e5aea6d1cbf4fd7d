"""Cedar runtime values and their equality.

Representation (chosen for speed on the request path):

* Bool   -> Python ``bool``
* Long   -> Python ``int`` (checked to 64 bits by the arithmetic operators)
* String -> Python ``str``
* Entity -> `EntityUID`
* Set    -> `CedarSet`
* Record -> `CedarRecord` (a ``dict`` subclass with Cedar equality and a hash)
* ip / decimal / datetime / duration -> classes in `rune.cedar.extensions`

Python says ``True == 1``; Cedar does not. `cedar_equal` and the set/record types keep
Booleans apart from Longs everywhere, including inside sets and records.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = [
    "LONG_MAX",
    "LONG_MIN",
    "CedarRecord",
    "CedarSet",
    "EntityUID",
    "Value",
    "cedar_equal",
    "escape_debug",
    "format_value",
    "intern_uid",
    "type_name",
]

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1

Value = Any  # bool | int | str | EntityUID | CedarSet | CedarRecord | extension value


class _BoolKey:
    """Stand-in for a Boolean inside a set's key table, so `true` and `1` differ."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "true" if self.value else "false"


_TRUE_KEY = _BoolKey(True)
_FALSE_KEY = _BoolKey(False)


def set_key(value: Value) -> Any:
    """The hashable key a value is stored under in a `CedarSet`."""
    if value is True:
        return _TRUE_KEY
    if value is False:
        return _FALSE_KEY
    return value


def _unkey(key: Any) -> Value:
    if key is _TRUE_KEY:
        return True
    if key is _FALSE_KEY:
        return False
    return key


class EntityUID(tuple):  # type: ignore[type-arg]
    """An entity reference `Type::"id"`.

    A 2-tuple subclass so that hashing and equality run in C: entity uids are compared
    and looked up on every decision. Cedar values never include plain tuples, so the
    tuple equality this inherits cannot confuse a uid with another value.
    """

    __slots__ = ()

    def __new__(cls, type: str, id: str) -> EntityUID:  # noqa: A002 - Cedar's own field names
        return tuple.__new__(cls, (type, id))

    @property
    def type(self) -> str:
        """The entity type name, e.g. `Ns::User`."""
        return self[0]  # type: ignore[no-any-return]

    @property
    def id(self) -> str:
        """The entity id."""
        return self[1]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"EntityUID({self[0]!r}, {self[1]!r})"

    def __str__(self) -> str:
        return f"{self[0]}::{_quote(self[1])}"

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        return (self[0], self[1])

    def to_json(self) -> dict[str, str]:
        """The `{"type": ..., "id": ...}` form."""
        return {"type": self[0], "id": self[1]}


_INTERNED: dict[EntityUID, EntityUID] = {}
_INTERN_MAX = 1 << 18


def intern_uid(uid: EntityUID) -> EntityUID:
    """The canonical object for ``uid``.

    Entity stores and the request parser share uid objects, so dictionary lookups on
    the decision path succeed on identity and touch less memory. Bounded: the table is
    cleared when full (interning is an optimization, never needed for correctness).
    """
    got = _INTERNED.get(uid)
    if got is None:
        if len(_INTERNED) >= _INTERN_MAX:
            _INTERNED.clear()
        _INTERNED[uid] = got = uid
    return got


class CedarSet:
    """An immutable Cedar set. Elements are kept with Cedar's notion of equality."""

    __slots__ = ("_hash", "keys")

    keys: frozenset[Any]

    def __init__(self, elements: Iterable[Value] = ()) -> None:
        self.keys = frozenset(set_key(e) for e in elements)
        self._hash = -1

    @classmethod
    def _from_keys(cls, keys: frozenset[Any]) -> CedarSet:
        s = cls.__new__(cls)
        s.keys = keys
        s._hash = -1
        return s

    def __iter__(self) -> Iterator[Value]:
        return (_unkey(k) for k in self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, value: Value) -> bool:
        return set_key(value) in self.keys

    def __eq__(self, other: object) -> bool:
        return other.__class__ is CedarSet and self.keys == other.keys  # type: ignore[attr-defined]

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        if self._hash == -1:
            self._hash = hash(self.keys)
        return self._hash

    def __repr__(self) -> str:
        return format_value(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (CedarSet, (list(self),))

    def contains(self, value: Value) -> bool:
        """Cedar's `.contains`."""
        return set_key(value) in self.keys

    def contains_all(self, other: CedarSet) -> bool:
        """Cedar's `.containsAll`."""
        return other.keys <= self.keys

    def contains_any(self, other: CedarSet) -> bool:
        """Cedar's `.containsAny`."""
        return not self.keys.isdisjoint(other.keys)


class CedarRecord(dict[str, Any]):
    """An immutable-by-convention Cedar record with Cedar equality and a hash."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not CedarRecord:
            return False
        if len(self) != len(other):  # type: ignore[arg-type]
            return False
        for k, v in self.items():
            if k not in other:  # type: ignore[operator]
                return False
            if not cedar_equal(v, other[k]):  # type: ignore[index]
                return False
        return True

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.keys()))

    def __repr__(self) -> str:
        return format_value(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (CedarRecord, (dict(self),))


def cedar_equal(a: Value, b: Value) -> bool:
    """Cedar's `==`: never an error, false across types (so `true != 1`)."""
    if a.__class__ is bool or b.__class__ is bool:
        return a is b
    return bool(a == b)


def type_name(value: Value) -> str:
    """The Cedar name of a value's type, for error messages and the validator."""
    cls = value.__class__
    if cls is bool:
        return "Bool"
    if cls is int:
        return "Long"
    if cls is str:
        return "String"
    if cls is EntityUID:
        return f"Entity<{value.type}>"
    if cls is CedarSet:
        return "Set"
    if cls is CedarRecord:
        return "Record"
    return str(getattr(cls, "cedar_type", cls.__name__))


def _is_grapheme_extend(ch: str) -> bool:
    # Unicode's Grapheme_Extend property, closely enough: nonspacing and enclosing marks,
    # the half-width katakana voicing marks and the emoji skin-tone modifiers.
    cp = ord(ch)
    return (unicodedata.category(ch) in ("Mn", "Me") or cp in (0x200C, 0xFF9E, 0xFF9F)
            or 0x1F3FB <= cp <= 0x1F3FF)


_SIMPLE_ESCAPES = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"',
                   "'": "\\'", "\0": "\\0"}


def escape_debug(text: str) -> str:
    """Escape a string as Cedar prints it (Rust's `str::escape_debug`).

    This is also Cedar's *normalized* spelling: uid text in a request is accepted only
    when it is already written this way.
    """
    if text.isprintable() and "'" not in text and '"' not in text and "\\" not in text and (
        not text or not _is_grapheme_extend(text[0])
    ):
        return text
    out = []
    for i, ch in enumerate(text):
        simple = _SIMPLE_ESCAPES.get(ch)
        if simple is not None:
            out.append(simple)
        elif not ch.isprintable() or (i == 0 and _is_grapheme_extend(ch)):
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return "".join(out)


def _quote(s: str) -> str:
    return f'"{escape_debug(s)}"'


def format_value(value: Value) -> str:
    """Render a value in Cedar syntax."""
    cls = value.__class__
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    if cls is str:
        return _quote(value)
    if cls is EntityUID:
        return str(value)
    if cls is CedarSet:
        return "[" + ", ".join(sorted(format_value(v) for v in value)) + "]"
    if cls is CedarRecord:
        items = sorted(value.items())
        return "{" + ", ".join(f"{_quote(k)}: {format_value(v)}" for k, v in items) + "}"
    return str(value)
