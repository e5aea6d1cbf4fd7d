"""`rune.Engine`: one versioned fact store read by Cedar policies and Datalog rules.

A decision merges both engines: Cedar decides allow/deny over the materialized entity
store (entities as written plus what rules derive); request-scoped rules derive the
configuration, obligations and extra deny reasons for this request; the engine turns an
allow into "ask" when approval is required and not yet given, and enforces rate limits
and budgets.

Writes are deltas (`rune.engine.writes`): a write, record or approval becomes a batch
of changes, applied to the current `Snapshot` incrementally and published with one
reference assignment; readers never block and never see a half-applied change. With a
state file (or any `rune.store.ChangeLog`), each batch is stored before the call
returns, and replayed over the bundle when the engine starts again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from rune.bundle.loader import named_policies
from rune.bundle.settings import Settings
from rune.cedar import Entities, EntityUID, PolicySet, Request
from rune.cedar.decision import Decision as CedarDecision
from rune.cedar.index import FUSED_PLAN_TYPE as _FUSED
from rune.cedar.json_format import EntityData
from rune.cedar.request import _UID_CACHE, _plain_record, to_entity_uid, uid_from_text
from rune.cedar.values import LONG_MAX as _LMAX
from rune.cedar.values import LONG_MIN as _LMIN
from rune.cedar.values import CedarRecord, intern_uid
from rune.engine.build import build_snapshot
from rune.engine.decision import Decision, Obligation, Verdict
from rune.engine.errors import EngineError
from rune.engine.limits import SlidingWindows
from rune.engine.snapshot import Snapshot
from rune.engine.transaction import Transaction
from rune.errors import RuneError, shown

if TYPE_CHECKING:
    from rune.bundle.loader import Bundle
    from rune.cedar.schema import Schema
    from rune.engine.history import Retention
    from rune.engine.limits import Limiter
    from rune.engine.writes import Impact
    from rune.guarding import Guarded
    from rune.store.changelog import ChangeLog, LogEntry
    from rune.store.changes import Change, Record
    from rune.store.overlay import Overlay

__all__ = ["Engine", "RuntimeErrors"]


def _warn(message: str, *args: object) -> None:
    """Log a warning to the `rune.engine` logger (imported on first use: most processes
    never warn, and a hook process pays for every import)."""
    import logging

    logging.getLogger("rune.engine").warning(message, *args)


@dataclass(frozen=True, slots=True)
class RuntimeErrors:
    """Evaluation failures an engine has seen (see `Engine.runtime_errors`)."""

    policies: Mapping[str, int]  # policy id -> decisions in which it failed
    rules: int  # decisions in which the request rules failed

_EMPTY_CONFIG: Mapping[str, Any] = MappingProxyType({})
_ALLOW = CedarDecision.ALLOW
_ALLOW_V, _DENY_V, _ASK = Verdict.ALLOW, Verdict.DENY, Verdict.ASK
_new_decision = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path
_new_request = object.__new__  # Request's slots are set inline on the hot path
_CACHE_MAX = 1 << 12  # decisions kept per version (a hot working set, not a log)
_NO_RULE_OUTPUTS: tuple[Mapping[str, Any], tuple[Obligation, ...], tuple[str, ...],
                        tuple[str, ...]] = (_EMPTY_CONFIG, (), (), ())
_HISTORY = ("performed", "spent")  # rune.store.prelude.HISTORY_RELATIONS, not imported


class Engine:
    """Authorization (Cedar) and configuration (Datalog) over one versioned store.

    Args:
        policies: Cedar policy text.
        entities: entities in Cedar's JSON format (a list, or JSON text).
        rules: Datalog rules (Soufflé syntax) or None. The built-in relations of
            `rune.store.prelude` are declared for you.
        schema: a Cedar schema (`Schema`, or human-readable schema text), or None.
        facts: extra input facts for the rules, by relation name.
        clock: seconds since the epoch (injectable for tests).
        settings: what a bundle's `rune.toml` sets (`rune.bundle.Settings`: approval
            lifetime, history retention, state sync, limits); defaults when None.
        state: where acknowledged writes are kept: a path to a SQLite state file
            (created when missing), any `rune.store.ChangeLog`, or None (the settings'
            `state_path`, else in memory). What it holds is replayed over these inputs.
        name: the name a state file is bound to (a file made for another name is
            refused).

    Raises:
        RuneError: any of the inputs is invalid (every error with its location), or the
            state cannot be used.
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
        settings: Settings | None = None,
        state: str | os.PathLike[str] | ChangeLog | None = None,
        name: str = "rune",
    ) -> None:
        if not isinstance(policies, str):
            raise TypeError(f"`policies` must be Cedar policy text (str), not "
                            f"{type(policies).__name__}")
        if settings is None:
            settings = Settings()
        elif not isinstance(settings, Settings):
            raise TypeError(f"`settings` must be a rune.bundle.Settings or None, not "
                            f"{type(settings).__name__}")
        parsed_schema = _schema(schema)
        program = _program(rules, rules_file)
        self._bundle: Any = None  # what `load` read, for `reload` to take parts from
        self._base = _Base(
            policies=named_policies(PolicySet.from_str(policies, file=policy_file)),
            schema=parsed_schema,
            entities=_entity_data(entities, parsed_schema),
            facts=_facts(facts, program),
            rules=program,
        )
        self._start(clock, source=None, state=state, name=name, settings=settings)

    def _start(self, clock: Callable[[], float], *, source: Path | None, state: Any,
               name: str, settings: Settings) -> None:
        """The engine's mutable state, shared by both constructors: open the state, replay
        it over the base, build the first version."""
        self._clock = clock
        self._write_lock = threading.Lock()
        self._limits: Limiter = SlidingWindows()
        self._source = source
        self._settings = settings
        self._errors_lock = threading.Lock()
        self._policy_errors: dict[str, int] = {}
        self._rule_errors = 0
        # Per version: the decision cache, and the principals seen (see `authorize`).
        self._cache: tuple[Snapshot | None, dict[tuple[str, str, str], Any],
                           dict[str, tuple[Any, int, Any]]] = (None, {}, {})
        if state is None:
            state = settings.state_path
        self._log: ChangeLog | None = _open_log(state, str(settings.state_sync), name)
        self._overlay: Overlay | None = None  # created by the first write or replay
        # A shared log (`share`): writes go through it and come back by `apply_entries`.
        self._shared: ChangeLog | None = None
        self._apply_timeout = 10.0
        self._applied = threading.Condition(self._write_lock)
        self._refused: dict[int, RuneError] = {}  # position -> why the batch was skipped
        self._retention: Retention | None = None  # created by the first record
        self._history_base: list[tuple[str, tuple[Any, ...]]] = []
        try:
            if self._log is not None:
                self._replay(self._log)
            # The position of the last batch applied (a shared log's, see `share`).
            self._position: int = int(getattr(self._log, "position", 0) or 0)
            self._snapshot = self._build(version=1)
        except BaseException:
            self.close()
            raise

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, clock: Callable[[], float] = time.time,
             state: str | os.PathLike[str] | ChangeLog | None = None) -> Engine:
        """Load a bundle directory (see `rune.bundle`).

        ``state`` overrides the bundle's `[state] path` (relative to the bundle there); the
        state is bound to the bundle's name (`[bundle] name`, else the directory's name).
        """
        from rune.bundle import load_bundle

        return cls.from_bundle(load_bundle(path), clock=clock, state=state)

    @classmethod
    def from_bundle(cls, bundle: Bundle, *, clock: Callable[[], float] = time.time,
                    state: str | os.PathLike[str] | ChangeLog | None = None) -> Engine:
        """An engine on a bundle already loaded (`rune.bundle.load_bundle`, or a compiled
        copy from `rune.bundle.cache`), as `load` makes one: `reload` reads the bundle's
        path again, and ``state`` is as for `load`."""
        engine = cls.__new__(cls)
        engine._bundle = bundle
        engine._base = _Base(policies=bundle.policies, schema=bundle.schema,
                             entities=bundle.entities, facts=bundle.facts, rules=bundle.rules)
        engine._start(clock, source=Path(bundle.path), state=state,
                      name=_bundle_name(bundle), settings=bundle.settings)
        return engine

    def reload(self, source: str | Path | None = None) -> int:
        """Reload the bundle this engine was loaded from and publish it atomically.

        Everything written through the engine (entities, facts, records, approvals)
        stays, applied over the new bundle as over the old one.

        A reload costs what changed: files whose text did not change are not parsed
        again, policies whose text did not change are not compiled again, unchanged
        rules keep their compiled program, and when neither the rules nor the data
        (schema, entities, facts) changed, the rules' result and the entity store of the
        running version are kept (see `rune.bundle._reuse`). The new version is what a
        fresh load of the bundle with the same writes would give.

        Args:
            source: another bundle to load instead (it becomes the engine's bundle); by
                default the one the engine was loaded from.

        Raises:
            RuneError: the bundle has errors (all of them), or the writes no longer apply
                to it; the running version stays.
        """
        from rune.bundle import load_bundle

        if source is None and self._source is None:
            raise EngineError("this engine was not loaded from a bundle", code="no-bundle")
        path = Path(source) if source is not None else self._source
        assert path is not None
        bundle = load_bundle(path, previous=self._bundle)
        with self._write_lock:
            previous = (self._base, self._settings, self._retention, self._history_base)
            old, settings = self._base, self._settings
            self._base = _Base(policies=bundle.policies, schema=bundle.schema,
                               entities=bundle.entities, facts=bundle.facts,
                               rules=bundle.rules)
            self._settings = bundle.settings
            # The loader hands back the very objects of the running bundle for the parts
            # whose files did not change (`rune.bundle._reuse`).
            same_data = (old.rules is bundle.rules and old.entities is bundle.entities
                         and old.facts is bundle.facts and old.schema is bundle.schema
                         and _build_settings(settings) == _build_settings(bundle.settings))
            try:
                snapshot = self._build(version=self._snapshot.version + 1,
                                       previous=self._snapshot, same_data=same_data)
            except BaseException:
                self._base, self._settings, self._retention, self._history_base = previous
                raise
            self._source = path
            self._bundle = bundle
            self._snapshot = snapshot
            self._cache = (snapshot, {}, {})
        return snapshot.version

    def prepare_writes(self) -> None:
        """Build now what the first write to the current version would otherwise build
        on its way: the write path's modules and the incremental plans of the rules
        (compiled once per rule program, so a reload that kept the rules keeps them).
        Writes work without it; it only moves that cost off the first write. A
        `rune.cluster.Node` calls it once started and, while idle, after a bundle swap.
        """
        import rune.datalog.incremental
        import rune.engine.history
        import rune.engine.writes  # noqa: F401

        rules = self._snapshot.rules
        if rules is not None:
            from rune.datalog.maintenance import maintenance_for

            maintenance_for(rules)

    def _replay(self, log: ChangeLog) -> None:
        """Fold what ``log`` holds into the overlay (before the first version is built)."""
        from rune.store.overlay import Overlay

        overlay = Overlay()
        for entry in log.replay(0):
            if entry.checkpoint:
                overlay = Overlay()
            overlay.apply(entry.changes)
        self._overlay = overlay

    def _build(self, *, version: int, previous: Snapshot | None = None,
               same_data: bool = False) -> Snapshot:
        """A whole version: the base with the overlay's writes applied (under the lock,
        or before the engine is shared).

        ``previous`` is the running version: policies it compiled are not compiled
        again, and with ``same_data`` (the base's rules, schema, entities and facts are
        those ``previous`` was built from, with the same build settings) its rules'
        result and entity store are kept: they are the base with the same writes
        (INVARIANT of `rune.engine.writes`: a version made by writes is the version a
        whole build of the same writes makes)."""
        base = self._base
        overlay = self._overlay
        approvals: dict[Any, float] = {}
        if overlay:
            now = self._clock()
            approvals = {k: v for k, v in overlay.approvals.items() if v > now}
        history: list[tuple[str, tuple[Any, ...]]] = []
        for relation in _HISTORY:
            history += [(relation, row) for row in base.facts.get(relation, ())
                        if overlay is None or overlay.horizon is None
                        or row[-2] >= overlay.horizon]
        try:
            if previous is not None:
                base.policies.prepared_from(previous.prepared)
            policies = base.policies
            if overlay and overlay.links:
                policies = _relinked(policies, overlay, base.schema)
            if previous is not None and same_data:
                snapshot = replace(
                    previous, version=version, policies=policies,
                    prepared=policies.prepared(), approvals=MappingProxyType(approvals),
                    ask_policies=MappingProxyType({p.id: p.annotations["ask"]
                                                   for p in policies
                                                   if "ask" in p.annotations}))
            else:
                entities, facts = self._written_base()
                snapshot = build_snapshot(
                    version=version, policies=policies, schema=base.schema,
                    entities=entities, facts=facts, rules=base.rules, approvals=approvals,
                    info=previous.info if previous is not None
                    and previous.rules is base.rules else None,
                    max_depth=self._settings.max_hierarchy_depth,
                    rule_limits=self._rule_limits() if base.rules is not None else None)
        except RuneError as exc:
            if not overlay:
                raise
            where = f" (state `{_describe(self._log)}`)" if self._log is not None else ""
            raise EngineError(f"the writes made to this engine{where} do not apply to the "
                              f"bundle: {exc.message}", code="state-does-not-apply",
                              diagnostics=exc.diagnostics) from exc
        self._history_base = history
        self._retention = None  # made again from the overlay and these rows when needed
        return snapshot

    def _written_base(self) -> tuple[Mapping[EntityUID, EntityData],
                                     dict[str, set[tuple[Any, ...]]]]:
        """The base's entities and facts with the overlay's writes and history applied."""
        base = self._base
        overlay = self._overlay
        entities: Mapping[EntityUID, EntityData] = base.entities
        facts: dict[str, set[tuple[Any, ...]]] = {k: set(v) for k, v in base.facts.items()}
        if overlay:
            from rune.engine.writes import history_rows

            assert overlay is not None
            entities = dict(entities)
            for uid, data in overlay.entities.items():
                if data is None:
                    entities.pop(uid, None)  # type: ignore[attr-defined]
                else:
                    entities[uid] = data  # type: ignore[index]
            for (relation, row), present in overlay.facts.items():
                rows = facts.setdefault(relation, set())
                if present:
                    rows.add(row)
                else:
                    rows.discard(row)
            if overlay.horizon is not None:
                for relation in _HISTORY:
                    if relation in facts:
                        facts[relation] = {r for r in facts[relation]
                                           if r[-2] >= overlay.horizon}
            for record in overlay.records.values():
                for relation, row in history_rows(record):
                    facts.setdefault(relation, set()).add(row)
        return entities, facts

    def _rule_limits(self) -> Any:
        """The per-decision budget of the request rules (`[limits] rule_max_*`)."""
        from rune.datalog import Limits

        return Limits(max_tuples=self._settings.rule_max_tuples,
                      max_seconds=self._settings.rule_max_seconds)

    def close(self) -> None:
        """Close the state file (or change log). The engine keeps deciding; writes fail."""
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()
            self._log = None
            self._closed = True

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

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
                # Flat: string keys over strings, Booleans and Longs, sized as
                # `check_context` sizes it (against `[limits] max_context_bytes`).
                size = 1 + 2 * len(context)  # type: ignore[arg-type]
                for key, v in context.items():  # type: ignore[union-attr]
                    if key.__class__ is not str:
                        break  # (`Request` reports it)
                    k = v.__class__
                    if k is str:
                        size += len(key) + len(v)
                        continue
                    if k is int:
                        if _LMIN <= v <= _LMAX:
                            size += len(key)
                            continue
                    elif k is bool:
                        size += len(key)
                        continue
                    # Nested records and sets of plain values: converted as a whole
                    # within the limits (else the full parse reports what crossed them).
                    c = _plain_record(context, self._settings.max_context_bytes,  # type: ignore[arg-type]
                                      self._settings.max_context_depth)
                    break
                else:
                    if size <= self._settings.max_context_bytes:
                        c = CedarRecord(context)
            if c is None:  # not a dict, not plain, or too large: the full parse
                settings = self._settings
                request = Request(p, a, r, context,
                                  max_context_size=settings.max_context_bytes,
                                  max_context_depth=settings.max_context_depth)
                c = request._c
            else:
                request = _new_request(Request)
                request._p = p
                request._a = a
                request._r = r
                request._c = c
            response: Any
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
                bits = pbits & b & b2
                plan: Any = prepared._plans.get(bits)
                if plan.__class__ is _FUSED:
                    response = plan(p, a, r, c, store, entity)
                else:
                    response = prepared.run(bits, p, a, r, c, store)
            else:
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
        settings = self._settings
        request = Request(principal, action, resource, context, snap.schema,
                          max_context_size=settings.max_context_bytes,
                          max_context_depth=settings.max_context_depth)
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
        """Decide many `(principal, action, resource[, context])` requests.

        Raises:
            RequestError: a row that is not a sequence of three or four items (with its
                index), or an ill-formed uid or context.
        """
        from rune.cedar.errors import RequestError

        out = []
        for i, item in enumerate(requests):
            if isinstance(item, str | bytes | Mapping) or not isinstance(item, Sequence) \
                    or not 3 <= len(item) <= 4:
                raise RequestError("a request must be (principal, action, resource) or "
                                   "(principal, action, resource, context)",
                                   code="invalid-request", path=f"$[{i}]")
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
        rows = set(snap.result.query(relation, pattern))
        if relation in _HISTORY and snap.info is not None and not snap.info.feeds_history:
            # No rule reads history, so it is kept beside the result (not in it).
            rows.update(row for row in snap.facts.get(relation, ())
                        if all(p is None or p == v for p, v in zip(pattern, row,
                                                                    strict=True)))
        return sorted(rows)

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
        uids to delete; ``facts``/``retract`` add and remove rule input facts. The whole
        call is one atomic batch (see `transaction` for several calls in one).

        Raises:
            RuneError: the change is invalid (with the JSON path of the bad part); nothing
                is published.
        """
        return self._commit(self._write_changes(entities, remove_entities, facts, retract))

    def record(self, principal: Any, action: Any, resource: Any, *,
               at: float | None = None, amount: int | None = None) -> int:
        """Record that an agent performed an action (and spent ``amount``), as
        timestamped `performed`/`spent` facts rules can count within time windows.

        ``at`` defaults to the engine's clock. Recorded actions older than the retention
        horizon are retracted as newer ones arrive (see `rune.engine.history`).

        Raises:
            EngineError: a malformed uid, a time that is not finite or in range, or an
                amount that is not a whole number of at least zero.
        """
        return self._commit((self._record_change(principal, action, resource, at, amount),))

    def approve(self, principal: Any, action: Any, resource: Any, *,
                ttl_seconds: float | None = None) -> int:
        """Record a human approval for exactly this (principal, action, resource); an
        "ask" decision for it becomes "allow" until the approval expires (after
        ``ttl_seconds``, by default the bundle's `approval_ttl_seconds`, else an hour).

        An approval covers the (principal, action, resource) triple whatever the context;
        rules that need a narrower approval can require one per distinct resource.

        Raises:
            EngineError: a malformed uid, or a TTL that is not a finite number of seconds
                above zero and at most ten years.
        """
        return self._commit((self._approval_change(principal, action, resource,
                                                   ttl_seconds),))

    def guarded(self, principal: Any, action: Any, resource: Any,
                context: Mapping[str, Any] | None = None, *, record: bool = True,
                amount: int | None = None) -> Guarded:
        """A guarded action (`with` or `async with`): authorize on entry (raising
        `rune.Denied` or `rune.ApprovalRequired`, yielding the decision on allow), and
        record the action when the block ends without an exception. See `rune.guard`."""
        from rune.guarding import Guarded

        return Guarded(self, principal, action, resource, context, record=record,
                       amount=amount)

    def link(self, template_id: str, link_id: str, *, principal: Any = None,
             resource: Any = None) -> int:
        """Link template ``template_id`` as policy ``link_id`` (filling `?principal` and/or
        `?resource`, as the template has them) and publish it as a new version; a link
        with the same id is replaced. With a schema, the link is validated as Cedar does.

        Raises:
            EngineError: an unknown template, an id a static policy or template has, slots
                that do not match the template's, or a link the schema refuses.
        """
        return self._commit((self._link_change(template_id, link_id, principal, resource,
                                               ()),))

    def unlink(self, link_id: str) -> int:
        """Remove the template-linked policy ``link_id`` and publish a new version.

        Raises:
            EngineError: (`unknown-link`) no link has that id.
        """
        return self._commit((self._unlink_change(link_id, ()),))

    def transaction(self) -> Transaction:
        """A batch of writes, records and approvals published as one version:

            with engine.transaction() as tx:
                tx.write(entities=[...])
                tx.record(agent, action, tool)

        An exception inside the block publishes nothing."""
        return Transaction(self)

    # -- turning calls into changes (before the lock) ----------------------------------------
    def _write_changes(self, entities: Any, remove_entities: Iterable[Any],
                       facts: Mapping[str, Iterable[Sequence[Any]]] | None,
                       retract: Mapping[str, Iterable[Sequence[Any]]] | None
                       ) -> list[Change]:
        from rune.engine.inputs import entity_changes, fact_changes

        snap = self._snapshot
        return [*entity_changes(entities, remove_entities, snap.schema),
                *fact_changes(facts, retract, snap.rules)]

    def _record_change(self, principal: Any, action: Any, resource: Any, at: Any,
                       amount: Any) -> Change:
        return _write_path().record_change(principal, action, resource,
                                           at=self._clock() if at is None else at,
                                           amount=amount)

    def _link_change(self, template_id: Any, link_id: Any, principal: Any, resource: Any,
                     pending: Sequence[Change]) -> Change:
        from rune.engine.inputs import link_change
        from rune.engine.writes import linked

        snap = self._snapshot
        return link_change(linked(snap.policies, pending), snap.schema, template_id, link_id,
                           principal, resource)

    def _unlink_change(self, link_id: Any, pending: Sequence[Change]) -> Change:
        from rune.engine.inputs import unlink_change
        from rune.engine.writes import linked

        return unlink_change(linked(self._snapshot.policies, pending), link_id)

    def _approval_change(self, principal: Any, action: Any, resource: Any,
                         ttl_seconds: Any) -> Change:
        from rune.engine.inputs import approval_change

        return approval_change(principal, action, resource, now=self._clock(),
                               ttl_seconds=self._settings.approval_ttl_seconds
                               if ttl_seconds is None else ttl_seconds)

    # -- publishing ------------------------------------------------------------------------
    def _commit(self, changes: Sequence[Change]) -> int:
        """Apply a checked batch as one new version: store it first when the engine keeps
        state, then publish. Returns the version (an empty batch publishes one too).

        Raises:
            RuneError: the batch does not apply (nothing is stored or published).
        """
        if self._shared is not None:
            return self._commit_shared(changes)
        record = _write_path().Record

        with self._write_lock:
            self._check_open()
            overlay = self._written()
            batch = list(changes)
            if any(c.__class__ is record for c in batch):
                seq = overlay.next_seq
                for i, change in enumerate(batch):
                    if change.__class__ is record:
                        batch[i] = change.numbered(seq)  # type: ignore[attr-defined]
                        seq += 1
            current = self._snapshot
            batch, new, impact = self._delta(current, batch, self._clock())
            if self._log is not None:
                self._log.append(batch)  # durable before anyone sees the version
            self._applied_batch(batch)
            self._publish(current, new, impact)
            return new.version

    def _check_open(self) -> None:
        if getattr(self, "_closed", False):
            raise EngineError("the engine's state is closed: it accepts no more writes",
                              code="state-closed")

    def _written(self) -> Overlay:
        """The overlay of writes (under the lock), created by the first write."""
        overlay = self._overlay
        if overlay is None:
            from rune.store.overlay import Overlay

            overlay = self._overlay = Overlay()
        return overlay

    def _delta(self, current: Snapshot, batch: list[Change], now: float
               ) -> tuple[list[Change], Snapshot, Impact]:
        """The batch with its history expiry added, and the version after it (under the
        lock; nothing is changed yet).

        Raises:
            RuneError: the batch does not apply.
        """
        path = _write_path()
        expired: list[tuple[str, tuple[Any, ...]]] = []
        horizon = None
        record = path.Record
        if any(c.__class__ is record for c in batch):
            retention = self._retention
            if retention is None:
                retention = self._retention = path.Retention(
                    self._settings.history_retention_seconds, self._written(),
                    self._history_base)
            batch, expired, horizon = retention.expire(batch, now)
        new, impact = path.apply_changes(current, batch, version=current.version + 1,
                                         expired=expired, approvals_pruned_before=horizon)
        return batch, new, impact

    def _applied_batch(self, batch: Sequence[Change]) -> None:
        """Fold a stored batch into the overlay (under the lock, before publishing)."""
        self._written().apply(batch)
        if self._retention is not None:
            self._retention.committed(batch)

    # -- a shared log ------------------------------------------------------------------------
    def share(self, log: ChangeLog, *, apply_timeout: float = 10.0) -> None:
        """Write through ``log``, a change log several engines append to (a NATS JetStream
        stream, see `rune.cluster`), from now on.

        A write is then appended to ``log`` (acknowledged once the log says it is durable)
        and becomes a version only when it comes back through `apply_entries`, in the
        log's order with every other engine's batches: every engine applies the same
        batches in the same order, so all reach the same state. The write call waits (at
        most ``apply_timeout`` seconds) until its batch is applied here, so a caller reads
        its own writes; someone must feed ``apply_entries`` (a `rune.cluster.Node` does).

        The engine's own state (``state=``) then mirrors the shared log: each applied
        batch is stored at the log's position, and `position` says where to resume.
        """
        if apply_timeout <= 0:
            raise ValueError("`apply_timeout` must be above zero")
        with self._write_lock:
            self._shared = log
            self._apply_timeout = apply_timeout

    @property
    def position(self) -> int:
        """The position (in the shared log, or the state's own) of the last batch applied."""
        return self._position

    def _commit_shared(self, changes: Sequence[Change]) -> int:
        """Append a batch to the shared log and wait until it is applied here."""
        self._check_open()
        shared = self._shared
        assert shared is not None
        position = shared.append(list(changes))  # StoreError: nothing was stored
        deadline = time.monotonic() + self._apply_timeout
        with self._applied:
            while self._position < position:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise EngineError(
                        f"the write is stored in the shared log (position {position}) but "
                        f"was not applied here within {self._apply_timeout:g} s; it will be "
                        "applied when this engine catches up", code="write-not-applied")
                self._applied.wait(left)
            refused = self._refused.pop(position, None)
            if refused is not None:
                raise refused
            return self._snapshot.version

    def apply_entries(self, entries: Iterable[LogEntry]) -> int:
        """Apply batches of a shared log (see `share`) in order, each exactly once: an
        entry at or before `position` is skipped. Returns the current version.

        Each batch becomes one version through the same delta path as a local write.
        Recorded actions are numbered from the entry's position, and history expires by
        the entry's time, so every engine applying the same entries reaches the same
        state. A batch that does not apply (the rules refuse it, say) is refused by every
        engine alike: it is skipped, and the engine that wrote it raises its error. A
        checkpoint entry replaces the whole written state.

        Raises:
            RuneError: a checkpoint that does not apply to the bundle, or the engine's
                own state could not store a batch (the entry was not applied; feed it
                again).
        """
        from rune.store.overlay import Overlay

        for entry in entries:
            with self._applied:
                position = entry.position
                if position <= self._position:
                    continue  # INVARIANT: a batch is applied once, by its position
                if entry.checkpoint:
                    previous = (self._overlay, self._retention, self._history_base)
                    overlay = Overlay()
                    overlay.apply(entry.changes)
                    self._overlay = overlay
                    try:
                        snapshot = self._build(version=self._snapshot.version + 1)
                        self._store_at(entry.changes, position, checkpoint=True)
                    except BaseException:
                        self._overlay, self._retention, self._history_base = previous
                        raise
                    self._snapshot = snapshot
                    self._cache = (snapshot, {}, {})
                elif not entry.changes:
                    self._store_at((), position)
                else:
                    self._apply_entry(entry)
                self._position = position
                if len(self._refused) > 1024:  # nobody waits for the oldest any more
                    self._refused.pop(next(iter(self._refused)))
                self._applied.notify_all()
        return self._snapshot.version

    def _apply_entry(self, entry: LogEntry) -> None:
        record = _write_path().Record
        batch = list(entry.changes)
        index = 0
        for i, change in enumerate(batch):
            if change.__class__ is record:
                # Every engine numbers a record alike: by the batch's position.
                batch[i] = change.numbered((entry.position << 20) | index)  # type: ignore[attr-defined]
                index += 1
        current = self._snapshot
        now = entry.time if entry.time is not None else self._clock()
        try:
            batch, new, impact = self._delta(current, batch, now)
        except RuneError as exc:
            _warn("batch %d of the shared log does not apply and is skipped: %s",
                  entry.position, exc)
            self._refused[entry.position] = exc
            self._store_at((), entry.position)
            return
        self._store_at(batch, entry.position)
        self._applied_batch(batch)
        self._publish(current, new, impact)

    def _store_at(self, batch: Sequence[Change], position: int, *,
                  checkpoint: bool = False) -> None:
        log = self._log
        if log is None:
            return
        if checkpoint:
            log.append(batch, position=position, checkpoint=True)  # type: ignore[call-arg]
        else:
            log.append(batch, position=position)  # type: ignore[call-arg]

    def checkpoint(self) -> LogEntry:
        """The whole written state as one checkpoint entry at `position` (a snapshot
        another engine can start from with `apply_entries`)."""
        from rune.store.changelog import LogEntry

        with self._write_lock:
            overlay = self._overlay
            changes = tuple(overlay.checkpoint()) if overlay is not None else ()
            return LogEntry(self._position, changes, checkpoint=True)

    def set_limiter(self, limiter: Limiter) -> None:
        """Enforce rate limits and budgets with ``limiter`` instead of this engine's own
        sliding windows (a limiter shared by many engines, see `rune.cluster.leases`)."""
        self._limits = limiter

    def _publish(self, current: Snapshot, new: Snapshot, impact: Impact) -> None:
        """Make ``new`` the current version, carrying over the principals seen when no
        entity changed (the prepared policies carry their own bitset caches, see
        `apply_changes`). Decisions are not carried: each names the version it was made
        on, and an old version must be freed once no reader holds it."""
        owner, _, principals = self._cache
        if owner is not current or impact.entities or impact.policies:
            principals = {}  # refilled from the carried bitsets, one lookup each
        # INVARIANT: publishing is the assignment to `_snapshot`; readers that already hold
        # the previous snapshot keep using it, new readers see the whole new version. The
        # caches are installed first: a reader that finds them with the old snapshot only
        # drops them (they name the new one).
        self._cache = (new, {}, principals)
        self._snapshot = new

    def _release(self, taken: list[tuple[str, int]], now: float) -> None:
        for key, amount in taken:
            self._limits.release(key, now, amount)


    # -- deciding --------------------------------------------------------------------------
    @staticmethod
    def _principal(snap: Snapshot, principal: Any, principals: dict[str, Any]
                   ) -> tuple[EntityUID, int, Any]:
        """(uid, principal scope bitset, entity or None) for a principal not yet seen in
        this version; remembered when given as text."""
        if principal.__class__ is not str:
            uid = to_entity_uid(principal, "$.principal")
            return snap.prepared.principal_entry(uid, snap.entities._by_uid)
        # A first sighting (agents are many, most are seen for the first time): the text
        # is parsed and the bits computed from the entity, remembered only here (not also
        # in the uid-text cache and the prepared set's entries: each is a large table).
        uid = uid_from_text(principal, "$.principal")
        entity = snap.entities._by_uid.get(uid)
        # The canonical uid object: the entity's own (stores intern theirs), which saves
        # a probe of the interning table; a principal without an entity is interned.
        uid = entity.uid if entity is not None else intern_uid(uid)
        seen = (uid, snap.prepared.principal.admits(uid, entity), entity)
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
        errors: tuple[str, ...] = ()
        if response.errors:
            errors = tuple(f"{e.policy_id}: {e.message}" for e in response.errors)
            self._note_policy_errors(response.errors)
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
                self._note_rule_error(exc)
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

    # -- errors at run time ----------------------------------------------------------------
    @property
    def runtime_errors(self) -> RuntimeErrors:
        """How often each policy failed while being evaluated (it was skipped, and the
        decision reported it in `errors`), and how often the request rules failed (the
        request was denied), since the engine started: counts ready for a metrics
        endpoint. A cached decision is not counted again."""
        with self._errors_lock:
            return RuntimeErrors(MappingProxyType(dict(self._policy_errors)),
                                 self._rule_errors)

    def _note_policy_errors(self, errors: Iterable[Any]) -> None:
        with self._errors_lock:
            for error in errors:
                count = self._policy_errors.get(error.policy_id, 0)
                self._policy_errors[error.policy_id] = count + 1
                if not count:
                    _warn("policy `%s` failed at run time and was skipped (it will "
                          "not be logged again): %s", error.policy_id, error.message)

    def _note_rule_error(self, error: Exception) -> None:
        with self._errors_lock:
            self._rule_errors += 1
            first = self._rule_errors == 1
        if first:
            _warn("the request rules failed and the request was denied (later "
                  "failures are only counted): %s", error)

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


# -- constructor inputs ------------------------------------------------------------------------

class _Base:
    """What a bundle (or the constructor's arguments) gives: the state before any write."""

    __slots__ = ("entities", "facts", "policies", "rules", "schema")

    def __init__(self, *, policies: PolicySet, schema: Schema | None,
                 entities: Mapping[EntityUID, EntityData],
                 facts: Mapping[str, Iterable[tuple[Any, ...]]], rules: Any) -> None:
        self.policies = policies
        self.schema = schema
        self.entities = entities
        self.facts = facts
        self.rules = rules


def _build_settings(settings: Settings) -> tuple[Any, ...]:
    """The settings a version's entity store and rule evaluation are built with."""
    return (settings.max_hierarchy_depth, settings.rule_max_tuples,
            settings.rule_max_seconds)


def _program(rules: str | None, file: str | None) -> Any:
    if rules is None:
        return None
    if not isinstance(rules, str):
        raise TypeError(f"`rules` must be Datalog text (str) or None, not "
                        f"{type(rules).__name__}")
    if not rules.strip():
        return None
    from rune.datalog import Program
    from rune.store.prelude import prelude

    return Program.parse(rules + "\n" + prelude(), file=file)


def _schema(schema: Schema | str | None) -> Schema | None:
    if not isinstance(schema, str):
        if schema is not None and type(schema).__name__ != "Schema":
            raise TypeError(f"`schema` must be a Schema, schema text (str) or None, not "
                            f"{type(schema).__name__}")
        return schema
    from rune.cedar.schema import Schema  # only engines with a schema import it

    return Schema.from_str(schema)


def _entity_data(entities: Any, schema: Schema | None) -> dict[EntityUID, EntityData]:
    """Entities as written (Cedar JSON: a list or its text), by uid."""
    if entities is None:
        return {}
    return {item.uid: item for item in Entities.parse_json(entities, schema)}


def _facts(facts: Mapping[str, Iterable[Sequence[Any]]] | None, program: Any
           ) -> dict[str, frozenset[tuple[Any, ...]]]:
    if facts is None:
        return {}
    if not isinstance(facts, Mapping):
        raise EngineError("`facts` must map relation names to lists of rows",
                          code="invalid-argument", path="$.facts")
    out: dict[str, frozenset[tuple[Any, ...]]] = {}
    for name, rows in facts.items():
        if program is None or not isinstance(name, str) or name not in program.relation_names:
            raise EngineError(f"no rule declares the relation `{name}`",
                              code="unknown-relation", path=f"$.facts.{name}")
        if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
            raise EngineError(f"`{name}` must be given a list of rows",
                              code="invalid-argument", path=f"$.facts.{name}")
        checked: list[tuple[Any, ...]] = []
        for i, row in enumerate(rows):
            if isinstance(row, str | bytes) or not isinstance(row, Sequence):
                raise EngineError(f"a row of `{name}` must be a list or tuple of values",
                                  code="invalid-fact", path=f"$.facts.{name}[{i}]")
            checked.append(tuple(row))
        out[name] = frozenset(checked)
    return out


# -- state -------------------------------------------------------------------------------------

def _open_log(state: Any, sync: str, name: str) -> ChangeLog | None:
    """The change log ``state`` names: None, a `ChangeLog`, or a state file path."""
    if state is None:
        return None
    if isinstance(state, str | os.PathLike):
        from rune.store.sqlite import SQLiteChangeLog

        if sync not in ("full", "normal"):
            raise EngineError(f"unknown state sync mode `{sync}` (use `full` or `normal`)",
                              code="invalid-sync")
        return SQLiteChangeLog(state, bundle=name, sync=sync)  # type: ignore[arg-type]
    if all(callable(getattr(state, m, None)) for m in ("append", "replay", "close")):
        return state  # type: ignore[no-any-return]
    raise TypeError(f"`state` must be a path, a rune.store.ChangeLog or None, not "
                    f"{type(state).__name__}")


def _relinked(policies: PolicySet, overlay: Overlay, schema: Schema | None) -> PolicySet:
    """``policies`` with the links written through the engine (validated against the
    schema, as a new link is).

    Raises:
        RuneError: a link's template is gone, or the schema refuses a link.
    """
    from rune.engine.writes import linked
    from rune.store.changes import Unlink

    changes = [link if link is not None else Unlink(link_id)
               for link_id, link in overlay.links.items()]
    out: PolicySet = linked(policies, changes)
    if schema is not None:
        from rune.cedar.schema import validate

        ids = {c.link_id for c in changes if c.__class__ is not Unlink}
        links = [p for p in out if p.id in ids]
        found = validate(PolicySet.from_policies(links, out.templates), schema).errors
        problems = [e for e in found if e.policy_id in ids]
        if problems:
            raise EngineError(f"the link `{problems[0].policy_id}` does not validate against "
                              f"the schema: {problems[0].message}", code=problems[0].code)
    return out


@dataclass(frozen=True, slots=True)
class _WritePath:
    """What writes need from the modules that pull in the Datalog engine (engines that
    are never written to, and have no rules, never load it), imported on the first write
    and then kept: a write pays for no import statement."""

    Record: type[Record]
    Retention: type[Retention]
    apply_changes: Callable[..., tuple[Snapshot, Impact]]
    record_change: Callable[..., Change]


_WRITE_PATH: list[_WritePath] = []


def _write_path() -> _WritePath:
    if not _WRITE_PATH:
        from rune.engine.history import Retention
        from rune.engine.inputs import record_change
        from rune.engine.writes import apply_changes
        from rune.store.changes import Record

        _WRITE_PATH.append(_WritePath(Record, Retention, apply_changes, record_change))
    return _WRITE_PATH[0]


def _describe(log: Any) -> str:
    return str(getattr(log, "path", None) or type(log).__name__)


def _bundle_name(bundle: Any) -> str:
    """The name a bundle's state is bound to: `[bundle] name`, else its directory's."""
    extra = getattr(bundle.settings, "extra", None) or {}
    table = extra.get("bundle") if isinstance(extra, Mapping) else None
    name = table.get("name") if isinstance(table, Mapping) else None
    return name if isinstance(name, str) and name else Path(bundle.path).resolve().name


# -- requests ----------------------------------------------------------------------------------

_ABSENT = object()


def _same_context(context: Mapping[str, Any] | None, record: CedarRecord) -> bool:
    """Whether ``context`` is the context a cached decision was made for: same keys, and
    values of the same class that compare equal (nested values never match: a request
    with them is decided afresh, and so is a context that is not a dict: the full parse
    reports one that is not a record)."""
    if context is None:
        return not record
    if context.__class__ is not dict:
        return False
    if len(context) != len(record):
        return False
    for key, value in context.items():
        seen = record.get(key, _ABSENT)
        if seen.__class__ is not value.__class__ or seen != value:
            return False
    return True


def _parse_query(text: Any) -> tuple[str, tuple[Any, ...]]:
    """`relation(arg, ...)`: each argument a string literal (escapes kept, as in a rule),
    a whole number, or a variable / `_` (free)."""
    import re

    if not isinstance(text, str):
        raise EngineError(f"a query must be text such as `config(k, v)`, not "
                          f"{type(text).__name__}", code="invalid-query")
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*\.?\s*", text, re.S)
    if m is None:
        raise EngineError(f"cannot parse query `{shown(text, 80)}`: write `relation(arg, ...)`",
                          code="invalid-query")
    relation, body = m.group(1), m.group(2)
    args: list[Any] = []
    token = re.compile(r'\s*("(?:[^"\\]|\\.)*"|-?\d+|[A-Za-z_][A-Za-z0-9_]*)\s*')
    position = 0
    while body.strip():
        found = token.match(body, position)
        if found is None:
            raise EngineError(f"cannot parse query `{shown(text, 80)}`: argument "
                              f"{len(args) + 1} is not a string, a whole number or a variable",
                              code="invalid-query")
        item = found.group(1)
        if item.startswith('"'):
            args.append(item[1:-1])  # escapes kept, as in a rule's string literal
        elif item.lstrip("-").isdigit():
            if len(item) > 20 or not _LMIN <= int(item) <= _LMAX:
                raise EngineError(f"the number `{item}` in the query is out of range",
                                  code="invalid-query")
            args.append(int(item))
        else:
            args.append(None)
        position = found.end()
        if position == len(body):
            break
        if body[position] != ",":
            raise EngineError(f"cannot parse query `{shown(text, 80)}`: expected `,` after "
                              f"argument {len(args)}", code="invalid-query")
        position += 1
        if not body[position:].strip():
            raise EngineError(f"cannot parse query `{shown(text, 80)}`: an argument is missing",
                              code="invalid-query")
    return relation, tuple(args)
