"""Schema-directed parsing of Cedar JSON values, entities and contexts.

Follows cedar-policy 4.12 (`entities-syntax.md`, "Schema-based parsing"):

* Where the schema expects an entity, `{"type", "id"}` may omit the `__entity` escape;
  where it expects an extension value, `{"fn", "arg"}` may omit `__extn`, and a plain
  string calls the type's constructor (`"10.0.0.1"` for an `ipaddr`).
* Records are closed: a required attribute that is missing, or an attribute the schema
  does not declare, is an error. Where the schema expects a `Bool`, `Long` or `String`
  the value is read without a schema and then checked.
* Entities must have a declared type, an id from the list of an enumerated type, parents
  of a type their type's `memberOfTypes` reach (transitively, as Cedar 4 checks: with
  `entity B in [A]; entity C in [B];` a `C` may have an `A` parent), and tags only when the
  type declares them. Action
  entities in the data must match the schema's, which are appended to the result.

Errors carry the JSON path of the offending value, such as `$[3].attrs.owner`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rune.cedar.errors import EntitiesError, EvaluationError, RequestError
from rune.cedar.extensions import (
    FUNCTIONS,
    METHODS,
    call_extension,
    from_json,
    is_json_extn,
)
from rune.cedar.json_format import EntityData, check_entity_type
from rune.cedar.schema.model import (
    EXTENSION_TYPES,
    ActionDef,
    EntityType,
    EntityTypeDef,
    ExtensionType,
    PrimitiveType,
    RecordType,
    SchemaType,
    SetType,
    ancestor_types,
    format_type,
)
from rune.cedar.values import (
    LONG_MAX,
    LONG_MIN,
    CedarRecord,
    CedarSet,
    EntityUID,
    format_value,
    type_name,
)

__all__ = [
    "TypedJsonParser",
    "action_entities",
    "conforms",
    "invalid_enum_uid",
    "is_action_type",
]

_PRIMITIVE_CLASSES = {"Bool": bool, "Long": int, "String": str}


def is_action_type(entity_type: str) -> bool:
    """Whether ``entity_type`` is an action entity type (`Action` or `NS::Action`)."""
    return entity_type == "Action" or entity_type.endswith("::Action")


def conforms(value: Any, expected: SchemaType) -> bool:
    """Whether a Cedar value has the schema type ``expected`` (records are closed)."""
    cls = value.__class__
    if isinstance(expected, PrimitiveType):
        return cls is _PRIMITIVE_CLASSES[expected.name]
    if isinstance(expected, EntityType):
        return cls is EntityUID and value.type == expected.name
    if isinstance(expected, ExtensionType):
        return type_name(value) == expected.name
    if isinstance(expected, SetType):
        return cls is CedarSet and all(conforms(v, expected.element) for v in value)
    if cls is not CedarRecord:
        return False
    for name, attr in expected.attributes.items():
        if name in value:
            if not conforms(value[name], attr.type):
                return False
        elif attr.required:
            return False
    return all(name in expected.attributes for name in value)


def invalid_enum_uid(value: Any, entity_types: Mapping[str, EntityTypeDef]) -> EntityUID | None:
    """The first entity in ``value`` whose type is enumerated but whose id is not listed."""
    stack = [value]
    while stack:
        item = stack.pop()
        cls = item.__class__
        if isinstance(item, EntityUID):
            decl = entity_types.get(item.type)
            if decl is not None and decl.enum is not None and item.id not in decl.enum:
                return item
        elif cls is CedarSet:
            stack.extend(item)
        elif cls is CedarRecord:
            stack.extend(item.values())
    return None


def _describe(value: Any) -> str:
    return f"`{format_value(value)}`"


class TypedJsonParser:
    """Reads Cedar JSON guided by schema types; errors are raised as ``error``."""

    __slots__ = ("actions", "allowed_ancestors", "entity_types", "error")

    def __init__(
        self,
        entity_types: Mapping[str, EntityTypeDef],
        actions: Mapping[EntityUID, ActionDef],
        error: type[EntitiesError] | type[RequestError] = EntitiesError,
        allowed_ancestors: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """``allowed_ancestors`` is `ancestor_types(entity_types)`, when the caller has it
        already (a `Schema` computes it once)."""
        self.entity_types = entity_types
        self.actions = actions
        self.error = error
        self.allowed_ancestors = (allowed_ancestors if allowed_ancestors is not None
                                  else ancestor_types(entity_types))

    def fail(self, message: str, path: str, code: str = "type-mismatch") -> Exception:
        return self.error(message, code=code, path=path)

    # -- values without a schema type -----------------------------------------------------
    def untyped(self, data: Any, path: str) -> Any:
        """Cedar's schema-less reading of a JSON value (explicit escapes only)."""
        cls = data.__class__
        if cls is bool or cls is str:
            return data
        if cls is int:
            if not LONG_MIN <= data <= LONG_MAX:
                raise self.fail(f"integer `{data}` does not fit in a 64-bit Long", path,
                                "integer-overflow")
            return data
        if cls is list:
            return CedarSet(self.untyped(v, f"{path}[{i}]") for i, v in enumerate(data))
        if cls is dict:
            if len(data) == 1:
                if "__expr" in data:
                    raise self.fail("the `__expr` escape is no longer supported", path,
                                    "unsupported-escape")
                if "__entity" in data:
                    uid = self._type_and_id(data["__entity"], f"{path}.__entity")
                    if uid is not None:
                        return uid
                elif is_json_extn(data):
                    return self._call(lambda: from_json(data), path)
            record = CedarRecord()
            for key, value in data.items():
                record[key] = self.untyped(value, f"{path}.{key}")
            return record
        if data is None:
            raise self.fail("`null` is not a Cedar value", path, "invalid-value")
        if cls is float:
            raise self.fail(f"`{data}` is not a Cedar value: Cedar has no floating-point numbers",
                            path, "invalid-value")
        raise self.fail(f"unsupported JSON value `{data!r}`", path, "invalid-value")

    def _type_and_id(self, data: Any, path: str) -> EntityUID | None:
        """`{"type": T, "id": I}` (other keys ignored, as Cedar does), or None."""
        if data.__class__ is not dict:
            return None
        type_, id_ = data.get("type"), data.get("id")
        if type_.__class__ is not str or id_.__class__ is not str:
            return None
        check_entity_type(type_, f"{path}.type", self.error)
        return EntityUID(type_, id_)

    def _call(self, thunk: Any, path: str) -> Any:
        try:
            return thunk()
        except EvaluationError as exc:
            raise self.fail(exc.message, path, "invalid-extension") from None

    # -- values with a schema type --------------------------------------------------------
    def typed(self, data: Any, expected: SchemaType, path: str) -> Any:
        """Read ``data`` as a value of type ``expected``, checking it conforms."""
        if isinstance(expected, EntityType):
            uid = self.entity_ref(data, path)
            if uid.type != expected.name:
                raise self.mismatch(expected, uid, path)
            return uid
        if isinstance(expected, ExtensionType):
            value = self.extension(data, expected.name, path)
            if type_name(value) != expected.name:
                raise self.mismatch(expected, value, path)
            return value
        if isinstance(expected, SetType):
            if data.__class__ is not list:
                raise self.mismatch(expected, self.untyped(data, path), path)
            return CedarSet(
                self.typed(v, expected.element, f"{path}[{i}]") for i, v in enumerate(data)
            )
        if isinstance(expected, RecordType):
            if data.__class__ is not dict:
                raise self.mismatch(expected, self.untyped(data, path), path)
            return self.record(data, expected, path, "record")
        value = self.untyped(data, path)
        if value.__class__ is not _PRIMITIVE_CLASSES[expected.name]:
            raise self.mismatch(expected, value, path)
        return value

    def mismatch(self, expected: SchemaType, value: Any, path: str) -> Exception:
        return self.fail(
            f"expected a value of type `{format_type(expected)}`, found {_describe(value)}", path
        )

    def record(self, data: dict[str, Any], expected: RecordType, path: str,
               what: str) -> CedarRecord:
        """Read a closed record: every required attribute present, no undeclared one."""
        for name in sorted(expected.attributes):
            if name not in data and expected.attributes[name].required:
                raise self.fail(f"the {what} is missing the required attribute `{name}`",
                                path, "missing-attribute")
        record = CedarRecord()
        for key, value in data.items():
            attr = expected.attributes.get(key)
            if attr is None:
                raise self.fail(f"the {what} has the attribute `{key}`, which the schema "
                                "does not declare", f"{path}.{key}", "unexpected-attribute")
            record[key] = self.typed(value, attr.type, f"{path}.{key}")
        return record

    def entity_ref(self, data: Any, path: str) -> EntityUID:
        """An entity reference with or without the `__entity` escape."""
        if data.__class__ is dict:
            if "__entity" in data:
                uid = self._type_and_id(data["__entity"], f"{path}.__entity")
                if uid is not None:
                    return uid
            uid = self._type_and_id(data, path)
            if uid is not None:
                return uid
        raise self.fail(
            f"expected an entity reference `{{\"type\": ..., \"id\": ...}}`, found "
            f"`{_json_text(data)}`", path, "invalid-entity-uid")

    def extension(self, data: Any, type_name_: str, path: str) -> Any:
        """An extension value: `__extn` escape, `{"fn", "arg"}`, or the constructor's string."""
        if data.__class__ is dict:
            body = data.get("__extn")
            for candidate in (body, data):
                if candidate.__class__ is dict and candidate.get("fn").__class__ is str:
                    if "arg" in candidate:
                        return self.call(candidate["fn"], [candidate["arg"]], path)
                    if candidate.get("args").__class__ is list:
                        return self.call(candidate["fn"], candidate["args"], path)
        elif data.__class__ is str:
            constructor = EXTENSION_TYPES[type_name_]
            return self._call(lambda: call_extension(constructor, [data]), path)
        raise self.fail(
            f"expected a value of extension type `{type_name_}`, found `{_json_text(data)}`",
            path, "invalid-extension")

    def call(self, name: str, args: list[Any], path: str) -> Any:
        """Call an extension function on JSON arguments read as its parameter types.

        Where a parameter has an extension type, its argument may be written as that
        type's constructor string (`{"fn": "offset", "args": ["2024-01-01", "1h"]}`).
        """
        function = FUNCTIONS.get(name)
        method = METHODS.get(name)
        params: tuple[str, ...] = ()
        if function is not None:
            params = function.argument_types
        elif method is not None:
            params = (method.receiver_type, *method.argument_types)
        values: list[Any] = []
        for i, arg in enumerate(args):
            param = params[i] if len(params) == len(args) else ""
            if param in EXTENSION_TYPES:
                values.append(self.extension(arg, param, path))
            else:
                values.append(self.untyped(arg, path))
        return self._call(lambda: call_extension(name, values), path)

    # -- entities -------------------------------------------------------------------------
    def entities(self, data: Any) -> list[EntityData]:
        """Parse and check a list of entities; append the schema's action entities."""
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise self.fail(f"invalid JSON: {exc.msg}",
                                f"line {exc.lineno} column {exc.colno}", "invalid-json") from None
        if data.__class__ is not list:
            raise self.fail("entities must be a JSON list", "$", "invalid-entities")
        result: list[EntityData] = []
        given_actions: list[tuple[EntityData, str]] = []
        for i, item in enumerate(data):
            path = f"$[{i}]"
            entity = self.entity(item, path)
            if is_action_type(entity.uid.type):
                given_actions.append((entity, path))
            else:
                result.append(entity)
        self.check_given_actions(given_actions)
        result.extend(action_entities(self.actions.values()))
        return result

    def entity(self, item: Any, path: str) -> EntityData:
        if item.__class__ is not dict:
            raise self.fail("an entity must be a JSON object", path, "invalid-entity")
        for key in ("uid", "attrs", "parents"):
            if key not in item:
                raise self.fail(f"the entity is missing `{key}`", path, "invalid-entity")
        uid = self.entity_ref(item["uid"], f"{path}.uid")
        attrs_json, parents_json = item["attrs"], item["parents"]
        tags_json = item.get("tags", {})
        if attrs_json.__class__ is not dict:
            raise self.fail("`attrs` must be a JSON object", f"{path}.attrs", "invalid-entity")
        if parents_json.__class__ is not list:
            raise self.fail("`parents` must be a JSON list", f"{path}.parents",
                            "invalid-entity")
        if tags_json.__class__ is not dict:
            raise self.fail("`tags` must be a JSON object", f"{path}.tags", "invalid-entity")
        parents = tuple(
            self.entity_ref(p, f"{path}.parents[{i}]") for i, p in enumerate(parents_json)
        )
        if is_action_type(uid.type):
            return self.action_entity(uid, attrs_json, parents, tags_json, path)
        decl = self.entity_types.get(uid.type)
        if decl is None:
            raise self.fail(f"entity `{uid}` has type `{uid.type}`, which the schema does not "
                            "declare", f"{path}.uid", "unexpected-entity-type")
        if decl.enum is not None and uid.id not in decl.enum:
            raise self.fail(_enum_message(uid), f"{path}.uid", "invalid-enum-entity")
        attrs = CedarRecord()
        for key, value in attrs_json.items():
            attr = decl.shape.attributes.get(key)
            attr_path = f"{path}.attrs.{key}"
            if attr is None:
                raise self.fail(f"entity `{uid}` has the attribute `{key}`, which the schema "
                                f"does not declare for `{uid.type}`", attr_path,
                                "unexpected-attribute")
            attrs[key] = self.typed(value, attr.type, attr_path)
            self.check_enum_uids(attrs[key], attr_path)
        for name in decl.shape.required_names():
            if name not in attrs:
                raise self.fail(f"entity `{uid}` is missing the required attribute `{name}`",
                                f"{path}.attrs", "missing-attribute")
        tags = CedarRecord()
        for key, value in tags_json.items():
            tag_path = f"{path}.tags.{key}"
            if decl.tags is None:
                raise self.fail(f"entity `{uid}` has the tag `{key}`, but the schema declares "
                                f"no tags for `{uid.type}`", tag_path, "unexpected-tag")
            tags[key] = self.typed(value, decl.tags, tag_path)
            self.check_enum_uids(tags[key], tag_path)
        allowed = self.allowed_ancestors.get(uid.type, frozenset())
        for i, parent in enumerate(parents):
            parent_path = f"{path}.parents[{i}]"
            self.check_enum_uids(parent, parent_path)
            # INVARIANT: `allowed` is closed transitively, as cedar-policy 4's
            # `allowed_parent_types` is; a direct `memberOfTypes` check rejects valid data.
            if parent.type not in allowed:
                raise self.fail(f"entity `{uid}` cannot have a parent of type `{parent.type}` "
                                "according to the schema", parent_path, "invalid-parent-type")
        return EntityData(uid, attrs, parents, tags)

    def check_enum_uids(self, value: Any, path: str) -> None:
        bad = invalid_enum_uid(value, self.entity_types)
        if bad is not None:
            raise self.fail(_enum_message(bad), path, "invalid-enum-entity")

    def action_entity(self, uid: EntityUID, attrs_json: dict[str, Any],
                      parents: tuple[EntityUID, ...], tags_json: dict[str, Any],
                      path: str) -> EntityData:
        for i, parent in enumerate(parents):
            if not is_action_type(parent.type):
                raise self.fail(f"action `{uid}` has the parent `{parent}`, which is not an "
                                "action", f"{path}.parents[{i}]", "invalid-parent-type")
        attrs = CedarRecord(
            (k, self.untyped(v, f"{path}.attrs.{k}")) for k, v in attrs_json.items()
        )
        tags = CedarRecord((k, self.untyped(v, f"{path}.tags.{k}")) for k, v in tags_json.items())
        return EntityData(uid, attrs, parents, tags)

    def check_given_actions(self, given: list[tuple[EntityData, str]]) -> None:
        """Action entities in the data must equal the schema's, hierarchy closed."""
        if not given:
            return
        parents = {entity.uid: entity.parents for entity, _ in given}
        for entity, path in given:
            declared = self.actions.get(entity.uid)
            if declared is None:
                raise self.fail(f"action `{entity.uid}` is not declared in the schema",
                                f"{path}.uid", "undeclared-action")
            ancestors = _closure(entity.uid, parents)
            if entity.attrs or entity.tags or ancestors != declared.ancestors:
                raise self.fail(f"the definition of action `{entity.uid}` does not match its "
                                "declaration in the schema", path, "action-mismatch")

    # -- context --------------------------------------------------------------------------
    def context(self, action: EntityUID, data: Any) -> CedarRecord:
        """Read a request context for ``action`` (value types are checked by the request)."""
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise self.fail(f"invalid JSON: {exc.msg}",
                                f"line {exc.lineno} column {exc.colno}", "invalid-json") from None
        declared = self.actions.get(action)
        if declared is None:
            raise self.fail(f"action `{action}` is not declared in the schema", "$",
                            "undeclared-action")
        if data.__class__ is not dict:
            raise self.fail(f"the context must be a JSON object, found `{_json_text(data)}`",
                            "$", "invalid-context")
        return self.record(data, declared.context, "$", "context")


