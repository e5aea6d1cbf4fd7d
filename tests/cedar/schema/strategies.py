"""Hypothesis strategies for schema-directed tests: schemas with entity-type hierarchies,
and entities, requests, policies, templates and links that fit them (or nearly fit).

Everything is printed as text or JSON, so RUNE and cedarpy read the same input. The
hierarchies are what matter here: `memberOfTypes` chains and cycles (so an entity's
parent may be of a type only reached transitively), action groups, and policies whose
scopes and conditions use `in`, `is ... in` and slots over those hierarchies. After an
`in` test, a condition often reads an attribute only some types have, so whether the
typechecker gives the test type False (and skips the rest) decides the verdict.

Nothing here imports RUNE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "GeneratedSchema",
    "entity_lists",
    "requests",
    "schemas",
    "static_policies",
    "template_links",
    "templates",
]

TYPE_NAMES = ("A", "B", "C", "D", "NS::E", "F")
ACTION_NAMES = ("view", "edit", "group", "all")
UNKNOWN_TYPES = ("Nope", "NS::Nope")


@dataclass(frozen=True, slots=True)
class GeneratedSchema:
    """A schema as text, and what the generators need to know about it."""

    text: str
    types: tuple[str, ...]
    member_of: dict[str, tuple[str, ...]] = field(hash=False)
    enums: dict[str, tuple[str, ...]] = field(hash=False)
    # type -> attribute -> (cedar type text, required)
    attributes: dict[str, dict[str, tuple[str, bool]]] = field(hash=False)
    actions: tuple[str, ...] = ()
    # action -> (principal types, resource types), for actions with `appliesTo`
    applies_to: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(
        default_factory=dict, hash=False)
    action_parents: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def ids(self, entity_type: str) -> tuple[str, ...]:
        """The ids to use for ``entity_type``: its enum ids, or a few plain ones."""
        return self.enums.get(entity_type) or ("a", "b")


def _local(name: str) -> str:
    """A type's name as written inside its namespace block."""
    return name.rsplit("::", 1)[-1]


@st.composite
def schemas(draw: st.DrawFn, max_types: int = 5) -> GeneratedSchema:
    """A schema: entity types with `memberOfTypes` (chains, fan-in, cycles), a few
    attributes and enumerated types, and actions with groups and `appliesTo`."""
    count = draw(st.integers(2, max_types))
    types = tuple(draw(st.permutations(TYPE_NAMES))[:count])
    enums: dict[str, tuple[str, ...]] = {}
    member_of: dict[str, tuple[str, ...]] = {}
    attributes: dict[str, dict[str, tuple[str, bool]]] = {}
    for name in types:
        if draw(st.integers(0, 5)) == 0:
            enums[name] = ("a", "z")
        # Mostly a chain towards later types, sometimes anything (cycles included).
        later = [t for t in types if types.index(t) > types.index(name)]
        pool = later if later and draw(st.integers(0, 3)) else list(types)
        member_of[name] = tuple(draw(st.lists(st.sampled_from(pool), max_size=2, unique=True)))
        if name in enums:
            attributes[name] = {}  # enumerated types have no attributes
            continue
        attrs: dict[str, tuple[str, bool]] = {}
        if draw(st.booleans()):
            attrs["n"] = ("Long", draw(st.booleans()))
        if draw(st.integers(0, 2)) == 0:
            attrs["e"] = (draw(st.sampled_from(types)), True)
        attributes[name] = attrs
    for name in enums:
        member_of[name] = ()  # the syntax has no `entity E in [...] enum [...]`
    actions = tuple(draw(st.lists(st.sampled_from(ACTION_NAMES), min_size=1, max_size=3,
                                  unique=True)))
    applies_to: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    action_parents: dict[str, tuple[str, ...]] = {}
    for i, action in enumerate(actions):
        action_parents[action] = tuple(draw(st.lists(st.sampled_from(actions[i + 1:]),
                                                     max_size=1))) if actions[i + 1:] else ()
        if draw(st.integers(0, 4)):
            principals = tuple(draw(st.lists(st.sampled_from(types), min_size=1, max_size=2,
                                             unique=True)))
            resources = tuple(draw(st.lists(st.sampled_from(types), min_size=1, max_size=2,
                                            unique=True)))
            applies_to[action] = (principals, resources)
    text = _schema_text(types, member_of, enums, attributes, actions, applies_to,
                        action_parents)
    return GeneratedSchema(text, types, member_of, enums, attributes, actions, applies_to,
                           action_parents)


