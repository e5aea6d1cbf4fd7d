"""AuthZEN to Cedar: how a subject, action, resource and context become a RUNE request.

The mapping (also in the README):

* a Subject or Resource `{"type": T, "id": I}` is the Cedar entity `T::"I"`; `T` must
  be a Cedar entity type name (`user`, `Doc`, `App::User`), else the request is a 400;
* an Action `{"name": N}` is `Action::"N"`;
* `properties` of a subject, resource or action are that entity's attributes for this
  request, under the engine's rule that **attributes in the store win** (a property
  only adds what the stored entity does not say; an entity the store does not hold gets
  them all): see `rune.engine.request_entities`;
* `context` is the Cedar context, less the members the profiles define for requests
  (`approval`, `supported_obligations`), which the server reads itself.

Values Cedar cannot hold get a stated treatment, never a crash: a member whose value is
`null` is dropped (the spec asks senders to omit nulls, so null means absent); a `null`
inside an array is a 400; a number with a fraction becomes a Cedar `decimal` when it
has at most four decimal places and fits decimal's range (`0.5` is `decimal("0.5")`),
else the request is a 400; an integer must fit Cedar's 64-bit Long. Cedar's JSON
escapes (`{"__entity": {...}}`, `{"__extn": {...}}`) keep their meaning. Values nest at
most `[limits] max_context_depth` levels (default 32).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from rune.cedar import EntityUID, RequestError
from rune.cedar.json_format import check_entity_type
from rune.engine.request_entities import EntityProperties
from rune.errors import RuneError
from rune.server.errors import ServerError

__all__ = ["PROFILE_CONTEXT", "Known", "KnownEntities", "action_uid", "cedar_json",
           "context_of", "entity_properties", "entity_uid", "is_entity_type", "shown"]

_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_DECIMAL_LIMIT = Decimal("922337203685477.5807")  # Cedar decimal: a Long of ten-thousandths
# Context members the AuthZEN profiles define for requests: read by the server, not
# authorization input (the access request profile lists `approval` among its
# "profile machinery"; `supported_obligations` is the obligations profile's negotiation).
PROFILE_CONTEXT = frozenset({"approval", "supported_obligations"})
_TYPES: dict[str, bool] = {}  # type name -> valid, for names seen (bounded)


def shown(value: str, limit: int = 80) -> str:
    """User input for an error message: cut to ``limit`` characters."""
    return value if len(value) <= limit else f"{value[:limit]}..."


def is_entity_type(kind: str) -> bool:
    """Whether ``kind`` is a Cedar entity type name (remembered for names seen)."""
    valid = _TYPES.get(kind)
    if valid is None:
        try:
            check_entity_type(kind, "$", RequestError)
            valid = True
        except RuneError:
            valid = False
        if len(_TYPES) < 4096:
            _TYPES[kind] = valid
    return valid


def _check_type(kind: str, path: str) -> None:
    if not is_entity_type(kind):
        raise ServerError(f"`{shown(kind)}` is not a Cedar entity type name",
                          code="invalid-entity-type", path=path)


_UIDS: dict[tuple[str, str], str | EntityUID] = {}  # recent uids (bounded)
_UIDS_MAX = 1 << 16


def entity_uid(kind: str, ident: str, path: str) -> str | EntityUID:
    """The Cedar uid of `{type, id}`: uid text (which the engine caches) for plain ids,
    an `EntityUID` for ids that need escapes in Cedar's syntax."""
    key = (kind, ident)
    found = _UIDS.get(key)
    if found is not None:
        return found
    _check_type(kind, path)
    uid: str | EntityUID
    if ident.isascii() and ident.isprintable() and '"' not in ident and "\\" not in ident \
            and "'" not in ident:
        uid = f'{kind}::"{ident}"'
    else:
        uid = EntityUID(kind, ident)
    if len(_UIDS) >= _UIDS_MAX:
        _UIDS.clear()
    _UIDS[key] = uid
    return uid


def action_uid(name: str) -> str | EntityUID:
    """`Action::"name"`."""
    found = _ACTIONS.get(name)
    if found is not None:
        return found
    uid: str | EntityUID
    if name.isascii() and name.isprintable() and '"' not in name and "\\" not in name \
            and "'" not in name:
        uid = f'Action::"{name}"'
    else:
        uid = EntityUID("Action", name)
    if len(_ACTIONS) >= 4096:
        _ACTIONS.clear()
    _ACTIONS[name] = uid
    return uid


_ACTIONS: dict[str, str | EntityUID] = {}


