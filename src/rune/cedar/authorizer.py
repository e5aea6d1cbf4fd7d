"""Cedar authorization: forbid overrides permit, default deny, errors skipped and reported."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rune.cedar.decision import AuthorizationError, Decision, Response
from rune.cedar.entities import Entities
from rune.cedar.request import Request

if TYPE_CHECKING:
    from rune.cedar.policy_set import PolicySet

__all__ = ["AuthorizationError", "Decision", "Response", "authorize"]


_EMPTY_ENTITIES = Entities.empty()


def authorize(
    request: Request, policies: PolicySet, entities: Entities | None = None
) -> Response:
    """Decide a request against a policy set and an entity store.

    Never raises for evaluation problems: a policy whose evaluation fails is skipped
    and listed in `Response.errors`; without a satisfied permit the answer is deny.
    """
    prepared = policies._prepared
    if prepared is None:
        prepared = policies.prepared()
    store = (entities if entities is not None else _EMPTY_ENTITIES)._by_uid
    return prepared.decide(request[0], request[1], request[2], request[3], store)