def _schema_text(types: tuple[str, ...], member_of: dict[str, tuple[str, ...]],
                 enums: dict[str, tuple[str, ...]],
                 attributes: dict[str, dict[str, tuple[str, bool]]], actions: tuple[str, ...],
                 applies_to: dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
                 action_parents: dict[str, tuple[str, ...]]) -> str:
    # `NS::E` is declared in a `namespace NS` block and always referred to by its full
    # name; the other types are in the empty namespace, where NS declares no namesake.
    blocks: dict[str, list[str]] = {"": [], "NS": []}
    for name in types:
        namespace = name.rsplit("::", 1)[0] if "::" in name else ""
        parents = member_of[name]
        line = f"entity {_local(name)}"
        if parents:
            line += " in [" + ", ".join(parents) + "]"
        if name in enums:
            line += " enum [" + ", ".join(json.dumps(i) for i in enums[name]) + "]"
        elif attributes[name]:
            line += " { " + ", ".join(
                f"{attr}{'' if required else '?'}: {type_text}"
                for attr, (type_text, required) in attributes[name].items()) + " }"
        blocks[namespace].append(line + ";")
    for action in actions:
        line = f'action "{action}"'
        if action_parents.get(action):
            line += " in [" + ", ".join(f'"{p}"' for p in action_parents[action]) + "]"
        if action in applies_to:
            principals, resources = applies_to[action]
            line += (f" appliesTo {{ principal: [{', '.join(principals)}], "
                     f"resource: [{', '.join(resources)}] }}")
        blocks[""].append(line + ";")
    text = "\n".join(blocks[""])
    if blocks["NS"]:
        text += "\nnamespace NS {\n  " + "\n  ".join(blocks["NS"]) + "\n}"
    return text


def _uid(entity_type: str, entity_id: str) -> dict[str, str]:
    return {"type": entity_type, "id": entity_id}


def _uid_text(entity_type: str, entity_id: str) -> str:
    return f"{entity_type}::{json.dumps(entity_id)}"


@st.composite
def _any_uid(draw: st.DrawFn, schema: GeneratedSchema, odd: int = 10) -> tuple[str, str]:
    """A uid of a declared type (an id from its enum, mostly), now and then of an
    undeclared type, an action, or an id an enumerated type does not list."""
    roll = draw(st.integers(0, odd))
    if roll == 0:
        return draw(st.sampled_from(UNKNOWN_TYPES)), "x"
    if roll == 1:
        return "Action", draw(st.sampled_from(schema.actions))
    entity_type = draw(st.sampled_from(schema.types))
    if roll == 2 and entity_type in schema.enums:
        return entity_type, "not-listed"
    return entity_type, draw(st.sampled_from(schema.ids(entity_type)))


def _value(draw: st.DrawFn, schema: GeneratedSchema, type_text: str) -> Any:
    if type_text == "Long":
        return draw(st.integers(-3, 3))
    return _uid(type_text, draw(st.sampled_from(schema.ids(type_text))))


@st.composite
def entity_lists(draw: st.DrawFn, schema: GeneratedSchema) -> list[dict[str, Any]]:
    """Entities with well-typed attributes and parents of any type: allowed directly,
    allowed only transitively, or not allowed at all."""
    out = []
    seen: set[tuple[str, str]] = set()
    for _ in range(draw(st.integers(1, 5))):
        entity_type, entity_id = draw(_any_uid(schema, odd=25))
        if entity_type == "Action" or (entity_type, entity_id) in seen:
            continue
        seen.add((entity_type, entity_id))
        attrs = {attr: _value(draw, schema, type_text)
                 for attr, (type_text, required) in schema.attributes.get(entity_type, {}).items()
                 if required or draw(st.booleans())}
        parents = [_uid(*draw(_any_uid(schema, odd=30))) for _ in range(draw(st.integers(0, 3)))]
        out.append({"uid": _uid(entity_type, entity_id), "attrs": attrs, "parents": parents})
    return out


