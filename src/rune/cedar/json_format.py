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
from rune.errors import Diagnostic

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


def value_from_json(data: Any, path: str, error: type[CedarError] = EntitiesError) -> Any:
    """Convert a JSON value (already decoded) into a Cedar value, without a schema."""
    cls = data.__class__
    if cls is bool or cls is str:
        return data
    if cls is int:
        if not LONG_MIN <= data <= LONG_MAX:
            raise error(f"integer `{data}` does not fit in a 64-bit Long",
                        code="integer-overflow", path=path)
        return data
    if cls is list:
        return CedarSet(value_from_json(v, f"{path}[{i}]", error) for i, v in enumerate(data))
    if cls is dict:
        if len(data) == 1:
            if "__entity" in data and _is_entity_escape(data["__entity"]):
                # As Cedar: fields besides `type` and `id` are ignored, and an `__entity`
                # object without them is an ordinary record.
                body = data["__entity"]
                return EntityUID(check_entity_type(body["type"], f"{path}.__entity.type",
                                                   error), body["id"])
            if "__extn" in data and _is_extension_escape(data):
                return extension_from_json(data, f"{path}.__extn", error)
            if "__expr" in data:
                raise error("the `__expr` escape is no longer supported",
                            code="unsupported-escape", path=path)
        record = CedarRecord()
        for key, value in data.items():
            record[key] = value_from_json(value, f"{path}.{key}", error)
        return record
    if data is None:
        raise error("`null` is not a Cedar value", code="invalid-value", path=path)
    if cls is float:
        raise error(f"`{data}` is not a Cedar value: Cedar has no floating-point numbers",
                    code="invalid-value", path=path)
    raise error(f"unsupported JSON value `{data!r}`", code="invalid-value", path=path)


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
    """Convert a Cedar value to Cedar's JSON format (explicit escapes)."""
    cls = value.__class__
    if cls is bool or cls is int or cls is str:
        return value
    if cls is EntityUID:
        return {"__entity": {"type": value.type, "id": value.id}}
    if cls is CedarSet:
        return [value_to_json(v) for v in value]
    if cls is CedarRecord:
        return {k: value_to_json(v) for k, v in value.items()}
    from rune.cedar.extensions import to_json

    return to_json(value)
