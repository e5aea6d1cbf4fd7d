"""`rune.Engine`: one versioned fact store read by Cedar policies and Datalog rules.

A decision merges both engines: Cedar decides allow/deny over the materialized entity
store (entities as written plus what rules derive); request-scoped rules derive the
configuration, obligations and extra deny reasons for this request; the engine turns an
allow into "ask" when approval is required and not yet given, and enforces rate limits
and budgets.

Writes build a complete new `Snapshot` and publish it with one reference assignment;
readers never block and never see a half-applied change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from rune.bundle.loader import named_policies
from rune.cedar import Entities, EntityUID, PolicySet, Request
from rune.cedar.decision import Decision as CedarDecision
from rune.cedar.index import FUSED_PLAN_TYPE as _FUSED
from rune.cedar.json_format import EntityData
from rune.cedar.request import _UID_CACHE, to_entity_uid
from rune.cedar.values import LONG_MAX as _LMAX
from rune.cedar.values import LONG_MIN as _LMIN
from rune.cedar.values import CedarRecord
from rune.engine.decision import Decision, Obligation, Verdict
from rune.engine.errors import EngineError
from rune.engine.limits import SlidingWindows
from rune.engine.snapshot import Snapshot, WrittenEntities

if TYPE_CHECKING:
    from rune.cedar.schema import Schema

__all__ = ["Engine"]

_EMPTY_CONFIG: Mapping[str, Any] = MappingProxyType({})
_ALLOW = CedarDecision.ALLOW
_ALLOW_V, _DENY_V, _ASK = Verdict.ALLOW, Verdict.DENY, Verdict.ASK
_new_decision = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path
_new_request = object.__new__  # Request's slots are set inline on the hot path
_CACHE_MAX = 1 << 12  # decisions kept per version (a hot working set, not a log)
_NO_RULE_OUTPUTS: tuple[Mapping[str, Any], tuple[Obligation, ...], tuple[str, ...],
                        tuple[str, ...]] = (_EMPTY_CONFIG, (), (), ())


class Engine:
    """Authorization (Cedar) and configuration (Datalog) over one versioned store.

    Args:
        policies: Cedar policy text.
        entities: entities in Cedar's JSON format (a list, or JSON text).
        rules: Datalog rules (Soufflé syntax) or None. The built-in relations of
            `rune.engine.prelude` are declared for you.
        schema: a Cedar schema (`Schema`, or human-readable schema text), or None.
        facts: extra input facts for the rules, by relation name.
        clock: seconds since the epoch (injectable for tests).

    Raises:
        RuneError: any of the inputs is invalid (every error with its location).
    """

    def __init__(
        self,
        policies: str = "",
        entities: Any = None,
        rules: str | None = None,
        schema: Schema | str | None = None,
        *,
        facts: Mapping[str, Iterable[Sequence[Any]]] | None = None,
        clock: Callable[[], float] = time.time,
        policy_file: str | None = None,
        rules_file: str | None = None,
    ) -> None:
        parsed_schema = _schema(schema)
        snapshot = _build(
            version=1,
            policies=named_policies(PolicySet.from_str(policies, file=policy_file)),
            schema=parsed_schema,
            entities=_entity_data(entities, parsed_schema),
            facts=_facts(facts),
            rules=_program(rules, rules_file),
            approvals={},
        )
        self._start(snapshot, clock, source=None, approval_ttl=3600.0)

    def _start(self, snapshot: Snapshot, clock: Callable[[], float], *, source: Path | None,
               approval_ttl: float) -> None:
        """The engine's mutable state, shared by both constructors."""
        self._clock = clock
        self._write_lock = threading.Lock()
        self._limits = SlidingWindows()
        self._source = source
        self._approval_ttl = approval_ttl
        # Per version: the decision cache, and the principals seen (see `authorize`).
        self._cache: tuple[Snapshot | None, dict[tuple[str, str, str], Any],
                           dict[str, tuple[Any, int, Any]]] = (None, {}, {})
        self._snapshot = snapshot

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, clock: Callable[[], float] = time.time) -> Engine:
        """Load a bundle directory (see `rune.bundle`)."""
        from rune.bundle import load_bundle

        bundle = load_bundle(path)
        engine = cls.__new__(cls)
        snapshot = _build(
            version=1, policies=bundle.policies, schema=bundle.schema,
            entities=bundle.entities, facts=bundle.facts, rules=bundle.rules, approvals={},
        )
        engine._start(snapshot, clock, source=Path(path),
                      approval_ttl=bundle.settings.approval_ttl_seconds)
        return engine

    def reload(self) -> int:
        """Reload the bundle this engine was loaded from and publish it atomically.

        Raises:
            RuneError: the bundle has errors (all of them); the running version stays.
        """
        from rune.bundle import load_bundle

        if self._source is None:
            raise EngineError("this engine was not loaded from a bundle", code="no-bundle")
        bundle = load_bundle(self._source)
        self._approval_ttl = bundle.settings.approval_ttl_seconds
        with self._write_lock:
            current = self._snapshot
            snapshot = _build(
                version=current.version + 1, policies=bundle.policies, schema=bundle.schema,
                entities=bundle.entities, facts=_merge_history(bundle.facts, current.facts),
                rules=bundle.rules, approvals=dict(current.approvals),
            )
            self._snapshot = snapshot
            self._cache = (snapshot, {}, {})
        return snapshot.version

    # -- reading ---------------------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        """The current version (immutable)."""
        return self._snapshot

    @property
    def version(self) -> int:
        """The current version number."""
        return self._snapshot.version

    def authorize(self, principal: Any, action: Any, resource: Any,
                  context: Mapping[str, Any] | None = None) -> Decision:
        """Decide one request (uids as `'Type::"id"'`, `{"type", "id"}` or `EntityUID`).

        Never raises for a well-formed request: evaluation problems are reported in
        `Decision.errors` and never yield allow.

        Raises:
            RequestError: an ill-formed uid or context.
        """
        snap = self._snapshot
        owner, cache, principals = self._cache
        if owner is not snap:
            # INVARIANT: the caches serve only the version they were filled from.
            cache = {}
            principals = {}
            self._cache = (snap, cache, principals)
        triple: Any = None
        if snap.cacheable:
            # The cache keeps the last decision per (principal, action, resource) for the
            # current version; it serves a request whose context is the same, value by value
            # and type by type (Python says `True == 1`, Cedar does not). Uids given as
            # dicts are unhashable: those requests are decided afresh.
            triple = (principal, action, resource)
            try:
                cached = cache.get(triple)
            except TypeError:
                cached = triple = None
            if cached is not None and _same_context(context, cached[6]._c):
                if cached[4] or cached[0] is _ASK:
                    return self._enforce(cached, snap)
                return cached  # type: ignore[no-any-return]
        if snap.plain:
            # Hot path: Cedar alone decides (no rules, no `@ask`, no schema). The request
            # is built inline (a nested context takes `Request`'s full parse) and, as in
            # `rune.cedar.authorize`, a fused plan runs without `decide`.
            prepared = snap.prepared
            store = snap.entities._by_uid
            # The principal, by the text the caller gave: its uid, its scope bitset and
            # its entity in one lookup (agents are many; each lookup saved is a cache
            # miss saved). Per version, like the decision cache.
            try:
                seen = principals.get(principal)
            except TypeError:  # a dict uid
                seen = None
            if seen is None:
                seen = self._principal(snap, principal, principals)
            p, pbits, entity = seen
            uids = _UID_CACHE
            a: Any
            r: Any
            try:
                a = uids.get(action)
            except TypeError:
                a = None
            if a is None:
                a = to_entity_uid(action, "$.action")
            try:
                r = uids.get(resource)
            except TypeError:
                r = None
            if r is None:
                r = to_entity_uid(resource, "$.resource")
            c: Any = None
            if context is None:
                c = CedarRecord()
            elif context.__class__ is dict:
                for v in context.values():  # type: ignore[union-attr]
                    k = v.__class__
                    if k is int:
                        if _LMIN <= v <= _LMAX:
                            continue
                    elif k is str or k is bool:
                        continue
                    break
                else:
                    c = CedarRecord(context)
            if c is None:  # a nested context (or not a dict): the full parse
                request = Request(p, a, r, context)
                c = request._c
            else:
                request = _new_request(Request)
                request._p = p
                request._a = a
                request._r = r
                request._c = c
            response: Any = None
            caches = prepared._caches  # read once: (store, ...) as one consistent whole
            if caches[0] is store:
                # As `PreparedPolicySet.decide`, written out (first sightings included).
                _, _, ac, rc, _ = caches
                b = ac.get(a)
                if b is None:
                    b = prepared.action.miss(a, store, ac)
                b2 = rc.get(r)
                if b2 is None:
                    b2 = prepared.resource.miss(r, store, rc)
                plan: Any = prepared._plans.get(pbits & b & b2)
                if plan.__class__ is _FUSED:
                    response = plan(p, a, r, c, store, entity)
            if response is None:
                response = prepared.decide(p, a, r, c, store)
            if response[2]:
                decision = self._decide(snap, request)
            else:
                decision = _new_decision(Decision, (
                    _ALLOW_V if response[0] is _ALLOW else _DENY_V, response[1], (),
                    _EMPTY_CONFIG, (), snap.version, request, snap, None))
            if triple is not None:
                if len(cache) >= _CACHE_MAX:
                    cache.clear()
                cache[triple] = decision
            return decision  # type: ignore[no-any-return]
        schema = snap.schema
        request = (Request(principal, action, resource, context) if schema is None
                   else Request(principal, action, resource, context, schema=schema))
        decision = self._decide(snap, request)
        if triple is not None:
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[triple] = decision
        if decision[4] or decision[0] is _ASK:
            return self._enforce(decision, snap)
        return decision

    def authorize_batch(
        self, requests: Iterable[Sequence[Any]]
    ) -> list[Decision]:
        """Decide many `(principal, action, resource[, context])` requests."""
        out = []
        for item in requests:
            context = item[3] if len(item) > 3 else None
            out.append(self.authorize(item[0], item[1], item[2], context))
        return out

    def query(self, text: str) -> list[tuple[Any, ...]]:
        """Tuples of a relation on the current version, e.g. `config(k, v)` or
        `derived_parent("Agent::\\"a1\\"", p)`: quoted strings and numbers are bound,
        identifiers and `_` are free.

        Raises:
            EngineError: the query does not parse, or names an unknown relation.
        """
        snap = self._snapshot
        relation, pattern = _parse_query(text)
        if snap.result is None:
            raise EngineError("no rules are loaded", code="no-rules")
        if relation not in snap.rules.relation_names:
            raise EngineError(f"unknown relation `{relation}`", code="unknown-relation")
        if len(pattern) != snap.rules.arity(relation):
            raise EngineError(
                f"`{relation}` has {snap.rules.arity(relation)} columns, the query {len(pattern)}",
                code="arity-mismatch")
        return sorted(snap.result.query(relation, pattern))

    # -- writing ---------------------------------------------------------------------------
    def write(
        self,
        *,
        entities: Any = None,
        remove_entities: Iterable[Any] = (),
        facts: Mapping[str, Iterable[Sequence[Any]]] | None = None,
        retract: Mapping[str, Iterable[Sequence[Any]]] | None = None,
    ) -> int:
        """Apply a change and publish it as a new version; returns the version number.

        ``entities`` are added or replaced (Cedar JSON format); ``remove_entities`` are
        uids to delete; ``facts``/``retract`` add and remove rule input facts.

        Raises:
            RuneError: the change is invalid; nothing is published.
        """
        with self._write_lock:
            current = self._snapshot
            data = dict(current.entity_data)
            for uid in remove_entities:
                data.pop(to_entity_uid(uid, "$.remove_entities"), None)
            if entities is not None:
                for item in _entity_data(entities, current.schema).values():
                    data[item.uid] = item
            new_facts = {k: set(v) for k, v in current.facts.items()}
            for name, rows in (facts or {}).items():
                new_facts.setdefault(name, set()).update(tuple(r) for r in rows)
            for name, rows in (retract or {}).items():
                new_facts.get(name, set()).difference_update(tuple(r) for r in rows)
            return self._publish(current, entity_data=data,
                                 facts={k: frozenset(v) for k, v in new_facts.items()})

    def record(self, principal: Any, action: Any, resource: Any, *,
               at: float | None = None, amount: int | None = None) -> int:
        """Record that an agent performed an action (and spent ``amount``), as
        timestamped `performed`/`spent` facts rules can count within time windows."""
        from rune.store.mapping import uid_text

        p = uid_text(to_entity_uid(principal, "$.principal"))
        a = uid_text(to_entity_uid(action, "$.action"))
        r = uid_text(to_entity_uid(resource, "$.resource"))
        ts = int(self._clock() if at is None else at)
        with self._write_lock:
            current = self._snapshot
            seq = 1 + max((row[-1] for name in ("performed", "spent")
                           for row in current.facts.get(name, ())), default=0)
            new_facts = dict(current.facts)
            new_facts["performed"] = new_facts.get("performed", frozenset()) | {(p, a, r, ts, seq)}
            if amount is not None:
                new_facts["spent"] = new_facts.get("spent", frozenset()) | {
                    (p, int(amount), ts, seq)}
            return self._publish(current, facts=new_facts)

    def approve(self, principal: Any, action: Any, resource: Any, *,
                ttl_seconds: float | None = None) -> int:
        """Record a human approval for exactly this (principal, action, resource); an
        "ask" decision for it becomes "allow" until the approval expires (after
        ``ttl_seconds``, by default the bundle's `approval_ttl_seconds`, else an hour).

        An approval covers the (principal, action, resource) triple whatever the context;
        rules that need a narrower approval can require one per distinct resource."""
        if ttl_seconds is None:
            ttl_seconds = self._approval_ttl
        key = (to_entity_uid(principal, "$.principal"), to_entity_uid(action, "$.action"),
               to_entity_uid(resource, "$.resource"))
        with self._write_lock:
            current = self._snapshot
            approvals = dict(current.approvals)
            approvals[key] = self._clock() + ttl_seconds
            return self._publish(current, approvals=approvals)

    def _release(self, taken: list[tuple[str, int]], now: float) -> None:
        for key, amount in taken:
            self._limits.release(key, now, amount)

    def _publish(self, current: Snapshot, **changes: Any) -> int:
        snapshot = _build(
            version=current.version + 1,
            policies=current.policies,
            schema=current.schema,
            entities=changes.get("entity_data", current.entity_data),
            facts=changes.get("facts", current.facts),
            rules=current.rules,
            approvals=changes.get("approvals", current.approvals),
        )
        # INVARIANT: publishing is this single assignment; readers that already hold the
        # previous snapshot keep using it, new readers see the whole new version.
        self._snapshot = snapshot
        self._cache = (snapshot, {}, {})  # drop the old version's decisions with it
        return snapshot.version

    # -- deciding --------------------------------------------------------------------------
    @staticmethod
    def _principal(snap: Snapshot, principal: Any, principals: dict[str, Any]
                   ) -> tuple[EntityUID, int, Any]:
        """(uid, principal scope bitset, entity or None) for a principal not yet seen in
        this version; remembered when given as text."""
        uid = to_entity_uid(principal, "$.principal")
        seen = snap.prepared.principal_entry(uid, snap.entities._by_uid)
        if principal.__class__ is str:
            if len(principals) >= _CACHE_MAX * 16:
                principals.clear()
            principals[principal] = seen
        return seen

    def _decide(self, snap: Snapshot, request: Request) -> Decision:
        p, a, r, c = request._p, request._a, request._r, request._c
        response = snap.prepared.decide(p, a, r, c, snap.entities._by_uid)
        if snap.result is None and not response[2]:
            # Fast path: no rules and no policy errors (the common case on the hot path).
            reason = response[1]
            if response[0] is _ALLOW:
                asks = snap.ask_policies
                if not asks or not any(pid in asks for pid in reason):
                    return _new_decision(Decision, (_ALLOW_V, reason, (), _EMPTY_CONFIG, (),
                                                    snap.version, request, snap, None))
            else:
                return _new_decision(Decision, (_DENY_V, reason, (), _EMPTY_CONFIG, (),
                                                snap.version, request, snap, None))
        reason = response.reason
        errors = tuple(f"{e.policy_id}: {e.message}" for e in response.errors) \
            if response.errors else ()
        allowed = response.decision is _ALLOW
        now: float | None = None
        config, obligations, denials, approvals = _NO_RULE_OUTPUTS
        if snap.result is not None:
            now = self._clock()
            try:
                config, obligations, denials, approvals = snap.request_rules.outputs(request,
                                                                                    now)
            except Exception as exc:
                # Failed rules never allow; only Cedar's own deny reasons are kept.
                return _new_decision(Decision, (
                    _DENY_V, () if allowed else tuple(reason), (*errors, f"rules: {exc}"),
                    _EMPTY_CONFIG, (), snap.version, request, snap, now))
        if not allowed:
            verdict, reasons, obligations = _DENY_V, (*reason, *denials), ()
        elif denials:
            verdict, reasons, obligations = _DENY_V, denials, ()  # obligations bind allows
        else:
            asks = snap.ask_policies
            if asks:
                approvals += tuple(f"approval:{asks[pid] or pid}" for pid in reason
                                   if pid in asks)
            if approvals:
                verdict, reasons = _ASK, (*reason, *approvals)
            else:
                verdict, reasons = _ALLOW_V, tuple(reason)
        return _new_decision(Decision, (verdict, reasons, errors, config, obligations,
                                        snap.version, request, snap, now))

    def _enforce(self, decision: Decision, snap: Snapshot) -> Decision:
        """Apply approvals, rate limits and budgets to a computed decision."""
        now = self._clock()
        verdict = decision[0]
        reasons: tuple[str, ...] | None = None  # None: the decision's own
        if verdict is _ASK:
            req = decision[6]
            expires = snap.approvals.get((req[0], req[1], req[2]))
            if expires is None or expires <= now:
                return decision
            verdict = _ALLOW_V
            reasons = (*(x for x in decision[1] if not x.startswith("approval:")), "approved")
        if verdict is _ALLOW_V:
            # All or nothing: a request one limit refuses consumes no other limit.
            taken: list[tuple[str, int]] = []
            for ob in decision[4]:
                kind = ob.kind
                if ob.limit is None or (kind != "rate_limit" and kind != "budget"):
                    continue
                if kind == "rate_limit":
                    key, amount, label = f"rate:{ob.key}", 1, "rate-limit"
                else:
                    key, amount, label = f"budget:{ob.key}", ob.amount or 0, "budget"
                    if amount < 0:  # a negative amount would refund the window
                        self._release(taken, now)
                        return decision._replace(
                            decision=_DENY_V, reasons=(f"budget:{ob.key}:negative-amount",))
                if not self._limits.try_acquire(key, ob.limit, ob.window_seconds or 0, now,
                                                amount):
                    self._release(taken, now)
                    # The obligations stay: they say which limit refused the request.
                    return decision._replace(decision=_DENY_V, reasons=(f"{label}:{ob.key}",))
                taken.append((key, amount))
        if reasons is None:
            return decision  # allowed within every limit: nothing to change
        return decision._replace(decision=verdict, reasons=reasons)


