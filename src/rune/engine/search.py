"""Search: the subjects, resources or actions a request would be permitted for.

AuthZEN's search APIs ask "which users may read record 1?", "which records may alice
read?", "what may alice do to record 1?". The answer is exactly the entities of the
asked type (in the store) for which `rune.engine.request_entities.evaluate` gives
"allow": the full decision (Cedar, rules' denials, `@ask` without an approval), without
side effects (no rate limit is consumed by a search, so a metered action is listed).
Actions are those of type `Action` that the store holds (a schema's actions are there)
or that a policy's action scope names.

The scope index does most of the work: the fixed part of the request (the action and
resource of a subject search, say) gives a bitset of the policies that could apply;
when no permit is among them the answer is empty at once, and each candidate costs one
bitset lookup before any policy runs. Candidates are visited in id order, so a page
resumes after the last id it examined; each page examines and evaluates a bounded
number of candidates, so a search over a million entities never stalls the server (a
page may then hold fewer results than asked, with more to come).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rune.cedar import CedarRecord, EntityUID, Request, RequestError
from rune.cedar.json_format import value_from_json
from rune.engine.decision import Verdict
from rune.engine.request_entities import EntityProperties, evaluate, request_store

if TYPE_CHECKING:
    from rune.engine.snapshot import Snapshot

__all__ = ["MAX_EVALUATED", "MAX_EXAMINED", "SearchPage", "search", "search_actions"]

# Per page: candidates looked at (one bitset lookup each) and decisions evaluated. About
# 50 ms of work at most, so one search never holds the server for long.
MAX_EXAMINED = 100_000
MAX_EVALUATED = 5_000


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of a search: the permitted uids, and where the next page starts.

    ``resume_after`` is the id of the last candidate examined, or None when every
    candidate has been examined (the search is complete).
    """

    results: tuple[EntityUID, ...]
    resume_after: str | None


def search(snapshot: Snapshot, *, target: str, entity_type: str, principal: EntityUID | None,
           action: EntityUID, resource: EntityUID | None, context: Mapping[str, Any] | None,
           properties: Sequence[EntityProperties] = (),
           target_properties: Mapping[str, Any] | None = None, after: str | None = None,
           limit: int = 1000, now: float) -> SearchPage:
    """The entities of ``entity_type`` that, as the ``target`` (`"principal"` or
    `"resource"`) of this request, would be allowed.

    Args:
        properties: attributes the request gives its fixed entities (see
            `rune.engine.request_entities`).
        target_properties: attributes given to every candidate (the searched entity's
            own `properties`), or None.
        after: resume after this id (from a previous page's ``resume_after``).
        limit: at most this many results.

    Raises:
        RequestError: an ill-formed context or property (the same for every candidate).
    """
    if target not in ("principal", "resource"):
        raise ValueError(f"cannot search by `{target}`")
    candidates = _entities_of_type(snapshot, entity_type)
    prepared = snapshot.prepared
    base = snapshot.entities
    if target == "principal":
        assert resource is not None
        fixed = prepared.action.miss(action, base, {}) & prepared.resource.miss(
            resource, base, {})
        dimension = prepared.principal
    else:
        assert principal is not None
        fixed = prepared.principal.miss(principal, base, {}) & prepared.action.miss(
            action, base, {})
        dimension = prepared.resource
    return _scan(snapshot, candidates, after, limit, now, fixed, dimension, context,
                 properties, target_properties,
                 lambda uid: (uid, action, resource) if target == "principal"
                 else (principal, action, uid))


def search_actions(snapshot: Snapshot, *, principal: EntityUID, resource: EntityUID,
                   context: Mapping[str, Any] | None,
                   properties: Sequence[EntityProperties] = (), after: str | None = None,
                   limit: int = 1000, now: float) -> SearchPage:
    """The actions (type `Action`) ``principal`` would be allowed on ``resource``.

    Raises:
        RequestError: an ill-formed context or property.
    """
    prepared = snapshot.prepared
    base = snapshot.entities
    fixed = prepared.principal.miss(principal, base, {}) & prepared.resource.miss(
        resource, base, {})
    return _scan(snapshot, _actions(snapshot), after, limit, now, fixed, prepared.action,
                 context, properties, None, lambda uid: (principal, uid, resource))


