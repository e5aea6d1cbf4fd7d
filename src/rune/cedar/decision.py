"""The outcome of a Cedar authorization: decision, determining policies and errors."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

__all__ = ["AuthorizationError", "Decision", "Response"]


class Decision(StrEnum):
    """Cedar's two decisions."""

    ALLOW = "allow"
    DENY = "deny"


class AuthorizationError(NamedTuple):
    """A policy that was skipped because evaluating it raised an error."""

    policy_id: str
    message: str

    def __str__(self) -> str:
        return f"while evaluating policy `{self.policy_id}`: {self.message}"


class Response(NamedTuple):
    """The result of `authorize`.

    Attributes:
        decision: `Decision.ALLOW` or `Decision.DENY` (equal to "allow"/"deny").
        reason: ids of the determining policies: the satisfied forbids on deny, the
            satisfied permits on allow (empty on a default deny).
        errors: policies skipped because their evaluation failed.
    """

    decision: Decision
    reason: tuple[str, ...]
    errors: tuple[AuthorizationError, ...]

    @property
    def allowed(self) -> bool:
        """True when the decision is allow."""
        return self.decision is Decision.ALLOW