# -- building versions ------------------------------------------------------------------------

def _program(rules: str | None, file: str | None) -> Any:
    if rules is None or not rules.strip():
        return None
    from rune.datalog import Program
    from rune.engine.prelude import prelude

    return Program.parse(rules + "\n" + prelude(), file=file)


def _schema(schema: Schema | str | None) -> Schema | None:
    if not isinstance(schema, str):
        return schema
    from rune.cedar.schema import Schema  # only engines with a schema import it

    return Schema.from_str(schema)


def _entity_data(entities: Any, schema: Schema | None) -> dict[EntityUID, EntityData]:
    """Entities as written (Cedar JSON: a list or its text), by uid."""
    if entities is None:
        return {}
    return {item.uid: item for item in Entities.parse_json(entities, schema)}


def _facts(facts: Mapping[str, Iterable[Sequence[Any]]] | None
           ) -> dict[str, frozenset[tuple[Any, ...]]]:
    return {k: frozenset(tuple(r) for r in v) for k, v in (facts or {}).items()}


def _merge_history(facts: Mapping[str, frozenset[tuple[Any, ...]]],
                   current: Mapping[str, frozenset[tuple[Any, ...]]]
                   ) -> dict[str, frozenset[tuple[Any, ...]]]:
    from rune.engine.prelude import HISTORY_RELATIONS

    merged = dict(facts)
    for name in HISTORY_RELATIONS:
        if name in current:
            merged[name] = merged.get(name, frozenset()) | current[name]
    return merged


