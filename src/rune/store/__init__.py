"""The fact store's data model, its changes, and where acknowledged changes are kept.

Versions of the store are `rune.engine.Snapshot`s. This package holds what they share
with storage: the mapping between Cedar entities and Datalog facts (`mapping`), the
changes a live store accepts (`changes`) and their folded form (`overlay`), and the
change log an engine writes through (`changelog`, with `sqlite` as the embedded one).
"""

from __future__ import annotations

from rune.store.changelog import ChangeLog, LogEntry, MemoryChangeLog
from rune.store.changes import (
    Approve,
    AssertFact,
    Change,
    ExpireHistory,
    PutEntity,
    Record,
    RemoveEntity,
    RetractFact,
    StoreError,
)
from rune.store.mapping import (
    CONTEXT_RELATIONS,
    DERIVED_RELATIONS,
    ENTITY_RELATIONS,
    context_facts,
    derived_value,
    entity_facts,
    parse_uid_text,
    symbol,
    text_of,
    uid_text,
)
from rune.store.sqlite import SQLiteChangeLog

__all__ = [
    "Approve",
    "AssertFact",
    "CONTEXT_RELATIONS",
    "Change",
    "ChangeLog",
    "DERIVED_RELATIONS",
    "ENTITY_RELATIONS",
    "ExpireHistory",
    "LogEntry",
    "MemoryChangeLog",
    "PutEntity",
    "Record",
    "RemoveEntity",
    "RetractFact",
    "SQLiteChangeLog",
    "StoreError",
    "context_facts",
    "derived_value",
    "entity_facts",
    "parse_uid_text",
    "symbol",
    "text_of",
    "uid_text",
]
