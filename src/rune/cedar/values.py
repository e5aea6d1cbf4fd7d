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

import threading
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
        if other.__class__ is not CedarSet:
            return False
        state = _EQUALITY
        depth = state.depth
        if depth >= _EQUAL_INLINE:
            return _deep_equal(self, other)
        # Comparing the key sets compares nested sets and records through this method
        # again: count the levels (see `_EQUAL_INLINE`).
        state.depth = depth + 1
        try:
            return self.keys == other.keys  # type: ignore[attr-defined, no-any-return]
        finally:
            state.depth = depth

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
    """An immutable-by-convention Cedar record with Cedar equality and a hash.

    The hash covers the values too (records with the same keys are common: a set of
    ten thousand `{"id": ...}` records must not fall into one hash bucket), and is
    remembered. INVARIANT: a record is not changed once it has been hashed (records are
    filled right after they are created, then only read).
    """

    __slots__ = ("_hash",)
    _hash: int

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not CedarRecord:
            return False
        if len(self) != len(other):  # type: ignore[arg-type]
            return False
        state = _EQUALITY
        depth = state.depth
        if depth >= _EQUAL_INLINE:
            return _deep_equal(self, other)
        state.depth = depth + 1  # (as in `CedarSet.__eq__`)
        try:
            for k, v in self.items():
                if k not in other:  # type: ignore[operator]
                    return False
                if not cedar_equal(v, other[k]):  # type: ignore[index]
                    return False
            return True
        finally:
            state.depth = depth

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            return _hash_records(self)

    def __repr__(self) -> str:
        return format_value(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (CedarRecord, (dict(self),))


class _EqualityDepth(threading.local):
    """How many set or record comparisons are under way in this thread."""

    depth = 0


_EQUALITY = _EqualityDepth()
# Nested sets and records compare through Python's recursion (frozenset equality calls
# `CedarSet.__eq__` on its elements). Up to this depth that is the fastest way; below
# it, `_deep_equal` compares without recursion, so values nested as deeply as Cedar
# allows (thousands of levels) never reach Python's recursion limit.
_EQUAL_INLINE = 48


def _deep_equal(a: CedarSet | CedarRecord, b: CedarSet | CedarRecord) -> bool:
    """Cedar equality of two nested values, without recursion: each distinct set or
    record (by value) gets a number, bottom-up, and the two numbers are compared."""
    numbers: dict[Any, int] = {}  # flat form -> number
    memo: dict[int, Any] = {}  # id(container) -> its key; the values outlive the call
    stack: list[tuple[Any, bool]] = [(b, False), (a, False)]
    while stack:
        value, children_done = stack.pop()
        if id(value) in memo:
            continue
        members = value.keys if value.__class__ is CedarSet else value.values()
        if not children_done:
            stack.append((value, True))
            stack.extend((m, False) for m in members
                         if (m.__class__ is CedarSet or m.__class__ is CedarRecord)
                         and id(m) not in memo)
            continue
        flat: Any
        if value.__class__ is CedarSet:
            flat = (0, frozenset(_flat_key(m, memo) for m in members))
        else:
            flat = (1, frozenset((k, _flat_key(set_key(v), memo)) for k, v in value.items()))
        memo[id(value)] = ("container", numbers.setdefault(flat, len(numbers)))
    return bool(memo[id(a)] == memo[id(b)])


def _flat_key(key: Any, memo: dict[int, Any]) -> Any:
    """A set key, or the number `_deep_equal` gave a nested set or record."""
    if key.__class__ is CedarSet or key.__class__ is CedarRecord:
        return memo[id(key)]
    return key


def _hash_records(record: CedarRecord) -> int:
    """Hash ``record`` and each record nested in it not hashed yet, innermost first,
    without recursion (set elements are hashed when their set is built)."""
    stack: list[tuple[CedarRecord, bool]] = [(record, False)]
    while stack:
        item, children_done = stack.pop()
        if not children_done:
            stack.append((item, True))
            stack.extend((v, False) for v in item.values()
                         if v.__class__ is CedarRecord and not hasattr(v, "_hash"))
            continue
        item._hash = hash(frozenset((k, hash(set_key(v))) for k, v in item.items()))
    return record._hash


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
    """Render a value in Cedar syntax (sets sorted, records by key).

    Nested sets and records are rendered bottom-up from an explicit stack, so a value
    nested thousands of levels deep is rendered without recursion.
    """
    cls = value.__class__
    if cls is not CedarSet and cls is not CedarRecord:
        return _format_scalar(value)
    done: dict[int, str] = {}  # id(container) -> its text; the values outlive the call
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, children_done = stack.pop()
        if id(item) in done:
            continue
        members = list(item) if item.__class__ is CedarSet else list(item.values())
        if not children_done:
            stack.append((item, True))
            stack.extend((m, False) for m in members
                         if m.__class__ is CedarSet or m.__class__ is CedarRecord)
            continue
        if item.__class__ is CedarSet:
            text = "[" + ", ".join(sorted(_shown(m, done) for m in members)) + "]"
        else:
            pairs = sorted(item.items())
            text = "{" + ", ".join(f"{_quote(k)}: {_shown(v, done)}" for k, v in pairs) + "}"
        done[id(item)] = text
    return done[id(value)]


def _shown(value: Value, done: dict[int, str]) -> str:
    cls = value.__class__
    if cls is CedarSet or cls is CedarRecord:
        return done[id(value)]
    return _format_scalar(value)


def _format_scalar(value: Value) -> str:
    cls = value.__class__
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    if cls is str:
        return _quote(value)
    return str(value)
