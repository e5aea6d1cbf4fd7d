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
    Known,
    cedar_json,
    context_of,
    entity_properties,
    is_entity_type,
)
from rune.server.obligations import SUPPORTED_OBLIGATIONS, obligation_objects
from rune.server.wire.authzen_v1 import (
    MAX_EVALUATIONS,
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
    "evaluation_reply",
    "evaluation_route",
    "evaluations_reply",
    "evaluations_route",
    "logged",
    "metadata_route",
    "plain_evaluations_reply",
    "plain_reply",
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
_EVALUATION_MEMBERS = frozenset({"subject", "action", "resource", "context"})
_NEXT_ACTION = {"approval_expired": "request", "approval_unverifiable": "none",
                "policy_denied": "none"}


def evaluate(app: App, evaluation: Evaluation, call: Call,
             memo: dict[int, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Decide one AuthZEN evaluation: (the engine's decision, the AuthZEN answer).

    ``memo`` (for a batch) remembers the properties of entities shared by evaluations.

    Raises:
        ServerError: (400) a request the mapping or the engine refuses.
    """
    store = app.engine.snapshot.entities
    return _evaluate(app, store, app.known.of(store), evaluation, call, memo)


def _evaluate(app: App, store: Any, entries: dict[tuple[str, str], Known],
              evaluation: Evaluation, call: Call, memo: dict[int, Any] | None
              ) -> tuple[Any, dict[str, Any]]:
    """`evaluate` with the store whose entities ``entries`` knows (`KnownEntities.of`),
    read once for a whole batch."""
    subject, action, resource, raw_context = evaluation
    assert subject.id is not None and resource.id is not None
    engine = app.engine
    known = app.known
    s = entries.get((subject.type, subject.id)) or known.learn(
        store, subject.type, subject.id, "$.subject.type")
    a = entries.get(("Action", action.name)) or known.learn(
        store, "Action", action.name, "$.action.name")
    r = entries.get((resource.type, resource.id)) or known.learn(
        store, resource.type, resource.id, "$.resource.type")
    p = s[0]
    context = context_of(raw_context, app.config.max_depth) if raw_context else None
    # Properties matter only when they name an attribute the stored entity lacks (or
    # the store does not hold the entity): the store wins.
    sp, ap, rp = subject.properties, action.properties, resource.properties
    properties = (_additions(evaluation, s, a, r, app.config.max_depth, memo)
                  if (sp and (s[1] is None or not sp.keys() <= s[1]))
                  or (ap and (a[1] is None or not ap.keys() <= a[1]))
                  or (rp and (r[1] is None or not rp.keys() <= r[1])) else None)
    try:
        if properties:
            decision = decide(engine, p, a[0], r[0], context, properties)
        else:
            decision = engine.authorize(p, a[0], r[0], context)
            app.cache.observe((p, a[0], r[0]), decision)
    except RuneError as error:
        raise ServerError(error.message, code=error.code, path=error.path) from None
    verdict = decision.decision
    approval = raw_context.get("approval") if raw_context else None
    if approval is None and not decision.obligations and not decision.config \
            and verdict is not _ASK:
        return decision, _TRUE if verdict is _ALLOW else _FALSE
    return decision, _answer(app, evaluation, decision, call, (p, a[0], r[0]), approval)


def _additions(evaluation: Evaluation, s: Known, a: Known, r: Known, depth: int,
               memo: dict[int, Any] | None) -> list[EntityProperties]:
    """The `properties` of the evaluation's entities that add to the store, as the
    engine takes them (``memo`` remembers them by entity object: a batch's defaults)."""
    out: list[EntityProperties] = []
    subject, action, resource = evaluation.subject, evaluation.action, evaluation.resource
    for entity, known, kind, ident, path in (
            (subject, s, subject.type, subject.id, "$.subject.properties"),
            (action, a, "Action", action.name, "$.action.properties"),
            (resource, r, resource.type, resource.id, "$.resource.properties")):
        properties = entity.properties
        names = known[1]
        if not properties or (names is not None and properties.keys() <= names):
            continue  # nothing given, or nothing the store does not say already
        assert ident is not None
        if memo is None:
            found = entity_properties(kind, ident, properties, path, names, depth)
        elif id(entity) in memo:
            found = memo[id(entity)]
        else:
            found = memo[id(entity)] = entity_properties(kind, ident, properties, path,
                                                         names, depth)
        if found is not None:
            out.append(found)
    return out


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


async def logged(futures: list[asyncio.Future[None]]) -> None:
    """Wait for decision log lines.

    Raises:
        ServerError: (503) the decision log cannot be written.
    """
    try:
        await asyncio.gather(*futures)
    except OSError:
        raise ServerError("the decision log cannot be written, so no decision is given",
                          status=503, code="decision-log-unavailable") from None


def evaluation_reply(app: App, call: Call) -> tuple[Reply, asyncio.Future[None] | None]:
    """`POST /access/v1/evaluation`: the response, and the future of its decision log
    line to await before sending it (None when the response need not wait)."""
    evaluation = parse_evaluation(call.body)
    decision, answer = evaluate(app, evaluation, call)
    app.metrics.decided("authzen", decision.decision)
    return _reply(app, call, decision, answer, evaluation)


def plain_reply(app: App, call: Call) -> tuple[Reply, asyncio.Future[None] | None] | None:
    """`evaluation_reply` in one pass for the common request: well formed, its entities
    seen before in this version, its properties (if any) adding nothing to the store,
    no approval presented. None, before anything is decided, for any other request
    (`evaluation_reply` answers it). Both give the same answer to the same request
    (`tests/server/test_fast_path.py` holds them equal)."""
    body = call.body
    s = body.get("subject")
    a = body.get("action")
    r = body.get("resource")
    c = body.get("context")
    if s.__class__ is not dict or a.__class__ is not dict or r.__class__ is not dict or (
            c is not None and (c.__class__ is not dict or "approval" in c)):
        return None
    st = s.get("type")
    si = s.get("id")
    name = a.get("name")
    rt = r.get("type")
    ri = r.get("id")
    if st.__class__ is not str or si.__class__ is not str or name.__class__ is not str \
            or rt.__class__ is not str or ri.__class__ is not str:
        return None
    entries = app.known.of(app.engine.snapshot.entities)
    ks = entries.get((st, si))
    ka = entries.get(("Action", name))
    kr = entries.get((rt, ri))
    if ks is None or ka is None or kr is None:
        return None  # (a first sighting: `evaluate` learns it)
    # (Each member's properties: `_adds_nothing`, written out.)
    sp = s.get("properties")
    if sp is not None and (sp.__class__ is not dict or (
            sp and (ks[1] is None or not sp.keys() <= ks[1]))):
        return None
    ap = a.get("properties")
    if ap is not None and (ap.__class__ is not dict or (
            ap and (ka[1] is None or not ap.keys() <= ka[1]))):
        return None
    rp = r.get("properties")
    if rp is not None and (rp.__class__ is not dict or (
            rp and (kr[1] is None or not rp.keys() <= kr[1]))):
        return None
    context = context_of(c, app.config.max_depth) if c else None
    p, action, resource = ks[0], ka[0], kr[0]
    try:
        decision = app.engine.authorize(p, action, resource, context)
    except RuneError as error:
        raise ServerError(error.message, code=error.code, path=error.path) from None
    app.cache.observe((p, action, resource), decision)
    verdict = decision.decision
    app.metrics.decided("authzen", verdict)
    if decision.obligations or decision.config or verdict is _ASK:
        evaluation = parse_evaluation(body)
        return _reply(app, call, decision, _answer(app, evaluation, decision, call,
                                                   (p, action, resource), None), evaluation)
    if app.log is None:  # (`_reply`'s answer, without the call)
        return Reply(200, _TRUE_BYTES if verdict is _ALLOW else _FALSE_BYTES), None
    return _reply(app, call, decision, _TRUE if verdict is _ALLOW else _FALSE, None)


def _reply(app: App, call: Call, decision: Any, answer: dict[str, Any],
           evaluation: Evaluation | None) -> tuple[Reply, asyncio.Future[None] | None]:
    """The response to one evaluation, and its decision log line queued (with the future
    the response must wait for, if any)."""
    body = _TRUE_BYTES if answer is _TRUE else _FALSE_BYTES if answer is _FALSE \
        else orjson.dumps(answer)
    log = app.log
    if log is None:
        return Reply(200, body), None
    decision_id = log.next_id()
    raw = call.raw
    # The body as received is the request as evaluated when it holds nothing else.
    request = raw if raw is not None and call.body.keys() <= _EVALUATION_MEMBERS \
        else (evaluation or parse_evaluation(call.body)).to_json()
    future = log.record(decision_id, "authzen", call.request_id, request, decision)
    return Reply(200, body, headers=[("x-decision-id", decision_id)]), future


async def evaluation_route(app: App, call: Call) -> Reply:
    """`POST /access/v1/evaluation`."""
    reply, future = evaluation_reply(app, call)
    if future is not None:
        await logged([future])
    return reply


async def evaluations_route(app: App, call: Call) -> Reply:
    """`POST /access/v1/evaluations`."""
    reply, futures = plain_evaluations_reply(app, call) or evaluations_reply(app, call)
    if futures:
        await logged(futures)
    return reply


def evaluations_reply(app: App, call: Call) -> tuple[Reply, list[asyncio.Future[None]]]:
    """`POST /access/v1/evaluations`: the response, and the futures of its decision log
    lines to await before sending it."""
    batch = parse_evaluations(call.body)
    if batch.single is not None:  # no (or an empty) `evaluations`: one evaluation
        reply, future = evaluation_reply(app, call)
        return reply, [] if future is None else [future]
    semantic = batch.semantic
    stop_on_deny = semantic is Semantic.DENY_ON_FIRST_DENY
    stop_on_permit = semantic is Semantic.PERMIT_ON_FIRST_PERMIT
    log = app.log
    futures: list[asyncio.Future[None]] = []
    answers: list[dict[str, Any]] = []
    verdicts: list[Any] = []
    memo: dict[int, Any] = {}
    encoded: dict[int, bytes] = {}
    store = app.engine.snapshot.entities
    entries = app.known.of(store)
    for item in batch.items:
        allowed = False
        if item.__class__ is not Evaluation:  # the error that item failed with
            answers.append(_failed(item))  # type: ignore[arg-type]
        else:
            try:
                decision, answer = _evaluate(app, store, entries, item,  # type: ignore[arg-type]
                                             call, memo)
            except ServerError as failure:
                answers.append(_failed(failure))
            else:
                verdict = decision.decision
                verdicts.append(verdict)
                allowed = verdict is _ALLOW
                answers.append(answer)
                if log is not None:
                    future = log.record(log.next_id(), "authzen", call.request_id,
                                        _request_json(item, encoded),  # type: ignore[arg-type]
                                        decision)
                    if future is not None:
                        futures.append(future)
        if stop_on_deny and not allowed:
            last = answers[-1]
            context = dict(last.get("context") or {})
            context.setdefault("code", "200")
            context.setdefault("reason", "deny_on_first_deny")
            answers[-1] = {"decision": False, "context": context}
            break
        if stop_on_permit and allowed:
            break
    for verdict in (_ALLOW, _DENY, _ASK):
        count = verdicts.count(verdict)
        if count:
            app.metrics.decided("authzen", verdict, count)
    return json_reply({"evaluations": answers}), futures


def plain_evaluations_reply(app: App, call: Call
                            ) -> tuple[Reply, list[asyncio.Future[None]]] | None:
    """`evaluations_reply` in one pass over the JSON for the common batch: every item
    (its members or the defaults) well formed, its entities seen before in this
    version, its properties (if any) adding nothing to the store, no approval
    presented, its context (if any) well formed. None, before anything is decided, for
    any other batch (`evaluations_reply` answers it). Both give the same answer to the
    same request (`tests/server/test_fast_path.py` holds them equal)."""
    body = call.body
    items = body.get("evaluations")
    if items.__class__ is not list or not items or len(items) > MAX_EVALUATIONS:
        return None
    semantic = Semantic.EXECUTE_ALL
    options = body.get("options")
    if options is not None:
        if options.__class__ is not dict:
            return None
        chosen = options.get("evaluations_semantic")
        if chosen is not None:
            if chosen.__class__ is not str or chosen not in Semantic._value2member_map_:
                return None
            semantic = Semantic(chosen)
    # The defaults are checked even when every item gives its own (the general path
    # refuses a malformed default whatever the items say).
    ds = body.get("subject")
    da = body.get("action")
    dr = body.get("resource")
    dc = body.get("context")
    if (ds is not None and not _plain_entity(ds)) or (dr is not None and not _plain_entity(dr)) \
            or (da is not None and not _plain_action(da)) \
            or (dc is not None and dc.__class__ is not dict):
        return None
    entries = app.known.of(app.engine.snapshot.entities)
    depth = app.config.max_depth
    contexts: dict[int, Any] = {}  # converted contexts, by object (defaults are shared)
    # The defaults, checked once (None: absent, or not known, which only matters to an
    # item that takes it).
    kds = None if ds is None else _known_entity(ds, entries)
    kda = None if da is None else _known_action(da, entries)
    kdr = None if dr is None else _known_entity(dr, entries)
    rows = []
    # First pass: every item checked and mapped, nothing decided (a decision may spend
    # a rate limit, so the batch must not be decided twice).
    for item in items:
        if item.__class__ is not dict:
            return None
        s = item.get("subject", ds)
        a = item.get("action", da)
        r = item.get("resource", dr)
        c = item.get("context")
        if c is None:
            c = dc
        if c is not None and (c.__class__ is not dict or "approval" in c):
            return None
        ks = kds if s is ds else _known_entity(s, entries)
        ka = kda if a is da else _known_action(a, entries)
        kr = kdr if r is dr else _known_entity(r, entries)
        if ks is None or ka is None or kr is None:
            return None  # (malformed, or a first sighting: `evaluations_reply` learns it)
        context = None
        if c:
            context = contexts.get(id(c))
            if context is None:
                try:
                    context = contexts[id(c)] = context_of(c, depth)
                except ServerError:
                    return None  # (the general path answers that item with its error)
        rows.append((ks[0], ka[0], kr[0], context, s, a, r, c))
    authorize = app.engine.authorize
    observe = app.cache.observe
    log = app.log
    stop_on_deny = semantic is Semantic.DENY_ON_FIRST_DENY
    stop_on_permit = semantic is Semantic.PERMIT_ON_FIRST_PERMIT
    futures: list[asyncio.Future[None]] = []
    answers: list[dict[str, Any]] = []
    answer = answers.append
    verdicts: list[Any] = []
    encoded: dict[int, bytes] = {}
    for p, action, resource, context, s, a, r, c in rows:
        allowed = False
        try:
            decision = authorize(p, action, resource, context)
        except RuneError as error:
            answer(_failed(ServerError(error.message, code=error.code, path=error.path)))
        else:
            observe((p, action, resource), decision)
            verdict = decision.decision
            verdicts.append(verdict)
            allowed = verdict is _ALLOW
            if decision.obligations or decision.config or verdict is _ASK:
                evaluation = parse_evaluation({"subject": s, "action": a, "resource": r,
                                               "context": c})
                answer(_answer(app, evaluation, decision, call, (p, action, resource), None))
            else:
                answer(_TRUE if allowed else _FALSE)
            if log is not None:
                future = log.record(log.next_id(), "authzen", call.request_id,
                                    _request_json_of(s, a, r, c, encoded), decision)
                if future is not None:
                    futures.append(future)
        if stop_on_deny and not allowed:
            last = answers[-1]
            denied = dict(last.get("context") or {})
            denied.setdefault("code", "200")
            denied.setdefault("reason", "deny_on_first_deny")
            answers[-1] = {"decision": False, "context": denied}
            break
        if stop_on_permit and allowed:
            break
    for verdict in (_ALLOW, _DENY, _ASK):
        count = verdicts.count(verdict)
        if count:
            app.metrics.decided("authzen", verdict, count)
    return json_reply({"evaluations": answers}), futures


def _plain_entity(value: Any) -> bool:
    """Whether ``value`` is a well-formed Subject or Resource object."""
    properties = value.get("properties") if value.__class__ is dict else None
    return value.__class__ is dict and value.get("type").__class__ is str \
        and value.get("id").__class__ is str \
        and (properties is None or properties.__class__ is dict)


def _plain_action(value: Any) -> bool:
    """Whether ``value`` is a well-formed Action object."""
    properties = value.get("properties") if value.__class__ is dict else None
    return value.__class__ is dict and value.get("name").__class__ is str \
        and (properties is None or properties.__class__ is dict)


def _known_entity(value: Any, entries: dict[tuple[str, str], Known]) -> Known | None:
    """A well-formed Subject or Resource object as `Known`, or None: malformed, not seen
    before in this version, or with properties the store lacks."""
    if value.__class__ is not dict:
        return None
    kind = value.get("type")
    ident = value.get("id")
    if kind.__class__ is not str or ident.__class__ is not str:
        return None
    known = entries.get((kind, ident))
    if known is None:
        return None
    properties = value.get("properties")  # (`_adds_nothing`, written out)
    if properties is not None and (properties.__class__ is not dict or (
            properties and (known[1] is None or not properties.keys() <= known[1]))):
        return None
    return known


def _known_action(value: Any, entries: dict[tuple[str, str], Known]) -> Known | None:
    """`_known_entity` for an Action object."""
    if value.__class__ is not dict:
        return None
    name = value.get("name")
    if name.__class__ is not str:
        return None
    known = entries.get(("Action", name))
    if known is None or not _adds_nothing(value.get("properties"), known):
        return None
    return known


def _adds_nothing(properties: Any, known: Known) -> bool:
    """Whether ``properties`` (as given) are absent or name only stored attributes."""
    if properties is None:
        return True
    names = known[1]
    return properties.__class__ is dict and (
        not properties or (names is not None and properties.keys() <= names))


def _request_json(evaluation: Evaluation, encoded: dict[int, bytes]) -> Any:
    """A batch item as evaluated (defaults applied), for the decision log: its JSON text,
    each member encoded once per batch (``encoded``, by object: the defaults are shared),
    or the value itself when a member cannot be encoded (the log says why)."""
    return _request_json_of(evaluation.subject.raw, evaluation.action.raw,
                            evaluation.resource.raw, evaluation.context, encoded,
                            evaluation)


def _request_json_of(subject: Any, action: Any, resource: Any, context: Any,
                     encoded: dict[int, bytes], evaluation: Evaluation | None = None) -> Any:
    """`_request_json` of an item given by its members as received (``evaluation``,
    when known, saves parsing them again should one not encode)."""
    parts = []
    for value in (subject, action, resource, context):
        if value is None:
            break  # (only the context may be absent)
        text = encoded.get(id(value))
        if text is None:
            try:
                text = encoded[id(value)] = orjson.dumps(value)
            except orjson.JSONEncodeError:
                return (evaluation or parse_evaluation(
                    {"subject": subject, "action": action, "resource": resource,
                     "context": context})).to_json()
        parts.append(text)
    if len(parts) == 4:
        return b'{"subject":%b,"action":%b,"resource":%b,"context":%b}' % tuple(parts)
    return b'{"subject":%b,"action":%b,"resource":%b}' % tuple(parts)


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
