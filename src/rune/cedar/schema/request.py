"""Request validation: does a (principal, action, resource, context) fit the schema?

Mirrors cedar-policy's `Request::new(..., Some(schema))`: principal and resource types
must be declared (and their ids listed, for enumerated types); the action must be
declared and apply to those types; the context must have the action's context type,
and every enumerated entity inside it must use a declared id.
"""

from __future__ import annotations

from collections.abc import Mapping

from rune.cedar.errors import RequestError
from rune.cedar.schema.model import ActionDef, EntityTypeDef
from rune.cedar.schema.typed_json import conforms, invalid_enum_uid
from rune.cedar.values import CedarRecord, EntityUID, format_value

__all__ = ["check_request"]


def _enum_error(uid: EntityUID) -> RequestError:
    return RequestError(
        f"entity `{uid}` is of an enumerated entity type, but `{format_value(uid.id)}` is not "
        "one of its declared ids", code="invalid-enum-entity")


def check_request(
    entity_types: Mapping[str, EntityTypeDef],
    actions: Mapping[EntityUID, ActionDef],
    principal: EntityUID,
    action: EntityUID,
    resource: EntityUID,
    context: CedarRecord,
) -> None:
    """Raise `RequestError` exactly when Cedar's schema-checked request builder fails."""
    for role, uid in (("principal", principal), ("resource", resource)):
        decl = entity_types.get(uid.type)
        if decl is None:
            raise RequestError(f"{role} type `{uid.type}` is not declared in the schema",
                               code=f"undeclared-{role}-type")
        if decl.enum is not None and uid.id not in decl.enum:
            raise _enum_error(uid)
    declared = actions.get(action)
    if declared is None:
        raise RequestError(f"action `{action}` is not declared in the schema",
                           code="undeclared-action")
    if principal.type not in declared.principal_types:
        raise RequestError(f"principal type `{principal.type}` is not valid for `{action}`",
                           code="invalid-principal-type")
    if resource.type not in declared.resource_types:
        raise RequestError(f"resource type `{resource.type}` is not valid for `{action}`",
                           code="invalid-resource-type")
    bad = invalid_enum_uid(context, entity_types)
    if bad is not None:
        raise _enum_error(bad)
    if not conforms(context, declared.context):
        raise RequestError(f"context `{format_value(context)}` is not valid for `{action}`",
                           code="invalid-context")
