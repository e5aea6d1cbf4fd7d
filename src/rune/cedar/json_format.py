"""Cedar's JSON format for values, entity uids and entities (without a schema).

Schema-directed parsing (implicit `__entity`/`__extn` escapes, attribute type checks)
lives in `rune.cedar.schema`; this module is the schema-less baseline it builds on.
Errors carry a JSON path such as `$[2].attrs.owner`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from rune.cedar.errors import CedarError, EntitiesError, EvaluationError
from rune.cedar.values import LONG_MAX, LONG_MIN, CedarRecord, CedarSet, EntityUID, intern_uid
from rune.errors import Diagnostic, shown

__all__ = [
    "EntityData",
    "EntitySharing",
    "check_entity_type",
    "entities_data_from_json",
    "entity_data_from_json",
    "entity_uid_from_json",
    "value_from_json",
    "value_to_json",
]

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*(::[_a-zA-Z][_a-zA-Z0-9]*)*\Z")
_RESERVED = frozenset(
    {"true", "false", "if", "then", "else", "in", "is", "like", "has", "__cedar"}
)


_SCALARS = frozenset({bool, int, str, EntityUID})


class EntitySharing:
    """One object for equal parts of many entities while they are parsed or stored.

    Stores hold thousands of entities with the same attribute values (agents of one
    role and clearance), the same parents and no tags; sharing them keeps memory
    proportional to the distinct values. Records are immutable once parsed, so sharing
    is invisible to readers.
    """

    __slots__ = ("_parents", "_records", "_types")

    def __init__(self) -> None:
        self._records: dict[tuple[Any, ...], CedarRecord] = {}
        self._parents: dict[tuple[EntityUID, ...], tuple[EntityUID, ...]] = {}
        self._types: dict[str, str] = {}

    def uid(self, uid: EntityUID) -> EntityUID:
        """The canonical object for ``uid`` (see `intern_uid`), its type name shared."""
        type_name = self._types.setdefault(uid[0], uid[0])
        if type_name is not uid[0]:
            uid = EntityUID(type_name, uid[1])
        return intern_uid(uid)

    def record(self, record: CedarRecord) -> CedarRecord:
        """An equal record, shared when its values are all scalars."""
        if record.__class__ is not CedarRecord:
            return record
        scalars = _SCALARS
        key: list[Any] = []
        for name, value in record.items():
            cls = value.__class__
            if cls not in scalars:
                return record  # nested and extension values are rare: not worth a key
            # The class is part of the key: Cedar's `true` is not `1`.
            key += (name, cls, value)
        return self._records.setdefault(tuple(key), record)

    def parents(self, parents: Iterable[EntityUID]) -> tuple[EntityUID, ...]:
        """The canonical uids of ``parents``, as a tuple shared by equal lists."""
        uids = tuple(self.uid(p) for p in parents)
        return self._parents.setdefault(uids, uids)


class EntityData(NamedTuple):
    """One entity as read from JSON, before the hierarchy is closed."""

    uid: EntityUID
    attrs: CedarRecord
    parents: tuple[EntityUID, ...]
    tags: CedarRecord


def check_entity_type(name: Any, path: str, error: type[CedarError] = EntitiesError) -> str:
    """Check that ``name`` is a well-formed (possibly namespaced) entity type name."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise error(f"invalid entity type `{name}`", code="invalid-entity-type", path=path)
    parts = name.split("::")
    for part in parts:
        if part in _RESERVED or part == "__cedar":
            raise error(f"invalid entity type `{name}`: `{part}` is reserved",
                        code="invalid-entity-type", path=path)
    return name


def entity_uid_from_json(
    data: Any, path: str, error: type[CedarError] = EntitiesError, *, allow_implicit: bool = True
) -> EntityUID:
    """Parse `{"type": T, "id": I}` or `{"__entity": {...}}` into an `EntityUID`."""
    if isinstance(data, dict) and set(data) == {"__entity"}:
        return entity_uid_from_json(data["__entity"], f"{path}.__entity", error)
    if not isinstance(data, dict) or not allow_implicit:
        raise error("expected an entity reference `{\"type\": ..., \"id\": ...}`",
                    code="invalid-entity-uid", path=path)
    missing = sorted({"type", "id"} - set(data))
    if missing:  # other fields are ignored, as Cedar does
        raise error(f"invalid entity reference: missing `{missing[0]}`",
                    code="invalid-entity-uid", path=path)
    type_, id_ = data["type"], data["id"]
    check_entity_type(type_, f"{path}.type", error)
    if not isinstance(id_, str):
        raise error("entity id must be a string", code="invalid-entity-uid", path=f"{path}.id")
    return EntityUID(type_, id_)


def _is_entity_escape(body: Any) -> bool:
    return (body.__class__ is dict and body.get("type").__class__ is str
            and body.get("id").__class__ is str)


