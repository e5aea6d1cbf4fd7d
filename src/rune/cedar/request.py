"""Authorization requests: principal, action, resource and context, parsed once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from rune.cedar import limits as _limits
from rune.cedar.errors import CedarError, ParseError, RequestError
from rune.cedar.json_format import entity_uid_from_json, value_from_json
from rune.cedar.values import (
    _INTERNED,
    LONG_MAX,
    LONG_MIN,
    CedarRecord,
    CedarSet,
    EntityUID,
    escape_debug,
    intern_uid,
    type_name,
)
from rune.errors import shown

if TYPE_CHECKING:
    from rune.cedar.schema import Schema

__all__ = ["Request", "check_context", "to_entity_uid"]

_RESERVED = frozenset({"true", "false", "if", "then", "else", "in", "is", "like", "has",
                       "__cedar"})
_UID_CACHE: dict[str | EntityUID, EntityUID] = {}  # uid text (or uid) -> interned uid
_TYPES: set[str] = set()  # entity type names already checked
_UID_CACHE_MAX = 1 << 16
_LMIN, _LMAX = LONG_MIN, LONG_MAX
_tuple_new = tuple.__new__
_new_object = object.__new__


def _valid_type(name: str) -> bool:
    """Whether ``name`` is a (possibly namespaced) entity type in normalized spelling."""
    if name in _TYPES:
        return True
    ok = name.isascii() and all(part.isidentifier() and part not in _RESERVED
                                for part in name.split("::"))
    if ok and len(_TYPES) < 4096:
        _TYPES.add(name)
    return ok


def _simple_uid(text: str) -> EntityUID | None:
    """`Type::"id"` without escapes, in normalized spelling, read with string methods
    (the common case); None when the full parser must decide."""
    cut = text.find('::"')
    if cut <= 0 or text[-1] != '"' or len(text) < cut + 4:
        return None
    ident = text[cut + 3:-1]
    if '"' in ident or "\\" in ident or "'" in ident:
        return None  # escapes (and `'`, which Cedar prints escaped): the parser decides
    if not (ident.isascii() and ident.isprintable()) and escape_debug(ident) != ident:
        return None
    name = text[:cut]
    if not _valid_type(name):
        return None
    return _tuple_new(EntityUID, (name, ident))  # type: ignore[no-any-return]


def _parse_uid(value: str, path: str, error: type[CedarError]) -> EntityUID:
    """Uid text the fast path of `to_entity_uid` did not take."""
    uid = _simple_uid(value)
    if uid is not None:
        return uid
    from rune.cedar.parser import parse_entity_uid

    try:
        uid = parse_entity_uid(value)
    except ParseError as exc:
        raise error(f"invalid entity uid `{value}`: {exc.diagnostics[0].message}",
                    code="invalid-entity-uid", path=path) from None
    if str(uid) != value:
        # As Cedar: uid text must be in normalized spelling (no spaces or comments,
        # escapes exactly as Cedar prints them).
        raise error(f"entity uid `{value}` is not normalized: write it as `{uid}`",
                    code="unnormalized-entity-uid", path=path)
    return uid


def to_entity_uid(value: Any, path: str = "$", error: type[CedarError] = RequestError) -> EntityUID:
    """Accept an `EntityUID`, `'Type::"id"'` text or `{"type": T, "id": I}` (or `__entity`)."""
    cls = value.__class__
    if cls is EntityUID:
        # Remembered too, so `Request` finds it in the cache next time.
        got = _INTERNED.get(value) or intern_uid(value)
        if len(_UID_CACHE) >= _UID_CACHE_MAX:
            _UID_CACHE.clear()
        _UID_CACHE[value] = got
        return got  # type: ignore[no-any-return]
    if cls is str:
        cached = _UID_CACHE.get(value)
        if cached is not None:
            return cached
        uid = uid_from_text(value, path, error)
        known = _INTERNED.get(uid)  # (intern_uid inlined)
        if known is None:
            known = intern_uid(uid)
        if len(_UID_CACHE) >= _UID_CACHE_MAX:
            _UID_CACHE.clear()
        _UID_CACHE[value] = known
        return known
    if cls is dict:
        return entity_uid_from_json(value, path, error)
    raise error(f"expected an entity uid, got `{shown(value)}`", code="invalid-entity-uid",
                path=path)


def uid_from_text(value: str, path: str = "$", error: type[CedarError] = RequestError
                  ) -> EntityUID:
    """The uid of `'Type::"id"'` text, neither interned nor remembered by its text (for
    callers that keep their own table by text and find the canonical object otherwise,
    such as the engine's principals: an entity's own uid).

    Raises:
        CedarError: (``error``, `invalid-entity-uid` or `unnormalized-entity-uid`) the
            text is not a uid in Cedar's normalized spelling.
    """
    # Inline fast path: a known type and a plain ASCII id (`_simple_uid` in full).
    uid: EntityUID | None = None
    cut = value.find('::"')
    if cut > 0 and value[-1] == '"':
        ident = value[cut + 3:-1]
        name = value[:cut]
        if (name in _TYPES and ident.isascii() and ident.isprintable() and '"' not in ident
                and "\\" not in ident and "'" not in ident and len(value) >= cut + 4):
            uid = _tuple_new(EntityUID, (name, ident))
    if uid is None:
        uid = _parse_uid(value, path, error)
    return uid


def _context(value: Any, schema: Schema | None, action: EntityUID,
             max_size: int = _limits.MAX_CONTEXT_SIZE,
             max_depth: int = _limits.MAX_CONTEXT_DEPTH) -> CedarRecord:
    if value is None:
        return CedarRecord()
    if value.__class__ is CedarRecord:
        return value  # type: ignore[no-any-return]
    if not isinstance(value, Mapping):
        raise RequestError("context must be a record (a JSON object)", code="invalid-context",
                           path="$.context")
    if value.__class__ is not dict:
        value = dict(value)
    check_context(value, max_size, max_depth)
    if schema is not None:
        return schema.parse_context(action, value)
    # (Flat contexts of strings, Booleans and Longs take `Request.__new__`'s fast path.)
    result = value_from_json(value, "$.context", RequestError)
    if result.__class__ is not CedarRecord:
        # A lone `__entity` or `__extn` key makes the object an escape, as in Cedar.
        raise RequestError(f"context must be a record, not a value of type `{type_name(result)}`",
                           code="invalid-context", path="$.context")
    return result  # type: ignore[no-any-return]


_PLAIN_KEYS = frozenset({int, float, bool, type(None)})
_Trail = tuple[Any, str] | None  # (the parent's trail, this step): a path built on demand
# Nesting levels `_plain_record` converts; deeper contexts take the full parse.
_PLAIN_DEPTH = 8


def _plain_record(value: dict[Any, Any], max_size: int = _limits.MAX_CONTEXT_SIZE,
                  max_depth: int = _limits.MAX_CONTEXT_DEPTH) -> CedarRecord | None:
    """``value`` as a record, when it holds only string keys and strings, Booleans,
    in-range integers, and lists and dicts of those nested at most `_PLAIN_DEPTH` levels,
    with no one-key JSON escape (`__entity`, `__extn`, `__expr`), within ``max_size`` and
    ``max_depth`` as `check_context` counts them: the full parse (`_context`) gives the
    same record for those. None for anything else, which the full parse then decides or
    reports (with the path of what crossed a limit).

    The common nested context (a `session` record, a list of scopes) costs a copy, not
    the full parse's path strings and checks at every level."""
    if _is_escape(value):
        return None  # a context that is an escape is not a record: the full parse says so
    size = [1]
    deepest = min(_PLAIN_DEPTH, max_depth - 1)
    record = _plain_items(value, 0, deepest, size, max_size)
    return record if record is not None and size[0] <= max_size else None


