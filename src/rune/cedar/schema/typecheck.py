"""RUNE's own strict-mode policy validator (Cedar's validator), policy by policy.

Follows the rules of cedar-policy's strict validation, as specified by Cedar's Lean model
(`cedar-spec`, `Validation/Typechecker.lean`):

1. Every entity type and action a policy names must be declared, and every literal of
   an enumerated entity type must use a declared id.
2. Some action the policy's scope allows must apply to a principal type and a resource
   type the scope allows.
3. For every request environment the schema allows (an action with one of its principal
   types and one of its resource types), the policy, as the expression
   `principal-scope && action-scope && resource-scope && conditions` with `action`
   replaced by the environment's action, must have type Bool (the expression
   typechecker is `rune.cedar.schema.expression_types`).

Errors of rule 3 are reported once per distinct message. A policy that is False in every
environment is only a warning in Cedar, so it passes here.

Templates are checked the same way, for every type a slot could take in each environment
(as cedar-policy's `link_request_env` does): for `principal == ?principal` the
principal's own type; for `principal in ?principal` (or `is T in ?principal`) the
principal's type and every type it may be a descendant of. All of them give the same
errors, so one stands for the rest (see `PreparedSchema.environments`). A
template-linked policy is not typechecked again: its template covers every slot type
that can make it apply. What is checked for a link (`typecheck_link`) is what
cedar-policy checks: each slot value has a declared entity type (or an action type), and
rule 2 holds with the slots filled in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from rune.cedar import ast
from rune.cedar.schema.expression_types import (
    PolicyTypeError,
    PreparedSchema,
    check_in_environment,
)
from rune.cedar.schema.model import ActionDef, EntityTypeDef
from rune.cedar.schema.typed_json import is_action_type
from rune.cedar.values import EntityUID, format_value

__all__ = [
    "PolicyTypeError",
    "link_scope",
    "policy_expression",
    "prepare",
    "typecheck_link",
    "typecheck_policy",
]


# -- whole policies ------------------------------------------------------------------------
def _scope_expr(var: str, scope: ast.ScopeConstraint) -> ast.Expr | None:
    target = ast.Var(var)
    op = scope.op
    if op is ast.ScopeOp.ANY:
        return None
    if op is ast.ScopeOp.IS:
        return ast.Is(target, scope.entity_type or "")
    if op is ast.ScopeOp.IN_SET:
        return ast.BinaryOp("in", target, ast.SetLiteral(tuple(ast.Literal(e)
                                                               for e in scope.entities)))
    assert scope.entity is not None
    # A slot stays a `Slot` node: the typechecker gives it the type the environment
    # links it to, and never treats it as a literal.
    entity: ast.Expr = (scope.entity if isinstance(scope.entity, ast.Slot)
                        else ast.Literal(scope.entity))
    if op is ast.ScopeOp.EQ:
        return ast.BinaryOp("==", target, entity)
    if op is ast.ScopeOp.IN:
        return ast.BinaryOp("in", target, entity)
    return ast.Is(target, scope.entity_type or "", entity)


def policy_expression(policy: ast.PolicyAST) -> ast.Expr:
    """The policy as one Boolean expression: scope constraints, then its conditions."""
    body: ast.Expr | None = None
    for condition in policy.conditions:
        part = condition.body if condition.is_when else ast.Not(condition.body)
        body = part if body is None else ast.And(body, part)
    parts = [_scope_expr("principal", policy.principal), _scope_expr("action", policy.action),
             _scope_expr("resource", policy.resource), body]
    present = [p for p in parts if p is not None]
    if not present:
        return ast.Literal(True)
    expr = present[-1]
    for part in reversed(present[:-1]):
        expr = ast.And(part, expr)
    return expr


def _walk(expr: object) -> Iterator[object]:
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        for name in getattr(node, "__dataclass_fields__", ()):
            if name == "span":
                continue
            child = getattr(node, name)
            if isinstance(child, tuple):
                for item in child:
                    stack.extend(item if isinstance(item, tuple) else (item,))
            elif hasattr(child, "__dataclass_fields__"):
                stack.append(child)


def _check_names(policy: ast.PolicyAST, schema: PreparedSchema) -> list[PolicyTypeError]:
    """Rule 1: declared entity types and actions, declared ids of enumerated types."""
    errors: list[PolicyTypeError] = []
    uids: list[EntityUID] = []
    types: list[str] = []
    for scope in (policy.principal, policy.action, policy.resource):
        if isinstance(scope.entity, EntityUID):
            uids.append(scope.entity)
        uids.extend(scope.entities)
        if scope.entity_type is not None:
            types.append(scope.entity_type)
    for condition in policy.conditions:
        for node in _walk(condition.body):
            if isinstance(node, ast.Literal) and isinstance(node.value, EntityUID):
                uids.append(node.value)
            elif isinstance(node, ast.Is):
                types.append(node.entity_type)
    for uid in uids:
        if is_action_type(uid.type):
            if uid not in schema.actions:
                errors.append(PolicyTypeError("unrecognized-action",
                                              f"unrecognized action `{uid}`"))
            continue
        decl = schema.entity_types.get(uid.type)
        if decl is None:
            errors.append(PolicyTypeError("unrecognized-entity-type",
                                          f"unrecognized entity type `{uid.type}`"))
        elif decl.enum is not None and uid.id not in decl.enum:
            errors.append(PolicyTypeError(
                "invalid-enum-entity",
                f"entity `{uid}` is of an enumerated entity type, but "
                f"`{format_value(uid.id)}` is not declared as a valid eid"))
    for name in types:
        if name not in schema.entity_types and name not in schema.action_types:
            errors.append(PolicyTypeError("unrecognized-entity-type",
                                          f"unrecognized entity type `{name}`"))
    return errors


def _scope_types(scope: ast.ScopeConstraint, schema: PreparedSchema) -> set[str]:
    """The types the scope's variable may have (cedar-policy's
    `get_entity_types_satisfying_constraint`)."""
    everything = set(schema.entity_types) | set(schema.action_types)
    if scope.op is ast.ScopeOp.ANY:
        return everything
    if scope.op is ast.ScopeOp.IS or (scope.op is ast.ScopeOp.IS_IN
                                      and isinstance(scope.entity, ast.Slot)):
        return {scope.entity_type or ""}
    if isinstance(scope.entity, ast.Slot):  # `== ?slot`, `in ?slot`: the link decides
        return everything
    if scope.op is ast.ScopeOp.EQ:
        assert isinstance(scope.entity, EntityUID)
        return {scope.entity.type}
    assert isinstance(scope.entity, EntityUID)
    parent = scope.entity.type
    below = {t for t in everything if schema.descendant_type(t, parent)}
    if scope.op is ast.ScopeOp.IS_IN:
        return below & {scope.entity_type or ""}
    return below


def _check_action_application(policy: ast.PolicyAST, schema: PreparedSchema,
                              principal: ast.ScopeConstraint | None = None,
                              resource: ast.ScopeConstraint | None = None) -> bool:
    """Rule 2: some action in the scope applies to a principal and resource in scope.

    ``principal`` and ``resource`` replace the policy's own constraints (a link's, with
    its slots filled in)."""
    scope = policy.action
    actions: list[ActionDef]
    if scope.op is ast.ScopeOp.ANY:
        actions = list(schema.actions.values())
    elif scope.op is ast.ScopeOp.EQ:
        found = schema.actions.get(scope.entity) if isinstance(scope.entity, EntityUID) else None
        actions = [] if found is None else [found]
    else:
        parents = list(scope.entities)
        if isinstance(scope.entity, EntityUID):
            parents.append(scope.entity)
        actions = [a for a in schema.actions.values()
                   if any(schema.action_in(a.uid, p) for p in parents)]
    principals = _scope_types(principal or policy.principal, schema)
    resources = _scope_types(resource or policy.resource, schema)
    return any(
        principals.intersection(a.principal_types) and resources.intersection(a.resource_types)
        for a in actions
    )


def prepare(entity_types: Mapping[str, EntityTypeDef],
            actions: Mapping[EntityUID, ActionDef]) -> PreparedSchema:
    """Precompute what the typechecker needs from a schema (do once per schema)."""
    return PreparedSchema(entity_types, actions)


_NO_APPLICABLE_ACTION = PolicyTypeError(
    "invalid-action-application",
    "unable to find an applicable action given the policy scope constraints")


def typecheck_policy(policy: ast.PolicyAST, schema: PreparedSchema, *,
                     every_slot_type: bool = False) -> list[PolicyTypeError]:
    """Every validation error of one static policy or template (empty when it validates
    in strict mode). A template is checked for every type its slots may be linked to
    (literally so with ``every_slot_type``; see `PreparedSchema.environments`)."""
    errors = _check_names(policy, schema)
    if not _check_action_application(policy, schema):
        errors.append(_NO_APPLICABLE_ACTION)
    expr = policy_expression(policy)
    seen: set[PolicyTypeError] = set(errors)
    for env in schema.environments(policy, every_slot_type=every_slot_type):
        error = check_in_environment(schema, env, expr)
        if error is not None and error not in seen:
            seen.add(error)
            errors.append(error)
    return errors


def link_scope(scope: ast.ScopeConstraint,
               slot_values: Mapping[str, EntityUID]) -> ast.ScopeConstraint:
    """``scope`` with its slot (if any) replaced by the value a link gives it."""
    if not isinstance(scope.entity, ast.Slot):
        return scope
    value = slot_values.get(scope.entity.name)
    if value is None:
        return scope
    return ast.ScopeConstraint(scope.op, value, scope.entity_type, scope.entities, scope.span)


def typecheck_link(template: ast.PolicyAST, slot_values: Mapping[str, EntityUID],
                   schema: PreparedSchema) -> list[PolicyTypeError]:
    """The validation errors of a template-linked policy itself, as cedar-policy finds
    them (`validate_slots`): a slot value whose entity type the schema does not declare
    (action types count as declared), and rule 2 failing once the slots are filled in.

    The template's own errors are `typecheck_policy`'s; an enumerated type's id in a
    slot value is not checked, as cedar-policy does not check it.
    """
    errors: list[PolicyTypeError] = []
    for name in ("principal", "resource"):
        value = slot_values.get(name)
        if value is None or is_action_type(value.type) or value.type in schema.entity_types:
            continue
        error = PolicyTypeError("unrecognized-entity-type",
                                f"unrecognized entity type `{value.type}`")
        if error not in errors:
            errors.append(error)
    if not _check_action_application(template, schema,
                                     link_scope(template.principal, slot_values),
                                     link_scope(template.resource, slot_values)):
        errors.append(_NO_APPLICABLE_ACTION)
    return errors
