"""The compiled, scope-indexed form of a policy set.

Every policy is compiled once (`rune.cedar.compiler`). Policies are indexed by their
principal, action and resource scope so that a request only runs the policies whose
scope can match it: each scope dimension maps a key (an exact uid, an ancestor uid, an
entity type, or "any") to a bitset of policy positions, and the candidates for a
request are the AND of the three dimension bitsets. A policy that cannot apply costs
one bit in a few integer operations, not a function call.

The candidates of a bitset form a *plan*. A plan first runs as a loop over the policies'
compiled conditions; once it has been used `_FUSE_AFTER` times it is *fused*: one
generated function with every candidate's condition inline, the principal's and
resource's entity looked up once, and the satisfied candidates as a bitmask mapped to
a shared `Response`. Fused conditions read attributes optimistically (by subscript);
any exception re-runs that policy's precise condition, so outcomes and error messages
are those of the loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from rune._internal.code_cache import compile_generated
from rune.cedar import ast
from rune.cedar.compiler import (
    NAMESPACE,
    CompiledPolicy,
    FusablePart,
    compile_policy,
    fusable_condition,
)
from rune.cedar.decision import AuthorizationError, Decision, Response
from rune.cedar.errors import EvaluationError
from rune.cedar.values import CedarRecord, EntityUID

__all__ = ["PreparedPolicySet"]

_ALLOW = Decision.ALLOW
_DENY = Decision.DENY
_DEFAULT_DENY = Response(Decision.DENY, (), ())


def _response(
    permits: list[str], forbids: list[str], errors: list[tuple[str, str]]
) -> Response:
    errs = tuple(AuthorizationError(pid, msg) for pid, msg in errors)
    if forbids:
        return Response(_DENY, tuple(forbids), errs)
    if permits:
        return Response(_ALLOW, tuple(permits), errs)
    return Response(_DENY, (), errs)

# Below this many policies a linear scan of the `full` functions beats the index.
# (Measured: one fused function testing every policy was slower than the bitset index.)
INDEX_THRESHOLD = 6
_BITS_CACHE_MAX = 1 << 17
# Plans with more candidates than this keep the loop (one fused function per plan would
# grow with the candidates; the loop's per-policy cost is a call, not a scan).
_FUSE_MAX = 48
_LISTED_OUTCOMES = 10  # plans of up to this many policies map outcomes through a list
# A plan is fused once it has been used this many times: compiling one costs about as
# much as a few hundred decisions, so rare plans keep the loop (with 1,000 policies a
# workload meets thousands of distinct plans). Tests set FUSE_AT_FIRST_USE so that the
# fused path meets every corpus case.
_FUSE_AFTER = 64
FUSE_AT_FIRST_USE = False
_FUSED_CODE_MAX = 4096
# A fused plan's source is compiled only up to this size (a plan is worth fusing for its
# many small conditions, not for one enormous one), and cached only up to the smaller.
_FUSED_SOURCE_MAX = 1 << 18
_FUSED_CACHED_MAX = 1 << 16

_NAME = re.compile(r"\b_[kh]\d+\b")
_ENTITY_OF = {"P": re.compile(r"\bE\.get\(P\)"), "R": re.compile(r"\bE\.get\(R\)")}
# Fused plan source -> code object. Plans whose candidates have the same shapes in the
# same order (constants are named by plan position) share one code object.
_FUSED_CODE: dict[str, Any] = {}
Plan = Callable[..., Response]


# (store, principal bitsets, action bitsets, resource bitsets, principal entries)
_Caches = tuple[Any, dict[EntityUID, int], dict[EntityUID, int], dict[EntityUID, int],
                dict[int, tuple[EntityUID, int, Any]]]


class _LoopPlan(list):  # type: ignore[type-arg]
    """A candidate plan not fused yet: (condition, forbid, id) triples run in a loop, and
    how many more uses before it is fused."""

    __slots__ = ("uses_left",)


_UNSET: Any = object()


def _fused_source(parts: list[FusablePart]) -> str:
    """One function deciding a whole candidate plan: every condition inline (no call per
    policy), the principal's and resource's entity looked up once, the outcome a bitmask
    of satisfied candidates mapped to a shared `Response`. A condition that raises is
    decided again by the policy's precise `condition` (see `FusablePart`).

    The function is `plan(P, A, R, C, E, eP=<unset>)`: a caller that already holds the
    principal's entity (or None when the store has none) passes it as ``eP``."""
    head = ["def plan(P, A, R, C, E, _eP=_UNSET):\n"]
    body = []
    helpers = []
    for i, part in enumerate(parts):
        suffix = f"_{i}"
        helpers.append(_NAME.sub(lambda m: m.group(0) + suffix, part.helpers))  # noqa: B023
        text = _NAME.sub(lambda m: m.group(0) + suffix, part.text)  # noqa: B023
        for var, pattern in _ENTITY_OF.items():
            text = pattern.sub(f"_e{var}", text)
        body.append(f"    try:\n        if {text}:\n            m |= {1 << i}\n"
                    f"    except Exception:\n        m, x = _slow({i}, m, x, P, A, R, C, E)\n")
    joined = "".join(body)
    # The principal's entity may be passed in by a caller that has it at hand.
    if "_eP" in joined:
        head.append("    if _eP is _UNSET:\n        _eP = E.get(P)\n")
    if "_eR" in joined:
        head.append("    _eR = E.get(R)\n")
    head.append("    m = 0\n    x = None\n")
    # Outcomes by mask: a list when the plan is small enough to index every mask.
    lookup = "_done[m]" if len(parts) <= _LISTED_OUTCOMES else "_done.get(m)"
    tail = (f"    if x is None:\n        r = {lookup}\n        if r is not None:\n"
            "            return r\n    return _finish(m, x)\n")
    return "".join(helpers) + "".join(head) + joined + tail


