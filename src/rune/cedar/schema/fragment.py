"""The as-written form of a Cedar schema, shared by the human-readable and JSON parsers.

A `SchemaFragment` keeps every name exactly as the author wrote it (unqualified names
stay unqualified) and remembers where each element came from: a `SourceSpan` for the
human-readable form, a JSON path such as `$.NS.entityTypes.User` for the JSON form.
Name resolution (`rune.cedar.schema.resolve`) turns a fragment into the resolved types
of `rune.cedar.schema.model`; `rune.cedar.schema.json_schema` prints a fragment as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rune.errors import SourceSpan

__all__ = [
    "ActionDecl",
    "ActionRef",
    "Annotations",
    "AppliesTo",
    "AttributeDecl",
    "CommonTypeDecl",
    "EntityTypeDecl",
    "NamespaceDecl",
    "RESERVED_COMMON_TYPE_NAMES",
    "RESERVED_IDENTIFIERS",
    "RecordDecl",
    "RefKind",
    "SchemaFragment",
    "SetDecl",
    "TypeDecl",
    "TypeRef",
    "Where",
    "qualify",
]

# A place in the input: a span in human-readable text, or a JSON path in JSON input.
Where = SourceSpan | str | None

Annotations = tuple[tuple[str, str], ...]

# Identifiers that Cedar reserves and that no schema name component may use.
RESERVED_IDENTIFIERS = frozenset(
    {"true", "false", "if", "then", "else", "in", "is", "like", "has"}
)

# Names a common type may not have (they are the JSON schema's type keywords).
RESERVED_COMMON_TYPE_NAMES = frozenset(
    {"Bool", "Boolean", "Entity", "Extension", "Long", "Record", "Set", "String"}
)


class RefKind(StrEnum):
    """What a named type reference may resolve to."""

    ENTITY_OR_COMMON = "entity_or_common"  # a bare name in the human-readable form
    COMMON = "common"  # JSON `{"type": "Name"}`: a common type (or a built-in)
    ENTITY = "entity"  # JSON `{"type": "Entity"}`, `memberOfTypes`, `principalTypes`...
    EXTENSION = "extension"  # JSON `{"type": "Extension"}`
    PRIMITIVE = "primitive"  # JSON `{"type": "Long" | "String" | "Boolean"}`


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A type named by ``name`` as written (for PRIMITIVE: `Bool`, `Long` or `String`)."""

    name: str
    kind: RefKind = RefKind.ENTITY_OR_COMMON
    where: Where = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SetDecl:
    """`Set<element>`."""

    element: TypeDecl
    where: Where = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class AttributeDecl:
    """One attribute of a record type: `name?: Type`."""

    name: str
    type: TypeDecl
    required: bool = True
    annotations: Annotations = ()
    where: Where = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RecordDecl:
    """`{ attr: Type, ... }` (a later duplicate attribute replaces an earlier one)."""

    attributes: tuple[AttributeDecl, ...] = ()
    where: Where = field(default=None, compare=False, repr=False)


TypeDecl = TypeRef | SetDecl | RecordDecl


@dataclass(frozen=True, slots=True)
class EntityTypeDecl:
    """`entity Name in [Parents] = {shape} tags Type;` or `entity Name enum [...]`."""

    name: str
    member_of: tuple[TypeRef, ...] = ()
    shape: TypeDecl | None = None
    tags: TypeDecl | None = None
    enum: tuple[str, ...] | None = None
    annotations: Annotations = ()
    where: Where = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActionRef:
    """A parent action: ``id`` with ``type`` as written (None: this namespace's `Action`)."""

    id: str
    type: str | None = None
    where: Where = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class AppliesTo:
    """An action's `appliesTo`: principal and resource types and the context type."""

    principal_types: tuple[TypeRef, ...]
    resource_types: tuple[TypeRef, ...]
    context: TypeDecl | None = None
    where: Where = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActionDecl:
    """`action "name" in [groups] appliesTo {...};`."""

    name: str
    member_of: tuple[ActionRef, ...] = ()
    applies_to: AppliesTo | None = None
    annotations: Annotations = ()
    where: Where = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CommonTypeDecl:
    """`type Name = Type;`."""

    name: str
    type: TypeDecl
    annotations: Annotations = ()
    where: Where = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class NamespaceDecl:
    """A namespace and its declarations; ``name`` is `""` for the empty namespace."""

    name: str
    entity_types: tuple[EntityTypeDecl, ...] = ()
    actions: tuple[ActionDecl, ...] = ()
    common_types: tuple[CommonTypeDecl, ...] = ()
    annotations: Annotations = ()
    where: Where = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SchemaFragment:
    """A whole schema as written: its namespaces in order."""

    namespaces: tuple[NamespaceDecl, ...] = ()


def qualify(namespace: str, name: str) -> str:
    """Prefix ``name`` with ``namespace`` (no prefix for the empty namespace)."""
    return f"{namespace}::{name}" if namespace else name
