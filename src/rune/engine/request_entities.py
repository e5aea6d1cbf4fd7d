"""Entity data a request brings with it: attributes for one decision, over the store.

AuthZEN clients send `properties` with a subject, resource or action; Cedar sees them as
that entity's attributes for this one request. The merge rule: **the store wins**. A
property becomes an attribute only when the stored entity has no attribute of that name
(or when the entity is not in the store at all); a request can describe an entity the
store does not know, and add what the store does not say, but never contradict what an
administrator wrote. Parents, ancestors and tags always come from the store, so the
scope index computed over the store stays valid and a request cannot claim a group.

Rules (Datalog) read the store as written, not request properties: configuration,
obligations and rule denials of a request with properties are those of the stored
entities. Policies and the rules' request-scoped facts (`request`, `context*`) see the
request as usual.

`evaluate` decides over such a store without side effects (no decision cache, no rate
limit or budget consumed): the search functions use it, and `decide` builds the engine's
decision from it (approvals applied). What `decide` cannot do without an engine hook:
consume rate limits and budgets, since the engine keeps their windows privately. An
allow that a limit would meter is therefore refused (`rate-limit:unmetered`) rather than
let through unmetered; see the server's report for the hook that removes this.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rune.cedar import CedarRecord, Entity, EntityUID, Request, RequestError
from rune.cedar.errors import EvaluationError
from rune.cedar.json_format import value_from_json, value_to_json
from rune.engine.decision import Decision, Obligation, Verdict
from rune.errors import RuneError

if TYPE_CHECKING:
    from rune.engine.engine import Engine
    from rune.engine.snapshot import Snapshot

__all__ = ["EntityProperties", "RequestStore", "decide", "evaluate", "request_store"]

_ALLOW, _DENY, _ASK = Verdict.ALLOW, Verdict.DENY, Verdict.ASK
_EMPTY: Mapping[str, Any] = {}
_METERED = ("rate_limit", "budget")


@dataclass(frozen=True, slots=True)
class EntityProperties:
    """Attributes a request gives one entity: ``values`` in Cedar's JSON format (with
    `__entity`/`__extn` escapes), ``path`` the JSON path errors name."""

    uid: EntityUID
    values: Mapping[str, Any]
    path: str = "$"


class RequestStore(Mapping[EntityUID, Entity]):
    """The store of one request: the snapshot's entities, with a few replaced or added.

    Compiled policies read entities only through `get`, so this costs one extra lookup
    per entity read; it is built only for requests whose properties add something.
    """

    __slots__ = ("_base", "_extra")

    def __init__(self, base: Mapping[EntityUID, Entity], extra: Mapping[EntityUID, Entity]
                 ) -> None:
        self._base = base
        self._extra = extra

    def get(self, uid: EntityUID, default: Any = None) -> Any:  # type: ignore[override]
        found = self._extra.get(uid)
        if found is not None:
            return found
        return self._base.get(uid, default)

    def __getitem__(self, uid: EntityUID) -> Entity:
        found = self.get(uid)
        if found is None:
            raise KeyError(uid)
        return found  # type: ignore[no-any-return]

    def __contains__(self, uid: object) -> bool:
        return uid in self._extra or uid in self._base

    def __iter__(self) -> Iterator[EntityUID]:
        yield from self._base
        yield from (uid for uid in self._extra if uid not in self._base)

    def __len__(self) -> int:
        return len(self._base) + sum(1 for uid in self._extra if uid not in self._base)

    @property
    def extra(self) -> Mapping[EntityUID, Entity]:
        """The entities this request replaced or added."""
        return self._extra


def request_store(snapshot: Snapshot, properties: Sequence[EntityProperties]
                  ) -> RequestStore | None:
    """The store ``properties`` make for one request over ``snapshot``, or None when they
    add nothing (every property names an attribute the stored entity already has).

    Raises:
        RequestError: a property value Cedar cannot hold (with its JSON path), or, with a
            schema, an entity that does not conform to it.
    """
    base = snapshot.entities
    extra: dict[EntityUID, Entity] = {}
    for item in properties:
        stored = extra.get(item.uid) or base.get(item.uid)
        known = stored.attrs if stored is not None else _EMPTY
        added = {k: v for k, v in item.values.items() if k not in known}
        if not added:
            continue
        if snapshot.schema is not None:
            attrs = _schema_attrs(snapshot, item, stored, added)
            if attrs is None:
                continue
        else:
            attrs = CedarRecord(known)
            for name, value in added.items():
                try:
                    attrs[name] = value_from_json(value, f"{item.path}.{name}", RequestError)
                except RecursionError:
                    raise RequestError("a property is nested too deeply",
                                       code="nesting-too-deep", path=item.path) from None
        if stored is not None:
            extra[item.uid] = Entity(item.uid, attrs, stored.parent_uids, stored.tags,
                                     stored.ancestors)
        else:
            extra[item.uid] = Entity(item.uid, attrs, (), CedarRecord())
    if not extra:
        return None
    return RequestStore(base, extra)


def _schema_attrs(snapshot: Snapshot, item: EntityProperties, stored: Entity | None,
                  added: Mapping[str, Any]) -> CedarRecord | None:
    """With a schema: the declared properties, read as the schema types them, merged under
    the stored attributes (undeclared properties are ignored, as unknown fields are)."""
    schema = snapshot.schema
    assert schema is not None
    declared = schema.entity_types.get(item.uid.type)
    if declared is None:
        if item.uid.type == "Action" or item.uid.type.endswith("::Action"):
            return None  # actions have no attributes under a schema
        raise RequestError(f"entity type `{item.uid.type}` is not declared in the schema",
                           code="unknown-entity-type", path=item.path)
    names = declared.shape.attributes
    added = {k: v for k, v in added.items() if k in names}
    if not added:
        return None
    merged = {k: value_to_json(v) for k, v in (stored.attrs.items() if stored else ())}
    merged.update(added)
    entity = {"uid": {"type": item.uid.type, "id": item.uid.id}, "attrs": merged,
              "parents": [p.to_json() for p in (stored.parent_uids if stored else ())]}
    try:
        parsed = schema.parse_entities([entity])
    except RuneError as exc:
        message = exc.message
        raise RequestError(f"the properties do not conform to the schema: {message}",
                           code="invalid-properties", path=item.path) from None
    except RecursionError:
        raise RequestError("a property is nested too deeply", code="nesting-too-deep",
                           path=item.path) from None
    return parsed[0].attrs


def evaluate(snapshot: Snapshot, principal: EntityUID, action: EntityUID,
             resource: EntityUID, context: CedarRecord, store: Mapping[EntityUID, Any],
             *, now: float) -> Decision:
    """The decision the engine would make for this request over ``store`` (approvals of
    ``snapshot`` applied), without side effects: nothing is cached, counted or metered.

    ``store`` is ``snapshot.entities`` or a `RequestStore` over it: the scope index is
    computed over the snapshot's entities (a request store never changes ancestors).
    """
    request = Request.of(principal, action, resource, context)
    prepared = snapshot.prepared
    base = snapshot.entities
    bits = (prepared.principal.miss(principal, base, {})
            & prepared.action.miss(action, base, {})
            & prepared.resource.miss(resource, base, {}))
    permits: list[str] = []
    forbids: list[str] = []
    failures: list[tuple[str, str]] = []
    compiled = prepared.compiled
    while bits:
        low = bits & -bits
        bits ^= low
        policy = compiled[low.bit_length() - 1]
        try:
            if policy.condition(principal, action, resource, context, store):
                (forbids if policy.forbid else permits).append(policy.id)
        except EvaluationError as exc:
            failures.append((policy.id, exc.message))
        except Exception as exc:  # a policy that fails is skipped, as in the engine
            failures.append((policy.id, f"internal error: {exc!r}"))
    errors = tuple(f"{pid}: {message}" for pid, message in failures)
    allowed = bool(permits) and not forbids
    reason: tuple[str, ...] = tuple(forbids) if forbids else tuple(permits)
    config: Mapping[str, Any] = _EMPTY
    obligations: tuple[Obligation, ...] = ()
    denials: tuple[str, ...] = ()
    approvals: tuple[str, ...] = ()
    decided_at: float | None = None
    if snapshot.result is not None:
        decided_at = now
        try:
            config, obligations, denials, approvals = snapshot.request_rules.outputs(
                request, now)
        except Exception as exc:  # failed rules never allow
            return Decision(_DENY, () if allowed else reason, (*errors, f"rules: {exc}"),
                            _EMPTY, (), snapshot.version, request, snapshot, now)
    if not allowed:
        return Decision(_DENY, (*reason, *denials), errors, config, (), snapshot.version,
                        request, snapshot, decided_at)
    if denials:
        return Decision(_DENY, denials, errors, config, (), snapshot.version, request,
                        snapshot, decided_at)
    asks = snapshot.ask_policies
    if asks:
        approvals += tuple(f"approval:{asks[pid] or pid}" for pid in reason if pid in asks)
    if not approvals:
        return Decision(_ALLOW, reason, errors, config, obligations, snapshot.version,
                        request, snapshot, decided_at)
    expires = snapshot.approvals.get((principal, action, resource))
    if expires is not None and expires > now:
        reasons = (*(x for x in reason if not x.startswith("approval:")), "approved")
        return Decision(_ALLOW, reasons, errors, config, obligations, snapshot.version,
                        request, snapshot, decided_at)
    return Decision(_ASK, (*reason, *approvals), errors, config, obligations,
                    snapshot.version, request, snapshot, decided_at)


def decide(engine: Engine, principal: Any, action: Any, resource: Any,
           context: Mapping[str, Any] | None = None,
           properties: Sequence[EntityProperties] = ()) -> Decision:
    """`engine.authorize` for a request whose entities carry ``properties``.

    Without properties, or when they add nothing to the stored entities, this is
    `engine.authorize` itself (cache, metering and all). Otherwise the decision is
    `evaluate`'s over a `RequestStore`; an allow that a rate limit or budget would meter
    is denied with the reason `rate-limit:unmetered` (the engine's limit windows are not
    reachable from outside it).

    Raises:
        RequestError: an ill-formed uid, context or property.
    """
    if not properties:
        return engine.authorize(principal, action, resource, context)
    snapshot = engine.snapshot
    store = request_store(snapshot, properties)
    if store is None:
        return engine.authorize(principal, action, resource, context)
    schema = snapshot.schema
    request = (Request(principal, action, resource, context) if schema is None
               else Request(principal, action, resource, context, schema=schema))
    decision = evaluate(snapshot, request.principal, request.action, request.resource,
                        request.context, store, now=time.time())
    if decision.decision is _ALLOW and any(
            o.kind in _METERED and o.limit is not None for o in decision.obligations):
        return decision._replace(decision=_DENY, reasons=("rate-limit:unmetered",))
    return decision