def _is_escape(value: dict[Any, Any]) -> bool:
    """A one-key JSON escape (an entity, extension or expression), not a record."""
    return len(value) == 1 and ("__entity" in value or "__extn" in value
                                or "__expr" in value)


def _plain_nested(value: Any, depth: int, deepest: int, size: list[int],
                  max_size: int) -> Any:
    """A dict or list one level below ``depth`` converted as `_plain_record` does, or
    None (too deep, an escape, or anything else: the full parse decides)."""
    if depth >= deepest:
        return None
    k = value.__class__
    if k is dict:
        if _is_escape(value):
            return None
        return _plain_items(value, depth + 1, deepest, size, max_size)
    if k is list:
        return _plain_set(value, depth + 1, deepest, size, max_size)
    return None


def _plain_items(value: dict[Any, Any], depth: int, deepest: int, size: list[int],
                 max_size: int) -> CedarRecord | None:
    record = CedarRecord(value)
    grown = 0
    for key, v in value.items():
        if key.__class__ is not str:
            return None
        k = v.__class__
        if k is str:
            grown += 2 + len(key) + len(v)
            continue
        grown += 2 + len(key)
        if k is bool:
            continue
        if k is int:
            if _LMIN <= v <= _LMAX:
                continue
            return None
        inner = _plain_nested(v, depth, deepest, size, max_size)
        if inner is None:
            return None
        record[key] = inner
    size[0] += grown
    return record if size[0] <= max_size else None


