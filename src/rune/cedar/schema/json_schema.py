"""The JSON schema format: JSON -> `SchemaFragment`, and `SchemaFragment` -> JSON.

Parsing is as strict as cedar-policy's: unknown fields, missing required fields,
values of the wrong JSON type and malformed names are errors, each reported with the
JSON path of the offending value (`$.NS.entityTypes.User.shape`). Every problem found
is reported, not only the first.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rune.cedar.errors import SchemaError
from rune.cedar.schema.fragment import (
    RESERVED_COMMON_TYPE_NAMES,
    RESERVED_IDENTIFIERS,
    ActionDecl,
    ActionRef,
    Annotations,
    AppliesTo,
    AttributeDecl,
    CommonTypeDecl,
    EntityTypeDecl,
    NamespaceDecl,
    RecordDecl,
    RefKind,
    SchemaFragment,
    SetDecl,
    TypeDecl,
    TypeRef,
)
from rune.errors import Diagnostic

__all__ = ["fragment_to_json", "parse_schema_json"]

_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*\Z")
_TYPE_KEYWORDS = {"Long": "Long", "String": "String", "Boolean": "Bool"}
_PRIMITIVE_JSON = {"Long": "Long", "String": "String", "Bool": "Boolean"}
# The fields each kind of type object may have, besides `type`.
_KIND_FIELDS = {
    "Record": ("attributes", "additionalAttributes"),
    "Set": ("element",),
    "Entity": ("name",),
    "Extension": ("name",),
    "EntityOrCommon": ("name",),
}


def _key_path(path: str, key: str) -> str:
    if _IDENT.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


class _JsonParser:
    def __init__(self) -> None:
        self.errors: list[Diagnostic] = []

    def error(self, code: str, message: str, path: str) -> None:
        self.errors.append(Diagnostic(code, message, None, path))

    # -- shape checks -------------------------------------------------------------------
    def object(self, value: Any, path: str, allowed: tuple[str, ...],
               required: tuple[str, ...] = ()) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error("invalid-schema-json", f"expected a JSON object, found {_kind(value)}",
                       path)
            return None
        ok = True
        for key in value:
            if key not in allowed:
                expected = ", ".join(f"`{k}`" for k in allowed) or "no fields"
                self.error("invalid-schema-json",
                           f"unknown field `{key}`, expected one of {expected}",
                           _key_path(path, key))
                ok = False
        for key in required:
            if key not in value:
                self.error("invalid-schema-json", f"missing field `{key}`", path)
                ok = False
        return value if ok else None

    def mapping(self, value: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error("invalid-schema-json", f"expected a JSON object, found {_kind(value)}",
                       path)
            return None
        return value

    def string(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str):
            self.error("invalid-schema-json", f"expected a string, found {_kind(value)}", path)
            return None
        return value

    def strings(self, value: Any, path: str) -> list[str] | None:
        if not isinstance(value, list):
            self.error("invalid-schema-json", f"expected a list, found {_kind(value)}", path)
            return None
        out = [self.string(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return None if any(v is None for v in out) else [v for v in out if v is not None]

    def annotations(self, value: Any, path: str) -> Annotations:
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.error("invalid-schema-json", f"expected a JSON object, found {_kind(value)}",
                       path)
            return ()
        out: list[tuple[str, str]] = []
        for key, text in value.items():
            if not _IDENT.match(key):
                self.error("invalid-schema-json", f"invalid annotation name `{key}`",
                           _key_path(path, key))
            if self.string(text, _key_path(path, key)) is not None:
                out.append((key, text))
        return tuple(out)

    def name(self, value: str, path: str, what: str, *, qualified: bool) -> bool:
        parts = value.split("::") if qualified else [value]
        if not all(_IDENT.match(p) for p in parts):
            self.error("invalid-name", f"invalid {what} `{value}`", path)
            return False
        for part in parts:
            if part in RESERVED_IDENTIFIERS:
                self.error("reserved-identifier",
                           f"invalid {what} `{value}`: `{part}` is a reserved identifier", path)
                return False
        return True

    def declared_name(self, value: str, path: str, what: str, *, qualified: bool) -> bool:
        if not self.name(value, path, what, qualified=qualified):
            return False
        if "__cedar" in value.split("::"):
            self.error("reserved-namespace",
                       f"invalid {what} `{value}`: use of the reserved `__cedar` namespace",
                       path)
            return False
        return True

    # -- schema -------------------------------------------------------------------------
    def schema(self, data: Any) -> SchemaFragment:
        if not isinstance(data, dict):
            self.error("invalid-schema-json",
                       f"a JSON schema must be an object, found {_kind(data)}", "$")
            return SchemaFragment()
        namespaces: list[NamespaceDecl] = []
        for name, body in data.items():
            path = _key_path("$", name)
            if name and not self.declared_name(name, path, "namespace", qualified=True):
                continue
            ns = self.namespace(name, body, path)
            if ns is not None:
                namespaces.append(ns)
        return SchemaFragment(tuple(namespaces))

    def namespace(self, name: str, body: Any, path: str) -> NamespaceDecl | None:
        obj = self.object(body, path, ("commonTypes", "entityTypes", "actions", "annotations"),
                          ("entityTypes", "actions"))
        if obj is None:
            return None
        annotations = self.annotations(obj.get("annotations"), f"{path}.annotations")
        if annotations and not name:
            self.error("invalid-schema-json",
                       "annotations are not allowed on the empty namespace",
                       f"{path}.annotations")
        commons: list[CommonTypeDecl] = []
        common_json = self.mapping(obj.get("commonTypes", {}), f"{path}.commonTypes")
        if common_json is not None:
            for type_name, decl in common_json.items():
                common = self.common_type(type_name, decl, _key_path(f"{path}.commonTypes",
                                                                     type_name))
                if common is not None:
                    commons.append(common)
        entities: list[EntityTypeDecl] = []
        entity_json = self.mapping(obj["entityTypes"], f"{path}.entityTypes")
        if entity_json is not None:
            for type_name, decl in entity_json.items():
                entity = self.entity_type(type_name, decl,
                                          _key_path(f"{path}.entityTypes", type_name))
                if entity is not None:
                    entities.append(entity)
        actions: list[ActionDecl] = []
        action_json = self.mapping(obj["actions"], f"{path}.actions")
        if action_json is not None:
            for action_name, decl in action_json.items():
                action = self.action(action_name, decl, _key_path(f"{path}.actions", action_name))
                if action is not None:
                    actions.append(action)
        return NamespaceDecl(name, tuple(entities), tuple(actions), tuple(commons),
                             annotations, path)

    def common_type(self, name: str, body: Any, path: str) -> CommonTypeDecl | None:
        if not self.declared_name(name, path, "common type name", qualified=False):
            return None
        if name in RESERVED_COMMON_TYPE_NAMES:
            self.error("reserved-type-name",
                       f"`{name}` is a reserved schema keyword and cannot name a common type",
                       path)
            return None
        decl = self.type(body, path, extra=("annotations",))
        if decl is None:
            return None
        annotations = self.annotations(body.get("annotations"), f"{path}.annotations")
        return CommonTypeDecl(name, decl, annotations, path)

    def entity_type(self, name: str, body: Any, path: str) -> EntityTypeDecl | None:
        if not self.declared_name(name, path, "entity type name", qualified=False):
            return None
        if isinstance(body, dict) and "enum" in body:
            obj = self.object(body, path, ("enum", "annotations"))
            if obj is None:
                return None
            ids = self.strings(obj["enum"], f"{path}.enum")
            if ids is None:
                return None
            if not ids:
                self.error("invalid-schema-json", "an `enum` needs at least one entity id",
                           f"{path}.enum")
                return None
            annotations = self.annotations(obj.get("annotations"), f"{path}.annotations")
            return EntityTypeDecl(name, enum=tuple(ids), annotations=annotations, where=path)
        obj = self.object(body, path, ("memberOfTypes", "shape", "tags", "annotations"))
        if obj is None:
            return None
        member_of = self.entity_refs(obj.get("memberOfTypes", []), f"{path}.memberOfTypes")
        shape = None
        if "shape" in obj:
            shape = self.type(obj["shape"], f"{path}.shape")
        tags = None
        if "tags" in obj:
            tags = self.type(obj["tags"], f"{path}.tags")
        annotations = self.annotations(obj.get("annotations"), f"{path}.annotations")
        if member_of is None or ("shape" in obj and shape is None) or (
                "tags" in obj and tags is None):
            return None
        return EntityTypeDecl(name, tuple(member_of), shape, tags, None, annotations, path)

    def entity_refs(self, value: Any, path: str) -> list[TypeRef] | None:
        names = self.strings(value, path)
        if names is None:
            return None
        refs: list[TypeRef] = []
        for i, name in enumerate(names):
            if self.name(name, f"{path}[{i}]", "entity type", qualified=True):
                refs.append(TypeRef(name, RefKind.ENTITY, f"{path}[{i}]"))
        return refs if len(refs) == len(names) else None

    def action(self, name: str, body: Any, path: str) -> ActionDecl | None:
        obj = self.object(body, path, ("memberOf", "appliesTo", "annotations", "attributes"))
        if obj is None:
            return None
        if "attributes" in obj:
            self.error("unsupported-feature", "action attributes are not supported",
                       f"{path}.attributes")
            return None
        member_of: list[ActionRef] = []
        if "memberOf" in obj:
            items = obj["memberOf"]
            if not isinstance(items, list):
                self.error("invalid-schema-json", f"expected a list, found {_kind(items)}",
                           f"{path}.memberOf")
                return None
            for i, item in enumerate(items):
                item_path = f"{path}.memberOf[{i}]"
                ref = self.object(item, item_path, ("id", "type"), ("id",))
                if ref is None:
                    return None
                eid = self.string(ref["id"], f"{item_path}.id")
                type_name = ref.get("type")
                if type_name is not None and (
                        self.string(type_name, f"{item_path}.type") is None
                        or not self.name(type_name, f"{item_path}.type", "action type",
                                         qualified=True)):
                    return None
                if eid is None:
                    return None
                member_of.append(ActionRef(eid, type_name, item_path))
        applies_to = None
        if "appliesTo" in obj:
            applies_to = self.applies_to(obj["appliesTo"], f"{path}.appliesTo")
            if applies_to is None:
                return None
        annotations = self.annotations(obj.get("annotations"), f"{path}.annotations")
        return ActionDecl(name, tuple(member_of), applies_to, annotations, path)

    def applies_to(self, body: Any, path: str) -> AppliesTo | None:
        obj = self.object(body, path, ("principalTypes", "resourceTypes", "context"),
                          ("principalTypes", "resourceTypes"))
        if obj is None:
            return None
        principals = self.entity_refs(obj["principalTypes"], f"{path}.principalTypes")
        resources = self.entity_refs(obj["resourceTypes"], f"{path}.resourceTypes")
        context = None
        if "context" in obj:
            context = self.type(obj["context"], f"{path}.context")
            if context is None:
                return None
        if principals is None or resources is None:
            return None
        return AppliesTo(tuple(principals), tuple(resources), context, path)

    # -- types --------------------------------------------------------------------------
    def type(self, body: Any, path: str, extra: tuple[str, ...] = ()) -> TypeDecl | None:
        if not isinstance(body, dict):
            self.error("invalid-schema-json", f"expected a type object, found {_kind(body)}",
                       path)
            return None
        if "type" not in body:
            self.error("invalid-schema-json", "missing field `type`", path)
            return None
        kind = self.string(body["type"], f"{path}.type")
        if kind is None:
            return None
        specific = _KIND_FIELDS.get(kind, ())
        if self.object(body, path, ("type", *specific, *extra)) is None:
            return None
        if kind == "Record":
            return self.record(body, path)
        if kind == "Set":
            if "element" not in body:
                self.error("invalid-schema-json", "missing field `element`", path)
                return None
            element = self.type(body["element"], f"{path}.element")
            return None if element is None else SetDecl(element, path)
        if kind in ("Entity", "Extension", "EntityOrCommon"):
            if "name" not in body:
                self.error("invalid-schema-json", "missing field `name`", path)
                return None
            name = self.string(body["name"], f"{path}.name")
            if name is None:
                return None
            if kind == "Extension":
                if not _IDENT.match(name):
                    self.error("invalid-name", f"invalid extension type `{name}`",
                               f"{path}.name")
                    return None
                return TypeRef(name, RefKind.EXTENSION, path)
            if not self.name(name, f"{path}.name", "type name", qualified=True):
                return None
            ref_kind = RefKind.ENTITY if kind == "Entity" else RefKind.ENTITY_OR_COMMON
            return TypeRef(name, ref_kind, path)
        if kind in _TYPE_KEYWORDS:
            return TypeRef(_TYPE_KEYWORDS[kind], RefKind.PRIMITIVE, path)
        if not self.name(kind, f"{path}.type", "type name", qualified=True):
            return None
        return TypeRef(kind, RefKind.COMMON, path)

    def record(self, body: dict[str, Any], path: str) -> RecordDecl | None:
        if "attributes" not in body:
            self.error("invalid-schema-json", "missing field `attributes`", path)
            return None
        additional = body.get("additionalAttributes", False)
        if not isinstance(additional, bool):
            self.error("invalid-schema-json", "`additionalAttributes` must be a boolean",
                       f"{path}.additionalAttributes")
            return None
        if additional:
            self.error("unsupported-feature", "`additionalAttributes: true` is not supported",
                       f"{path}.additionalAttributes")
            return None
        attrs_json = body["attributes"]
        if not isinstance(attrs_json, dict):
            self.error("invalid-schema-json", f"expected a JSON object, found {_kind(attrs_json)}",
                       f"{path}.attributes")
            return None
        attrs: list[AttributeDecl] = []
        ok = True
        for name, attr in attrs_json.items():
            attr_path = _key_path(f"{path}.attributes", name)
            attr_type = self.type(attr, attr_path, extra=("required", "annotations"))
            if attr_type is None:
                ok = False
                continue
            required = attr.get("required", True)
            if not isinstance(required, bool):
                self.error("invalid-schema-json", "`required` must be a boolean",
                           f"{attr_path}.required")
                ok = False
                continue
            annotations = self.annotations(attr.get("annotations"), f"{attr_path}.annotations")
            attrs.append(AttributeDecl(name, attr_type, required, annotations, attr_path))
        return RecordDecl(tuple(attrs), path) if ok else None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number"


def parse_schema_json(data: Any) -> SchemaFragment:
    """Parse a JSON schema (decoded, or JSON text) into a `SchemaFragment`.

    Raises:
        SchemaError: malformed JSON or a schema that breaks the JSON schema grammar;
            every problem is reported, each with its JSON path.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"invalid JSON: {exc.msg}", code="invalid-json",
                              path=f"line {exc.lineno} column {exc.colno}") from None
    parser = _JsonParser()
    fragment = parser.schema(data)
    if parser.errors:
        first = parser.errors[0]
        raise SchemaError(first.message, code=first.code, diagnostics=parser.errors)
    return fragment


