"""RUNE's own routes (`/v1`): whole decisions, queries, and the admin routes.

Admin routes answer 404 unless an admin token is configured, and 401 without it. Writes,
records, approvals and reloads run in a worker thread: the engine publishes each new
version with one assignment, so decisions never wait for them. With a state file (the
bundle's `[state] path` or `rune serve --state`), a write is durable before its answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from rune.errors import RuneError
from rune.server.approvals import task_json
from rune.server.authzen import status_endpoint
from rune.server.errors import ServerError
from rune.server.http import Call, Reply, json_reply
from rune.server.wire.rune_v1 import (
    Decide,
    decision_json,
    parse_approve,
    parse_batch,
    parse_decide,
    parse_query,
    parse_record,
    parse_write,
)

if TYPE_CHECKING:
    from rune.server.app import App

__all__ = ["decide_route"]


def _refused(error: Exception) -> ServerError:
    if isinstance(error, RuneError):
        return ServerError(error.message, code=error.code, path=error.path)
    # The engine's own argument checks (a TypeError for a value of the wrong kind).
    return ServerError(str(error).split("\n")[0][:300], code="invalid-request")


def _decide(app: App, request: Decide, explain_allowed: bool) -> tuple[Any, dict[str, Any]]:
    if request.explain and not explain_allowed:
        raise ServerError("explanations reveal policies and rules: they need the admin "
                          "token", status=403, code="admin-token-required",
                          path="$.explain")
    try:
        decision = app.engine.authorize(request.principal, request.action, request.resource,
                                        request.context)
    except (RuneError, TypeError, ValueError) as error:
        raise _refused(error) from None
    if request.principal.__class__ is str and request.action.__class__ is str \
            and request.resource.__class__ is str:
        app.cache.observe((request.principal, request.action, request.resource), decision)
    decision_id = app.next_id()
    out = decision_json(decision, decision_id)
    if request.explain:
        out["explanation"] = decision.explain().to_json()
    return decision, out


async def decide_route(app: App, call: Call) -> Reply:
    """`POST /v1/decide`."""
    request = parse_decide(call.body)
    decision, out = _decide(app, request, app.is_admin(call.headers))
    app.metrics.decided("rune", decision.decision)
    if app.log is not None:
        future = app.log.record(out["decision_id"], "rune", call.request_id,
                                request.to_json(), decision)
        if future is not None:
            await _wait(future)
    return json_reply(out)


async def batch_route(app: App, call: Call) -> Reply:
    """`POST /v1/decide/batch`."""
    requests = parse_batch(call.body)
    admin = app.is_admin(call.headers) if any(r.explain for r in requests) else False
    outs = []
    futures = []
    for request in requests:
        decision, out = _decide(app, request, admin)
        app.metrics.decided("rune", decision.decision)
        outs.append(out)
        if app.log is not None:
            future = app.log.record(out["decision_id"], "rune", call.request_id,
                                    request.to_json(), decision)
            if future is not None:
                futures.append(future)
    for future in futures:
        await _wait(future)
    return json_reply({"decisions": outs})


async def _wait(future: asyncio.Future[None]) -> None:
    try:
        await future
    except OSError:
        raise ServerError("the decision log cannot be written, so no decision is given",
                          status=503, code="decision-log-unavailable") from None


async def query_route(app: App, call: Call) -> Reply:
    """`POST /v1/query` (admin: rows reveal entity data)."""
    text = parse_query(call.body)
    engine = app.engine
    try:
        version = engine.version
        rows = engine.query(text)
    except RuneError as error:
        raise _refused(error) from None
    return json_reply({"rows": [list(row) for row in rows], "version": version})


async def write_route(app: App, call: Call) -> Reply:
    """`POST /v1/admin/write`."""
    write = parse_write(call.body)
    try:
        version = await asyncio.to_thread(
            app.engine.write, entities=write.entities, remove_entities=write.remove_entities,
            facts=write.facts, retract=write.retract)
    except (RuneError, TypeError, ValueError) as error:
        raise _refused(error) from None
    return json_reply({"version": version})


async def record_route(app: App, call: Call) -> Reply:
    """`POST /v1/admin/record`."""
    record = parse_record(call.body)
    try:
        version = await asyncio.to_thread(app.engine.record, record.principal, record.action,
                                          record.resource, at=record.at, amount=record.amount)
    except (RuneError, TypeError, ValueError) as error:
        raise _refused(error) from None
    return json_reply({"version": version})


async def approve_route(app: App, call: Call) -> Reply:
    """`POST /v1/admin/approve`."""
    approval = parse_approve(call.body)
    ttl = approval.ttl_seconds or app.config.approval_ttl_seconds
    try:
        version = await asyncio.to_thread(app.engine.approve, approval.principal,
                                          approval.action, approval.resource, ttl_seconds=ttl)
    except (RuneError, TypeError, ValueError) as error:
        raise _refused(error) from None
    return json_reply({"version": version, "approved_until": time.time() + ttl})


async def reload_route(app: App, call: Call) -> Reply:
    """`POST /v1/admin/reload`: reload the bundle now (as the watcher does)."""
    errors = await app.reload("admin")
    if errors:
        return json_reply({"reloaded": False, "version": app.engine.version,
                           "errors": errors}, status=409)
    return json_reply({"reloaded": True, "version": app.engine.version})


async def version_route(app: App, call: Call) -> Reply:
    """`GET /v1/admin/version`."""
    engine = app.engine
    return json_reply({"version": engine.version, "bundle": str(app.config.bundle),
                       "reloads": app.metrics.reloads,
                       "reload_failures": app.metrics.reload_failures})


async def pending_route(app: App, call: Call) -> Reply:
    """`GET /v1/admin/requests`: access requests awaiting an approver."""
    tasks = app.requests.pending(time.time())
    return json_reply({"requests": [
        {**task_json(task, status_endpoint(call, task.id)),
         "subject": task.subject,
         "items": [{"resource": i.resource, "action": i.action} for i in task.items]}
        for task in tasks]})


async def approve_task_route(app: App, call: Call) -> Reply:
    """`POST /v1/admin/requests/{id}/approve`, body `{"ttl_seconds": 600}` (optional):
    approve an access request; each item's request is allowed until it expires."""
    body = call.body if call.body is not None else {}
    if body.__class__ is not dict:
        raise ServerError("`$` must be a JSON object", code="invalid-field", path="$")
    ttl = body.get("ttl_seconds")
    if ttl is not None and (ttl.__class__ not in (int, float) or not 0 < ttl <= 315_360_000):
        raise ServerError("`$.ttl_seconds` must be a number of seconds above 0 (at most ten "
                          "years)", code="invalid-field", path="$.ttl_seconds")
    ttl = float(ttl or app.config.approval_ttl_seconds)
    now = time.time()
    task = app.requests.get(call.params[0], now)
    if task.status != "pending":
        app.requests.approve(task.id, now + ttl, now)  # raises invalid_task_state
    try:
        def approve_all() -> None:
            with app.engine.transaction() as tx:
                for item in task.items:
                    tx.approve(*item.triple, ttl_seconds=ttl)

        await asyncio.to_thread(approve_all)
    except (RuneError, TypeError, ValueError) as error:
        raise _refused(error) from None
    task = app.requests.approve(task.id, now + ttl, now)
    return json_reply(task_json(task, status_endpoint(call, task.id)))


async def deny_task_route(app: App, call: Call) -> Reply:
    """`POST /v1/admin/requests/{id}/deny`."""
    task = app.requests.deny(call.params[0], time.time())
    return json_reply(task_json(task, status_endpoint(call, task.id)))