_function: Any = type(_fused_source)
FUSED_PLAN_TYPE: Any = _function  # what a fused plan is (for callers' inlined fast paths)


class _Dimension:
    """Index of one scope dimension: key -> bitset of policy positions."""

    __slots__ = ("_by_ancestors", "any", "eq", "in_", "in_items", "type_")

    def __init__(self) -> None:
        self.any = 0
        self.eq: dict[EntityUID, int] = {}
        self.in_: dict[EntityUID, int] = {}
        self.type_: dict[str, int] = {}
        self.in_items: tuple[tuple[EntityUID, int], ...] = ()
        # id of an ancestors object -> (that object, the bits its members admit). Stores
        # share one ancestors object among every entity with the same closure (agents of
        # the same teams), so a first sighting finds its ancestors' bits by the object's
        # address, without hashing or even reading the ancestors. The entry holds the
        # object, so its id cannot be reused while the entry lives; readers check
        # ``entry[0] is ancestors``.
        self._by_ancestors: dict[int, tuple[Any, int]] = {}

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        """Pickled without ``_by_ancestors``, which describes one process's entity store
        (`rune.bundle.cache` keeps compiled policy sets across processes)."""
        state = {name: getattr(self, name) for name in self.__slots__ if hasattr(self, name)}
        state["_by_ancestors"] = {}
        return None, state

    def add(self, bit: int, scope: ast.ScopeConstraint, slots: Mapping[str, EntityUID]) -> bool:
        """Index one policy; returns True when the policy must re-check this scope itself."""
        op = scope.op
        entity = scope.entity
        if isinstance(entity, ast.Slot):
            entity = slots.get(entity.name)
        if op is ast.ScopeOp.ANY:
            self.any |= bit
        elif op is ast.ScopeOp.EQ:
            assert isinstance(entity, EntityUID)
            self.eq[entity] = self.eq.get(entity, 0) | bit
        elif op is ast.ScopeOp.IS:
            assert scope.entity_type is not None
            self.type_[scope.entity_type] = self.type_.get(scope.entity_type, 0) | bit
        elif op is ast.ScopeOp.IN:
            assert isinstance(entity, EntityUID)
            self.in_[entity] = self.in_.get(entity, 0) | bit
        elif op is ast.ScopeOp.IS_IN:
            # Indexed by the ancestor; the type test stays in the compiled condition.
            assert isinstance(entity, EntityUID)
            self.in_[entity] = self.in_.get(entity, 0) | bit
            return True
        elif op is ast.ScopeOp.IN_SET:
            for e in scope.entities:
                self.in_[e] = self.in_.get(e, 0) | bit
        return False

    def finish(self) -> None:
        self.in_items = tuple(self.in_.items())

    def miss(self, uid: EntityUID, entities: Mapping[EntityUID, Any],
             cache: dict[EntityUID, int]) -> int:
        """The bitset of policies whose scope in this dimension admits ``uid`` (given the
        store's ancestors of it), remembered in ``cache``."""
        b = self.admits(uid, entities.get(uid) if self.in_ else None)
        if len(cache) >= _BITS_CACHE_MAX:
            cache.clear()
        cache[uid] = b
        return b

    def admits(self, uid: EntityUID, e: Any) -> int:
        """The bitset of policies whose scope in this dimension admits ``uid``, whose
        entity in the store is ``e`` (None when it has none)."""
        b = self.any | self.type_.get(uid[0], 0)
        if self.eq:
            b |= self.eq.get(uid, 0)
        in_ = self.in_
        if in_:
            b |= in_.get(uid, 0)
            if e is not None and (ancestors := e.ancestors):
                known = self._by_ancestors.get(id(ancestors))
                if known is not None and known[0] is ancestors:
                    return b | known[1]  # type: ignore[no-any-return]
                return b | self._ancestor_bits(ancestors)
        return b

    def _ancestor_bits(self, ancestors: Any) -> int:
        """The bits of the `in` scopes that ``ancestors`` (a tuple or frozenset of uids)
        satisfy, remembered by the object's identity."""
        b = 0
        in_ = self.in_
        in_items = self.in_items
        # Test the few indexed keys, or look up each ancestor: whichever is fewer
        # operations (a short tuple of ancestors is scanned, not hashed).
        if len(in_items) <= (3 if ancestors.__class__ is tuple else len(ancestors)):
            for key, bit in in_items:
                if key in ancestors:
                    b |= bit
        else:
            for a in ancestors:
                b |= in_.get(a, 0)
        table = self._by_ancestors
        if len(table) >= _BITS_CACHE_MAX:
            table.clear()
        table[id(ancestors)] = (ancestors, b)
        return b