@st.composite
def requests(draw: st.DrawFn, schema: GeneratedSchema) -> dict[str, Any]:
    """A request whose principal and resource are of any type (declared or not, allowed
    by the action or only by a type they descend from), and whose action may be
    undeclared."""
    action = draw(st.sampled_from(schema.actions)) if draw(st.integers(0, 9)) else "nope"
    return {
        "principal": _uid(*draw(_any_uid(schema))),
        "action": _uid("Action", action),
        "resource": _uid(*draw(_any_uid(schema))),
        "context": {},
    }


# -- policies -------------------------------------------------------------------------------

def _entity_text(draw: st.DrawFn, schema: GeneratedSchema) -> str:
    return _uid_text(*draw(_any_uid(schema, odd=30)))


def _scope(draw: st.DrawFn, schema: GeneratedSchema, variable: str, slot: bool) -> str:
    target = f"?{variable}" if slot else _entity_text(draw, schema)
    choice = draw(st.integers(1, 3) if slot else st.integers(0, 4))
    if choice == 0:
        return variable
    if choice == 1:
        return f"{variable} == {target}"
    if choice == 2:
        return f"{variable} in {target}"
    entity_type = draw(st.sampled_from(schema.types))
    if choice == 3:
        return f"{variable} is {entity_type} in {target}"
    return f"{variable} is {entity_type}"


def _action_scope(draw: st.DrawFn, schema: GeneratedSchema) -> str:
    choice = draw(st.integers(0, 3))
    action = _uid_text("Action", draw(st.sampled_from(schema.actions)))
    if choice == 0:
        return "action"
    if choice == 1:
        return f"action == {action}"
    if choice == 2:
        return f"action in {action}"
    other = _uid_text("Action", draw(st.sampled_from(schema.actions)))
    return f"action in [{action}, {other}]"


def _condition(draw: st.DrawFn, schema: GeneratedSchema) -> str:
    """An `in` / `is ... in` test, then (often) an attribute read that only type-checks
    where the test is not known to be false."""
    variable = draw(st.sampled_from(("principal", "resource")))
    other = draw(st.sampled_from(("principal", "resource", "action")))
    tests = [
        f"{variable} in {_entity_text(draw, schema)}",
        f"{variable} in [{_entity_text(draw, schema)}]",
        f"{variable} in {other}",
        f"{variable} is {draw(st.sampled_from(schema.types))} in {_entity_text(draw, schema)}",
        f"{_entity_text(draw, schema)} in {_entity_text(draw, schema)}",
        f"{_entity_text(draw, schema)} in {variable}",
        f"action in {_uid_text('Action', draw(st.sampled_from(schema.actions)))}",
    ]
    test = draw(st.sampled_from(tests))
    if draw(st.integers(0, 3)) == 0:
        return test
    read = draw(st.sampled_from((f"{variable}.n > 0", f"{variable} has n && {variable}.n > 0",
                                 f"{variable}.e in {variable}")))
    joiner = draw(st.sampled_from(("&&", "||")))
    return f"({test}) {joiner} {read}"


def _policy_text(draw: st.DrawFn, schema: GeneratedSchema, principal_slot: bool,
                 resource_slot: bool) -> str:
    principal = _scope(draw, schema, "principal", principal_slot)
    resource = _scope(draw, schema, "resource", resource_slot)
    conditions = " ".join(f"when {{ {_condition(draw, schema)} }}"
                          for _ in range(draw(st.integers(0, 2))))
    effect = draw(st.sampled_from(("permit", "forbid")))
    return f"{effect}({principal}, {_action_scope(draw, schema)}, {resource}) {conditions};"


@st.composite
def static_policies(draw: st.DrawFn, schema: GeneratedSchema) -> str:
    """One static policy whose scope and conditions test membership in the hierarchy."""
    return _policy_text(draw, schema, False, False)


@st.composite
def templates(draw: st.DrawFn, schema: GeneratedSchema) -> str:
    """One template with `?principal`, `?resource` or both (`==`, `in`, `is T in`)."""
    which = draw(st.integers(0, 2))
    return _policy_text(draw, schema, which != 1, which != 0)


@st.composite
def template_links(draw: st.DrawFn, schema: GeneratedSchema,
                   slots: tuple[str, ...]) -> dict[str, str]:
    """Slot values for a template with ``slots``: entities of any type, as uid text."""
    return {f"?{slot}": _entity_text(draw, schema) for slot in slots}
