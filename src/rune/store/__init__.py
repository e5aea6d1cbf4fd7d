"""The fact store's data model: how entities and facts are seen by Cedar and Datalog.

Versions of the store are `rune.engine.Snapshot`s; this package holds the mapping
between Cedar entities and Datalog facts that both engines share.
"""

from __future__ import annotations

from rune.store.mapping import (
    DERIVED_RELATIONS,
    ENTITY_RELATIONS,
    entity_facts,
    parse_uid_text,
    uid_text,
    value_text,
)

__all__ = [
    "DERIVED_RELATIONS",
    "ENTITY_RELATIONS",
    "entity_facts",
    "parse_uid_text",
    "uid_text",
    "value_text",
]
