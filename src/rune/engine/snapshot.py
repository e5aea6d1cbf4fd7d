"""One immutable version of everything a decision reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rune.cedar import Entities, PolicySet, Schema
from rune.cedar.index import PreparedPolicySet
from rune.cedar.json_format import EntityData
from rune.cedar.values import EntityUID

__all__ = ["Snapshot"]


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
    facts: Mapping[str, frozenset[tuple[Any, ...]]]  # user facts and history, by relation
    rules: Any  # rune.datalog.Program or None
    result: Any  # rune.datalog.Result of the rules over the store, or None
    approvals: Mapping[tuple[EntityUID, EntityUID, EntityUID], float]
    request_scoped: bool  # some rule reads the request
    cacheable: bool  # decisions depend only on the request and this version
    ask_policies: Mapping[str, str]  # policy id -> `@ask` reason, for policies that ask