def _depends_on(program: Any, roots: Iterable[str]) -> set[str]:
    """Relations that depend (transitively) on any of ``roots``."""
    from rune.datalog.analysis.dependencies import clause_dependencies

    edges: dict[str, set[str]] = {}
    for rule in program.analysed.rules:
        for dep in clause_dependencies(rule.clause):
            edges.setdefault(dep.body, set()).add(dep.head)
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        for head in edges.get(stack.pop(), ()):
            if head not in seen:
                seen.add(head)
                stack.append(head)
    return seen


def _build(*, version: int, policies: PolicySet, schema: Schema | None,
           entities: Mapping[EntityUID, EntityData],
           facts: Mapping[str, frozenset[tuple[Any, ...]]], rules: Any,
           approvals: Mapping[Any, float]) -> Snapshot:
    """Evaluate the rules over the store, materialize derived entity data, compile."""
    result = None
    request_scoped = False
    cacheable = True
    materialized: Mapping[EntityUID, EntityData] = entities
    if rules is not None:
        # Only engines with rules import the rules' plumbing.
        from rune.engine.prelude import HISTORY_RELATIONS, REQUEST_RELATIONS
        from rune.engine.request_rules import RequestRules
        from rune.store.mapping import entity_facts

        request_dependent = _depends_on(rules, REQUEST_RELATIONS)
        derived_names = {"derived_parent", "derived_attr", "derived_attr_num", "derived_tag"}
        bad = sorted(derived_names & request_dependent)
        if bad:
            raise EngineError(
                f"`{bad[0]}` depends on the request: entity data derived by rules must not "
                "read `request`, `context` or `now`", code="request-dependent-entity-data")
        request_scoped = bool(request_dependent)
        time_dependent = _depends_on(rules, ("now", *HISTORY_RELATIONS))
        cacheable = not (request_dependent & time_dependent)
        inputs: dict[str, list[tuple[Any, ...]]] = dict(entity_facts(entities.values()))
        for name, rows in facts.items():
            inputs.setdefault(name, []).extend(rows)
        result = rules.evaluate(inputs)
        materialized = _materialize(entities, result)
    store = _entities(materialized, schema)
    return Snapshot(
        version=version, policies=policies, prepared=policies.prepared(), schema=schema,
        entity_data=_written(entities, store, exact=schema is None and rules is None),
        entities=store,
        facts=MappingProxyType(dict(facts)), rules=rules, result=result,
        approvals=MappingProxyType(dict(approvals)), request_scoped=request_scoped,
        cacheable=cacheable,
        request_rules=None if result is None else RequestRules(result, request_scoped),
        ask_policies=MappingProxyType({
            p.id: p.annotations["ask"] for p in policies if "ask" in p.annotations}),
    )