def _plain_set(items: list[Any], depth: int, deepest: int, size: list[int],
               max_size: int) -> CedarSet | None:
    """A list as `_plain_record` converts it (None: the full parse decides)."""
    converted: list[Any] | None = None
    grown = len(items)
    for i, v in enumerate(items):
        k = v.__class__
        if k is str:
            grown += len(v)
            continue
        if k is bool:
            continue
        if k is int:
            if _LMIN <= v <= _LMAX:
                continue
            return None
        inner = _plain_nested(v, depth, deepest, size, max_size)
        if inner is None:
            return None
        if converted is None:
            converted = list(items)
        converted[i] = inner
    size[0] += grown
    if size[0] > max_size:
        return None
    return CedarSet(items if converted is None else converted)


def _path(trail: _Trail) -> str:
    steps: list[str] = []
    while trail is not None:
        trail, step = trail
        steps.append(step)
    return "$.context" + "".join(reversed(steps))


def check_context(context: Mapping[Any, Any], max_size: int = _limits.MAX_CONTEXT_SIZE,
                  max_depth: int = _limits.MAX_CONTEXT_DEPTH) -> None:
    """Refuse a context (JSON-style, before parsing) larger than ``max_size`` or nested
    deeper than ``max_depth`` (see `rune.cedar.limits`), or with a key that is not a
    string at any depth (JSON objects have only string keys; anything else would reach
    the evaluator), in one loop: nothing recurses, and a context that contains itself is
    too deep.

    Raises:
        RequestError: `context-too-large`, `nesting-too-deep` or `invalid-key`, with the
            JSON path of the value that crossed the limit.
    """
    size = 1
    stack: list[tuple[Any, int, _Trail]] = [(context, 1, None)]
    while stack:
        value, depth, trail = stack.pop()
        if depth > max_depth:
            raise RequestError(
                f"context is nested too deeply: more than {max_depth:,} levels of records "
                f"and sets",
                code="nesting-too-deep", path=_path(trail))
        if isinstance(value, Mapping):
            items: Any = value.items()
        else:
            items = enumerate(value)
        mapping = isinstance(value, Mapping)
        for key, item in items:
            if mapping:
                if key.__class__ is not str:
                    text = repr(key) if key.__class__ in _PLAIN_KEYS else "..."
                    raise RequestError(
                        f"record keys must be strings, found `{text[:40]}` "
                        f"({type(key).__name__})",
                        code="invalid-key", path=_path(trail))
                size += 1 + len(key)
            size += 1
            if item.__class__ is str:
                size += len(item)
            elif isinstance(item, (Mapping, list, tuple)):
                step = f".{shown(key)}" if mapping else f"[{key}]"
                stack.append((item, depth + 1, (trail, step)))
            if size > max_size:
                step = f".{shown(key)}" if mapping else f"[{key}]"
                raise RequestError(
                    f"context is too large: more than {max_size:,} values and characters",
                    code="context-too-large", path=_path((trail, step)))