_NOT_AN_ESCAPE = object()  # `_escape`: the object is an ordinary record

# Values nested deeper than this are converted by a loop, not by recursion: JSON from
# text is rarely deeper, and a Python mapping may be nested any number of levels.
_RECURSION_DEPTH = 48


def value_from_json(data: Any, path: str, error: type[CedarError] = EntitiesError) -> Any:
    """Convert a JSON value (already decoded) into a Cedar value, without a schema.

    Values may be nested to any depth (deep ones are converted without recursion).
    """
    return _from_json(data, path, error, 0)


def _from_json(data: Any, path: str, error: type[CedarError], depth: int) -> Any:
    cls = data.__class__
    if cls is bool or cls is str:
        return data
    if cls is list:
        if depth >= _RECURSION_DEPTH:
            return _from_json_deep(data, path, error)
        return CedarSet(_from_json(v, f"{path}[{i}]", error, depth + 1)
                        for i, v in enumerate(data))
    if cls is dict:
        if len(data) == 1:
            escaped = _escape(data, path, error)
            if escaped is not _NOT_AN_ESCAPE:
                return escaped
        if depth >= _RECURSION_DEPTH:
            return _from_json_deep(data, path, error)
        record = CedarRecord()
        for key, value in data.items():
            record[key] = _from_json(value, f"{path}.{key}", error, depth + 1)
        return record
    return _scalar_from_json(data, path, error)


def _escape(data: dict[str, Any], path: str, error: type[CedarError]) -> Any:
    """The value of a one-key object that is an `__entity`/`__extn` escape, else
    `_NOT_AN_ESCAPE`."""
    if "__entity" in data and _is_entity_escape(data["__entity"]):
        # As Cedar: fields besides `type` and `id` are ignored, and an `__entity`
        # object without them is an ordinary record.
        body = data["__entity"]
        return EntityUID(check_entity_type(body["type"], f"{path}.__entity.type", error),
                         body["id"])
    if "__extn" in data and _is_extension_escape(data):
        return extension_from_json(data, f"{path}.__extn", error)
    if "__expr" in data:
        raise error("the `__expr` escape is no longer supported",
                    code="unsupported-escape", path=path)
    return _NOT_AN_ESCAPE


def _scalar_from_json(data: Any, path: str, error: type[CedarError]) -> Any:
    """A JSON value that is neither a list nor an object, or an error naming it."""
    cls = data.__class__
    if cls is bool or cls is str:
        return data
    if cls is int:
        if not LONG_MIN <= data <= LONG_MAX:
            raise error(f"integer `{shown(data)}` does not fit in a 64-bit Long",
                        code="integer-overflow", path=path)
        return data
    if data is None:
        raise error("`null` is not a Cedar value", code="invalid-value", path=path)
    if cls is float:
        raise error(f"`{data}` is not a Cedar value: Cedar has no floating-point numbers",
                    code="invalid-value", path=path)
    raise error(f"unsupported JSON value `{shown(data)}` ({type(data).__name__})",
                code="invalid-value", path=path)


def _from_json_deep(data: Any, path: str, error: type[CedarError]) -> Any:
    """`value_from_json` for a deep value, with a stack of open containers instead of
    recursion: each frame is [is_record, its items, the converted ones, current key].

    Paths are built only for an error: building each level's path as it is entered
    would cost memory quadratic in the depth.
    """
    stack: list[list[Any]] = []
    value = data
    while True:
        # Open `value` if it is a list or a record, else convert it.
        cls = value.__class__
        opened = False
        try:
            if cls is list:
                stack.append([False, iter(enumerate(value)), [], None])
                opened = True
            elif cls is dict:
                done = _escape(value, "", error) if len(value) == 1 else _NOT_AN_ESCAPE
                if done is _NOT_AN_ESCAPE:
                    stack.append([True, iter(value.items()), CedarRecord(), None])
                    opened = True
            else:
                done = _scalar_from_json(value, "", error)
        except CedarError as exc:
            at = _deep_path(path, stack) + (exc.path or "")
            raise error(exc.message, code=exc.code, path=at) from None
        # Hand the finished value to its container, closing every container that is
        # complete, until one has an item left to convert.
        while True:
            if not opened:
                if not stack:
                    return done
                top = stack[-1]
                if top[0]:
                    top[2][top[3]] = done
                else:
                    top[2].append(done)
            opened = False
            top = stack[-1]
            item = next(top[1], None)
            if item is not None:
                top[3], value = item
                break
            stack.pop()
            done = top[2] if top[0] else CedarSet(top[2])


def _deep_path(path: str, stack: list[list[Any]]) -> str:
    """The JSON path of the item being converted by `_from_json_deep`, with the middle
    of a very long one left out."""
    steps = [f".{frame[3]}" if frame[0] else f"[{frame[3]}]" for frame in stack
             if frame[3] is not None]
    if len(steps) > 40:
        steps[20:-20] = [f"...({len(steps) - 40:,} levels)..."]
    return path + "".join(steps)


