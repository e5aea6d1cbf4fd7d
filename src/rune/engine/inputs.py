"""Checking what callers write, and turning it into changes (`rune.store.changes`).

Everything here runs before a write takes the engine's lock, and refuses bad input
with an `EngineError` naming the argument's JSON path (``$.facts.tier[2]``) or the
relation: nothing of a refused write is published. Numbers that bound security (times,
TTLs, amounts) must be finite and in range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rune.cedar.json_format import EntityData
from rune.cedar.request import to_entity_uid
from rune.cedar.values import LONG_MAX, EntityUID
from rune.engine.errors import EngineError
from rune.engine.numbers import MAX_APPROVAL_TTL_SECONDS, positive_seconds, timestamp
from rune.errors import RuneError
from rune.store.changes import (
    Approve,
    AssertFact,
    Change,
    Link,
    PutEntity,
    Record,
    RemoveEntity,
    RetractFact,
    Unlink,
)

if TYPE_CHECKING:
    from rune.cedar.schema import Schema

__all__ = [
    "approval_change",
    "entity_changes",
    "fact_changes",
    "link_change",
    "record_change",
    "unlink_change",
]



def _uid(value: Any, path: str) -> EntityUID:
    try:
        return to_entity_uid(value, path)
    except RuneError as exc:
        raise EngineError(exc.message, code=exc.code, path=exc.path or path) from None
    except (TypeError, ValueError, AttributeError):
        raise EngineError("expected an entity uid (`Type::\"id\"` or "
                          "`{\"type\": ..., \"id\": ...}`)", code="invalid-entity-uid",
                          path=path) from None


def entity_changes(entities: Any, remove: Iterable[Any], schema: Schema | None
                   ) -> list[Change]:
    """`PutEntity`/`RemoveEntity` changes for ``write(entities=..., remove_entities=...)``.

    ``entities`` are in Cedar's JSON format (a list, or its text) and are checked against
    ``schema``; action entities a schema declares cannot be written (they are checked
    against it and left out).

    Raises:
        RuneError: a malformed entity or uid (with its JSON path).
    """
    from rune.cedar.entities import Entities

    out: list[Change] = []
    if isinstance(remove, str | bytes) or not isinstance(remove, Iterable):
        raise EngineError("`remove_entities` must be a list of uids",
                          code="invalid-argument", path="$.remove_entities")
    for i, uid in enumerate(remove):
        out.append(RemoveEntity(_uid(uid, f"$.remove_entities[{i}]")))
    if entities is None:
        return out
    items: list[EntityData] = Entities.parse_json(entities, schema)
    if schema is not None:
        from rune.cedar.schema.typed_json import is_action_type

        items = [item for item in items if not is_action_type(item.uid.type)]
    out.extend(PutEntity(item) for item in items)
    return out


def fact_changes(facts: Mapping[str, Iterable[Sequence[Any]]] | None,
                 retract: Mapping[str, Iterable[Sequence[Any]]] | None,
                 rules: Any) -> list[Change]:
    """`AssertFact`/`RetractFact` changes, each row checked against its relation's
    declared column types.

    Raises:
        EngineError: an unknown relation, a relation written another way (entities,
            the request, history), or a row of the wrong arity or type (with its path).
    """
    from rune.store.mapping import ENTITY_RELATIONS
    from rune.store.prelude import HISTORY_RELATIONS, REQUEST_RELATIONS

    out: list[Change] = []
    for argument, given, cls in (("facts", facts, AssertFact), ("retract", retract,
                                                                 RetractFact)):
        if given is None:
            continue
        if not isinstance(given, Mapping):
            raise EngineError(f"`{argument}` must map relation names to lists of rows",
                              code="invalid-argument", path=f"$.{argument}")
        for name, rows in given.items():
            path = f"$.{argument}.{name}"
            if not isinstance(name, str) or rules is None or name not in rules.relation_names:
                raise EngineError(
                    f"no rule declares the relation `{name}`" if rules is not None else
                    f"facts need rules that declare their relation; `{name}` is not declared",
                    code="unknown-relation", path=path)
            if name in ENTITY_RELATIONS:
                raise EngineError(f"`{name}` facts come from entities: write the entity",
                                  code="reserved-relation", path=path)
            if name in REQUEST_RELATIONS:
                raise EngineError(f"`{name}` facts come from each request",
                                  code="reserved-relation", path=path)
            if name in HISTORY_RELATIONS:
                raise EngineError(f"`{name}` facts are recorded with `record`",
                                  code="reserved-relation", path=path)
            if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
                raise EngineError(f"`{name}` must be given a list of rows",
                                  code="invalid-argument", path=path)
            for i, row in enumerate(rows):
                out.append(cls(name, _row(rules, name, row, f"{path}[{i}]")))
    return out


def _row(rules: Any, name: str, row: Any, path: str) -> tuple[Any, ...]:
    if isinstance(row, str | bytes) or not isinstance(row, Sequence):
        raise EngineError(f"a row of `{name}` must be a list or tuple of values",
                          code="invalid-fact", path=path)
    try:
        checked = rules._validate(name, (row,))
    except RuneError as exc:
        raise EngineError(exc.message, code="invalid-fact", path=path) from None
    except (TypeError, ValueError):
        raise EngineError(f"a row of `{name}` holds a value of the wrong type",
                          code="invalid-fact", path=path) from None
    return next(iter(checked))


def record_change(principal: Any, action: Any, resource: Any, *, at: Any, amount: Any
                  ) -> Record:
    """A `Record` (its sequence number is given when it is committed).

    Raises:
        EngineError: a malformed uid, a time that is not finite or out of range, or an
            amount that is not a whole non-negative number.
    """
    if amount is not None and (amount.__class__ is not int or not 0 <= amount <= LONG_MAX):
        raise EngineError(f"`amount` must be a whole number from 0 to {LONG_MAX}, not "
                          f"`{amount!r}`", code="invalid-number", path="$.amount")
    return Record(_uid(principal, "$.principal"), _uid(action, "$.action"),
                  _uid(resource, "$.resource"), timestamp(at, "at"), 0, amount)


def approval_change(principal: Any, action: Any, resource: Any, *, now: float,
                    ttl_seconds: Any) -> Approve:
    """An `Approve` valid for ``ttl_seconds`` from ``now``.

    Raises:
        EngineError: a malformed uid, or a TTL that is not a finite positive number of
            seconds of at most ten years.
    """
    ttl = positive_seconds(ttl_seconds, "ttl_seconds", maximum=MAX_APPROVAL_TTL_SECONDS)
    return Approve(_uid(principal, "$.principal"), _uid(action, "$.action"),
                   _uid(resource, "$.resource"), now + ttl)


def link_change(policies: Any, schema: Schema | None, template_id: Any, link_id: Any,
                principal: Any, resource: Any) -> Link:
    """A `Link` of ``template_id`` as ``link_id`` with the given slot values, checked
    against ``policies`` (the template exists, the id is free, the slots are filled) and,
    with a schema, validated as Cedar validates a template-linked policy.

    Raises:
        EngineError: a malformed id or uid, an unknown template, a used id, a slot left
            empty or given when the template has none, or a link the schema refuses.
    """
    from rune.cedar.errors import LinkError

    for name, value in (("template_id", template_id), ("link_id", link_id)):
        if not isinstance(value, str) or not value:
            raise EngineError(f"`{name}` must be a non-empty string", code="invalid-link",
                              path=f"$.{name}")
    args = {f"?{name}": _uid(value, f"$.{name}") for name, value in
            (("principal", principal), ("resource", resource)) if value is not None}
    try:
        if link_id in policies:
            existing = policies.policy(link_id) if link_id not in {
                t.id for t in policies.templates} else None
            if existing is None or existing.template_id is None:
                raise LinkError(f"policy id `{link_id}` is already used by a policy or "
                                "template that is not a link", code="duplicate-policy-id")
            policies = policies.unlink(link_id)  # a link may be replaced
        candidate = policies.link(template_id, link_id, args)
    except LinkError as error:
        raise EngineError(error.message, code=error.code, path=error.path) from None
    if schema is not None:
        from rune.cedar.policy_set import PolicySet
        from rune.cedar.schema import validate

        alone = PolicySet.from_policies([candidate.policy(link_id)],
                                        (candidate.template(template_id),))
        problems = [e for e in validate(alone, schema).errors if e.policy_id == link_id]
        if problems:
            raise EngineError(f"the link `{link_id}` does not validate against the schema: "
                              f"{problems[0].message}", code=problems[0].code,
                              path="$.link_id")
    slots = tuple(sorted((key[1:], uid) for key, uid in args.items()))
    return Link(template_id, link_id, slots)


def unlink_change(policies: Any, link_id: Any) -> Unlink:
    """An `Unlink` of an existing template-linked policy.

    Raises:
        EngineError: (`unknown-link`) no link has that id.
    """
    if not isinstance(link_id, str) or link_id not in policies \
            or link_id in {t.id for t in policies.templates} \
            or policies.policy(link_id).template_id is None:
        raise EngineError(f"no template link has the id `{link_id}`", code="unknown-link",
                          path="$.link_id")
    return Unlink(link_id)
