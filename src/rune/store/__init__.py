"""The fact store's data model, its changes, and where acknowledged changes are kept.

Versions of the store are `rune.engine.Snapshot`s. This package holds what they share
with storage: the mapping between Cedar entities and Datalog facts (`mapping`), the
changes a live store accepts (`changes`) and their folded form (`overlay`), and the
change log an engine writes through (`changelog`, with `sqlite` as the embedded one).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Every name is imported on first use: an engine without a state file never loads
# `sqlite3` (`SQLiteChangeLog`), a hook process pays for what it uses.
_WHERE = {
    "Approve": "changes",
    "AssertFact": "changes",
    "CONTEXT_RELATIONS": "mapping",
    "Change": "changes",
    "ChangeLog": "changelog",
    "DERIVED_RELATIONS": "mapping",
    "ENTITY_RELATIONS": "mapping",
    "ExpireHistory": "changes",
    "LogEntry": "changelog",
    "MemoryChangeLog": "changelog",
    "PutEntity": "changes",
    "Record": "changes",
    "RemoveEntity": "changes",
    "RetractFact": "changes",
    "SQLiteChangeLog": "sqlite",
    "StoreError": "changes",
    "context_facts": "mapping",
    "derived_value": "mapping",
    "entity_facts": "mapping",
    "parse_uid_text": "mapping",
    "symbol": "mapping",
    "text_of": "mapping",
    "uid_text": "mapping",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rune.store.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