def _scan(snapshot: Snapshot, candidates: Sequence[EntityUID], after: str | None,
          limit: int, now: float, fixed: int, dimension: Any,
          context: Mapping[str, Any] | None, properties: Sequence[EntityProperties],
          target_properties: Mapping[str, Any] | None, triple: Any) -> SearchPage:
    """Evaluate candidates in id order from ``after`` until ``limit`` results, the
    budget, or the end."""
    prepared = snapshot.prepared
    base = snapshot.entities
    schema = snapshot.schema
    parsed = _context(context) if schema is None else None
    store: Mapping[EntityUID, Any] = request_store(snapshot, properties) or base
    permits = 0
    for position, policy in enumerate(prepared.compiled):
        if not policy.forbid:
            permits |= 1 << position
    start = 0 if after is None else bisect.bisect_right(_Ids(candidates), after)
    if not fixed & permits or limit <= 0 or start >= len(candidates):
        return SearchPage((), None)  # no permit can apply to any candidate: done at once
    results: list[EntityUID] = []
    cache: dict[EntityUID, int] = {}
    evaluated = 0
    position = start
    end = min(len(candidates), start + MAX_EXAMINED)
    while position < end and len(results) < limit and evaluated < MAX_EVALUATED:
        uid = candidates[position]
        position += 1
        if not fixed & permits & dimension.miss(uid, base, cache):
            continue
        evaluated += 1
        p, a, r = triple(uid)
        if parsed is not None:
            c = parsed
        else:
            try:
                c = Request(p, a, r, context, schema=schema).context
            except RequestError:
                continue  # the schema does not admit this candidate in this request
        here = store
        if target_properties:
            here = request_store(snapshot, [*properties, EntityProperties(
                uid, target_properties, "$.properties")]) or base
        if evaluate(snapshot, p, a, r, c, here, now=now).decision is Verdict.ALLOW:
            results.append(uid)
    done = position >= len(candidates)
    return SearchPage(tuple(results), None if done else candidates[position - 1].id)


def _context(context: Mapping[str, Any] | None) -> CedarRecord:
    if not context:
        return CedarRecord()
    try:
        value = value_from_json(dict(context), "$.context", RequestError)
    except RecursionError:
        raise RequestError("context is nested too deeply", code="nesting-too-deep",
                           path="$.context") from None
    assert isinstance(value, CedarRecord)
    return value


class _Ids(Sequence[str]):
    """The ids of a sorted sequence of uids, for `bisect` (without copying them)."""

    __slots__ = ("_uids",)

    def __init__(self, uids: Sequence[EntityUID]) -> None:
        self._uids = uids

    def __getitem__(self, index: Any) -> Any:
        return self._uids[index].id

    def __len__(self) -> int:
        return len(self._uids)


# -- candidates, per version -------------------------------------------------------------

class _Candidates:
    """Entities by type (sorted by id) and the actions, of one snapshot."""

    __slots__ = ("actions", "by_type", "snapshot")

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        by_type: dict[str, list[EntityUID]] = {}
        for uid in snapshot.entities:
            by_type.setdefault(uid.type, []).append(uid)
        self.by_type = {t: tuple(sorted(uids, key=_id)) for t, uids in by_type.items()}
        actions = set(self.by_type.get("Action", ()))
        for policy in snapshot.prepared.policies:
            scope = policy.ast.action
            for uid in (scope.entity, *scope.entities):
                if isinstance(uid, EntityUID) and uid.type == "Action":
                    actions.add(uid)
        self.actions = tuple(sorted(actions, key=_id))


def _id(uid: EntityUID) -> str:
    return uid.id


_LOCK = threading.Lock()
_LATEST: list[_Candidates] = []  # the last snapshot's candidates (a new version replaces it)


def _candidates(snapshot: Snapshot) -> _Candidates:
    with _LOCK:
        for found in _LATEST:
            if found.snapshot is snapshot:
                return found
    made = _Candidates(snapshot)  # (outside the lock: a large store takes a while)
    with _LOCK:
        _LATEST[:] = [made, *_LATEST[:1]]  # the current and the previous version
    return made


def _entities_of_type(snapshot: Snapshot, entity_type: str) -> tuple[EntityUID, ...]:
    return _candidates(snapshot).by_type.get(entity_type, ())


def _actions(snapshot: Snapshot) -> tuple[EntityUID, ...]:
    return _candidates(snapshot).actions
