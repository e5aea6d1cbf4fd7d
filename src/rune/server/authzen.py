"""The AuthZEN 1.0 routes: evaluation, evaluations, search, metadata, access requests.

A decision's AuthZEN answer is `{"decision": true}` for "allow" and `{"decision":
false}` otherwise, with a `context` only when there is something to say:

* `obligations`: the decision's obligations in the obligations profile's format (see
  `rune.server.obligations`), on an allow or a deny;
* `config`: the configuration RUNE's rules derived for the request;
* for "ask": the access request profile's requestable denial (`evaluation_id`,
  `evaluated_at`, `reason: "approval_required"`, `access_request`), see
  `rune.server.approvals`;
* when the request presented `context.approval`: on an allow, `approval` (`id`,
  `approved_until`); on a denial, the profile's `reason` and `next_action`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from typing import TYPE_CHECKING, Any

import orjson

from rune.cedar import EntityUID
from rune.engine import Verdict
from rune.engine.request_entities import EntityProperties, decide
from rune.engine.search import search as search_entities
from rune.engine.search import search_actions
from rune.errors import RuneError
from rune.server.approvals import rfc3339, task_json
from rune.server.errors import ServerError
from rune.server.http import Call, Reply, json_reply
from rune.server.mapping import (
    action_uid,
    cedar_json,
    context_of,
    entity_uid,
    is_entity_type,
    properties_of,
)
from rune.server.obligations import SUPPORTED_OBLIGATIONS, obligation_objects
from rune.server.wire.authzen_v1 import (
    Evaluation,
    SearchKind,
    Semantic,
    parse_evaluation,
    parse_evaluations,
    parse_search,
)

if TYPE_CHECKING:
    from rune.server.app import App

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "cancel_route",
    "evaluate",
    "evaluation_route",
    "evaluations_route",
    "metadata_route",
    "search_route",
    "submit_route",
    "task_route",
]

_ALLOW, _DENY, _ASK = Verdict.ALLOW, Verdict.DENY, Verdict.ASK
_TRUE = {"decision": True}
_FALSE = {"decision": False}
_TRUE_BYTES = orjson.dumps(_TRUE)
_FALSE_BYTES = orjson.dumps(_FALSE)
DEFAULT_PAGE = 1000  # search results per page when the request sets no limit
MAX_PAGE = 10_000
_NEXT_ACTION = {"approval_expired": "request", "approval_unverifiable": "none",
                "policy_denied": "none"}


def evaluate(app: App, evaluation: Evaluation, call: Call,
             memo: dict[int, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Decide one AuthZEN evaluation: (the engine's decision, the AuthZEN answer).

    ``memo`` (for a batch) remembers the properties of entities shared by evaluations.

    Raises:
        ServerError: (400) a request the mapping or the engine refuses.
    """
    depth = app.config.max_depth
    subject, action, resource = evaluation.subject, evaluation.action, evaluation.resource
    assert subject.id is not None and resource.id is not None
    p = entity_uid(subject.type, subject.id, "$.subject.type")
    a = action_uid(action.name)
    r = entity_uid(resource.type, resource.id, "$.resource.type")
    raw_context = evaluation.context
    context = context_of(raw_context, depth) if raw_context else None
    try:
        properties = (properties_of(evaluation, depth, app.engine.snapshot.entities, memo,
                                    app.redundant)
                      if subject.properties or resource.properties or action.properties
                      else None)
        if properties:
            decision = decide(app.engine, p, a, r, context, properties)
        else:
            decision = app.engine.authorize(p, a, r, context)
            app.cache.observe((p, a, r), decision)
    except RuneError as error:
        raise ServerError(error.message, code=error.code, path=error.path) from None
    verdict = decision.decision
    approval = raw_context.get("approval") if raw_context else None
    if approval is None and not decision.obligations and not decision.config \
            and verdict is not _ASK:
        return decision, _TRUE if verdict is _ALLOW else _FALSE
    return decision, _answer(app, evaluation, decision, call, (p, a, r), approval)


def _answer(app: App, evaluation: Evaluation, decision: Any, call: Call,
            triple: tuple[Any, Any, Any], approval: Any) -> dict[str, Any]:
    verdict = decision.decision
    now = time.time()
    context: dict[str, Any] = {}
    if decision.obligations:
        context["obligations"] = obligation_objects(decision.obligations)
    if decision.config:
        context["config"] = dict(decision.config)
    if verdict is _ASK:
        template = next((x[9:] for x in decision.reasons if x.startswith("approval:")),
                        "approval")
        context.update(app.requests.requestable(
            evaluation.subject, evaluation.action.raw, evaluation.resource, triple, template,
            f"{call.base_url}/access/v1/requests", now))
    if approval is not None:
        problem = app.requests.check(approval, triple, now)
        if verdict is _ALLOW:
            until = app.requests.approval_until(approval) if problem is None else None
            if until is not None:
                context["approval"] = {"id": approval["id"], "approved_until": rfc3339(until)}
        else:
            reason = problem or ("approval_unverifiable" if verdict is _ASK else "policy_denied")
            action = _NEXT_ACTION[reason]
            if action == "request" and "access_request" not in context:
                action = "none"
            context["reason"] = reason
            context["next_action"] = action
    out: dict[str, Any] = {"decision": verdict is _ALLOW}
    if context:
        out["context"] = context
    return out