def _is_extension_escape(data: dict[str, Any]) -> bool:
    # Imported here: entity data rarely holds extension values, and the extensions
    # (with `datetime` and `ipaddress`) are a large import.
    from rune.cedar.extensions import is_json_extn

    return is_json_extn(data)


def extension_from_json(data: Any, path: str, error: type[CedarError] = EntitiesError) -> Any:
    """Evaluate a whole `{"__extn": {"fn": ..., "arg"/"args": ...}}` escape."""
    from rune.cedar.extensions import from_json

    try:
        return from_json(data)
    except EvaluationError as exc:
        raise error(exc.message, code="invalid-extension", path=path) from None


def entity_data_from_json(
    item: Any, path: str, error: type[CedarError] = EntitiesError,
    shared: EntitySharing | None = None,
) -> EntityData:
    """Parse one entity object `{"uid", "attrs", "parents", "tags"}` without a schema
    (sharing equal parts with other entities parsed with the same ``shared``)."""
    if not isinstance(item, dict):
        raise error("an entity must be a JSON object", code="invalid-entity", path=path)
    # As Cedar: `uid`, `attrs` and `parents` are required; unknown fields are ignored.
    for required in ("uid", "attrs", "parents"):
        if required not in item:
            raise error(f"entity is missing `{required}`", code="invalid-entity", path=path)
    uid = entity_uid_from_json(item["uid"], f"{path}.uid", error)
    attrs_json = item.get("attrs", {})
    if not isinstance(attrs_json, dict):
        raise error("`attrs` must be an object", code="invalid-entity", path=f"{path}.attrs")
    attrs = CedarRecord()
    for key, value in attrs_json.items():
        attrs[key] = value_from_json(value, f"{path}.attrs.{key}", error)
    parents_json = item.get("parents", [])
    if not isinstance(parents_json, list):
        raise error("`parents` must be a list", code="invalid-entity", path=f"{path}.parents")
    parents = tuple(
        entity_uid_from_json(p, f"{path}.parents[{i}]", error) for i, p in enumerate(parents_json)
    )
    tags_json = item.get("tags", {})
    if not isinstance(tags_json, dict):
        raise error("`tags` must be an object", code="invalid-entity", path=f"{path}.tags")
    tags = CedarRecord()
    for key, value in tags_json.items():
        tags[key] = value_from_json(value, f"{path}.tags.{key}", error)
    if shared is not None:
        return EntityData(shared.uid(uid), shared.record(attrs), shared.parents(parents),
                          shared.record(tags))
    return EntityData(uid, attrs, parents, tags)


def entities_data_from_json(items: Iterable[Any]) -> list[EntityData]:
    """Parse a list of entity objects without a schema, reporting every bad entity.

    Raises:
        EntitiesError: with one diagnostic per malformed entity, each with its JSON path.
    """
    out: list[EntityData] = []
    problems: list[Diagnostic] = []
    shared = EntitySharing()
    for i, item in enumerate(items):
        try:
            out.append(entity_data_from_json(item, f"$[{i}]", shared=shared))
        except EntitiesError as exc:
            problems.extend(exc.diagnostics)
    if problems:
        first = problems[0]
        raise EntitiesError(first.message, code=first.code, diagnostics=problems)
    return out


def value_to_json(value: Any) -> Any:
    """Convert a Cedar value to Cedar's JSON format (explicit escapes), at any depth."""
    return _to_json(value, 0)


def _to_json(value: Any, depth: int) -> Any:
    cls = value.__class__
    if cls is bool or cls is int or cls is str:
        return value
    if cls is EntityUID:
        return {"__entity": {"type": value.type, "id": value.id}}
    if cls is CedarSet or cls is CedarRecord:
        if depth >= _RECURSION_DEPTH:
            return _to_json_deep(value)
        if cls is CedarSet:
            return [_to_json(v, depth + 1) for v in value]
        return {k: _to_json(v, depth + 1) for k, v in value.items()}
    from rune.cedar.extensions import to_json

    return to_json(value)


def _to_json_deep(value: Any) -> Any:
    """`value_to_json` without recursion: containers are filled after their members."""
    # Each frame: [the Cedar container, its JSON (filled in place), its items iterator].
    root: list[Any] = []
    stack: list[tuple[Any, Any]] = [(value, (root, None))]
    while stack:
        item, (target, key) = stack.pop()
        cls = item.__class__
        if cls is CedarSet:
            out: Any = []
            stack.extend((member, (out, None)) for member in reversed(list(item)))
        elif cls is CedarRecord:
            out = {}
            for name in item:
                out[name] = None  # keeps the record's key order
            stack.extend((member, (out, name)) for name, member in reversed(item.items()))
        else:
            out = _to_json(item, 0)
        if key is None:
            target.append(out)
        else:
            target[key] = out
    return root[0]
