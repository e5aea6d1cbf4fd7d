"""`Schema`: a parsed and resolved Cedar schema, and what RUNE does with one.

A schema is built once, from the human-readable syntax (`Schema.from_str`) or the JSON
syntax (`Schema.from_json`); both go through the same `SchemaFragment` and the same
name resolution, so they report the same problems. The result answers the questions
the rest of RUNE asks: how to read entities and contexts (`parse_entities`,
`parse_context`), whether a request fits (`validate_request`), and which action
entities the schema declares (`action_entities`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from rune.cedar.errors import EntitiesError, RequestError, SchemaError
from rune.cedar.json_format import EntityData
from rune.cedar.schema.fragment import SchemaFragment
from rune.cedar.schema.human import parse_schema_text
from rune.cedar.schema.json_schema import fragment_to_json, parse_schema_json
from rune.cedar.schema.model import ActionDef, EntityTypeDef, SchemaType, ancestor_types
from rune.cedar.schema.request import check_request
from rune.cedar.schema.resolve import resolve_fragment
from rune.cedar.schema.typed_json import TypedJsonParser, action_entities
from rune.cedar.values import CedarRecord, EntityUID

__all__ = ["Schema"]


class Schema:
    """A Cedar schema: entity types, actions and common types, all names resolved.

    Immutable once built. Attributes:
        entity_types: declared entity types by fully qualified name.
        ancestor_types: for each entity type, the types its ancestors may have (its
            `memberOfTypes`, closed transitively as Cedar closes them).
        actions: declared actions by uid.
        common_types: resolved common types by fully qualified name.
        fragment: the schema as written (names unresolved), for printing.
    """

    __slots__ = ("_action_entities", "_cedarpy", "_json", "actions", "ancestor_types",
                 "common_types", "entity_types", "fragment")

    entity_types: Mapping[str, EntityTypeDef]
    ancestor_types: Mapping[str, frozenset[str]]
    actions: Mapping[EntityUID, ActionDef]
    common_types: Mapping[str, SchemaType]
    fragment: SchemaFragment

    def __init__(self, fragment: SchemaFragment, source: str | None = None) -> None:
        """Resolve ``fragment``; use `from_str` or `from_json` rather than calling this.

        Raises:
            SchemaError: every resolution problem (undeclared types, cycles, shadowing...);
                spans point into ``source`` for human-readable input.
        """
        resolved = resolve_fragment(fragment)
        if resolved.errors:
            first = min(resolved.errors, key=_position)
            raise SchemaError(first.message, code=first.code,
                              diagnostics=sorted(resolved.errors, key=_position), source=source)
        self.fragment = fragment
        self.entity_types = MappingProxyType(resolved.entity_types)
        self.ancestor_types = MappingProxyType(ancestor_types(resolved.entity_types))
        self.actions = MappingProxyType(resolved.actions)
        self.common_types = MappingProxyType(resolved.common_types)
        self._json: dict[str, Any] | None = None
        self._cedarpy: Any = None
        self._action_entities: tuple[EntityData, ...] = tuple(
            action_entities(resolved.actions.values())
        )

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_str(cls, text: str, file: str | None = None) -> Schema:
        """Parse the human-readable schema syntax.

        Raises:
            SchemaError: all syntax errors, or else all resolution errors, each with a
                `file:line:col` span and a caret snippet.
        """
        return cls(parse_schema_text(text, file), source=text)

    @classmethod
    def from_json(cls, data: Any) -> Schema:
        """Parse the JSON schema syntax, given decoded (a dict) or as JSON text.

        Raises:
            SchemaError: every problem found, each with the JSON path where it occurs.
        """
        return cls(parse_schema_json(data))

    # -- reading data ---------------------------------------------------------------------
    def parse_entities(self, data: Any) -> list[EntityData]:
        """Read Cedar entity JSON (a list, or its text) as this schema directs.

        Implicit `__entity`/`__extn` escapes are accepted where the declared type says
        so; attributes, tags, parents (against `ancestor_types`) and enumerated ids are
        checked as cedar-policy does; action entities in the data must match the
        schema. The schema's action entities are appended to the result.

        Raises:
            EntitiesError: the first problem, with the JSON path (`$[i].attrs.x`).
        """
        return TypedJsonParser(self.entity_types, self.actions, EntitiesError,
                               self.ancestor_types).entities(data)

    def parse_context(self, action: EntityUID, data: Any) -> CedarRecord:
        """Read a request context (a JSON object, or its text) for ``action``.

        Raises:
            RequestError: the action is not declared, or the context is missing a
                required attribute, has an undeclared one, or holds a malformed entity
                or extension value (path `$.attr`). Primitive value types are checked by
                `validate_request`, as Cedar does.
        """
        return TypedJsonParser(self.entity_types, self.actions, RequestError).context(
            action, data
        )

    def validate_request(
        self,
        principal: EntityUID,
        action: EntityUID,
        resource: EntityUID,
        context: CedarRecord,
    ) -> None:
        """Check a request against the schema, as `Request::new(..., Some(schema))` does.

        Raises:
            RequestError: an undeclared principal/resource type or action, a type the
                action does not apply to, an undeclared id of an enumerated type, or a
                context that does not have the action's context type.
        """
        check_request(self.entity_types, self.actions, principal, action, resource, context)

    def action_entities(self) -> list[EntityData]:
        """The schema's action entities: no attributes, parents are all their groups."""
        return list(self._action_entities)

    # -- printing -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The schema in Cedar's JSON schema format (names as written; a fresh copy)."""
        if self._json is None:
            self._json = fragment_to_json(self.fragment)
        return copy.deepcopy(self._json)

    def cedarpy_schema(self) -> Any:
        """This schema as a `cedarpy.Schema` handle (built once), for tests that compare
        RUNE with cedar-policy. RUNE does not depend on cedarpy.

        Raises:
            CedarError: cedarpy is not installed (code ``cedarpy-not-installed``).
        """
        if self._cedarpy is None:
            import json

            from rune.cedar.schema.validate import import_cedarpy

            cedarpy = import_cedarpy()
            self._cedarpy = cedarpy.Schema.from_json_str(json.dumps(self.to_json()))
        return self._cedarpy

    def __repr__(self) -> str:
        return (f"Schema({len(self.entity_types)} entity types, {len(self.actions)} actions, "
                f"{len(self.common_types)} common types)")


def _position(diagnostic: Any) -> tuple[int, str]:
    span = diagnostic.span
    return (span.offset if span is not None else 0, diagnostic.path or "")
