"""Cedar schemas from tool lists load in RUNE's schema parser, and arguments projected on
a tool's inputSchema always conform to the type the schema gives them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rune.cedar import EntityUID, Request
from rune.cedar.schema import Schema
from rune.integrations.mcp import MappingError, cedar_type, project_arguments, schema_from_tools
from tests.integrations.mcp.conftest import BUNDLE

WRITE = {"type": "object", "required": ["path", "content"], "properties": {
    "path": {"type": "string"}, "content": {"type": "string"},
    "mode": {"type": "integer", "default": 420},
    "ratio": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}},
    "owner": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
    "any": {}, "pair": {"type": ["string", "integer"]},
    "meta": {"type": "object", "properties": {"force": {"type": "boolean"}}}}}


def test_types() -> None:
    record = cedar_type(WRITE)
    assert record is not None
    assert record["attributes"] == {
        "path": {"type": "String"}, "content": {"type": "String"},
        "mode": {"type": "Long", "required": False},
        "ratio": {"type": "Extension", "name": "decimal", "required": False},
        "tags": {"type": "Set", "element": {"type": "String"}, "required": False},
        "owner": {"type": "String", "required": False},
        "meta": {"type": "Record", "attributes": {"force": {"type": "Boolean",
                                                            "required": False}},
                 "required": False}}


def test_projection() -> None:
    arguments = {"path": "/a", "content": "x", "mode": 3.0, "ratio": 0.25, "tags": ["t"],
                 "owner": None, "any": {"deep": [1]}, "pair": 1, "meta": {"force": True}}
    assert project_arguments(arguments, WRITE) == {
        "path": "/a", "content": "x", "mode": 3,
        "ratio": {"__extn": {"fn": "decimal", "arg": "0.2500"}}, "tags": ["t"],
        "meta": {"force": True}}


@pytest.mark.parametrize(("arguments", "message"), [
    ({"content": "x"}, "`params.arguments.path` is missing"),
    ({"path": 1, "content": "x"}, "must be a string"),
    ({"path": "/a", "content": "x", "mode": "7"}, "must be a 64-bit integer"),
    ({"path": "/a", "content": "x", "ratio": 0.123456}, "at most four decimal places"),
    ({"path": "/a", "content": "x", "tags": "t"}, "must be an array"),
])
def test_projection_errors(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        project_arguments(arguments, WRITE)


def test_the_example_tools_make_a_schema_requests_validate_against() -> None:
    tools = json.loads((BUNDLE / "tools.json").read_text())["tools"]
    document = schema_from_tools([*tools, {"name": "odd", "inputSchema": WRITE}, "junk"])
    schema = Schema.from_json(document)
    actions = document[""]["actions"]
    assert {"tools/call", "initialize", "read_file", "write_file", "odd"} <= set(actions)
    assert "get_customer" not in actions and "copy_file" not in actions  # declared
    arguments = project_arguments({"path": "/a", "content": "x", "ratio": 1.5}, WRITE)
    Request(EntityUID("identity", "alice"), EntityUID("Action", "odd"),
            EntityUID("tool", "odd"), {"agent": "a", "arguments": arguments}, schema=schema)


def test_a_tool_named_like_a_method_is_refused() -> None:
    with pytest.raises(MappingError) as caught:
        schema_from_tools([{"name": "tools/list", "inputSchema": {"type": "object"}}])
    assert caught.value.code == "schema-conflict"
