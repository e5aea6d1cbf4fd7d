"""Applying a batch of changes to a version as a delta: writes cost what they change.

`apply_changes` turns the current `Snapshot` and a batch of checked changes into the
next version without rebuilding it:

1. the batch is folded (the last change to an entity or fact wins) and compared with the
   version, so only real changes go further;
2. facts and recorded history become new versions of their relations, sharing the rows
   they keep (`rune.datalog.overlay`);
3. the rules' result is maintained incrementally (`Result.update`) from the entity facts
   of changed entities, the changed facts and the changed history, and reports exactly
   which rows of every relation it gained and lost;
4. the entities whose written data or derived parents, attributes or tags changed are
   materialized again (`rune.engine.build.materialize`, shared with full builds) and the
   Cedar entity store is patched (`Entities.patched`: ancestors recomputed only below a
   changed parent edge);
5. the prepared policies are kept; their per-store bitset caches move to the new store
   minus the changed entities (`PreparedPolicySet.carry_caches`).

`Impact` tells the engine which of its per-version caches stay valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from rune.cedar.json_format import EntityData
from rune.cedar.values import EntityUID
from rune.datalog.overlay import new_version
from rune.datalog.relation import Relation
from rune.engine.build import DERIVED, conform, derived_data, materialize
from rune.engine.snapshot import SAME, FactsView, Snapshot, WrittenEntities
from rune.store.changes import (
    Approve,
    AssertFact,
    Change,
    ExpireHistory,
    Link,
    PutEntity,
    Record,
    RemoveEntity,
    RetractFact,
    Unlink,
)
from rune.store.mapping import entity_facts, uid_text

__all__ = ["Impact", "apply_changes", "history_rows", "linked"]

Row = tuple[Any, ...]
_HISTORY = ("performed", "spent")
_ARITY = {name: 2 if name == "derived_parent" else 4 if name.endswith("_ext") else 3
          for name in DERIVED}


@dataclass(frozen=True, slots=True)
class Impact:
    """What a batch changed, for the engine's per-version caches.

    Attributes:
        entities: uids whose Cedar entity changed (attributes, parents or ancestors).
        policies: template links changed (the policies were prepared again).
    """

    entities: frozenset[EntityUID]
    policies: bool = False


def history_rows(record: Record) -> list[tuple[str, Row]]:
    """The `performed` (and `spent`) facts of a recorded action."""

    p = uid_text(record.principal)
    rows: list[tuple[str, Row]] = [
        ("performed", (p, uid_text(record.action), uid_text(record.resource), record.at,
                       record.seq))]
    if record.amount is not None:
        rows.append(("spent", (p, record.amount, record.at, record.seq)))
    return rows


def _fold(changes: Sequence[Change]) -> tuple[
        dict[EntityUID, EntityData | None], dict[tuple[str, Row], bool],
        dict[tuple[EntityUID, EntityUID, EntityUID], float], bool]:
    """The last word on each entity, fact and approval in ``changes``, and whether they
    link or unlink templates."""
    entities: dict[EntityUID, EntityData | None] = {}
    facts: dict[tuple[str, Row], bool] = {}
    approvals: dict[tuple[EntityUID, EntityUID, EntityUID], float] = {}
    relinked = False
    for change in changes:
        cls = change.__class__
        if cls is Record:
            assert isinstance(change, Record)
            for relation, row in history_rows(change):
                facts[(relation, row)] = True
        elif cls is PutEntity:
            assert isinstance(change, PutEntity)
            entities[change.entity.uid] = change.entity
        elif cls is RemoveEntity:
            assert isinstance(change, RemoveEntity)
            entities[change.uid] = None
        elif cls is AssertFact or cls is RetractFact:
            assert isinstance(change, AssertFact | RetractFact)
            facts[(change.relation, change.row)] = cls is AssertFact
        elif cls is Approve:
            assert isinstance(change, Approve)
            approvals[(change.principal, change.action, change.resource)] = change.expires
        elif cls is Link or cls is Unlink:  # applied in order by `linked`
            relinked = True
        else:  # the engine lists the rows an `ExpireHistory` expires
            assert isinstance(change, ExpireHistory)
    return entities, facts, approvals, relinked


def linked(policies: Any, changes: Iterable[Change]) -> Any:
    """``policies`` (a `PolicySet`) with the `Link`/`Unlink` changes among ``changes``
    applied in order: a link replaces an earlier link of the same id; unlinking a link
    that is not there does nothing.

    Raises:
        LinkError: a link names a missing template, takes a static policy's id, or does not
            fill the template's slots.
    """
    for change in changes:
        cls = change.__class__
        if cls is not Link and cls is not Unlink:
            continue
        link_id = change.link_id  # type: ignore[union-attr]
        if link_id in policies and not any(t.id == link_id for t in policies.templates) \
                and policies.policy(link_id).template_id is not None:
            policies = policies.unlink(link_id)
        if cls is Link:
            assert isinstance(change, Link)
            policies = policies.link(change.template_id, link_id, dict(change.slots))
    return policies


def apply_changes(snap: Snapshot, changes: Sequence[Change], *, version: int,
                  expired: Iterable[tuple[str, Row]] = (),
                  approvals_pruned_before: float | None = None) -> tuple[Snapshot, Impact]:
    """The version after ``changes`` (already checked), and what they changed.

    ``expired`` are history rows the batch's `ExpireHistory` removes; approvals that
    expired before ``approvals_pruned_before`` are dropped.

    Raises:
        RuneError: the change makes the rules fail or derive invalid entity data, closes a
            cycle in the hierarchy, or gives an entity that does not conform to the
            schema. Nothing is changed: ``snap`` stays the current version.
    """
    entity_final, fact_final, approved, relinked = _fold(changes)
    for relation, row in expired:  # `ExpireHistory` comes last in a batch
        fact_final[(relation, row)] = False

    # 1. What really changes, against this version.
    written = snap.entity_data
    entity_changes: dict[EntityUID, EntityData | None] = {}
    for uid, data in entity_final.items():
        old = written.get(uid)
        if data != old:
            entity_changes[uid] = data
    insert: dict[str, set[Row]] = {}
    retract: dict[str, set[Row]] = {}
    facts = snap.facts
    for (relation, row), present in fact_final.items():
        current = facts.relation(relation)
        there = current is not None and row in current.tuples
        if present and not there:
            insert.setdefault(relation, set()).add(row)
        elif there and not present:
            retract.setdefault(relation, set()).add(row)

    # 2. Facts and history: new versions of the changed relations.
    relations = facts.relations
    if insert or retract:

        relations = dict(relations)
        names = insert.keys() | retract.keys() if retract else insert.keys()
        for name in names:
            added, removed = insert.get(name, _NONE), retract.get(name, _NONE)
            current = relations.get(name)
            if current is None:
                current = Relation(name, len(next(iter(added))))
            # Rule code never reads these (the rules' result keeps its own copy).
            updated = new_version(current, added, removed, read=False)
            if len(updated):
                relations[name] = updated
            else:
                relations.pop(name, None)

    # 3. The rules' result, incrementally.
    result = snap.result
    affected: set[EntityUID] = set(entity_changes)
    if result is not None:
        info = snap.info
        assert info is not None
        rules_insert, rules_retract = _entity_fact_changes(written, entity_changes) \
            if entity_changes else ({}, {})
        feeds_history = info.feeds_history
        for source, target in ((insert, rules_insert), (retract, rules_retract)):
            for name, rows in source.items():
                if feeds_history or name not in _HISTORY:
                    target.setdefault(name, set()).update(rows)
        if rules_insert or rules_retract:
            result = result.update(rules_insert, rules_retract)
            affected |= _derived_subjects(result.changes)

    # 4. Materialize what changed and patch the entity store.
    store = snap.entities
    touched: frozenset[EntityUID] = frozenset()
    if affected:
        store_changes = _materialized(snap, result, entity_changes, affected)
        if store_changes:
            store, touched = store.patched(store_changes)
            snap.prepared.carry_caches(snap.entities._by_uid, store._by_uid, touched)
    entity_data = _written_after(snap, store, entity_changes, affected)

    # 5. The new version.
    approvals = snap.approvals
    if approved or approvals_pruned_before is not None:
        kept = {k: v for k, v in approvals.items()
                if approvals_pruned_before is None or v >= approvals_pruned_before}
        kept.update(approved)
        approvals = MappingProxyType(kept)
    policies, prepared, ask_policies = snap.policies, snap.prepared, snap.ask_policies
    if relinked:
        policies = linked(policies, changes)
        prepared = policies.prepared()
        ask_policies = MappingProxyType({
            p.id: p.annotations["ask"] for p in policies if "ask" in p.annotations})
    request_rules = snap.request_rules
    if result is not snap.result:
        from rune.engine.request_rules import RequestRules

        assert snap.info is not None
        request_rules = RequestRules(result, snap.info.request_scoped,
                                     snap.request_rules.limits if snap.request_rules else None,
                                     lazy=True)
    # Positional (in `Snapshot`'s field order): every record publishes a version, and
    # keywords double the cost of building one.
    new = Snapshot(
        version, policies, prepared, snap.schema, entity_data, store,
        facts if relations is facts.relations else FactsView(relations),
        snap.rules, result, approvals, snap.request_scoped, snap.cacheable, ask_policies,
        request_rules, snap.info)
    return new, Impact(touched, relinked)


def _entity_fact_changes(written: Mapping[EntityUID, EntityData],
                         changes: Mapping[EntityUID, EntityData | None]
                         ) -> tuple[dict[str, set[Row]], dict[str, set[Row]]]:
    """The entity facts (`entity`, `attr`, `parent`, ...) to insert and retract."""

    insert: dict[str, set[Row]] = {}
    retract: dict[str, set[Row]] = {}
    for uid, data in changes.items():
        old = written.get(uid)
        before = entity_facts([old]) if old is not None else {}
        after = entity_facts([data]) if data is not None else {}
        for name in before.keys() | after.keys():
            old_rows = set(before.get(name, ()))
            new_rows = set(after.get(name, ()))
            if new_rows - old_rows:
                insert.setdefault(name, set()).update(new_rows - old_rows)
            if old_rows - new_rows:
                retract.setdefault(name, set()).update(old_rows - new_rows)
    return insert, retract


def _derived_subjects(changed: Mapping[str, tuple[Any, Any]]) -> set[EntityUID]:
    """The entities whose derived parents, attributes or tags changed."""
    from rune.engine.build import _uid_of

    out: set[EntityUID] = set()
    for name in DERIVED:
        found = changed.get(name)
        if found is not None:
            for rows in found:
                out.update(_uid_of(row[0], name) for row in rows)
    return out


def _materialized(snap: Snapshot, result: Any, entity_changes: Mapping[EntityUID,
                  EntityData | None], affected: Iterable[EntityUID]
                  ) -> dict[EntityUID, EntityData | None]:
    """The Cedar entities of ``affected`` that differ from the store's: uid -> data, or
    None when the entity is gone."""

    written = snap.entity_data
    fresh: dict[EntityUID, EntityData | None] = {}
    for uid in affected:
        data = entity_changes[uid] if uid in entity_changes else written.get(uid)
        derived = None
        if result is not None:
            text = uid_text(uid)
            rows = {name: result.query(name, (text, *[None] * (_ARITY[name] - 1)))
                    for name in DERIVED}
            derived = derived_data(rows).get(uid)
        fresh[uid] = materialize(uid, data, derived)
    schema = snap.schema
    if schema is not None:
        present = [d for d in fresh.values() if d is not None]
        for data in conform(present, schema):
            fresh[data.uid] = data
    store = snap.entities._by_uid
    out: dict[EntityUID, EntityData | None] = {}
    for uid, data in fresh.items():
        entity = store.get(uid)
        if data is None:
            if entity is not None and not _schema_action(snap, uid):
                out[uid] = None
        elif entity is None or entity.data() != data:
            out[uid] = data
    return out


def _schema_action(snap: Snapshot, uid: EntityUID) -> bool:
    """Action entities a schema declares stay whatever is written."""
    if snap.schema is None:
        return False
    from rune.cedar.schema.typed_json import is_action_type

    return is_action_type(uid.type)


def _written_after(snap: Snapshot, store: Any, entity_changes: Mapping[EntityUID,
                   EntityData | None], affected: Iterable[EntityUID]) -> WrittenEntities:
    """The entities as written after the batch, read through the new store."""
    old = snap.entity_data
    assert isinstance(old, WrittenEntities)
    if store is snap.entities and not entity_changes:
        return old  # nothing written, nothing derived changed
    if snap.schema is None and snap.result is None:
        return WrittenEntities(store)  # the store holds exactly what is written
    changes: dict[EntityUID, Any] = {}
    for uid in affected:
        data = entity_changes[uid] if uid in entity_changes else old.get(uid)
        entity = store._by_uid.get(uid)
        if entity is None:
            wanted: Any = SAME
        elif data is None or data != entity.data():
            wanted = data
        else:
            wanted = SAME
        before = old.differs(uid)
        if before is wanted or (wanted is not SAME and before is not SAME
                                and before == wanted):
            continue
        changes[uid] = wanted
    return old.evolved(store, changes)


_NONE: frozenset[Row] = frozenset()  # no rows (read only)
