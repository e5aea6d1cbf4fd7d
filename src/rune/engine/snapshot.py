"""One immutable version of everything a decision reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from math import isqrt
from typing import TYPE_CHECKING, Any

from rune.cedar.entities import Entities
from rune.cedar.json_format import EntityData
from rune.cedar.values import EntityUID

if TYPE_CHECKING:
    from rune.cedar.index import PreparedPolicySet
    from rune.cedar.policy_set import PolicySet
    from rune.cedar.schema import Schema
    from rune.engine.build import RulesInfo

__all__ = ["FactsView", "Snapshot", "WrittenEntities"]


class WrittenEntities(Mapping[EntityUID, EntityData]):
    """The entities as written (before rules), read through the materialized store.

    Rules change few entities, so a version keeps one store and, for the entities rules
    changed, their data as written (None for entities only rules created), instead of a
    second copy of every entity.

    That table of differences is versioned like a relation (`rune.datalog.overlay`): a
    shared ``written`` table, never modified, under a small ``recent`` one holding what
    later versions changed (`SAME` where an entity stopped differing). A write copies
    only ``recent``, and folds it into a new shared table once it outgrows
    ``sqrt(2 * len(written))``: rules that derive something for every entity make the
    table as large as the store, and a write must not copy it whole.
    """

    __slots__ = ("_recent", "_store", "_written")

    def __init__(self, store: Entities,
                 written: Mapping[EntityUID, EntityData | None] | None = None,
                 recent: Mapping[EntityUID, Any] | None = None) -> None:
        self._store = store
        self._written = written or {}
        self._recent = recent or {}

    def differs(self, uid: EntityUID) -> Any:
        """``uid``'s data as written where it differs from the store's (None: only rules
        made it), else `SAME`."""
        found = self._recent.get(uid, _MISSING)
        if found is _MISSING:
            found = self._written.get(uid, SAME)
        return found

    def evolved(self, store: Entities, changes: Mapping[EntityUID, Any]) -> WrittenEntities:
        """The next version, over ``store``, with ``changes`` (uid -> data as written, None,
        or `SAME`) applied; this one is left unchanged."""
        if not changes:
            return WrittenEntities(store, self._written, self._recent)
        recent = {**self._recent, **changes}
        written = self._written
        if len(recent) <= max(64, isqrt(2 * len(written))):
            return WrittenEntities(store, written, recent)
        merged = dict(written)
        for uid, data in recent.items():
            if data is SAME:
                merged.pop(uid, None)
            else:
                merged[uid] = data
        return WrittenEntities(store, merged)

    def __getitem__(self, uid: EntityUID) -> EntityData:
        data = self.differs(uid)
        if data is SAME:
            return self._store._by_uid[uid].data()
        if data is None:
            raise KeyError(uid)
        return data  # type: ignore[no-any-return]

    def _removed(self) -> set[EntityUID]:
        """The uids the store has and the written entities do not (made by rules only)."""
        recent = self._recent
        gone = {uid for uid, data in self._written.items() if data is None and uid not in recent}
        gone.update(uid for uid, data in recent.items() if data is None)
        return gone

    def __iter__(self) -> Iterator[EntityUID]:
        if not self._written and not self._recent:
            return iter(self._store._by_uid)
        gone = self._removed()
        return (uid for uid in self._store._by_uid if uid not in gone)

    def __len__(self) -> int:
        return len(self._store) - len(self._removed())

    def __contains__(self, uid: object) -> bool:
        data = self.differs(uid)  # type: ignore[arg-type]
        if data is SAME:
            return uid in self._store._by_uid
        return data is not None

    def __repr__(self) -> str:
        return f"WrittenEntities({len(self)} entities)"


SAME: Any = object()
"""`WrittenEntities.differs` for an entity stored as written."""
_MISSING: Any = object()


class FactsView(Mapping[str, AbstractSet[tuple[Any, ...]]]):
    """The rules' input facts of one version (user facts and recorded history), by
    relation; each a read-only set.

    Built on versioned relations (`rune.datalog.relation.Relation`, overlaid when large),
    so a write that changes a few facts shares the rest with the version before it.
    """

    __slots__ = ("_relations",)

    def __init__(self, relations: Mapping[str, Any] | None = None) -> None:
        self._relations: Mapping[str, Any] = relations or {}

    def __getitem__(self, name: str) -> AbstractSet[tuple[Any, ...]]:
        return self._relations[name].tuples  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(self._relations)

    def __len__(self) -> int:
        return len(self._relations)

    def relation(self, name: str) -> Any:
        """The versioned relation behind ``name`` (None when it has no facts)."""
        return self._relations.get(name)

    @property
    def relations(self) -> Mapping[str, Any]:
        """Every relation, by name (shared, never modified)."""
        return self._relations

    def __repr__(self) -> str:
        return f"FactsView({ {k: len(v) for k, v in self._relations.items()} })"


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """An immutable version of the store: readers hold one and never see a later write.

    Publishing a new version is one reference assignment in the engine; a version is
    reclaimed by reference counting when its last reader drops it (the engine's decision
    cache lives beside the current snapshot, not inside it, so cached decisions that
    point at their snapshot form no reference cycle).
    """

    version: int
    policies: PolicySet
    prepared: PreparedPolicySet
    schema: Schema | None
    entity_data: Mapping[EntityUID, EntityData]  # entities as written, before rules
    entities: Entities  # materialized: written entities plus derived parents/attrs/tags
    facts: FactsView  # user facts and recorded history, by relation
    rules: Any  # rune.datalog.Program or None
    result: Any  # rune.datalog.Result of the rules over the store, or None
    approvals: Mapping[tuple[EntityUID, EntityUID, EntityUID], float]
    request_scoped: bool  # some rule reads the request
    cacheable: bool  # decisions depend only on the request and this version
    ask_policies: Mapping[str, str]  # policy id -> `@ask` reason, for policies that ask
    request_rules: Any = None  # rune.engine.request_rules.RequestRules, None without rules
    info: RulesInfo | None = None  # what the engine knows of the rules (None without)
    # Cedar alone decides: no rules, no `@ask` policies and no schema (the engine's hot path).
    plain: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plain", self.result is None and not self.ask_policies
                           and self.schema is None)