async def _logged(futures: list[asyncio.Future[None]]) -> None:
    try:
        await asyncio.gather(*futures)
    except OSError:
        raise ServerError("the decision log cannot be written, so no decision is given",
                          status=503, code="decision-log-unavailable") from None


async def evaluation_route(app: App, call: Call) -> Reply:
    """`POST /access/v1/evaluation`."""
    evaluation = parse_evaluation(call.body)
    decision, answer = evaluate(app, evaluation, call)
    app.metrics.decided("authzen", decision.decision)
    log = app.log
    if log is None:
        if answer is _TRUE:
            return Reply(200, _TRUE_BYTES)
        if answer is _FALSE:
            return Reply(200, _FALSE_BYTES)
        return json_reply(answer)
    decision_id = log.next_id()
    future = log.record(decision_id, "authzen", call.request_id, evaluation.to_json(),
                        decision)
    if future is not None:
        await _logged([future])
    return json_reply(answer, headers=[("x-decision-id", decision_id)])


async def evaluations_route(app: App, call: Call) -> Reply:
    """`POST /access/v1/evaluations`."""
    batch = parse_evaluations(call.body)
    if batch.single is not None:  # no (or an empty) `evaluations`: one evaluation
        return await evaluation_route(app, call)
    semantic = batch.semantic
    log = app.log
    futures: list[asyncio.Future[None]] = []
    answers: list[dict[str, Any]] = []
    counts: dict[Any, int] = {}
    memo: dict[int, Any] = {}
    for item in batch.items:
        allowed = False
        if isinstance(item, ServerError):
            answers.append(_failed(item))
        else:
            try:
                decision, answer = evaluate(app, item, call, memo)
            except ServerError as failure:
                answers.append(_failed(failure))
            else:
                verdict = decision.decision
                counts[verdict] = counts.get(verdict, 0) + 1
                allowed = verdict is _ALLOW
                answers.append(answer)
                if log is not None:
                    future = log.record(log.next_id(), "authzen", call.request_id,
                                        item.to_json(), decision)
                    if future is not None:
                        futures.append(future)
        if semantic is Semantic.DENY_ON_FIRST_DENY and not allowed:
            last = answers[-1]
            context = dict(last.get("context") or {})
            context.setdefault("code", "200")
            context.setdefault("reason", "deny_on_first_deny")
            answers[-1] = {"decision": False, "context": context}
            break
        if semantic is Semantic.PERMIT_ON_FIRST_PERMIT and allowed:
            break
    for verdict, count in counts.items():
        app.metrics.decided("authzen", verdict, count)
    if futures:
        await _logged(futures)
    return json_reply({"evaluations": answers})


def _failed(error: ServerError) -> dict[str, Any]:
    """A batch item that could not be evaluated: denied, with the error in its context."""
    inner: dict[str, Any] = {"status": error.status, "code": error.code,
                             "message": error.message}
    if error.path:
        inner["path"] = error.path
    return {"decision": False, "context": {"error": inner}}


# -- search ----------------------------------------------------------------------------------

def _token(app: App, binding: bytes, after: str) -> str:
    encoded = base64.urlsafe_b64encode(after.encode()).decode().rstrip("=")
    mac = hmac.new(app.token_key, binding + b"\0" + after.encode(), hashlib.sha256)
    return f"{encoded}.{mac.hexdigest()[:32]}"