def _closure(uid: EntityUID, parents: Mapping[EntityUID, tuple[EntityUID, ...]]) -> frozenset[
        EntityUID]:
    seen: set[EntityUID] = set()
    stack = list(parents.get(uid, ()))
    while stack:
        item = stack.pop()
        if item in seen:
            continue
        seen.add(item)
        stack.extend(parents.get(item, ()))
    return frozenset(seen)


def _enum_message(uid: EntityUID) -> str:
    return (f"entity `{uid}` is of an enumerated entity type, but `{json.dumps(uid.id)}` is "
            "not one of its declared ids")


def _json_text(data: Any) -> str:
    try:
        text = json.dumps(data)
    except (TypeError, ValueError):
        text = repr(data)
    return text if len(text) <= 80 else text[:77] + "..."


def action_entities(actions: Iterable[ActionDef]) -> list[EntityData]:
    """The action entities a schema declares: no attributes, parents are all groups.

    Parents list the declared groups first, then the groups reached through them, so the
    closed hierarchy is the schema's whichever way the store closes it.
    """
    out: list[EntityData] = []
    for action in actions:
        rest = sorted(action.ancestors.difference(action.member_of), key=str)
        out.append(EntityData(action.uid, CedarRecord(), (*action.member_of, *rest),
                              CedarRecord()))
    return out