class PreparedPolicySet:
    """Compiled policies plus the scope index; immutable once built."""

    __slots__ = (
        "_allows",
        "_always_index",
        "_caches",
        "_denials",
        "_fuse_at_once",
        "_linear",
        "_parts",
        "_plans",
        "_residuals",
        "_scopes",
        "action",
        "compiled",
        "indexed",
        "policies",
        "principal",
        "resource",
    )

    def __init__(self, policies: tuple[Any, ...], *, always_index: bool | None = None,
                 fuse_at_first_use: bool | None = None,
                 reuse: PreparedPolicySet | None = None) -> None:
        """``always_index`` and ``fuse_at_first_use`` (defaults: the module's
        `INDEX_THRESHOLD` and `FUSE_AT_FIRST_USE`) let tests drive every request through
        the index and a fused plan. With ``reuse``, a policy that is also one of its
        policies (the same object, or the same `Policy.reuse_key`) takes its compiled
        form from there instead of being compiled again (see `with_policies`)."""
        self.policies = policies
        self._always_index = always_index
        self.indexed = (len(policies) >= INDEX_THRESHOLD if always_index is None
                        else always_index)
        self._fuse_at_once = (FUSE_AT_FIRST_USE if fuse_at_first_use is None
                              else fuse_at_first_use)
        self.principal = _Dimension()
        self.action = _Dimension()
        self.resource = _Dimension()
        compiled: list[CompiledPolicy] = []
        residuals: list[tuple[str, ...]] = []
        # Policy object identity -> its position in ``reuse``. Policies are immutable, and
        # a policy's compiled form and residual scope depend on it alone (not on its
        # position), so the same object needs no second compilation.
        # INVARIANT: ``reuse`` holds its policies alive while this runs, so no id is reused.
        known = {} if reuse is None else {id(p): i for i, p in enumerate(reuse.policies)}
        # And by what a policy's compiled form depends on (`Policy.reuse_key`): the same
        # policy parsed again, from a bundle loaded again, say.
        keyed: dict[Any, int] = {}
        if reuse is not None:
            for i, p in enumerate(reuse.policies):
                key = getattr(p, "reuse_key", None)
                if key is not None:
                    keyed.setdefault(key, i)
        parts: dict[int, FusablePart] = {}
        scopes: list[tuple[ast.ScopeConstraint, ...]] = []
        for position, policy in enumerate(policies):
            slots = dict(policy.slot_values)
            bit = 1 << position
            old = known.get(id(policy))
            if old is None and keyed:
                key = getattr(policy, "reuse_key", None)
                old = keyed.get(key) if key is not None else None
            # (A policy parsed from text may hold no tree and parse it again when asked:
            # a reused policy's scope comes from ``reuse``, a new one's tree is read once.)
            tree: ast.PolicyAST | None = None
            scope: tuple[ast.ScopeConstraint, ...]
            if reuse is not None and old is not None:
                scope = reuse.scopes_at(old)
            else:
                tree = policy.ast
                scope = (tree.principal, tree.action, tree.resource)
            residual: list[str] = []
            for name, dim, constraint in zip(
                    ("principal", "action", "resource"),
                    (self.principal, self.action, self.resource), scope, strict=True):
                if dim.add(bit, constraint, slots):
                    residual.append(name)
            if tree is None:
                assert reuse is not None and old is not None
                # (same policy, same scope, so the same residual scope)
                compiled.append(reuse.compiled_at(old))
                part = reuse.part_if_made(old)
                if part is not None:
                    parts[position] = part
            else:
                compiled.append(compile_policy(policy.id, tree, slots,
                                               residual_scope=tuple(residual)))
            residuals.append(tuple(residual))
            scopes.append(scope)
        # Each policy's (principal, action, resource) scope, kept for `with_policies`.
        self._scopes = tuple(scopes)
        for dim in (self.principal, self.action, self.resource):
            dim.finish()
        self.compiled = tuple(compiled)
        # Small sets are not indexed: each request runs every policy's `full` in order.
        self._linear = () if self.indexed else tuple(
            (cp.full, cp.forbid, cp.id) for cp in compiled)
        self._residuals = tuple(residuals)
        self._parts = parts  # policy position -> fusable parts, made on demand
        # Per-uid candidate bitsets for one entity store at a time. A uid's bits depend
        # only on the policies (fixed) and the uid's ancestors in that store (immutable),
        # so they can be reused until a request arrives with a different store.
        self._plans: dict[int, Any] = {}  # bitset -> plan (see `_plan_for`)
        # INVARIANT: bounded by the number of distinct policy-id combinations that occur,
        # which the candidate plans already bound.
        self._allows: dict[tuple[str, ...], Response] = {}
        self._denials: dict[tuple[str, ...], Response] = {}
        # For one store at a time: (store, principal bitsets, action bitsets, resource
        # bitsets by uid, and for `rune.cedar.authorize` each principal's (uid, bitset,
        # entity) by uid identity). INVARIANT: replaced as a whole by one assignment, and
        # read as a whole; a reader uses the dictionaries only when the tuple names its own
        # store, so threads deciding over different stores (an engine's old and new
        # versions) never mix their bitsets.
        self._caches: _Caches = (None, {}, {}, {}, {})

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        """Pickled without its per-store caches, which describe one process's entity
        store (`rune.bundle.cache` keeps compiled policy sets across processes)."""
        state = {name: getattr(self, name) for name in self.__slots__ if hasattr(self, name)}
        state["_caches"] = (None, {}, {}, {}, {})
        return None, state

    def scopes_at(self, position: int) -> tuple[ast.ScopeConstraint, ...]:
        """The (principal, action, resource) scope of the policy at ``position``."""
        return self._scopes[position]  # type: ignore[no-any-return]

    def compiled_at(self, position: int) -> CompiledPolicy:
        """The compiled form of the policy at ``position``."""
        return self.compiled[position]  # type: ignore[no-any-return]

    def part_if_made(self, position: int) -> FusablePart | None:
        """The fusable condition of the policy at ``position``, if one was made."""
        return self._parts.get(position)  # type: ignore[no-any-return]

    def with_policies(self, policies: tuple[Any, ...]) -> PreparedPolicySet:
        """The prepared form of ``policies`` (another version of this set: a template
        linked or unlinked, a policy added or removed), compiling only the policies this
        set does not hold; the others keep their compiled conditions. The scope index is
        built afresh (policy positions move), and per-store caches and plans start empty.
        """
        return PreparedPolicySet(policies, always_index=self._always_index,
                                 fuse_at_first_use=self._fuse_at_once, reuse=self)

    def candidates(
        self, principal: EntityUID, action: EntityUID, resource: EntityUID,
        entities: Mapping[EntityUID, Any],
    ) -> int:
        """Bitset of the policies whose scope matches the request."""
        caches = self._caches_for(entities)
        _, pc, ac, rc, _ = caches
        bits = pc.get(principal)
        if bits is None:
            bits = self.principal.miss(principal, entities, pc)
        if not bits:
            return 0
        b = ac.get(action)
        if b is None:
            b = self.action.miss(action, entities, ac)
        bits &= b
        if not bits:
            return 0
        b = rc.get(resource)
        if b is None:
            b = self.resource.miss(resource, entities, rc)
        return bits & b

    def _plan(self, bits: int) -> tuple[tuple[Any, bool, str], ...]:
        """The candidate policies of a bitset, in policy order."""
        plan = []
        compiled = self.compiled
        b = bits
        while b:
            low = b & -b
            cp = compiled[low.bit_length() - 1]
            b ^= low
            plan.append((cp.condition, cp.forbid, cp.id))
        return tuple(plan)

    def _plan_for(self, bits: int) -> Any:
        """The plan of a bitset seen for the first time: a `_LoopPlan` run in a loop
        until it has been used `_FUSE_AFTER` times (`decide` counts down and then calls
        `_fuse`), a plain list (never fused) when the plan is too large, or at once the
        fused function when tests ask for it."""
        plans = self._plans
        if len(plans) >= _BITS_CACHE_MAX:
            plans.clear()
        plan = self._plan(bits)
        if len(plan) > _FUSE_MAX:
            out: Any = list(plan)
        elif self._fuse_at_once:
            out = self._fuse(bits)
        else:
            out = _LoopPlan(plan)
            out.uses_left = _FUSE_AFTER
        plans[bits] = out
        return out

    def _caches_for(self, entities: Mapping[EntityUID, Any]) -> _Caches:
        """The per-store caches for ``entities``, replacing another store's (see
        `_caches` in `__init__` for why they are one tuple)."""
        caches = self._caches
        if caches[0] is not entities:
            caches = self._caches = (entities, {}, {}, {}, {})
        return caches

    def carry_caches(self, old: Mapping[EntityUID, Any], new: Mapping[EntityUID, Any],
                     changed: AbstractSet[EntityUID]) -> None:
        """Move the per-store caches from store ``old`` to store ``new``, which differs
        from it only in the entities of ``changed`` (their attributes, parents or
        ancestors): every other uid's bitsets and entry stay valid, so the first requests
        on a new version of the store are not first sightings. Does nothing when the
        caches belong to neither store."""
        caches = self._caches
        if caches[0] is not old:
            return
        _, pc, ac, rc, entries = caches
        if changed:
            pc, ac, rc = dict(pc), dict(ac), dict(rc)
            for uid in changed:
                pc.pop(uid, None)
                ac.pop(uid, None)
                rc.pop(uid, None)
            # Entries hold entity objects and are keyed by the identity of the uid object
            # a request used: refilled from the bitsets above, one lookup each.
            entries = {}
        # INVARIANT: one assignment, as everywhere `_caches` changes.
        self._caches = (new, pc, ac, rc, entries)

    def principal_entry(self, uid: EntityUID, entities: Mapping[EntityUID, Any]
                        ) -> tuple[EntityUID, int, Any]:
        """(uid, principal scope bitset, entity or None) of ``uid`` in the cached store,
        remembered by the identity of the uid object: hashing an interned uid by value
        reads its strings, which with many principals are rarely in the CPU caches. The
        entry holds the uid, so its id cannot be reused while the entry lives; readers
        check ``entry[0] is uid``."""
        entries = self._caches_for(entities)[4]
        # A first sighting: its bits are computed from its entity, not looked up by uid
        # (with many principals each lookup in a large table is a cache miss).
        entity = entities.get(uid)
        entry = (uid, self.principal.admits(uid, entity), entity)
        if len(entries) >= _BITS_CACHE_MAX:
            entries.clear()
        entries[id(uid)] = entry
        return entry

    def _part(self, position: int) -> FusablePart:
        part = self._parts.get(position)
        if part is None:
            policy = self.policies[position]
            part = self._parts[position] = fusable_condition(
                policy.ast, dict(policy.slot_values), residual_scope=self._residuals[position])
        return part

    def _fuse(self, bits: int) -> Any:
        """The fused function of a plan; or, when it would be huge (policies of
        thousands of conditions), the plan as a plain list, run by the loop."""
        compiled = self.compiled
        positions = [i for i in range(bits.bit_length()) if bits >> i & 1]
        parts = [self._part(i) for i in positions]
        source = _fused_source(parts)
        if len(source) > _FUSED_SOURCE_MAX:
            return list(self._plan(bits))
        code = _FUSED_CODE.get(source)
        if code is None:
            if len(_FUSED_CODE) >= _FUSED_CODE_MAX:
                _FUSED_CODE.clear()
            code = compile_generated(source, "<cedar plan>")
            if len(source) <= _FUSED_CACHED_MAX:
                _FUSED_CODE[source] = code
        ids = [compiled[i].id for i in positions]
        forbid = [compiled[i].forbid for i in positions]
        precise = [compiled[i].condition for i in positions]
        done: Any = [None] * (1 << len(parts)) if len(parts) <= _LISTED_OUTCOMES else {}

        def slow(i: int, mask: int, errors: list[tuple[str, str]] | None, *args: Any
                 ) -> tuple[int, list[tuple[str, str]] | None]:
            try:
                if precise[i](*args):
                    mask |= 1 << i
            except Exception as exc:
                message = exc.message if isinstance(exc, EvaluationError) else (
                    f"internal error: {exc!r}")
                if errors is None:
                    errors = []
                errors.append((ids[i], message))
            return mask, errors

        def finish(mask: int, errors: list[tuple[str, str]] | None) -> Response:
            permits = [ids[i] for i in range(len(ids)) if mask >> i & 1 and not forbid[i]]
            forbids = [ids[i] for i in range(len(ids)) if mask >> i & 1 and forbid[i]]
            if errors is not None:
                return _response(permits, forbids, errors)
            if forbids:
                out = self._shared(self._denials, _DENY, tuple(forbids))
            elif permits:
                out = self._shared(self._allows, _ALLOW, tuple(permits))
            else:
                out = _DEFAULT_DENY
            if done.__class__ is list or len(done) < 1024:
                done[mask] = out
            return out

        namespace: dict[str, Any] = {**NAMESPACE, "_slow": slow, "_UNSET": _UNSET,
                                     "_finish": finish, "_done": done}
        for i, part in enumerate(parts):
            for name, value in part.constants.items():
                namespace[f"{name}_{i}"] = value
        exec(code, namespace)
        return namespace["plan"]  # type: ignore[no-any-return]

    @staticmethod
    def _shared(table: dict[tuple[str, ...], Response], decision: Decision,
                key: tuple[str, ...]) -> Response:
        found = table.get(key)
        if found is None:
            found = table[key] = Response(decision, key, ())
        return found

    def decide(
        self, principal: EntityUID, action: EntityUID, resource: EntityUID,
        context: CedarRecord, entities: Mapping[EntityUID, Any],
    ) -> Response:
        """Decide a request: forbid overrides permit, default deny, errors skipped.

        This is the hot path of every decision, so the candidate computation (the same as
        `candidates`) and the policy loop are written out here rather than shared through
        helper calls; `evaluate` is the plain version used off the hot path.
        """
        if not self.indexed:
            return _response(*self.evaluate(principal, action, resource, context, entities))
        caches = self._caches_for(entities)
        _, pc, ac, rc, _ = caches
        bits = pc.get(principal)
        if bits is None:
            bits = self.principal.miss(principal, entities, pc)
        b = ac.get(action)
        if b is None:
            b = self.action.miss(action, entities, ac)
        b2 = rc.get(resource)  # (looked up even when bits is 0: `authorize` inlines this)
        if b2 is None:
            b2 = self.resource.miss(resource, entities, rc)
        return self.run(bits & b & b2, principal, action, resource, context, entities)

    def run(
        self, bits: int, principal: EntityUID, action: EntityUID, resource: EntityUID,
        context: CedarRecord, entities: Mapping[EntityUID, Any],
    ) -> Response:
        """Decide a request whose candidate bitset (see `candidates`) is ``bits``: the plan
        part of `decide`, for callers that computed the bitset themselves."""
        plan: Any = self._plans.get(bits)
        cls = plan.__class__
        if cls is _function:
            return plan(principal, action, resource, context, entities)  # type: ignore[no-any-return]
        if cls is _LoopPlan:
            plan.uses_left -= 1
            if not plan.uses_left:  # hot enough: fuse it (see `_FUSE_AFTER`)
                plan = self._plans[bits] = self._fuse(bits)
                if plan.__class__ is _function:
                    return plan(principal, action, resource, context, entities)  # type: ignore[no-any-return]
        elif cls is not list:
            if not self.indexed:  # (small sets run every policy's `full`, in order)
                return _response(*self.evaluate(principal, action, resource, context,
                                                entities))
            plan = self._plan_for(bits)
            if plan.__class__ is _function:
                return plan(principal, action, resource, context, entities)  # type: ignore[no-any-return]
        permits: list[str] | None = None
        forbids: list[str] | None = None
        errors: list[tuple[str, str]] | None = None
        for condition, forbid, pid in plan:
            try:
                if condition(principal, action, resource, context, entities):
                    if forbid:
                        if forbids is None:
                            forbids = [pid]
                        else:
                            forbids.append(pid)
                    elif permits is None:
                        permits = [pid]
                    else:
                        permits.append(pid)
            except EvaluationError as exc:
                if errors is None:
                    errors = []
                errors.append((pid, exc.message))
            except Exception as exc:
                if errors is None:
                    errors = []
                errors.append((pid, f"internal error: {exc!r}"))
        if errors is None:
            # Responses are immutable, so one object per outcome is shared by every
            # request with that outcome (allocating a tuple subclass is not free).
            if forbids is not None:
                return self._shared(self._denials, _DENY, tuple(forbids))
            if permits is not None:
                return self._shared(self._allows, _ALLOW, tuple(permits))
            return _DEFAULT_DENY
        return _response(permits or [], forbids or [], errors)

    def evaluate(
        self, principal: EntityUID, action: EntityUID, resource: EntityUID,
        context: CedarRecord, entities: Mapping[EntityUID, Any],
    ) -> tuple[list[str], list[str], list[tuple[str, str]]]:
        """Run the applicable policies: (satisfied permits, satisfied forbids, errors)."""
        permits: list[str] = []
        forbids: list[str] = []
        errors: list[tuple[str, str]] = []
        if not self.indexed:
            for full, forbid, pid in self._linear:
                try:
                    if full(principal, action, resource, context, entities):
                        (forbids if forbid else permits).append(pid)
                except EvaluationError as exc:
                    errors.append((pid, exc.message))
                except Exception as exc:
                    errors.append((pid, f"internal error: {exc!r}"))
            return permits, forbids, errors
        for condition, forbid, pid in self._plan(
                self.candidates(principal, action, resource, entities)):  # (never fused)
            try:
                if condition(principal, action, resource, context, entities):
                    (forbids if forbid else permits).append(pid)
            except EvaluationError as exc:
                errors.append((pid, exc.message))
            except Exception as exc:
                errors.append((pid, f"internal error: {exc!r}"))
        return permits, forbids, errors
