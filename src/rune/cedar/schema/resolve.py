"""Name resolution: from an as-written `SchemaFragment` to resolved schema types.

Cedar's rules (`human-readable-schema.md`, "Type name disambiguation"):

* An unqualified name `T` written in namespace `NS` is looked up as `NS::T`, then as
  `T` in the empty namespace; a qualified name `A::T` is taken as written.
* At each candidate a common type wins over an entity type; only when no candidate
  names either does a bare `Bool`/`Long`/`String` or an extension type name apply.
  `__cedar::T` always means the built-in `T`.
* A namespace may not redeclare (shadow) an entity type, common type or action of the
  empty namespace; common types may not form cycles; neither may action groups.

Every problem is collected, each at the place it was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rune.cedar.schema.fragment import (
    ActionDecl,
    ActionRef,
    CommonTypeDecl,
    EntityTypeDecl,
    RecordDecl,
    RefKind,
    SchemaFragment,
    SetDecl,
    TypeDecl,
    TypeRef,
    Where,
    qualify,
)
from rune.cedar.schema.model import (
    EXTENSION_TYPES,
    PRIMITIVE_TYPES,
    ActionDef,
    AttributeType,
    EntityType,
    EntityTypeDef,
    ExtensionType,
    RecordType,
    SchemaType,
    SetType,
)
from rune.cedar.values import EntityUID
from rune.errors import Diagnostic, SourceSpan

__all__ = ["ResolvedSchema", "diagnostic", "resolve_fragment"]


@dataclass(slots=True)
class ResolvedSchema:
    """The outcome of resolution: definitions by name, and every problem found."""

    entity_types: dict[str, EntityTypeDef] = field(default_factory=dict)
    actions: dict[EntityUID, ActionDef] = field(default_factory=dict)
    common_types: dict[str, SchemaType] = field(default_factory=dict)
    errors: list[Diagnostic] = field(default_factory=list)


def diagnostic(code: str, message: str, where: Where) -> Diagnostic:
    """A diagnostic placed at a span (human-readable input) or a JSON path (JSON input)."""
    if isinstance(where, SourceSpan):
        return Diagnostic(code, message, where)
    return Diagnostic(code, message, None, where)


def _candidates(name: str, namespace: str) -> tuple[str, ...]:
    if "::" in name or not namespace:
        return (name,)
    return (f"{namespace}::{name}", name)


def _builtin(name: str) -> SchemaType | None:
    base = name.removeprefix("__cedar::") if name.startswith("__cedar::") else name
    if "::" in base:
        return None
    if base in PRIMITIVE_TYPES:
        return PRIMITIVE_TYPES[base]
    if base in EXTENSION_TYPES:
        return ExtensionType(base)
    return None


def _uid_text(type_name: str, eid: str) -> str:
    return str(EntityUID(type_name, eid))


class _Resolver:
    def __init__(self, fragment: SchemaFragment) -> None:
        self.fragment = fragment
        self.out = ResolvedSchema()
        self.commons: dict[str, tuple[CommonTypeDecl, str]] = {}
        self.entities: dict[str, tuple[EntityTypeDecl, str]] = {}
        self.actions: dict[EntityUID, tuple[ActionDecl, str]] = {}
        self.in_progress: set[str] = set()
        self.cyclic: set[str] = set()
        self.failed: set[str] = set()

    def error(self, code: str, message: str, where: Where) -> None:
        self.out.errors.append(diagnostic(code, message, where))

    # -- declarations -------------------------------------------------------------------
    def collect(self) -> None:
        empty_names: set[str] = set()
        empty_actions: set[str] = set()
        for ns in self.fragment.namespaces:
            if ns.name == "":
                empty_names.update(d.name for d in ns.entity_types)
                empty_names.update(d.name for d in ns.common_types)
                empty_actions.update(d.name for d in ns.actions)
        for ns in self.fragment.namespaces:
            for common in ns.common_types:
                full = qualify(ns.name, common.name)
                if ns.name and common.name in empty_names:
                    self.shadow_error(full, common.name, common.where)
                self.commons[full] = (common, ns.name)
            for entity in ns.entity_types:
                full = qualify(ns.name, entity.name)
                if entity.name == "Action":
                    self.error("reserved-entity-type",
                               f"entity type `{full}` cannot be declared: `Action` is reserved "
                               "for the action entity type", entity.where)
                if ns.name and entity.name in empty_names:
                    self.shadow_error(full, entity.name, entity.where)
                self.entities[full] = (entity, ns.name)
            for action in ns.actions:
                uid = EntityUID(qualify(ns.name, "Action"), action.name)
                if ns.name and action.name in empty_actions:
                    self.shadow_error(str(uid), _uid_text("Action", action.name), action.where)
                self.actions[uid] = (action, ns.name)

    def shadow_error(self, full: str, shadowed: str, where: Where) -> None:
        self.error("shadowed-declaration",
                   f"definition of `{full}` illegally shadows the existing definition of "
                   f"`{shadowed}`", where)

    # -- types --------------------------------------------------------------------------
    def resolve_type(self, decl: TypeDecl, namespace: str) -> SchemaType | None:
        if isinstance(decl, TypeRef):
            return self.resolve_ref(decl, namespace)
        if isinstance(decl, SetDecl):
            element = self.resolve_type(decl.element, namespace)
            return None if element is None else SetType(element)
        return self.resolve_record(decl, namespace)

    def resolve_record(self, decl: RecordDecl, namespace: str) -> RecordType | None:
        attributes: dict[str, AttributeType] = {}
        ok = True
        for attr in decl.attributes:
            attr_type = self.resolve_type(attr.type, namespace)
            if attr_type is None:
                ok = False
                continue
            # INVARIANT: a later declaration of the same attribute replaces the earlier one,
            # as in cedar-policy; popping first keeps the later one's position.
            attributes.pop(attr.name, None)
            attributes[attr.name] = AttributeType(attr_type, attr.required, attr.annotations)
        return RecordType(attributes) if ok else None

    def resolve_ref(self, ref: TypeRef, namespace: str) -> SchemaType | None:
        kind = ref.kind
        if kind is RefKind.PRIMITIVE:
            return PRIMITIVE_TYPES[ref.name]
        if kind is RefKind.EXTENSION:
            if ref.name in EXTENSION_TYPES:
                return ExtensionType(ref.name)
            self.error("unknown-extension-type", f"unknown extension type `{ref.name}`",
                       ref.where)
            return None
        for candidate in _candidates(ref.name, namespace):
            if kind is not RefKind.ENTITY and candidate in self.commons:
                return self.resolve_common(candidate)
            if kind is not RefKind.COMMON and candidate in self.entities:
                return EntityType(candidate)
        if kind is not RefKind.ENTITY:
            builtin = _builtin(ref.name)
            if builtin is not None:
                return builtin
        what = "entity type" if kind is RefKind.ENTITY else "type"
        self.error("unresolved-type", f"failed to resolve {what} `{ref.name}`", ref.where)
        return None

    def resolve_common(self, full: str) -> SchemaType | None:
        if full in self.out.common_types:
            return self.out.common_types[full]
        if full in self.cyclic or full in self.failed:
            return None
        decl, namespace = self.commons[full]
        if full in self.in_progress:
            self.cyclic.add(full)
            self.error("common-type-cycle",
                       f"cycle in common type references containing `{full}`", decl.where)
            return None
        self.in_progress.add(full)
        resolved = self.resolve_type(decl.type, namespace)
        self.in_progress.discard(full)
        if resolved is None or full in self.cyclic:
            # INVARIANT: a common type is resolved (and its errors reported) only once.
            self.failed.add(full)
            return None
        self.out.common_types[full] = resolved
        return resolved

    # -- entity types and actions -------------------------------------------------------
    def resolve_entities(self) -> None:
        for full, (decl, namespace) in self.entities.items():
            parents: list[str] = []
            for ref in decl.member_of:
                parent = self.resolve_ref(ref, namespace)
                if isinstance(parent, EntityType) and parent.name not in parents:
                    parents.append(parent.name)
            shape = RecordType()
            if decl.shape is not None:
                resolved = self.resolve_type(decl.shape, namespace)
                if isinstance(resolved, RecordType):
                    shape = resolved
                elif resolved is not None:
                    self.error("non-record-shape",
                               f"the shape of entity type `{full}` must be a record type",
                               decl.shape.where or decl.where)
            tags = None if decl.tags is None else self.resolve_type(decl.tags, namespace)
            self.out.entity_types[full] = EntityTypeDef(
                full, frozenset(parents), shape, tags, decl.enum, decl.annotations
            )

    def resolve_action_ref(self, ref: ActionRef, namespace: str) -> EntityUID | None:
        written = ref.type if ref.type is not None else "Action"
        for type_name in _candidates(written, namespace):
            uid = EntityUID(type_name, ref.id)
            if uid in self.actions:
                return uid
        self.error("undeclared-action", f"undeclared action `{_uid_text(written, ref.id)}`",
                   ref.where)
        return None

    def resolve_actions(self) -> None:
        parents: dict[EntityUID, tuple[EntityUID, ...]] = {}
        for uid, (decl, namespace) in self.actions.items():
            found: list[EntityUID] = []
            for ref in decl.member_of:
                parent = self.resolve_action_ref(ref, namespace)
                if parent is not None and parent not in found:
                    found.append(parent)
            parents[uid] = tuple(found)
        ancestors = self.close_actions(parents)
        for uid, (decl, namespace) in self.actions.items():
            applies = decl.applies_to
            principal_types: list[str] = []
            resource_types: list[str] = []
            context = RecordType()
            if applies is not None:
                for refs, target in ((applies.principal_types, principal_types),
                                     (applies.resource_types, resource_types)):
                    for type_ref in refs:
                        resolved = self.resolve_ref(type_ref, namespace)
                        if isinstance(resolved, EntityType) and resolved.name not in target:
                            target.append(resolved.name)
                if applies.context is not None:
                    resolved_context = self.resolve_type(applies.context, namespace)
                    if isinstance(resolved_context, RecordType):
                        context = resolved_context
                    elif resolved_context is not None:
                        self.error("non-record-context",
                                   f"the context of action `{uid}` must be a record type",
                                   applies.context.where or decl.where)
            self.out.actions[uid] = ActionDef(
                uid, parents[uid], ancestors.get(uid, frozenset()), applies is not None,
                tuple(principal_types), tuple(resource_types), context, decl.annotations,
            )

    def close_actions(
        self, parents: dict[EntityUID, tuple[EntityUID, ...]]
    ) -> dict[EntityUID, frozenset[EntityUID]]:
        """Transitive action-group membership; reports each cycle once."""
        done: dict[EntityUID, frozenset[EntityUID]] = {}
        reported: set[EntityUID] = set()

        def visit(uid: EntityUID, path: list[EntityUID]) -> frozenset[EntityUID]:
            if uid in done:
                return done[uid]
            if uid in path:
                cycle = path[path.index(uid):]
                if not reported.intersection(cycle):
                    reported.update(cycle)
                    self.error("action-cycle",
                               f"cycle in action hierarchy containing `{uid}`",
                               self.actions[uid][0].where)
                return frozenset()
            path.append(uid)
            acc: set[EntityUID] = set()
            for parent in parents.get(uid, ()):
                acc.add(parent)
                acc |= visit(parent, path)
            path.pop()
            done[uid] = frozenset(acc)
            return done[uid]

        for uid in parents:
            visit(uid, [])
        return done

    def run(self) -> ResolvedSchema:
        self.collect()
        for full in self.commons:
            self.resolve_common(full)
        self.resolve_entities()
        self.resolve_actions()
        return self.out


def resolve_fragment(fragment: SchemaFragment) -> ResolvedSchema:
    """Resolve every name in ``fragment``; problems are returned in ``errors``."""
    return _Resolver(fragment).run()
