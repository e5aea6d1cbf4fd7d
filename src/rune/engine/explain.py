"""Why a decision came out as it did: policies, false conditions, engine reasons, proofs.

`explain(decision)` re-examines the decision on the immutable snapshot it was made on:

- the *determining* policies (the decision's policy reasons) with their source;
- every *relevant* policy that did not apply (its scope matches the request but it was
  not satisfied, or its evaluation failed), with the condition that stopped it: a `when`
  body is split into its top-level `&&` conjuncts and the first false (or failing) one is
  reported; an `unless` body is split into its top-level `||` disjuncts and the first true
  (or failing) one is reported, since that is what made the whole `unless` hold;
- the engine-level reasons (`approval:`, `rule:`, `rate-limit:`, `budget:`, `approved`)
  in words;
- a Datalog proof of every derived fact the decision used: the entity data rules derived
  about the request's principal, action and resource (and the ancestors a policy's `in`
  may follow), and the request-scoped outputs (configuration, obligations, deny reasons,
  approvals). A proof names the rule and proves each body fact in turn, down to input
  facts (entities, recorded history, user facts, the request).

The proofs come from `rune.engine.proof`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from rune.cedar import ast as cedar
from rune.cedar.compiler import compile_policy
from rune.cedar.errors import EvaluationError
from rune.cedar.json_format import value_to_json
from rune.cedar.policy_set import Policy
from rune.cedar.request import Request
from rune.cedar.values import EntityUID
from rune.datalog import ast as dl
from rune.engine.proof import Proof, ProofSearch, source_location, span_json
from rune.store.mapping import symbol, text_of, uid_text

if TYPE_CHECKING:
    from rune.engine.decision import Decision
    from rune.engine.snapshot import Snapshot
    from rune.errors import SourceSpan

__all__ = [
    "EngineReason",
    "Explanation",
    "FailedCondition",
    "PolicyReport",
    "Proof",
    "explain",
]

# The request-scoped relations whose tuples become part of a decision.
_OUTPUT_RELATIONS = ("config", "config_num", "rate_limit", "budget", "obligation", "deny",
                     "require_approval")
_ENTITY_OUTPUTS = ("derived_parent", "derived_attr", "derived_attr_num", "derived_tag")


# -- the explanation ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class FailedCondition:
    """The part of a `when`/`unless` clause that kept a relevant policy from applying.

    Attributes:
        clause: "when" or "unless".
        outcome: "false" (a `when` conjunct was false), "true" (an `unless` disjunct was
            true) or "error" (evaluating it failed; ``error`` says why).
        text: the conjunct or disjunct as written.
        span: where it is written.
        error: the evaluation error, for outcome "error".
    """

    clause: str
    outcome: str
    text: str
    span: SourceSpan | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out: dict[str, Any] = {"clause": self.clause, "outcome": self.outcome,
                               "text": self.text, "span": span_json(self.span)}
        if self.error is not None:
            out["error"] = self.error
        return out

    def describe(self) -> str:
        """One line: what was false (or failed) and where."""
        where = source_location(self.span)
        if self.outcome == "error":
            return f"{self.clause} condition failed at {where}: {self.text}  ({self.error})"
        return f"{self.clause} condition {self.outcome} at {where}: {self.text}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyReport:
    """One policy that took part in the decision, with its source.

    Attributes:
        id: the policy id.
        effect: "permit" or "forbid".
        status: "determining" (among the decision's reasons), "satisfied" (satisfied,
            but the decision was made by others), "false" (a condition was not met) or
            "error" (its evaluation failed, so it was skipped).
        annotations: the policy's annotations, in source order.
        span: where the policy is written.
        text: the policy as written.
        failed: for "false" and "error", the condition responsible.
    """

    id: str
    effect: str
    status: str
    annotations: tuple[tuple[str, str], ...]
    span: SourceSpan | None
    text: str
    failed: FailedCondition | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out: dict[str, Any] = {"id": self.id, "effect": self.effect, "status": self.status,
                               "annotations": dict(self.annotations),
                               "span": span_json(self.span), "text": self.text}
        if self.failed is not None:
            out["failed"] = self.failed.to_json()
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineReason:
    """An engine-level reason of the decision, in words.

    Attributes:
        reason: the reason as the decision lists it (`approval:...`, `rule:...`,
            `rate-limit:...`, `budget:...`, `approved`).
        message: what it means for this request.
        policies: the policies behind it (an `@ask` annotation).
        proofs: the Datalog proofs of the facts behind it.
    """

    reason: str
    message: str
    policies: tuple[str, ...] = ()
    proofs: tuple[Proof, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"reason": self.reason, "message": self.message,
                "policies": list(self.policies), "proofs": [p.to_json() for p in self.proofs]}


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """Why a decision came out as it did; `str()` gives `to_text()`.

    Attributes:
        decision: "allow", "deny" or "ask".
        version: the store version decided on.
        principal, action, resource: the request's uids as Cedar text.
        context: the request's context in Cedar's JSON format.
        reasons: the decision's reasons as it lists them.
        determining: the policies that determined the decision.
        satisfied: policies satisfied but not determining (a permit under a forbid, or
            under an engine-level deny).
        not_applied: relevant policies (scope matches) that were false or failed.
        errors: the decision's errors as it lists them.
        engine_reasons: the engine-level reasons, in words.
        config: the configuration derived for the request.
        obligations: the obligations, in JSON form.
        derived_entity_data: proofs of the rule-derived parents, attributes and tags of
            the request's entities (and parents of their ancestors).
        request_outputs: proofs of the configuration, obligations, deny reasons and
            approvals the rules derived for the request.
        notes: anything the explanation could not establish.
    """

    decision: str
    version: int
    principal: str
    action: str
    resource: str
    context: Mapping[str, Any]
    reasons: tuple[str, ...]
    determining: tuple[PolicyReport, ...]
    satisfied: tuple[PolicyReport, ...]
    not_applied: tuple[PolicyReport, ...]
    errors: tuple[str, ...]
    engine_reasons: tuple[EngineReason, ...]
    config: tuple[tuple[str, Any], ...]
    obligations: tuple[Mapping[str, Any], ...]
    derived_entity_data: tuple[Proof, ...]
    request_outputs: tuple[Proof, ...]
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.to_text()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (`json.dumps` accepts it as is)."""
        return {
            "decision": self.decision,
            "version": self.version,
            "request": {"principal": self.principal, "action": self.action,
                        "resource": self.resource, "context": _plain(self.context)},
            "reasons": list(self.reasons),
            "determining": [p.to_json() for p in self.determining],
            "satisfied": [p.to_json() for p in self.satisfied],
            "not_applied": [p.to_json() for p in self.not_applied],
            "errors": list(self.errors),
            "engine_reasons": [r.to_json() for r in self.engine_reasons],
            "config": {k: _plain(v) for k, v in self.config},
            "obligations": [_plain(o) for o in self.obligations],
            "derived_entity_data": [p.to_json() for p in self.derived_entity_data],
            "request_outputs": [p.to_json() for p in self.request_outputs],
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """A readable, multi-line explanation."""
        import json

        out = [f"Decision: {self.decision} (version {self.version})",
               f"Request: principal {self.principal}, action {self.action}, "
               f"resource {self.resource}, context {json.dumps(_plain(self.context))}",
               f"Reasons: {', '.join(self.reasons) if self.reasons else '(none)'}"]
        out.append("")
        if self.determining:
            out.append("Determining policies:")
            for report in self.determining:
                out.extend(_policy_lines(report, with_text=True))
        elif self.decision == "deny" and not any(
                r.reason.startswith(("rule:", "rate-limit:", "budget:"))
                for r in self.engine_reasons):
            out.append("Determining policies: none (no permit applied: denied by default)")
        else:
            out.append("Determining policies: none (the engine reasons below decided)")
        if self.satisfied:
            out.append("")
            out.append("Satisfied but not determining:")
            for report in self.satisfied:
                out.extend(_policy_lines(report, with_text=False))
        false = [p for p in self.not_applied if p.status == "false"]
        failed = [p for p in self.not_applied if p.status == "error"]
        if false:
            out.append("")
            out.append("Relevant policies that did not apply:")
            for report in false:
                out.extend(_policy_lines(report, with_text=False))
        if failed or self.errors:
            out.append("")
            out.append("Errors (policies skipped):")
            for report in failed:
                out.extend(_policy_lines(report, with_text=False))
            listed = {p.id for p in failed}
            out.extend(f"  {e}" for e in self.errors if e.split(":", 1)[0] not in listed)
        # Each derivation is printed once; later uses of the same fact refer back to it.
        shown: set[tuple[str, tuple[Any, ...]]] = set()
        if self.engine_reasons:
            out.append("")
            out.append("Engine reasons:")
            for reason in self.engine_reasons:
                out.append(f"  {reason.reason}: {reason.message}")
                for proof in reason.proofs:
                    out.extend("    " + line for line in proof.to_lines(shown))
        if self.config or self.obligations:
            out.append("")
            if self.config:
                out.append("Configuration: " + ", ".join(
                    f"{k} = {json.dumps(_plain(v))}" for k, v in self.config))
            if self.obligations:
                out.append("Obligations: " + ", ".join(
                    json.dumps(_plain(o)) for o in self.obligations))
        for title, proofs in (("Derived entity data (Datalog proofs):", self.derived_entity_data),
                              ("Request outputs (Datalog proofs):", self.request_outputs)):
            if proofs:
                out.append("")
                out.append(title)
                for proof in proofs:
                    out.extend("  " + line for line in proof.to_lines(shown))
        if self.notes:
            out.append("")
            out.append("Notes:")
            out.extend(f"  {note}" for note in self.notes)
        return "\n".join(out) + "\n"


def _policy_lines(report: PolicyReport, *, with_text: bool) -> list[str]:
    lines = [f"  {report.id} ({report.effect}) at {source_location(report.span)}"]
    if report.failed is not None:
        lines.append(f"    {report.failed.describe()}")
    if with_text and report.text:
        lines.extend(f"    | {line}" for line in report.text.splitlines())
    return lines


# -- entry point ----------------------------------------------------------------------------

def explain(decision: Decision, *, now: float | None = None) -> Explanation:
    """Explain a decision on the snapshot it was made on.

    Args:
        decision: a decision returned by `Engine.authorize`.
        now: the time (seconds since the epoch) request-scoped rules see as `now` while
            their proofs are rebuilt; defaults to the current time. Rules that read `now`
            may derive different facts than they did when the decision was made.

    Returns:
        The explanation (see `Explanation`).
    """
    snap = decision.snapshot
    request = Request(*decision.request)
    determining, satisfied, not_applied = _policy_reports(snap, request, decision.reasons)
    notes: list[str] = []
    prover: ProofSearch | None = None
    if snap.result is not None:
        at = time.time() if now is None else now
        try:
            result = _request_result(snap, request, at)
        except Exception as exc:  # the decision already reports it
            notes.append(f"the rules could not be evaluated for this request: {exc}")
        else:
            prover = ProofSearch(snap, result)
            notes.extend(_time_notes(decision, result, at, now is None))
    entity_proofs: list[Proof] = []
    output_proofs: list[Proof] = []
    if prover is not None:
        entity_proofs = [prover.proof(rel, row) for rel, row in _entity_outputs(snap, request,
                                                                               prover)]
        output_proofs = [prover.proof(rel, row) for rel in _OUTPUT_RELATIONS
                         for row in sorted(prover.rows(rel), key=repr)]
        if prover.fallbacks:
            notes.append(f"the Datalog explainer failed on {len(prover.fallbacks)} fact(s); "
                         f"RUNE's own proof search proved them (first: {prover.fallbacks[0]})")
        if prover.exhausted:
            notes.append("the proof search hit its bounds; some facts are shown unproved")
    engine_reasons = _engine_reasons(decision, snap, determining, prover)
    p, a, r, c = request
    return Explanation(
        decision=decision.decision,
        version=decision.version,
        principal=str(p),
        action=str(a),
        resource=str(r),
        context=MappingProxyType(value_to_json(c)),
        reasons=tuple(decision.reasons),
        determining=tuple(determining),
        satisfied=tuple(satisfied),
        not_applied=tuple(not_applied),
        errors=tuple(decision.errors),
        engine_reasons=tuple(engine_reasons),
        config=tuple(sorted(decision.config.items())),
        obligations=tuple(MappingProxyType(o.to_json()) for o in decision.obligations),
        derived_entity_data=tuple(entity_proofs),
        request_outputs=tuple(output_proofs),
        notes=tuple(notes),
    )


def _request_result(snap: Snapshot, request: Request, now: float) -> Any:
    """The rules' whole result with this request's facts added, which proofs search (a
    decision reads only the outputs, through `snap.request_rules`)."""
    if not snap.request_scoped:
        return snap.result
    from rune.engine.request_rules import request_facts

    return snap.result.extended(request_facts(request, now))


def _time_notes(decision: Decision, result: Any, at: float, default_time: bool) -> list[str]:
    """Warn when rules that read `now` give other outputs at explanation time."""
    from rune.engine.request_rules import config_of, obligations_of

    if not _reads_now(decision.snapshot.rules):
        return []
    differ = []
    if dict(config_of(result)) != dict(decision.config):
        differ.append("configuration")
    if tuple(obligations_of(result)) != tuple(decision.obligations):
        differ.append("obligations")
    denials = {f"rule:{text_of(row[0])}" for row in result["deny"]}
    if {x for x in decision.reasons if x.startswith("rule:")} - denials:
        differ.append("deny reasons")
    when = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    if differ:
        hint = "; pass `now=` to `rune.engine.explain.explain` to use the decision's time"
        return [f"the rules read `now`; rebuilt at {when} their {', '.join(differ)} differ "
                f"from the decision's{hint if default_time else ''}"]
    return [f"the rules read `now`; their proofs were rebuilt with now = {when}"]


def _reads_now(program: Any) -> bool:
    for rule in program.analysed.rules:
        stack: list[Any] = list(rule.clause.body)
        while stack:
            node = stack.pop()
            if isinstance(node, dl.Atom) and node.relation == "now":
                return True
            if isinstance(node, dl.Negation):
                stack.append(node.atom)
            elif isinstance(node, dl.Comparison):
                stack.extend(e for side in (node.left, node.right)
                             for e in dl.walk_expression(side) if isinstance(e, dl.Aggregate))
            elif isinstance(node, dl.Aggregate):
                stack.extend(node.body)
    return False


# -- policies -------------------------------------------------------------------------------

def _policy_reports(snap: Snapshot, request: Request, reasons: tuple[str, ...]
                    ) -> tuple[list[PolicyReport], list[PolicyReport], list[PolicyReport]]:
    """(determining, satisfied but not determining, relevant but not applied)."""
    p, a, r, _ = request
    store = snap.entities._by_uid
    prepared = snap.prepared
    determining = [_report(snap.policies.policy(pid), "determining")
                   for pid in dict.fromkeys(reasons) if pid in snap.policies]
    # The scope index gives a superset of the policies whose scope matches (an
    # `is T in E` scope keeps its type test in the policy); each is confirmed below.
    bits = prepared.candidates(p, a, r, store)
    satisfied: list[PolicyReport] = []
    not_applied: list[PolicyReport] = []
    for position, compiled in enumerate(prepared.compiled):
        if not (bits >> position) & 1 or compiled.id in reasons:
            continue
        policy: Policy = prepared.policies[position]
        slots = dict(policy.slot_values)
        tree = policy.ast  # parsed again from the policy's text: read it once
        unconditioned = replace(tree, conditions=())
        if _evaluate(policy.id, unconditioned, slots, request, store) is not True:
            continue
        outcome = _evaluate_compiled(compiled.full, request, store)
        if outcome is True:
            satisfied.append(_report(policy, "satisfied"))
            continue
        failed = _failed_condition(policy, tree, slots, request, store)
        if isinstance(outcome, str):
            if failed is None or failed.outcome != "error":
                failed = FailedCondition(clause="when", outcome="error", text="", span=None,
                                         error=outcome)
            not_applied.append(_report(policy, "error", failed))
        else:
            not_applied.append(_report(policy, "false", failed))
    return determining, satisfied, not_applied


def _report(policy: Policy, status: str, failed: FailedCondition | None = None
            ) -> PolicyReport:
    return PolicyReport(
        id=policy.id, effect=str(policy.effect), status=status,
        annotations=tuple(policy.annotations.items()),
        span=policy.span, text=policy.text, failed=failed)


def _failed_condition(policy: Policy, tree: cedar.PolicyAST, slots: Mapping[str, EntityUID],
                      request: Request, store: Mapping[Any, Any]) -> FailedCondition | None:
    """The first `when` conjunct that is false or the first `unless` disjunct that is
    true (or the first part whose evaluation fails), in evaluation order (``tree`` is
    ``policy.ast``)."""
    for condition in tree.conditions:
        clause = "when" if condition.is_when else "unless"
        parts = _split(condition.body, cedar.And if condition.is_when else cedar.Or)
        for part in parts:
            single = replace(tree, principal=cedar.ScopeConstraint(),
                             action=cedar.ScopeConstraint(), resource=cedar.ScopeConstraint(),
                             conditions=(cedar.Condition(True, part),))
            # INVARIANT: every earlier part evaluated to the value that lets evaluation
            # continue (true for `&&`, false for `||`), so evaluating this part alone
            # gives what the whole condition's evaluation met here.
            outcome = _evaluate(policy.id, single, slots, request, store)
            text = _policy_source(policy, part.span)
            if isinstance(outcome, str):
                return FailedCondition(clause=clause, outcome="error", text=text,
                                       span=part.span, error=outcome)
            if outcome is not condition.is_when:
                return FailedCondition(clause=clause, outcome=str(outcome).lower(),
                                       text=text, span=part.span)
    return None


def _split(expr: cedar.Expr, kind: type[cedar.And] | type[cedar.Or]) -> list[cedar.Expr]:
    """The operands of a chain of `&&` (or `||`), left to right.

    A loop over an explicit stack: the parser nests a chain of n operands n levels deep,
    and allow-lists of thousands are real policies.
    """
    operands: list[cedar.Expr] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, kind):
            stack += (node.right, node.left)  # the left operand comes out first
        else:
            operands.append(node)
    return operands