# -- printing -------------------------------------------------------------------------------
def _annotations_json(annotations: Annotations, out: dict[str, Any]) -> None:
    if annotations:
        out["annotations"] = dict(annotations)


def _type_json(decl: TypeDecl) -> dict[str, Any]:
    if isinstance(decl, TypeRef):
        if decl.kind is RefKind.PRIMITIVE:
            return {"type": _PRIMITIVE_JSON[decl.name]}
        if decl.kind is RefKind.EXTENSION:
            return {"type": "Extension", "name": decl.name}
        if decl.kind is RefKind.ENTITY:
            return {"type": "Entity", "name": decl.name}
        if decl.kind is RefKind.COMMON and decl.name not in (
                "Record", "Set", "Entity", "Extension", "EntityOrCommon", *_TYPE_KEYWORDS):
            return {"type": decl.name}
        return {"type": "EntityOrCommon", "name": decl.name}
    if isinstance(decl, SetDecl):
        return {"type": "Set", "element": _type_json(decl.element)}
    attributes: dict[str, Any] = {}
    for attr in decl.attributes:
        item = _type_json(attr.type)
        if not attr.required:
            item["required"] = False
        _annotations_json(attr.annotations, item)
        attributes.pop(attr.name, None)
        attributes[attr.name] = item
    return {"type": "Record", "attributes": attributes}