class Request:
    """An authorization request: ``principal``, ``action``, ``resource`` (`EntityUID`s)
    and ``context`` (a `CedarRecord`), read-only.

    Entity uids may be given as `EntityUID`, `'Type::"id"'` text, or `{"type": T, "id": I}`;
    the context as a JSON-style mapping with string keys (with `__entity`/`__extn`
    escapes where needed).
    With a ``schema``, the context is parsed by the declared types and the request is
    validated against the action's `appliesTo`. A request also unpacks like the tuple
    ``(principal, action, resource, context)``.

    A context larger than ``max_context_size`` or nested deeper than
    ``max_context_depth`` is refused (`rune.cedar.limits`: by default 1 Mi values and
    characters, and 2,000 levels; an engine passes its bundle's `[limits]`). A context
    given as a `CedarRecord` is taken as already parsed and checked.

    Raises:
        RequestError: an ill-formed uid or context, or a request the schema rejects.
    """

    # A slotted class, not a NamedTuple: every decision builds one, and this is about
    # twice as fast to construct. The fields live in private slots behind read-only
    # properties; RUNE's own hot paths read the slots.
    __slots__ = ("_a", "_c", "_p", "_r")

    def __init__(
        self,
        principal: Any,
        action: Any,
        resource: Any,
        context: Any = None,
        schema: Schema | None = None,
        *,
        max_context_size: int = _limits.MAX_CONTEXT_SIZE,
        max_context_depth: int = _limits.MAX_CONTEXT_DEPTH,
    ) -> None:
        # Hot path: uids given as text are looked up in the parse cache inline (a dict
        # uid raises TypeError and takes the full path).
        cache = _UID_CACHE
        try:
            p = cache.get(principal)
            a = cache.get(action)
            r = cache.get(resource)
        except TypeError:
            p = a = r = None
        if p is None:
            p = to_entity_uid(principal, "$.principal")
        if a is None:
            a = to_entity_uid(action, "$.action")
        if r is None:
            r = to_entity_uid(resource, "$.resource")
        if schema is None and context.__class__ is dict:
            # Fast path: a flat context of strings, Booleans and in-range integers, under
            # string keys, sized as `check_context` sizes it.
            size = 1 + 2 * len(context)
            for key, v in context.items():
                k = v.__class__
                if key.__class__ is not str:
                    pass  # (`_context` reports it)
                elif k is str:
                    size += len(key) + len(v)
                    continue
                elif k is int:
                    if _LMIN <= v <= _LMAX:
                        size += len(key)
                        continue
                elif k is bool:
                    size += len(key)
                    continue
                # Nested (or not plain): converted as a whole, or else the full parse.
                plain = _plain_record(context, max_context_size, max_context_depth)
                c = plain if plain is not None else _context(
                    context, None, a, max_context_size, max_context_depth)
                break
            else:
                if size > max_context_size:
                    check_context(context, max_context_size)  # raises `context-too-large`
                c = CedarRecord(context)
        else:
            c = _context(context, schema, a, max_context_size, max_context_depth)
            if schema is not None:
                schema.validate_request(p, a, r, c)
        self._p = p
        self._a = a
        self._r = r
        self._c = c

    @classmethod
    def of(cls, principal: EntityUID, action: EntityUID, resource: EntityUID,
           context: CedarRecord) -> Request:
        """A request from parts already parsed (interned uids and a `CedarRecord`);
        nothing is checked."""
        request = _new_object(cls)
        request._p = principal
        request._a = action
        request._r = resource
        request._c = context
        return request  # type: ignore[no-any-return]

    principal = property(attrgetter("_p"), doc="The principal (`EntityUID`).")
    action = property(attrgetter("_a"), doc="The action (`EntityUID`).")
    resource = property(attrgetter("_r"), doc="The resource (`EntityUID`).")
    context = property(attrgetter("_c"), doc="The context (`CedarRecord`).")

    # -- the tuple (principal, action, resource, context) ---------------------------------
    def __iter__(self) -> Iterator[Any]:
        return iter((self._p, self._a, self._r, self._c))

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: Any) -> Any:
        return (self._p, self._a, self._r, self._c)[index]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is Request:
            return (self._p, self._a, self._r, self._c) == tuple(other)  # type: ignore[arg-type]
        if isinstance(other, tuple):
            return (self._p, self._a, self._r, self._c) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._p, self._a, self._r, self._c))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Request.of, (self._p, self._a, self._r, self._c))

    def __repr__(self) -> str:
        return (f"Request(principal={self._p}, action={self._a}, resource={self._r}, "
                f"context={self._c!r})")
