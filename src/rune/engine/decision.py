"""The decision `Engine.authorize` returns: authorization, configuration and obligations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from rune.engine.snapshot import Snapshot

__all__ = ["Decision", "EngineRequest", "Obligation", "Verdict"]


class Verdict(StrEnum):
    """The three answers of the engine (equal to the strings "allow", "deny", "ask")."""

    ALLOW = "allow"
    DENY = "deny"
    ASK = "ask"


@dataclass(frozen=True, slots=True)
class Obligation:
    """Something the caller, or the engine, must do for an allowed action.

    Kinds the engine enforces itself: `rate_limit` (at most ``limit`` actions per
    ``window_seconds`` for ``key``) and `budget` (at most ``limit`` units of
    ``amount`` per window). `approval` marks an action allowed by a recorded approval.
    Other kinds (from the `obligation(kind, detail)` relation) are passed through.
    """

    kind: str
    key: str = ""
    limit: int | None = None
    window_seconds: int | None = None
    amount: int | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (absent fields left out)."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in ("key", "limit", "window_seconds", "amount", "detail"):
            value = getattr(self, name)
            if value not in (None, ""):
                out[name] = value
        return out


class EngineRequest(NamedTuple):
    """A request as the engine parsed it (uids resolved, context as a Cedar record)."""

    principal: Any
    action: Any
    resource: Any
    context: Any


class Decision(NamedTuple):
    """The answer to one request.

    Attributes:
        decision: "allow", "deny" or "ask" (allowed once a human approves).
        reasons: ids of the determining policies, then `rule:<reason>`,
            `rate-limit:<key>`, `budget:<key>` or `approval:<reason>` entries.
        errors: policies skipped because their evaluation failed, and rule errors.
        config: configuration derived for this request (key -> value).
        obligations: rate limits, budgets and other obligations that apply.
        version: the store version the decision was computed on.
        request: the parsed request.
        snapshot: the immutable store version used (for `explain`).
        decided_at: the time request-scoped rules saw as `now` (None when no rule ran).
    """

    decision: Verdict
    reasons: tuple[str, ...]
    errors: tuple[str, ...]
    config: Mapping[str, Any]
    obligations: tuple[Obligation, ...]
    version: int
    request: Any  # a rune.cedar.Request: (principal, action, resource, context)
    snapshot: Snapshot
    decided_at: float | None = None

    @property
    def allowed(self) -> bool:
        """True only for "allow"."""
        return self.decision is Verdict.ALLOW

    def explain(self) -> Explanation:
        """Why: determining policies, relevant policies that did not apply (with the
        false condition and its source span), and the Datalog proof of every derived
        fact the decision used."""
        from rune.engine.explain import explain

        return explain(self, now=self.decided_at)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (without the explanation)."""
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "errors": list(self.errors),
            "config": dict(self.config),
            "obligations": [o.to_json() for o in self.obligations],
            "version": self.version,
        }


if TYPE_CHECKING:
    from rune.engine.explain import Explanation
