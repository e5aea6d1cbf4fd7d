"""Fuzz target: entity JSON (with and without a schema) and request JSON.

The input is JSON text. A list is an entity list: it is read from the text and from the
decoded list (the two paths must agree), with and without the data-access example's
schema, and each entity's uid and values must print and read back unchanged. An object
with a `principal` is a request, built with and without the schema and decided against
the example's policies. Anything else is used as a request context.

Run: ``python -m fuzz.entities_request [libFuzzer options] [corpus dirs]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fuzz._harness import FuzzFailure, calls, main
from fuzz.cedar_policy import check_response
from rune.cedar import Entities, PolicySet, Request, authorize
from rune.cedar.json_format import value_from_json, value_to_json
from rune.cedar.parser import parse_entity_uid
from rune.cedar.schema import Schema

__all__ = ["check", "check_entities", "check_request"]

_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "data-access-agent"
SCHEMA = Schema.from_str((_EXAMPLE / "schema.cedarschema").read_text())
POLICIES = PolicySet.from_str("\n".join(p.read_text() for p in
                                        sorted((_EXAMPLE / "policies").glob("*.cedar"))))
_EMPTY = Entities.from_json([])


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def check_entities(text: str, data: Any) -> Entities | None:
    """Read an entity list both ways, with and without the schema; the store without
    the schema when it loads."""
    from_text, text_error = calls(Entities.from_json, text)
    from_data, data_error = calls(Entities.from_json, data)
    if (text_error is None) != (data_error is None):
        raise FuzzFailure(f"entity text and decoded list disagree: {text_error!r} vs "
                          f"{data_error!r}")
    if from_text is not None and from_data is not None \
            and from_text.to_json() != from_data.to_json():
        raise FuzzFailure("entity text and decoded list load different stores")
    calls(Entities.from_json, text, SCHEMA)
    calls(Entities.from_json, data, SCHEMA)
    if from_data is None:
        return None
    for uid in list(from_data)[:8]:
        entity = from_data.get(uid)
        again, error = calls(parse_entity_uid, str(uid))
        if error is not None or again != uid:
            raise FuzzFailure(f"uid {uid!r} prints as {str(uid)!r}, which reads back as "
                              f"{again!r} ({error})")
        for record in (entity.attrs, entity.tags):
            printed, error = calls(value_to_json, record)
            if error is not None:
                raise FuzzFailure(f"values of {uid} do not print: {error!r}")
            back, error = calls(value_from_json, json.loads(json.dumps(printed)), "$")
            if error is not None or back != record:
                raise FuzzFailure(f"values of {uid} do not read back: {error}")
    return from_data


def check_request(data: dict[str, Any], entities: Entities) -> None:
    """Build a request from JSON fields, with and without the schema, and decide it."""
    parts = (data.get("principal"), data.get("action"), data.get("resource"),
             data.get("context"))
    request, error = calls(Request, *parts, argument_types=True)
    calls(Request, *parts, SCHEMA, argument_types=True)
    if error is not None:
        return
    response, error = calls(authorize, request, POLICIES, entities)
    if error is not None:
        raise FuzzFailure(f"authorize raised instead of reporting: {error!r}")
    check_response(POLICIES, request, response)


def check(data: bytes) -> None:
    """One fuzz input: entity or request JSON text."""
    text = data.decode("utf-8", "replace")
    decoded = _decode(text)
    if isinstance(decoded, list):
        check_entities(text, decoded)
        return
    if isinstance(decoded, dict) and "principal" in decoded:
        check_request(decoded, _EMPTY)
        return
    check_request({"principal": 'User::"u"', "action": 'Action::"select"',
                   "resource": 'Table::"t"', "context": decoded}, _EMPTY)


if __name__ == "__main__":
    main(__name__, check)