def _written(entities: Mapping[EntityUID, EntityData], store: Entities, *, exact: bool
             ) -> WrittenEntities:
    """The entities as written, read through ``store`` where it holds the same data
    (``exact``: the store was built from exactly these entities)."""
    if exact:
        return WrittenEntities(store)
    # Rules derive data and a schema adds its action entities: keep what differs.
    differs: dict[EntityUID, EntityData | None] = {}
    for uid, entity in store._by_uid.items():
        data = entities.get(uid)
        if data is None or data != entity.data():
            differs[uid] = data
    return WrittenEntities(store, differs)


def _entities(data: Mapping[EntityUID, EntityData], schema: Schema | None) -> Entities:
    if schema is None:
        return Entities.from_data(data.values())
    # With a schema, the materialized entities (derived data included) must conform.
    items = [{"uid": d.uid.to_json(), "attrs": _json_record(d.attrs),
              "parents": [p.to_json() for p in d.parents], "tags": _json_record(d.tags)}
             for d in data.values()]
    return Entities.from_json(items, schema=schema)


def _json_record(record: CedarRecord) -> dict[str, Any]:
    from rune.cedar.json_format import value_to_json

    return {k: value_to_json(v) for k, v in record.items()}


def _materialize(entities: Mapping[EntityUID, EntityData], result: Any
                 ) -> dict[EntityUID, EntityData]:
    """Entities as written plus the parents, attributes and tags rules derived."""
    from rune.store.mapping import parse_uid_text

    parents: dict[EntityUID, set[EntityUID]] = {}
    attrs: dict[EntityUID, dict[str, Any]] = {}
    tags: dict[EntityUID, dict[str, Any]] = {}

    def uid_of(text: str, relation: str) -> EntityUID:
        uid = parse_uid_text(text)
        if uid is None:
            raise EngineError(f"`{relation}` names `{text}`, which is not an entity uid "
                              "(write it as Type::\"id\")", code="invalid-derived-uid")
        return uid

    def put(target: dict[EntityUID, dict[str, Any]], uid: EntityUID, name: str, value: Any,
            relation: str) -> None:
        slot = target.setdefault(uid, {})
        if name in slot and slot[name] != value:
            raise EngineError(f"`{relation}` derives two values for `{uid}`.{name}",
                              code="conflicting-derived-value")
        slot[name] = value

    for child, parent in result["derived_parent"]:
        parents.setdefault(uid_of(child, "derived_parent"), set()).add(
            uid_of(parent, "derived_parent"))
    for uid, name, value in result["derived_attr"]:
        parsed = parse_uid_text(value)
        put(attrs, uid_of(uid, "derived_attr"), name, parsed if parsed is not None else value,
            "derived_attr")
    for uid, name, value in result["derived_attr_num"]:
        put(attrs, uid_of(uid, "derived_attr_num"), name, value, "derived_attr_num")
    for uid, key, value in result["derived_tag"]:
        put(tags, uid_of(uid, "derived_tag"), key, value, "derived_tag")
    if not (parents or attrs or tags):
        return dict(entities)
    out = dict(entities)
    for uid in set(parents) | set(attrs) | set(tags):
        base = out.get(uid) or EntityData(uid, CedarRecord(), (), CedarRecord())
        new_attrs = CedarRecord(base.attrs)
        for name, value in attrs.get(uid, {}).items():
            if name in base.attrs and base.attrs[name] != value:
                raise EngineError(f"rules derive `{uid}`.{name}, which the entity already "
                                  "sets to another value", code="conflicting-derived-value")
            new_attrs[name] = value
        new_tags = CedarRecord(base.tags)
        new_tags.update(tags.get(uid, {}))
        new_parents = tuple(dict.fromkeys((*base.parents, *sorted(parents.get(uid, ())))))
        out[uid] = EntityData(uid, new_attrs, new_parents, new_tags)
    return out


