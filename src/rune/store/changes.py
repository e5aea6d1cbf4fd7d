"""The changes a live store accepts, as immutable values with a stable JSON form.

Every write to an engine (`Engine.write`, `record`, `approve`, a transaction) becomes a
batch of these changes. The engine applies a batch as one delta and publishes one
version; a change log (`rune.store.changelog`) keeps batches so that a restarted or
replicated engine reaches the same state by applying them again, in order.

Values are already checked when a change exists: uids are `EntityUID`s, rows hold the
Datalog values of their relation's columns, times are whole seconds since the epoch.
The JSON form (`change_to_json` / `change_from_json`) writes entities in Cedar's JSON
entity format and uids as `{"type", "id"}`, so a log is readable with any JSON tool.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rune.cedar.json_format import (
    EntityData,
    entity_data_from_json,
    entity_uid_from_json,
    value_to_json,
)
from rune.cedar.values import EntityUID
from rune.errors import RuneError

__all__ = [
    "Approve",
    "AssertFact",
    "Change",
    "ExpireHistory",
    "Link",
    "PutEntity",
    "Record",
    "RemoveEntity",
    "RetractFact",
    "StoreError",
    "Unlink",
    "change_from_json",
    "change_to_json",
    "entity_to_json",
]

Row = tuple[Any, ...]


class StoreError(RuneError, ValueError):
    """A change that cannot be read back, or a state file that cannot be used."""

    code = "store-error"


@dataclass(frozen=True, slots=True)
class PutEntity:
    """Add an entity, or replace the one with its uid (attributes, parents and tags)."""

    entity: EntityData


@dataclass(frozen=True, slots=True)
class RemoveEntity:
    """Remove an entity (entities naming it as a parent keep the reference, as in Cedar)."""

    uid: EntityUID


@dataclass(frozen=True, slots=True)
class AssertFact:
    """Make ``row`` an input fact of ``relation``."""

    relation: str
    row: Row


@dataclass(frozen=True, slots=True)
class RetractFact:
    """Make ``row`` no longer an input fact of ``relation`` (rows rules derive stay)."""

    relation: str
    row: Row


@dataclass(frozen=True, slots=True)
class Record:
    """An action an agent performed at ``at`` (and the ``amount`` it spent, if any).

    Rules see it as `performed(principal, action, resource, at, seq)` and, with an
    amount, `spent(principal, amount, at, seq)`; ``seq`` is unique to the record, so two
    identical actions in the same second both count.
    """

    principal: EntityUID
    action: EntityUID
    resource: EntityUID
    at: int
    seq: int
    amount: int | None = None

    def numbered(self, seq: int) -> Record:
        """This record under sequence number ``seq`` (the log numbers records as it stores
        them)."""
        return Record(self.principal, self.action, self.resource, self.at, seq, self.amount)


@dataclass(frozen=True, slots=True)
class Approve:
    """A human approval of exactly (principal, action, resource), valid until ``expires``."""

    principal: EntityUID
    action: EntityUID
    resource: EntityUID
    expires: float


@dataclass(frozen=True, slots=True)
class ExpireHistory:
    """Drop every recorded action with ``at < before`` (history retention)."""

    before: int


@dataclass(frozen=True, slots=True)
class Link:
    """Link template ``template_id`` as policy ``link_id`` with these slot values
    (`("principal", uid)` and/or `("resource", uid)`, sorted)."""

    template_id: str
    link_id: str
    slots: tuple[tuple[str, EntityUID], ...]


@dataclass(frozen=True, slots=True)
class Unlink:
    """Remove the template-linked policy ``link_id``."""

    link_id: str


Change = (PutEntity | RemoveEntity | AssertFact | RetractFact | Record | Approve
          | ExpireHistory | Link | Unlink)


def entity_to_json(entity: EntityData) -> dict[str, Any]:
    """An entity in Cedar's JSON entity format (explicit `__entity`/`__extn` escapes)."""
    out: dict[str, Any] = {
        "uid": entity.uid.to_json(),
        "attrs": {k: value_to_json(v) for k, v in entity.attrs.items()},
        "parents": [p.to_json() for p in entity.parents],
    }
    if entity.tags:
        out["tags"] = {k: value_to_json(v) for k, v in entity.tags.items()}
    return out


def _row_to_json(row: Row) -> list[Any]:
    return list(row)


