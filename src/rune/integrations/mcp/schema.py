"""Cedar schemas from an MCP server's tool list, and tool arguments as Cedar values.

`schema_from_tools` builds a Cedar schema (JSON format) in which every request the
gateway can send validates:

* entity types `identity` (the subject), `tool`, `mcp_server`, `resource`, `prompt` and
  `task` (the binding's default resources);
* an action per MCP method the binding maps (`initialize`, `tools/list`, `tools/call`,
  ...) with that mapping's principal, resource and context types;
* an action per tool (named as the tool), applying to `identity` on `tool`, whose
  context is `{agent?: String, arguments: <the tool's inputSchema>}`: what the gateway
  sends with `--tool-actions`, so policies on arguments validate against what the tool
  accepts. Tools that declare `x-authzen-mapping` choose their own actions and types and
  get none.

JSON Schema to Cedar: `string` is String, `integer` Long, `number` decimal, `boolean`
Boolean, `array` a Set of its `items`, `object` a Record of its `properties` (required
as the schema says); `anyOf`/`oneOf` of one type and `null` is that type, optional.
Anything else (unions, `null`, tuples, objects without properties) has no Cedar type:
the member is left out of the schema, and `project_arguments` leaves it out of the
request, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from rune.integrations.mcp.errors import MappingError
from rune.integrations.mcp.mapping import DEFAULT_MAPPINGS, declared_mapping

__all__ = ["cedar_type", "project_arguments", "schema_from_tools"]

_MAX_DEPTH: Final = 16
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_DECIMAL_LIMIT: Final = Decimal("922337203685477.5807")
_STEP: Final = Decimal("0.0001")
_DECIMAL: Final = {"type": "Extension", "name": "decimal"}
_RESOURCE_TYPES: Final = ("tool", "mcp_server", "resource", "prompt", "task")


def _nullable(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The one non-null member of an `anyOf`/`oneOf` with `null` (pydantic's Optional)."""
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            kept = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(kept) == 1 and isinstance(kept[0], dict):
                return kept[0]
            return None
    return schema


def cedar_type(schema: Any, depth: int = _MAX_DEPTH) -> dict[str, Any] | None:
    """The Cedar type (schema JSON format) of a JSON Schema, or None when it has none."""
    if not isinstance(schema, dict) or depth <= 0:
        return None
    inner = _nullable(schema)
    if inner is None:
        return None
    kind = inner.get("type")
    if kind == "string":
        return {"type": "String"}
    if kind == "integer":
        return {"type": "Long"}
    if kind == "number":
        return dict(_DECIMAL)
    if kind == "boolean":
        return {"type": "Boolean"}
    if kind == "array":
        element = cedar_type(inner.get("items"), depth - 1)
        return None if element is None else {"type": "Set", "element": element}
    if kind == "object" or (kind is None and isinstance(inner.get("properties"), dict)):
        properties = inner.get("properties")
        if not isinstance(properties, dict):
            return None
        required = inner.get("required")
        required = set(required) if isinstance(required, list) else set()
        attributes: dict[str, Any] = {}
        for name, member in properties.items():
            member_type = cedar_type(member, depth - 1)
            if member_type is None:
                continue
            optional = name not in required or _nullable(member) is not member
            if optional:
                member_type["required"] = False
            attributes[name] = member_type
        return {"type": "Record", "attributes": attributes}
    return None


def project_arguments(arguments: Any, schema: Any) -> Any:
    """``arguments`` as the Cedar value `cedar_type(schema)` describes: members without
    a Cedar type and nulls left out, `number`s as decimals.

    Raises:
        MappingError: an argument that does not fit its declared type (a string for an
            integer, a number out of range): the request cannot be built.
    """
    projected = _project(arguments, schema, "params.arguments", _MAX_DEPTH)
    return projected if isinstance(projected, dict) else {}


def _project(value: Any, schema: Any, path: str, depth: int) -> Any:
    declared = cedar_type(schema, depth)
    if declared is None:
        return None
    inner = _nullable(schema)
    assert inner is not None
    kind = declared["type"]
    if kind == "Record":
        if not isinstance(value, dict):
            raise _mismatch(path, "an object")
        properties = inner.get("properties", {})
        out = {}
        for name, member_type in declared["attributes"].items():
            if value.get(name) is None:
                if member_type.get("required", True):
                    raise MappingError(f"`{path}.{name}` is missing",
                                       code="mapping-missing-field")
                continue
            out[name] = _project(value[name], properties[name], f"{path}.{name}", depth - 1)
        return out
    if kind == "Set":
        if not isinstance(value, list):
            raise _mismatch(path, "an array")
        return [_project(item, inner.get("items"), f"{path}[{i}]", depth - 1)
                for i, item in enumerate(value)]
    if kind == "String":
        if not isinstance(value, str):
            raise _mismatch(path, "a string")
        return value
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise _mismatch(path, "a boolean")
        return value
    if kind == "Long":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or \
                not _LONG_MIN <= value <= _LONG_MAX:
            raise _mismatch(path, "a 64-bit integer")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mismatch(path, "a number")
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise _mismatch(path, "a number") from None
    if not exact.is_finite() or exact != exact.quantize(_STEP) or \
            abs(exact) > _DECIMAL_LIMIT:
        raise _mismatch(path, "a number with at most four decimal places")
    return {"__extn": {"fn": "decimal", "arg": f"{exact.quantize(_STEP)}"}}


def _mismatch(path: str, expected: str) -> MappingError:
    return MappingError(f"`{path}` must be {expected}", code="mapping-invalid-field")


def _context(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "Record", "attributes": {
        "agent": {"type": "String", "required": False}, **(extra or {})}}


def schema_from_tools(tools: Sequence[Any]) -> dict[str, Any]:
    """A Cedar schema (JSON format, empty namespace) for a server's tools (the `tools`
    of a `tools/list` result): see the module docstring.

    Raises:
        MappingError: (`schema-conflict`) a tool named like an MCP method's action, or
            two tools with one name.
    """
    entity_types: dict[str, Any] = {"identity": {}}
    for kind in _RESOURCE_TYPES:
        entity_types[kind] = {}
    actions: dict[str, Any] = {}
    for method, mapping in DEFAULT_MAPPINGS.items():
        body = mapping["evaluation"]
        resource_type = body["resource"]["type"]
        extra = {key: {"type": "String"} for key in body["context"] if key != "agent"}
        actions[method] = {"appliesTo": {
            "principalTypes": ["identity"],
            "resourceTypes": (["prompt", "resource"] if resource_type.startswith("$")
                              else [resource_type]),
            "context": _context(extra)}}
    for tool in tools:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue
        name = tool["name"]
        if declared_mapping(tool) is not None:
            continue
        if name in actions:
            raise MappingError(f"tool `{name}` is named like an MCP method or another tool",
                               code="schema-conflict")
        arguments = cedar_type(tool.get("inputSchema")) or {"type": "Record",
                                                            "attributes": {}}
        if arguments["type"] != "Record":
            arguments = {"type": "Record", "attributes": {}}
        actions[name] = {"appliesTo": {"principalTypes": ["identity"],
                                       "resourceTypes": ["tool"],
                                       "context": _context({"arguments": arguments})}}
    return {"": {"entityTypes": entity_types, "actions": actions}}
