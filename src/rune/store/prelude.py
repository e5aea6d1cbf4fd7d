"""The relations RUNE declares for every rule set: the entity view, the request, history,
and what request-scoped rules may derive (configuration, obligations, deny reasons).

Rule files use these relations without declaring them. See `rune.store.mapping` for the
entity relations and the `derived_*` relations that flow back into Cedar.
"""

from __future__ import annotations

from rune.store.mapping import CONTEXT_RELATIONS, DERIVED_RELATIONS, ENTITY_RELATIONS

__all__ = [
    "HISTORY_RELATIONS",
    "OUTPUT_RELATIONS",
    "REQUEST_RELATIONS",
    "prelude",
]

# Facts about the request being decided; rules that read them are request-scoped. The
# context appears by value kind (`context`, `context_num`, `context_bool`,
# `context_entity`, `context_ext`, and `context_member*` for set elements; see
# `rune.store.mapping`).
REQUEST_RELATIONS: dict[str, str] = {
    "request": "principal: symbol, action: symbol, resource: symbol",
    **CONTEXT_RELATIONS,
    "now": "seconds: number",
}

# Timestamped facts recorded by `Engine.record` (`at`: seconds since the epoch; `seq`: a
# number unique to each record, so two identical actions in the same second both count).
HISTORY_RELATIONS: dict[str, str] = {
    "performed": "principal: symbol, action: symbol, resource: symbol, at: number, seq: number",
    "spent": "principal: symbol, amount: number, at: number, seq: number",
}

# What rules may derive for a request.
OUTPUT_RELATIONS: dict[str, str] = {
    "config": "key: symbol, value: symbol",
    "config_num": "key: symbol, value: number",
    "rate_limit": "key: symbol, limit: number, window_seconds: number",
    "budget": "key: symbol, limit: number, window_seconds: number, amount: number",
    "require_approval": "reason: symbol",
    "deny": "reason: symbol",
    "obligation": "kind: symbol, detail: symbol",
}


def prelude() -> str:
    """Datalog declarations of every built-in relation."""
    lines = ["// RUNE built-in relations (declared for you; do not redeclare them)"]
    for group in (ENTITY_RELATIONS, DERIVED_RELATIONS, REQUEST_RELATIONS, HISTORY_RELATIONS,
                  OUTPUT_RELATIONS):
        for name, columns in group.items():
            lines.append(f".decl {name}({columns})")
    return "\n".join(lines) + "\n"