def _resume(app: App, binding: bytes, token: str) -> str:
    bad = ServerError("`$.page.token` is not a token this server issued for this search "
                      "(every member of the request but the token must stay the same)",
                      code="invalid-page-token", path="$.page.token")
    encoded, _, mac = token.partition(".")
    try:
        after = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise bad from None
    expected = hmac.new(app.token_key, binding + b"\0" + after.encode(),
                        hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(expected, mac):
        raise bad
    return after


async def search_route(app: App, call: Call, kind: SearchKind) -> Reply:
    """`POST /access/v1/search/{subject,resource,action}`."""
    search = parse_search(call.body, kind)
    depth = app.config.max_depth
    context = context_of(search.context, depth) if search.context else None
    fixed: list[EntityProperties] = []
    target: Any = None
    for entity, path, searched in ((search.subject, "$.subject", kind is SearchKind.SUBJECT),
                                   (search.resource, "$.resource",
                                    kind is SearchKind.RESOURCE)):
        if not entity.properties:
            continue
        values = cedar_json(dict(entity.properties), f"{path}.properties", depth)
        if searched:
            target = values
        elif is_entity_type(entity.type):
            assert entity.id is not None
            fixed.append(EntityProperties(EntityUID(entity.type, entity.id), values,
                                          f"{path}.properties"))
    if search.action is not None and search.action.properties:
        fixed.append(EntityProperties(
            EntityUID("Action", search.action.name),
            cedar_json(dict(search.action.properties), "$.action.properties", depth),
            "$.action.properties"))
    binding = orjson.dumps(search.binding(), option=orjson.OPT_SORT_KEYS)
    after = _resume(app, binding, search.page.token) if search.page.token else None
    limit = DEFAULT_PAGE if search.page.limit is None else min(search.page.limit, MAX_PAGE)
    if not all(is_entity_type(e.type) for e in (search.subject, search.resource)):
        results: tuple[EntityUID, ...] = ()  # a type Cedar cannot name: nothing matches
        resume: str | None = None
    else:
        snapshot = app.engine.snapshot
        subject, resource = search.subject, search.resource
        try:
            if kind is SearchKind.ACTION:
                assert subject.id is not None and resource.id is not None
                page = await asyncio.to_thread(
                    search_actions, snapshot, principal=EntityUID(subject.type, subject.id),
                    resource=EntityUID(resource.type, resource.id), context=context,
                    properties=fixed, after=after, limit=limit, now=time.time())
            else:
                assert search.action is not None
                principal = None if kind is SearchKind.SUBJECT else EntityUID(
                    subject.type, subject.id or "")
                resource_uid = None if kind is SearchKind.RESOURCE else EntityUID(
                    resource.type, resource.id or "")
                page = await asyncio.to_thread(
                    search_entities, snapshot,
                    target="principal" if kind is SearchKind.SUBJECT else "resource",
                    entity_type=subject.type if kind is SearchKind.SUBJECT else resource.type,
                    principal=principal, action=EntityUID("Action", search.action.name),
                    resource=resource_uid, context=context, properties=fixed,
                    target_properties=target, after=after, limit=limit, now=time.time())
        except RuneError as error:
            raise ServerError(error.message, code=error.code, path=error.path) from None
        results, resume = page.results, page.resume_after
    if kind is SearchKind.ACTION:
        found = [{"name": uid.id} for uid in results]
    else:
        found = [{"type": uid.type, "id": uid.id} for uid in results]
    next_token = _token(app, binding, resume) if resume is not None else ""
    return json_reply({"page": {"next_token": next_token, "count": len(found)},
                       "results": found})


# -- metadata and access requests ------------------------------------------------------------

async def metadata_route(app: App, call: Call) -> Reply:
    """`GET /.well-known/authzen-configuration`."""
    base = call.base_url
    return json_reply({
        "policy_decision_point": base,
        "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
        "search_subject_endpoint": f"{base}/access/v1/search/subject",
        "search_resource_endpoint": f"{base}/access/v1/search/resource",
        "search_action_endpoint": f"{base}/access/v1/search/action",
        "access_request_endpoint": f"{base}/access/v1/requests",
        "capabilities": ["urn:openid:authzen:capability:access-request"],
        "supported_obligations": list(SUPPORTED_OBLIGATIONS),
    }, headers=[("cache-control", "max-age=60")])


def status_endpoint(call: Call, task_id: str) -> str:
    """Where a task's status is read."""
    return f"{call.base_url}/access/v1/requests/{task_id}"


async def submit_route(app: App, call: Call) -> Reply:
    """`POST /access/v1/requests`."""
    key = call.headers.get("idempotency-key")
    task, _ = app.requests.submit(call.body, key, time.time())
    where = status_endpoint(call, task.id)
    return json_reply(task_json(task, where), status=202, headers=[("location", where)])


async def task_route(app: App, call: Call) -> Reply:
    """`GET /access/v1/requests/{id}`."""
    task = app.requests.get(call.params[0], time.time())
    return json_reply(task_json(task, status_endpoint(call, task.id)))


async def cancel_route(app: App, call: Call) -> Reply:
    """`POST` (or `DELETE`) `/access/v1/requests/{id}/cancel`."""
    task = app.requests.cancel(call.params[0], time.time())
    return json_reply(task_json(task, status_endpoint(call, task.id)))