def _decimal(value: float, path: str) -> dict[str, Any]:
    try:
        number = Decimal(repr(value))
    except InvalidOperation:  # (JSON has no nan or infinity; a Python caller might)
        number = Decimal("nan")
    if number.is_finite() and abs(number) <= _DECIMAL_LIMIT:
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent >= -4:
            text = f"{number:.{max(1, -exponent)}f}"
            return {"__extn": {"fn": "decimal", "arg": text}}
    raise ServerError(f"`{shown(repr(value))}` cannot be a Cedar value: a number with a "
                      "fraction must have at most four decimal places and lie within "
                      "decimal's range", code="unsupported-number", path=path)


def cedar_json(value: Any, path: str, depth: int) -> Any:
    """An AuthZEN JSON value as a Cedar JSON value (see the module docstring), at most
    ``depth`` levels of arrays and objects deep.

    Raises:
        ServerError: (400) a value Cedar cannot hold, or nesting deeper than ``depth``.
    """
    cls = value.__class__
    if cls is str or cls is bool:
        return value
    if cls is int:
        if not _LONG_MIN <= value <= _LONG_MAX:
            raise ServerError(f"the integer `{shown(str(value))}` does not fit in a Cedar "
                              "Long (64 bits)", code="integer-overflow", path=path)
        return value
    if cls is float:
        return _decimal(value, path)
    if depth <= 0:
        raise ServerError("values are nested too deeply", code="nesting-too-deep", path=path)
    if cls is dict:
        return {k: cedar_json(v, f"{path}.{k}", depth - 1) for k, v in value.items()
                if v is not None}
    if cls is list:
        out = []
        for i, item in enumerate(value):
            if item is None:
                raise ServerError("`null` cannot be an element of a Cedar set",
                                  code="invalid-value", path=f"{path}[{i}]")
            out.append(cedar_json(item, f"{path}[{i}]", depth - 1))
        return out
    raise ServerError("unsupported JSON value", code="invalid-value", path=path)


def context_of(context: Mapping[str, Any] | None, depth: int) -> Mapping[str, Any] | None:
    """The Cedar context of an AuthZEN `context` (a copy when anything changes)."""
    if not context:
        return None
    for key, value in context.items():
        cls = value.__class__
        if key in PROFILE_CONTEXT or not (cls is str or cls is bool or (
                cls is int and _LONG_MIN <= value <= _LONG_MAX)):
            break
    else:
        return context  # flat and plain: as sent (the engine's fast path)
    return {k: cedar_json(v, f"$.context.{k}", depth) for k, v in context.items()
            if k not in PROFILE_CONTEXT and v is not None}


def entity_properties(kind: str, ident: str, properties: Mapping[str, Any], path: str,
                      stored: frozenset[str] | None, depth: int) -> EntityProperties | None:
    """The properties of one entity as the engine takes them, or None when the stored
    entity (whose attribute names are ``stored``, None when the store does not hold it)
    already has every one of them (the store wins: there is nothing to add, and the
    ignored values are not even read)."""
    if stored is not None:
        if properties.keys() <= stored:
            return None
        properties = {k: v for k, v in properties.items() if k not in stored}
    return EntityProperties(EntityUID(kind, ident), cedar_json(dict(properties), path, depth),
                            path)


# What a request's entity is to the engine: its Cedar uid (as `entity_uid` gives it) and
# the attribute names of the stored entity (None when the store does not hold it).
Known = tuple[str | EntityUID, frozenset[str] | None]


class KnownEntities:
    """The entities requests name, by (type, id), for one store (a version): each one's
    Cedar uid and stored attribute names (`Known`), so that one lookup maps an AuthZEN
    entity and tells whether its properties add anything (bounded)."""

    __slots__ = ("entries", "store")

    def __init__(self) -> None:
        self.store: Any = None
        self.entries: dict[tuple[str, str], Known] = {}

    def of(self, store: Mapping[EntityUID, Any]) -> dict[tuple[str, str], Known]:
        """The entities known for ``store`` (emptied when the store changes, or when
        they grow many)."""
        if store is not self.store or len(self.entries) >= 1 << 16:
            self.store = store
            self.entries = {}
        return self.entries

    def learn(self, store: Mapping[EntityUID, Any], kind: str, ident: str,
              path: str) -> Known:
        """`kind::"ident"` as `Known` for ``store`` (call `of(store)` first).

        Raises:
            ServerError: (400) ``kind`` is not a Cedar entity type name (``path`` names it).
        """
        uid = entity_uid(kind, ident, path)
        stored = store.get(EntityUID(kind, ident))
        known = self.entries[(kind, ident)] = (
            uid, None if stored is None else frozenset(stored.attrs))
        return known
