"""Cedar authorization: forbid overrides permit, default deny, errors skipped and reported."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from rune.cedar.entities import Entities
from rune.cedar.request import Request

if TYPE_CHECKING:
    from rune.cedar.policy_set import PolicySet

__all__ = ["AuthorizationError", "Decision", "Response", "authorize"]


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


_EMPTY_ENTITIES = Entities.empty()


def authorize(
    request: Request, policies: PolicySet, entities: Entities | None = None
) -> Response:
    """Decide a request against a policy set and an entity store.

    Never raises for evaluation problems: a policy whose evaluation fails is skipped
    and listed in `Response.errors`; without a satisfied permit the answer is deny.
    """
    store = (entities if entities is not None else _EMPTY_ENTITIES)._by_uid
    permits, forbids, errors = policies.prepared().evaluate(
        request[0], request[1], request[2], request[3], store
    )
    errs = tuple(AuthorizationError(pid, msg) for pid, msg in errors) if errors else ()
    if forbids:
        return Response(Decision.DENY, tuple(forbids), errs)
    if permits:
        return Response(Decision.ALLOW, tuple(permits), errs)
    return Response(Decision.DENY, (), errs)