def fragment_to_json(fragment: SchemaFragment) -> dict[str, Any]:
    """Print a fragment in the JSON schema format, names as written."""
    out: dict[str, Any] = {}
    for ns in fragment.namespaces:
        body: dict[str, Any] = {}
        if ns.common_types:
            commons: dict[str, Any] = {}
            for common in ns.common_types:
                item = _type_json(common.type)
                _annotations_json(common.annotations, item)
                commons[common.name] = item
            body["commonTypes"] = commons
        entities: dict[str, Any] = {}
        for entity in ns.entity_types:
            item = {}
            if entity.enum is not None:
                item["enum"] = list(entity.enum)
            else:
                if entity.member_of:
                    item["memberOfTypes"] = [ref.name for ref in entity.member_of]
                if entity.shape is not None:
                    item["shape"] = _type_json(entity.shape)
                if entity.tags is not None:
                    item["tags"] = _type_json(entity.tags)
            _annotations_json(entity.annotations, item)
            entities[entity.name] = item
        body["entityTypes"] = entities
        actions: dict[str, Any] = {}
        for action in ns.actions:
            item = {}
            if action.member_of:
                item["memberOf"] = [
                    {"id": ref.id} if ref.type is None else {"id": ref.id, "type": ref.type}
                    for ref in action.member_of
                ]
            if action.applies_to is not None:
                applies: dict[str, Any] = {
                    "principalTypes": [ref.name for ref in action.applies_to.principal_types],
                    "resourceTypes": [ref.name for ref in action.applies_to.resource_types],
                }
                if action.applies_to.context is not None:
                    applies["context"] = _type_json(action.applies_to.context)
                item["appliesTo"] = applies
            _annotations_json(action.annotations, item)
            actions[action.name] = item
        body["actions"] = actions
        _annotations_json(ns.annotations, body)
        out[ns.name] = body
    return out
