"""RUNE's own API, version 1 (`/v1/...`), on the wire.

Uids are Cedar uid text (`"Agent::\\"a1\\""`) or `{"type": T, "id": I}`; contexts,
entities and facts are in Cedar's and RUNE's JSON formats (the engine's, escapes and
all). A decision is RUNE's whole answer:

    {"decision": "allow" | "deny" | "ask", "reasons": [...], "errors": [...],
     "config": {...}, "obligations": [{"kind": ..., ...}], "version": 3,
     "decision_id": "...", "explanation": {...}}

(`explanation` only when asked for, with the admin token.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rune.server.errors import ServerError

__all__ = [
    "Approve",
    "Decide",
    "MAX_BATCH",
    "Record",
    "Write",
    "decision_json",
    "parse_approve",
    "parse_batch",
    "parse_decide",
    "parse_query",
    "parse_record",
    "parse_write",
]

MAX_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class Decide:
    """`POST /v1/decide`: one request, and whether to explain the decision."""

    principal: Any
    action: Any
    resource: Any
    context: Mapping[str, Any] | None
    explain: bool = False

    def to_json(self) -> dict[str, Any]:
        """The request as the decision log records it."""
        out = {"principal": self.principal, "action": self.action, "resource": self.resource}
        if self.context is not None:
            out["context"] = self.context
        return out


@dataclass(frozen=True, slots=True)
class Write:
    """`POST /v1/admin/write`: entities and facts to add or remove, as one version."""

    entities: list[Any] | None
    remove_entities: list[Any]
    facts: Mapping[str, Any] | None
    retract: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Record:
    """`POST /v1/admin/record`: an action an agent performed."""

    principal: Any
    action: Any
    resource: Any
    at: float | None
    amount: int | None


@dataclass(frozen=True, slots=True)
class Approve:
    """`POST /v1/admin/approve`: a human approval of one request."""

    principal: Any
    action: Any
    resource: Any
    ttl_seconds: float | None


def _object(body: Any, path: str) -> Mapping[str, Any]:
    if body.__class__ is not dict:
        raise ServerError(f"`{path}` must be a JSON object", code="invalid-field", path=path)
    return body  # type: ignore[no-any-return]


def _uid(body: Mapping[str, Any], name: str, path: str) -> Any:
    value = body.get(name)
    if value is None:
        raise ServerError(f"`{path}.{name}` is required", code="missing-field",
                          path=f"{path}.{name}")
    if value.__class__ is str:
        return value
    if value.__class__ is dict and value.get("type").__class__ is str \
            and value.get("id").__class__ is str:
        return {"type": value["type"], "id": value["id"]}
    raise ServerError(f"`{path}.{name}` must be uid text (`Type::\"id\"`) or "
                      "`{\"type\": ..., \"id\": ...}`", code="invalid-field",
                      path=f"{path}.{name}")


def _number(body: Mapping[str, Any], name: str, path: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if value.__class__ not in (int, float):
        raise ServerError(f"`{path}.{name}` must be a number", code="invalid-field",
                          path=f"{path}.{name}")
    return float(value)


def parse_decide(body: Any, path: str = "$") -> Decide:
    """A decide request (also one item of a batch, at ``path``)."""
    fields = _object(body, path)
    context = fields.get("context")
    if context is not None:
        context = _object(context, f"{path}.context")
    explain = fields.get("explain", False)
    if explain.__class__ is not bool:
        raise ServerError(f"`{path}.explain` must be true or false", code="invalid-field",
                          path=f"{path}.explain")
    return Decide(_uid(fields, "principal", path), _uid(fields, "action", path),
                  _uid(fields, "resource", path), context, explain)


def parse_batch(body: Any) -> list[Decide]:
    """`POST /v1/decide/batch`: `{"requests": [...]}` (each as `parse_decide`)."""
    items = _object(body, "$").get("requests")
    if items.__class__ is not list:
        raise ServerError("`$.requests` must be an array", code="invalid-field",
                          path="$.requests")
    if len(items) > MAX_BATCH:
        raise ServerError(f"at most {MAX_BATCH} requests fit in one batch",
                          code="too-many-requests", path="$.requests")
    return [parse_decide(item, f"$.requests[{i}]") for i, item in enumerate(items)]


def parse_query(body: Any) -> str:
    """`POST /v1/query`: `{"query": "config(k, v)"}`."""
    text = _object(body, "$").get("query")
    if text.__class__ is not str:
        raise ServerError("`$.query` must be a string such as `config(k, v)`",
                          code="invalid-field", path="$.query")
    return text  # type: ignore[no-any-return]


def parse_write(body: Any) -> Write:
    """`POST /v1/admin/write`."""
    fields = _object(body, "$")
    entities = fields.get("entities")
    if entities is not None and entities.__class__ is not list:
        raise ServerError("`$.entities` must be an array of entities", code="invalid-field",
                          path="$.entities")
    removed = fields.get("remove_entities")
    if removed is None:
        removed = []
    elif removed.__class__ is not list:
        raise ServerError("`$.remove_entities` must be an array of uids", code="invalid-field",
                          path="$.remove_entities")
    out: dict[str, Mapping[str, Any] | None] = {}
    for name in ("facts", "retract"):
        value = fields.get(name)
        if value is not None:
            for relation, rows in _object(value, f"$.{name}").items():
                if rows.__class__ is not list or any(r.__class__ is not list for r in rows):
                    raise ServerError(f"`$.{name}.{relation}` must be an array of rows (arrays)",
                                      code="invalid-field", path=f"$.{name}.{relation}")
        out[name] = value
    return Write(entities, removed, out["facts"], out["retract"])


def parse_record(body: Any) -> Record:
    """`POST /v1/admin/record`."""
    fields = _object(body, "$")
    amount = fields.get("amount")
    if amount is not None and amount.__class__ is not int:
        raise ServerError("`$.amount` must be an integer", code="invalid-field",
                          path="$.amount")
    return Record(_uid(fields, "principal", "$"), _uid(fields, "action", "$"),
                  _uid(fields, "resource", "$"), _number(fields, "at", "$"), amount)


def parse_approve(body: Any) -> Approve:
    """`POST /v1/admin/approve`."""
    fields = _object(body, "$")
    return Approve(_uid(fields, "principal", "$"), _uid(fields, "action", "$"),
                   _uid(fields, "resource", "$"), _number(fields, "ttl_seconds", "$"))


def decision_json(decision: Any, decision_id: str) -> dict[str, Any]:
    """RUNE's whole decision (an engine `Decision`) on the wire."""
    return {
        "decision": str(decision.decision),
        "reasons": list(decision.reasons),
        "errors": list(decision.errors),
        "config": dict(decision.config),
        "obligations": [o.to_json() for o in decision.obligations],
        "version": decision.version,
        "decision_id": decision_id,
    }
