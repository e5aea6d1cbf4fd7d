"""Fuzz target: Cedar schemas in both syntaxes, and policies validated against them.

The input is a schema, optionally followed by a line `%%` and policy text. A schema that
starts with `{` is read as JSON (`Schema.from_json`), else as the human syntax
(`Schema.from_str`). A schema that loads must survive a round trip through its JSON form,
validate the given policies (or a fixed set reaching every kind of expression), read a
small entity list and build requests for each declared action.

Run: ``python -m fuzz.cedar_schema [libFuzzer options] [corpus dirs]``.
"""

from __future__ import annotations

import json
from typing import Any

from fuzz._harness import FuzzFailure, calls, main
from rune.cedar import Entities, PolicySet, Request
from rune.cedar.schema import Schema, validate

__all__ = ["POLICIES", "SEPARATOR", "check", "check_schema"]

SEPARATOR = "\n%%\n"
"""Between the schema and the policies of one input."""

POLICIES = PolicySet.from_str("""
permit(principal, action, resource);
permit(principal is User, action == Action::"view", resource is Photo)
  when { resource.owner == principal && principal.age > 3 && context.ip.isLoopback() };
forbid(principal in Group::"bad", action in [Action::"edit", Action::"view"], resource)
  unless { resource has tags && resource.tags.contains("x") || principal.name like "a*" };
permit(principal, action, resource) when { principal.hasTag("k") && principal.getTag("k") };
permit(principal == ?principal, action, resource in ?resource);
permit(principal, action, resource) when { if context.n > 0 then [1, 2] else {a: 1} };
""")
"""Validated when the input has no policies of its own."""

ENTITIES = [
    {"uid": {"type": "User", "id": "alice"}, "attrs": {"age": 3, "name": "alice"},
     "parents": [{"type": "Group", "id": "bad"}], "tags": {"k": True}},
    {"uid": {"type": "Photo", "id": "p"}, "attrs": {"owner": {"type": "User", "id": "alice"},
                                                    "tags": ["x"]}, "parents": []},
    {"uid": {"type": "Group", "id": "bad"}, "attrs": {}, "parents": []},
]
"""Read with each schema that loads (most schemas reject them; that is fine)."""


def load_schema(text: str) -> tuple[Any, Any]:
    """(schema, error) for ``text`` in whichever syntax it is written."""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = text  # `from_json` takes text too, and must report it
        return calls(Schema.from_json, data, argument_types=True)
    return calls(Schema.from_str, text)


def check_schema(schema: Schema, policies: PolicySet) -> None:
    """Everything a loaded schema must do without failing."""
    as_json, error = calls(schema.to_json)
    if error is not None:
        raise FuzzFailure(f"a loaded schema does not print as JSON: {error!r}")
    again, error = calls(Schema.from_json, json.loads(json.dumps(as_json)))
    if error is not None:
        raise FuzzFailure(f"a schema's JSON form does not load: {error}")
    if again.to_json() != as_json:
        raise FuzzFailure("a schema's JSON form loads as a different schema")
    result, error = calls(validate, policies, schema)
    if error is not None:
        raise FuzzFailure(f"validate raised: {error!r}")
    for problem in result.errors:
        str(problem)
    calls(Entities.from_json, ENTITIES, schema)
    for action in list(schema.actions)[:4]:
        calls(Request, 'User::"alice"', action, 'Photo::"p"', {"ip": "127.0.0.1", "n": 1},
              schema)


def check(data: bytes) -> None:
    """One fuzz input: a schema, then optionally `%%` and policies."""
    text = data.decode("utf-8", "replace")
    schema_text, _, policy_text = text.partition(SEPARATOR)
    policies: Any = POLICIES
    if policy_text:
        policies, error = calls(PolicySet.from_str, policy_text)
        if error is not None:
            policies = POLICIES
    schema, error = load_schema(schema_text)
    if error is None:
        check_schema(schema, policies)


if __name__ == "__main__":
    main(__name__, check)