def change_to_json(change: Change) -> dict[str, Any]:
    """The JSON form of one change (see the module docstring)."""
    cls = change.__class__
    if cls is PutEntity:
        return {"op": "put", "entity": entity_to_json(change.entity)}  # type: ignore[union-attr]
    if cls is RemoveEntity:
        return {"op": "remove", "uid": change.uid.to_json()}  # type: ignore[union-attr]
    if cls is AssertFact or cls is RetractFact:
        return {"op": "assert" if cls is AssertFact else "retract",
                "relation": change.relation,  # type: ignore[union-attr]
                "row": _row_to_json(change.row)}  # type: ignore[union-attr]
    if cls is Record:
        assert isinstance(change, Record)
        out: dict[str, Any] = {
            "op": "record", "principal": change.principal.to_json(),
            "action": change.action.to_json(), "resource": change.resource.to_json(),
            "at": change.at, "seq": change.seq}
        if change.amount is not None:
            out["amount"] = change.amount
        return out
    if cls is Approve:
        assert isinstance(change, Approve)
        return {"op": "approve", "principal": change.principal.to_json(),
                "action": change.action.to_json(), "resource": change.resource.to_json(),
                "expires": change.expires}
    if cls is Link:
        assert isinstance(change, Link)
        return {"op": "link", "template_id": change.template_id, "link_id": change.link_id,
                "args": {f"?{name}": uid.to_json() for name, uid in change.slots}}
    if cls is Unlink:
        assert isinstance(change, Unlink)
        return {"op": "unlink", "link_id": change.link_id}
    assert isinstance(change, ExpireHistory)
    return {"op": "expire", "before": change.before}


def _field(data: Mapping[str, Any], name: str, path: str) -> Any:
    if name not in data:
        raise StoreError(f"the change has no `{name}`", code="invalid-change", path=path)
    return data[name]


def _int(value: Any, path: str) -> int:
    if value.__class__ is not int:
        raise StoreError("expected an integer", code="invalid-change", path=path)
    return int(value)


def _uid(data: Mapping[str, Any], name: str, path: str) -> EntityUID:
    try:
        return entity_uid_from_json(_field(data, name, path), f"{path}.{name}")
    except RuneError as exc:
        raise StoreError(exc.message, code="invalid-change", path=exc.path) from None


def change_from_json(data: Any, path: str = "$") -> Change:
    """Read one change written by `change_to_json`.

    Entities are read without a schema: `entity_to_json` writes every entity reference
    and extension value with an explicit escape, so the values come back exactly; the
    engine checks them against its schema when it applies the change.

    Raises:
        StoreError: the JSON is not a change (with its JSON path).
    """
    if data.__class__ is not dict:
        raise StoreError("a change must be a JSON object", code="invalid-change", path=path)
    op = _field(data, "op", path)
    if op == "put":
        try:
            entity = entity_data_from_json(_field(data, "entity", path), f"{path}.entity")
        except RuneError as exc:
            raise StoreError(exc.message, code="invalid-change", path=exc.path) from None
        return PutEntity(entity)
    if op == "remove":
        return RemoveEntity(_uid(data, "uid", path))
    if op in ("assert", "retract"):
        relation = _field(data, "relation", path)
        row = _field(data, "row", path)
        if relation.__class__ is not str or row.__class__ is not list:
            raise StoreError("a fact change needs a relation name and a row list",
                             code="invalid-change", path=path)
        cls = AssertFact if op == "assert" else RetractFact
        return cls(relation, tuple(row))
    if op == "record":
        amount = data.get("amount")
        return Record(_uid(data, "principal", path), _uid(data, "action", path),
                      _uid(data, "resource", path), _int(_field(data, "at", path), f"{path}.at"),
                      _int(_field(data, "seq", path), f"{path}.seq"),
                      None if amount is None else _int(amount, f"{path}.amount"))
    if op == "approve":
        expires = _field(data, "expires", path)
        if expires.__class__ not in (int, float) or not math.isfinite(expires):
            raise StoreError("`expires` must be a finite number", code="invalid-change",
                             path=f"{path}.expires")
        return Approve(_uid(data, "principal", path), _uid(data, "action", path),
                       _uid(data, "resource", path), float(expires))
    if op == "expire":
        return ExpireHistory(_int(_field(data, "before", path), f"{path}.before"))
    if op == "link":
        template_id, link_id = _field(data, "template_id", path), _field(data, "link_id", path)
        args = _field(data, "args", path)
        if template_id.__class__ is not str or link_id.__class__ is not str \
                or args.__class__ is not dict:
            raise StoreError("a link needs string ids and an `args` object",
                             code="invalid-change", path=path)
        slots = []
        for key in sorted(args):
            if key not in ("?principal", "?resource"):
                raise StoreError(f"unknown slot `{key}`", code="invalid-change",
                                 path=f"{path}.args")
            slots.append((key[1:], _uid(args, key, f"{path}.args")))
        return Link(template_id, link_id, tuple(slots))
    if op == "unlink":
        link_id = _field(data, "link_id", path)
        if link_id.__class__ is not str:
            raise StoreError("`link_id` must be a string", code="invalid-change",
                             path=f"{path}.link_id")
        return Unlink(link_id)
    raise StoreError(f"unknown change `{op}`", code="invalid-change", path=f"{path}.op")
