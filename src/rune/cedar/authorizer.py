"""Cedar authorization: forbid overrides permit, default deny, errors skipped and reported."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rune.cedar.decision import AuthorizationError, Decision, Response
from rune.cedar.entities import Entities
from rune.cedar.index import FUSED_PLAN_TYPE as _FUSED
from rune.cedar.request import Request

if TYPE_CHECKING:
    from rune.cedar.policy_set import PolicySet

__all__ = ["AuthorizationError", "Decision", "Response", "authorize"]


_EMPTY_ENTITIES = Entities.empty()
_id = id


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
    p = request._p
    a = request._a
    r = request._r
    c = request._c
    # Hot path, written out to save a call (first sightings of a uid included): when
    # the plan of the scope bitsets is fused, run it. Anything else (unfused plans,
    # small unindexed sets, another store) goes through `decide`.
    caches = prepared._caches  # read once: (store, ...) as one consistent whole
    if caches[0] is store:
        _, _, ac, rc, principals = caches
        entry = principals.get(_id(p))  # bitset and entity in one lookup
        if entry is None or entry[0] is not p:
            entry = prepared.principal_entry(p, store)
        _, bits, entity = entry
        b = ac.get(a)
        if b is None:
            b = prepared.action.miss(a, store, ac)
        b2 = rc.get(r)
        if b2 is None:
            b2 = prepared.resource.miss(r, store, rc)
        bits &= b & b2
        plan: Any = prepared._plans.get(bits)
        if plan.__class__ is _FUSED:
            return plan(p, a, r, c, store, entity)  # type: ignore[no-any-return]
        return prepared.run(bits, p, a, r, c, store)
    return prepared.decide(p, a, r, c, store)