def _evaluate(policy_id: str, policy: cedar.PolicyAST, slots: Mapping[str, EntityUID],
              request: Request, store: Mapping[Any, Any]) -> bool | str:
    """True/False, or the error message."""
    try:
        compiled = compile_policy(policy_id, policy, slots)
    except EvaluationError as exc:
        return exc.message
    return _evaluate_compiled(compiled.full, request, store)


def _evaluate_compiled(function: Any, request: Request, store: Mapping[Any, Any]
                       ) -> bool | str:
    p, a, r, c = request
    try:
        return bool(function(p, a, r, c, store))
    except EvaluationError as exc:
        return exc.message
    except Exception as exc:  # reported the way the authorizer reports it
        return f"internal error: {exc!r}"


def _policy_source(policy: Policy, span: SourceSpan | None) -> str:
    """The text of ``span`` (offsets into the policy file) within the policy's text."""
    start_span = policy.span
    if span is None or start_span is None:
        return ""
    start = span.offset - start_span.offset
    end = span.end_offset - start_span.offset
    if 0 <= start <= end <= len(policy.text):
        return policy.text[start:end]
    return ""


# -- engine-level reasons -------------------------------------------------------------------

def _engine_reasons(decision: Decision, snap: Snapshot, determining: list[PolicyReport],
                    prover: ProofSearch | None) -> list[EngineReason]:
    out: list[EngineReason] = []
    request = decision.request
    for reason in decision.reasons:
        if reason in snap.policies:
            continue
        kind, _, key = reason.partition(":")
        if kind == "approval":
            out.append(_approval_reason(reason, key, snap, determining, prover))
        elif kind == "rule":
            proofs = _proofs(prover, "deny", (symbol(key),))
            out.append(EngineReason(
                reason=reason, message=f"the rules deny this request (`deny(\"{key}\")` "
                "holds for it), which overrides any permit", proofs=proofs))
        elif kind in ("rate-limit", "budget"):
            relation = "rate_limit" if kind == "rate-limit" else "budget"
            rows = prover.rows_matching(relation, symbol(key)) if prover is not None else []
            proofs = tuple(prover.proof(relation, row) for row in rows) if prover else ()
            out.append(EngineReason(reason=reason, message=_limit_message(kind, key, decision),
                                    proofs=proofs))
        elif reason == "approved":
            expires = snap.approvals.get((request.principal, request.action, request.resource))
            until = ("" if expires is None else " until "
                     + datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds"))
            # What the approval stood in for: the `@ask` policies and derived requirements.
            keys = [_ask_key(p) for p in determining if _ask_key(p) is not None]
            if prover is not None:
                keys += [text_of(row[0]) for row in sorted(prover.rows("require_approval"))]
            needed = [_approval_reason(f"approval:{k}", k, snap, determining, prover)
                      for k in dict.fromkeys(k for k in keys if k is not None)]
            covers = f" It covered: {', '.join(n.reason for n in needed)}." if needed else ""
            out.append(EngineReason(
                reason=reason, message="a human approved exactly this principal, action and "
                f"resource (`engine.approve`), valid{until}; the approval turned \"ask\" into "
                f"\"allow\".{covers}",
                policies=tuple(p for n in needed for p in n.policies),
                proofs=tuple(p for n in needed for p in n.proofs)))
        else:
            out.append(EngineReason(reason=reason, message="an engine-level reason"))
    return out


def _approval_reason(reason: str, key: str, snap: Snapshot, determining: list[PolicyReport],
                     prover: ProofSearch | None) -> EngineReason:
    policies = tuple(p.id for p in determining if _ask_key(p) == key)
    proofs = _proofs(prover, "require_approval", (symbol(key),))
    sources = []
    if policies:
        sources.append("policy " + ", ".join(f"`{p}`" for p in policies)
                       + " is annotated `@ask`")
    if proofs:
        sources.append(f"the rules derive `require_approval(\"{key}\")`")
    why = " and ".join(sources) or "approval is required"
    return EngineReason(
        reason=reason,
        message=f"the request is allowed by policy but needs human approval ({key}): {why}. "
        "Record one with `engine.approve(principal, action, resource)`; the same request "
        "is then allowed until the approval expires",
        policies=policies, proofs=proofs)


def _ask_key(report: PolicyReport) -> str | None:
    """The approval a policy's `@ask` annotation asks for (the policy id when empty)."""
    for name, value in report.annotations:
        if name == "ask":
            return value or report.id
    return None


def _limit_message(kind: str, key: str, decision: Decision) -> str:
    wanted = "rate_limit" if kind == "rate-limit" else "budget"
    for ob in decision.obligations:
        if ob.kind == wanted and ob.key == key:
            if kind == "rate-limit":
                return (f"the rate limit `{key}` is exhausted: at most {ob.limit} action(s) "
                        f"per {ob.window_seconds} s are allowed, so this one is denied")
            return (f"the budget `{key}` is exhausted: at most {ob.limit} per "
                    f"{ob.window_seconds} s, and this request would spend {ob.amount}")
    return f"the {kind.replace('-', ' ')} `{key}` is exhausted"


def _proofs(prover: ProofSearch | None, relation: str, row: tuple[Any, ...]) -> tuple[Proof, ...]:
    if prover is None or row not in prover.rows(relation):
        return ()
    return (prover.proof(relation, row),)


def _entity_outputs(snap: Snapshot, request: Request, prover: ProofSearch
                    ) -> list[tuple[str, tuple[Any, ...]]]:
    """The derived entity data policies could see about this request's entities."""
    store = snap.entities._by_uid
    direct = {request.principal, request.action, request.resource}
    reachable = set(direct)
    for uid in direct:
        entity = store.get(uid)
        if entity is not None:
            reachable.update(entity.ancestors)
    direct_text = {uid_text(u) for u in direct}
    reachable_text = {uid_text(u) for u in reachable}
    out: list[tuple[str, tuple[Any, ...]]] = []
    for relation in _ENTITY_OUTPUTS:
        wanted = reachable_text if relation == "derived_parent" else direct_text
        for row in sorted(prover.rows(relation), key=repr):
            if row[0] in wanted:
                out.append((relation, row))
    return out


# -- rendering ----------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """Mappings and tuples made into dicts and lists, for JSON."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
