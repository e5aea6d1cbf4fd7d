"""Everything written to a live store, net of later changes: what a state file holds.

An engine's state is its bundle (policies, rules, schema, entities, facts) *plus* the
writes made since it started: entities put or removed, facts asserted or retracted,
actions recorded, approvals given. `Overlay` folds a stream of changes into that second
part, keeping only what still matters: the last word on each entity and fact, the
recorded actions inside the retention horizon, and the approvals.

The overlay is kept apart from the bundle so that a reload (or a restart on an edited
bundle) replaces the bundle *beneath* the writes: an entity written through the engine
stays as written until it is written again or removed.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any

from rune.cedar.json_format import EntityData
from rune.cedar.values import EntityUID
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

__all__ = ["ApprovalKey", "Overlay"]

Row = tuple[Any, ...]
ApprovalKey = tuple[EntityUID, EntityUID, EntityUID]


class Overlay:
    """The writes made to a store, folded (mutable; the engine owns one under its lock).

    Attributes:
        entities: uid -> the entity as last written, or None when last removed.
        facts: (relation, row) -> True when last asserted, False when last retracted.
        records: seq -> recorded action, for records inside the retention horizon.
        approvals: (principal, action, resource) -> expiry time.
        links: link id -> the template link as last written, or None when last unlinked.
        horizon: the latest `ExpireHistory` threshold (recorded actions before it are
            gone, including history facts a bundle ships), or None.
    """

    __slots__ = ("_by_time", "_next_seq", "approvals", "entities", "facts", "horizon",
                 "links", "records")

    def __init__(self) -> None:
        self.entities: dict[EntityUID, EntityData | None] = {}
        self.facts: dict[tuple[str, Row], bool] = {}
        self.records: dict[int, Record] = {}
        self.approvals: dict[ApprovalKey, float] = {}
        self.horizon: int | None = None
        self.links: dict[str, Link | None] = {}
        self._by_time: list[tuple[int, int]] = []  # (at, seq) heap of `records`
        self._next_seq = 1

    def __bool__(self) -> bool:
        return bool(self.entities or self.facts or self.records or self.approvals
                    or self.links or self.horizon is not None)

    @property
    def next_seq(self) -> int:
        """One more than the highest sequence number recorded so far (1 when none), expired
        records included: a number is never given twice."""
        return self._next_seq

    def apply(self, changes: Iterable[Change]) -> None:
        """Fold ``changes``, in order, into the overlay."""
        for change in changes:
            cls = change.__class__
            if cls is Record:
                assert isinstance(change, Record)
                self.records[change.seq] = change
                heapq.heappush(self._by_time, (change.at, change.seq))
                if change.seq >= self._next_seq:
                    self._next_seq = change.seq + 1
            elif cls is PutEntity:
                assert isinstance(change, PutEntity)
                self.entities[change.entity.uid] = change.entity
            elif cls is RemoveEntity:
                assert isinstance(change, RemoveEntity)
                self.entities[change.uid] = None
            elif cls is AssertFact or cls is RetractFact:
                assert isinstance(change, AssertFact | RetractFact)
                self.facts[(change.relation, change.row)] = cls is AssertFact
            elif cls is Link:
                assert isinstance(change, Link)
                # A link written again moves to the end, as the policy set orders it (and
                # as the state file replays it, by position).
                self.links.pop(change.link_id, None)
                self.links[change.link_id] = change
            elif cls is Unlink:
                assert isinstance(change, Unlink)
                self.links[change.link_id] = None
            elif cls is Approve:
                assert isinstance(change, Approve)
                self.approvals[(change.principal, change.action, change.resource)] = \
                    change.expires
            else:
                assert isinstance(change, ExpireHistory)
                self.expire(change.before)

    def expire(self, before: int) -> None:
        """Drop the records with ``at < before``, and approvals that expired before it
        (long expired: ``before`` lies a retention period behind the clock)."""
        if self.horizon is None or before > self.horizon:
            self.horizon = before
        heap = self._by_time
        while heap and heap[0][0] < before:
            self.records.pop(heapq.heappop(heap)[1], None)
        stale = [key for key, expires in self.approvals.items() if expires < before]
        for key in stale:
            del self.approvals[key]

    def oldest_at(self, before: int) -> int | None:
        """The time of the oldest record kept, if it is older than ``before`` (else None)."""
        heap = self._by_time
        if heap and heap[0][0] < before:
            return heap[0][0]
        return None

    def expiring(self, before: int) -> list[Record]:
        """The records `expire(before)` would drop (the overlay is left unchanged)."""
        heap = self._by_time
        popped: list[tuple[int, int]] = []
        while heap and heap[0][0] < before:
            popped.append(heapq.heappop(heap))
        for item in popped:
            heapq.heappush(heap, item)
        return [self.records[seq] for _, seq in popped if seq in self.records]

    def prune_approvals(self, now: float) -> None:
        """Forget approvals that expired (they allow nothing any more)."""
        expired = [key for key, expires in self.approvals.items() if expires <= now]
        for key in expired:
            del self.approvals[key]

    def checkpoint(self) -> Iterator[Change]:
        """Changes that rebuild this overlay from nothing (a compacted log)."""
        for uid, entity in self.entities.items():
            yield PutEntity(entity) if entity is not None else RemoveEntity(uid)
        for (relation, row), present in self.facts.items():
            yield AssertFact(relation, row) if present else RetractFact(relation, row)
        if self.horizon is not None:
            yield ExpireHistory(self.horizon)
        yield from self.records.values()
        for (p, a, r), expires in self.approvals.items():
            yield Approve(p, a, r, expires)
        for link_id, link in self.links.items():
            yield link if link is not None else Unlink(link_id)
