"""Resolved Cedar schema types: what entity types, actions and attributes look like.

These are the types after name resolution: every reference names a fully qualified
entity type, a primitive or an extension type, and common types have been inlined.
The as-written form of a schema (before resolution) lives in `rune.cedar.schema.fragment`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rune.cedar.values import EntityUID

__all__ = [
    "ActionDef",
    "AttributeType",
    "BOOL",
    "EXTENSION_TYPES",
    "EntityType",
    "EntityTypeDef",
    "ExtensionType",
    "LONG",
    "PRIMITIVE_TYPES",
    "PrimitiveType",
    "RecordType",
    "STRING",
    "SchemaType",
    "SetType",
    "ancestor_types",
    "format_type",
]

Annotations = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PrimitiveType:
    """`Bool`, `Long` or `String`."""

    name: str


BOOL = PrimitiveType("Bool")
LONG = PrimitiveType("Long")
STRING = PrimitiveType("String")

PRIMITIVE_TYPES: Mapping[str, PrimitiveType] = {"Bool": BOOL, "Long": LONG, "String": STRING}

# Extension type name -> the extension function that builds a value of it from a string.
EXTENSION_TYPES: Mapping[str, str] = {
    "ipaddr": "ip",
    "decimal": "decimal",
    "datetime": "datetime",
    "duration": "duration",
}


@dataclass(frozen=True, slots=True)
class EntityType:
    """An entity reference whose type is the (fully qualified) entity type ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class ExtensionType:
    """An extension type: `ipaddr`, `decimal`, `datetime` or `duration`."""

    name: str


@dataclass(frozen=True, slots=True)
class SetType:
    """`Set<element>`."""

    element: SchemaType


@dataclass(frozen=True, slots=True)
class AttributeType:
    """The declared type of one record attribute, and whether it must be present."""

    type: SchemaType
    required: bool = True
    annotations: Annotations = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class RecordType:
    """A closed record type: exactly the declared attributes, required ones always present."""

    attributes: Mapping[str, AttributeType] = field(default_factory=dict, hash=False)

    def required_names(self) -> list[str]:
        """The names of the required attributes, in declaration order."""
        return [name for name, attr in self.attributes.items() if attr.required]


SchemaType = PrimitiveType | EntityType | ExtensionType | SetType | RecordType


@dataclass(frozen=True, slots=True)
class EntityTypeDef:
    """A declared entity type.

    Attributes:
        name: the fully qualified type name.
        member_of_types: the types declared in its `in [...]` (`memberOfTypes`). Cedar
            closes them transitively: with `entity B in [A]; entity C in [B];` a `C` may
            have an `A` parent too (see `ancestor_types`).
        shape: the entity's attributes.
        tags: the type of every tag value, or None when the type has no tags.
        enum: the allowed entity ids of an enumerated entity type, or None.
    """

    name: str
    member_of_types: frozenset[str] = frozenset()
    shape: RecordType = field(default_factory=RecordType)
    tags: SchemaType | None = None
    enum: tuple[str, ...] | None = None
    annotations: Annotations = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ActionDef:
    """A declared action.

    Attributes:
        uid: the action entity, e.g. `NS::Action::"view"`.
        member_of: the action groups it is declared `in`, in declaration order.
        ancestors: every action group it is transitively in.
        applies_to: False when the action has no `appliesTo` (it applies to no request).
        principal_types / resource_types: the entity types it applies to.
        context: the type of the request context.
    """

    uid: EntityUID
    member_of: tuple[EntityUID, ...] = ()
    ancestors: frozenset[EntityUID] = frozenset()
    applies_to: bool = False
    principal_types: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ()
    context: RecordType = field(default_factory=RecordType)
    annotations: Annotations = field(default=(), compare=False)


def ancestor_types(entity_types: Mapping[str, EntityTypeDef]) -> dict[str, frozenset[str]]:
    """The types each entity type's ancestors may have: its `memberOfTypes`, transitively.

    Cedar 4 checks an entity's parents against this closure (cedar-policy's
    `allowed_parent_types` is closed this way), and the typechecker uses it to decide when
    `e in x` can hold. Cycles among entity types are allowed; a type on a cycle is its own
    ancestor type.
    """
    closure: dict[str, frozenset[str]] = {}
    for name, decl in entity_types.items():
        seen: set[str] = set()
        stack = list(decl.member_of_types)
        while stack:
            parent = stack.pop()
            if parent not in seen:
                seen.add(parent)
                parent_decl = entity_types.get(parent)
                if parent_decl is not None:
                    stack.extend(parent_decl.member_of_types)
        closure[name] = frozenset(seen)
    return closure


def format_type(schema_type: SchemaType) -> str:
    """Render a resolved type in the human-readable schema syntax."""
    if isinstance(schema_type, PrimitiveType | ExtensionType | EntityType):
        return schema_type.name
    if isinstance(schema_type, SetType):
        return f"Set<{format_type(schema_type.element)}>"
    items = ", ".join(
        f"{name}{'' if attr.required else '?'}: {format_type(attr.type)}"
        for name, attr in schema_type.attributes.items()
    )
    return "{" + items + "}"