_ABSENT = object()


def _same_context(context: Mapping[str, Any] | None, record: CedarRecord) -> bool:
    """Whether ``context`` is the context a cached decision was made for: same keys, and
    values of the same class that compare equal (nested values never match: a request
    with them is decided afresh)."""
    if not context:
        return not record
    if len(context) != len(record):
        return False
    for key, value in context.items():
        seen = record.get(key, _ABSENT)
        if seen.__class__ is not value.__class__ or seen != value:
            return False
    return True


def _parse_query(text: str) -> tuple[str, tuple[Any, ...]]:
    import re

    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*\.?\s*", text, re.S)
    if m is None:
        raise EngineError(f"cannot parse query `{text}`: write `relation(arg, ...)`",
                          code="invalid-query")
    relation, body = m.group(1), m.group(2)
    args: list[Any] = []
    for token in re.finditer(r'\s*("(?:[^"\\]|\\.)*"|-?\d+|[A-Za-z_][A-Za-z0-9_]*)\s*(,|$)',
                             body):
        item = token.group(1)
        if item.startswith('"'):
            args.append(item[1:-1])  # escapes kept, as in a rule's string literal
        elif item.lstrip("-").isdigit():
            args.append(int(item))
        else:
            args.append(None)
    if body.strip() and not args:
        raise EngineError(f"cannot parse query `{text}`", code="invalid-query")
    return relation, tuple(args)
