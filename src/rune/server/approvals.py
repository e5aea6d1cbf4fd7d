"""The AuthZEN access request approval profile: "ask" decisions as requestable denials.

RUNE plays the PDP and the Access Request Service in one process (the profile's
"lookup" pattern: state shared, nothing signed):

1. An evaluation whose verdict is "ask" (a permit annotated `@ask`, or a rule requiring
   approval) is answered `{"decision": false}` with a requestable denial context:
   `evaluation_id`, `evaluated_at`, `reason: "approval_required"` and `access_request`
   (`endpoint`, `template` — the `@ask` reason —, `expires_at`, after
   `[server] access_request_ttl_seconds`). The server remembers the evaluation (subject,
   action and resource as sent, and their Cedar uids) until it expires.
2. `POST /access/v1/requests` takes the submission; `denial.evaluation_id` must name such
   an evaluation, and the submitted subject, resource and action must equal the recorded
   ones member by member (`subject.properties.act` excepted), else
   `invalid_denial_binding`; past `expires_at` it is `expired_denial`. The authorization
   relevant context is empty: a RUNE approval covers the (principal, action, resource)
   triple whatever the context. `Idempotency-Key` is honoured. The answer is a pending
   task (202) with its `status_endpoint` and a `cancel` link.
3. An approver (an admin route) approves or denies the task. Approving calls
   `Engine.approve` for each item's triple (lifetime: the route's `ttl_seconds`, else the
   bundle's `approval_ttl_seconds`); the task becomes `approved` with a `reevaluate`
   result whose `approval` has an unguessable id and `approved_until`.
4. The PEP evaluates again (with `context.approval`, which RUNE checks and reports on):
   the engine now allows the request until the approval expires.

Tasks live in memory (approvals themselves are in the engine's state, durable when it
has a state file): a restart forgets pending tasks, and a PEP asks again.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from rune.server.errors import ServerError
from rune.server.wire.authzen_v1 import Entity, parse_action, parse_entity

__all__ = ["AccessRequests", "BoundEvaluation", "Task", "rfc3339"]

_PROBLEM = "urn:openid:authzen:access-request:error:"
TASK_TTL_SECONDS = 86_400.0  # a day for an approver to act; then the task expires
_MAX_ENTRIES = 100_000  # evaluations and tasks remembered (the oldest go first)


def rfc3339(at: float) -> str:
    """``at`` (seconds since the epoch) as an RFC 3339 UTC timestamp."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def problem(kind: str, status: int, detail: str) -> ServerError:
    """A profile error (sent as `application/problem+json`)."""
    error = ServerError(detail, status=status, code=kind)
    error.problem = f"{_PROBLEM}{kind}"  # type: ignore[attr-defined]
    return error


@dataclass(frozen=True, slots=True)
class BoundEvaluation:
    """A requestable denial as recorded: what a submission must match."""

    subject: Mapping[str, Any]
    action: Mapping[str, Any]
    resource: Mapping[str, Any]
    triple: tuple[Any, Any, Any]  # Cedar uids for `Engine.approve`
    template: str
    expires_at: float


@dataclass(slots=True)
class _Item:
    resource: Mapping[str, Any]
    action: Mapping[str, Any]
    triple: tuple[Any, Any, Any]
    status: str = "pending"
    approval: dict[str, Any] | None = None


@dataclass(slots=True)
class Task:
    """An access request's lifecycle."""

    id: str
    subject: Mapping[str, Any]
    items: list[_Item]
    bulk: bool
    created_at: float
    expires_at: float
    evaluation_ids: tuple[str, ...]
    status: str = "pending"
    approval: dict[str, Any] | None = None
    history: list[tuple[float, str]] = field(default_factory=list)


class AccessRequests:
    """Requestable denials, access request tasks and approvals of one server."""

    def __init__(self, *, denial_ttl_seconds: float = 600.0,
                 task_ttl_seconds: float = TASK_TTL_SECONDS) -> None:
        self.denial_ttl_seconds = denial_ttl_seconds
        self.task_ttl_seconds = task_ttl_seconds
        self._evaluations: OrderedDict[str, BoundEvaluation] = OrderedDict()
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self._approvals: dict[str, tuple[str, tuple[Any, Any, Any], float]] = {}
        self._keys: dict[str, tuple[bytes, str]] = {}

    # -- requestable denials ---------------------------------------------------------------
    def requestable(self, subject: Entity, action: Mapping[str, Any], resource: Entity,
                    triple: tuple[Any, Any, Any], template: str, endpoint: str,
                    now: float) -> dict[str, Any]:
        """Record an "ask" evaluation; the Decision Context members that make it a
        requestable denial."""
        evaluation_id = f"eval_{secrets.token_urlsafe(18)}"
        expires = now + self.denial_ttl_seconds
        _remember(self._evaluations, evaluation_id, BoundEvaluation(
            subject.raw, action, resource.raw, triple, template, expires), now)
        return {
            "evaluation_id": evaluation_id,
            "evaluated_at": rfc3339(now),
            "reason": "approval_required",
            "access_request": {"endpoint": endpoint, "template": template,
                               "expires_at": rfc3339(expires)},
        }

    # -- submission ------------------------------------------------------------------------
    def submit(self, body: Any, idempotency_key: str | None, now: float
               ) -> tuple[Task, bool]:
        """Accept an access request; (the task, whether it is new).

        Raises:
            ServerError: a malformed submission (400), or one of the profile's problems
                (`invalid_denial_binding`, `expired_denial`, `duplicate_request`).
        """
        if body.__class__ is not dict:
            raise ServerError("`$` must be a JSON object", code="invalid-field", path="$")
        if idempotency_key is not None:
            canonical = _canonical(body)
            seen = self._keys.get(idempotency_key)
            if seen is not None:
                task = self._tasks.get(seen[1])
                if seen[0] != canonical:
                    raise problem("duplicate_request", 409, "this Idempotency-Key was used "
                                  "with a different submission")
                if task is not None:
                    return task, False
        subject = parse_entity(body.get("subject"), "$.subject") if body.get("subject") \
            is not None else _missing("$.subject")
        items_json = body.get("items")
        denial = body.get("denial")
        pairs: list[tuple[Any, Any, Any, str]] = []
        if items_json is not None:
            if items_json.__class__ is not list or not items_json:
                raise ServerError("`$.items` must be a non-empty array", code="invalid-field",
                                  path="$.items")
            if body.get("resource") is not None or body.get("action") is not None:
                raise ServerError("with `items`, `resource` and `action` go in each item",
                                  code="invalid-field", path="$.resource")
            for i, item in enumerate(items_json):
                path = f"$.items[{i}]"
                if item.__class__ is not dict:
                    raise ServerError(f"`{path}` must be a JSON object", code="invalid-field",
                                      path=path)
                pairs.append((_required(item, "resource", path), _required(item, "action", path),
                              item.get("denial", denial), path))
        else:
            pairs.append((_required(body, "resource", "$"), _required(body, "action", "$"),
                          denial, "$"))
        items: list[_Item] = []
        evaluation_ids: list[str] = []
        for resource_json, action_json, item_denial, path in pairs:
            resource = parse_entity(resource_json, f"{path}.resource")
            action = parse_action(action_json, f"{path}.action")
            bound, evaluation_id = self._bind(item_denial, path, now)
            try:
                same = (_same_entity(bound.subject, subject.raw)
                        and _same(bound.resource, resource.raw)
                        and _same(bound.action, action.raw))
            except RecursionError:
                same = False
            if not same:
                raise problem("invalid_denial_binding", 400, "the subject, resource and "
                              "action must be those of the denied evaluation")
            items.append(_Item(resource.raw, action.raw, bound.triple))
            evaluation_ids.append(evaluation_id)
        task = Task(f"arq_{secrets.token_urlsafe(24)}", subject.raw, items,
                    items_json is not None, now, now + self.task_ttl_seconds,
                    tuple(evaluation_ids))
        task.history.append((now, "pending"))
        _remember(self._tasks, task.id, task, now)
        if idempotency_key is not None:
            if len(self._keys) >= _MAX_ENTRIES:
                self._keys.clear()
            self._keys[idempotency_key] = (_canonical(body), task.id)
        return task, True

    def _bind(self, denial: Any, path: str, now: float) -> tuple[BoundEvaluation, str]:
        if denial.__class__ is not dict:
            raise problem("invalid_denial_binding", 400, f"`{path}.denial` with the "
                          "`evaluation_id` of the denied evaluation is required")
        evaluation_id = denial.get("evaluation_id")
        if evaluation_id.__class__ is not str:
            raise problem("invalid_denial_binding", 400, "`denial.evaluation_id` is required "
                          "(this PDP issues no `binding_token`)")
        if denial.get("expires_at").__class__ is not str:
            raise ServerError("`denial.expires_at` is required", code="missing-field",
                              path=f"{path}.denial.expires_at")
        bound = self._evaluations.get(evaluation_id)
        if bound is None:
            raise problem("invalid_denial_binding", 400, "`denial.evaluation_id` names no "
                          "requestable denial of this PDP")
        if bound.expires_at <= now:
            raise problem("expired_denial", 410, "the requestable denial has expired")
        return bound, evaluation_id

    # -- tasks -----------------------------------------------------------------------------
    def get(self, task_id: str, now: float) -> Task:
        """The task ``task_id`` (a pending one past its expiry becomes `expired`).

        Raises:
            ServerError: `unknown_task` (404) or `task_expired` (410).
        """
        task = self._tasks.get(task_id)
        if task is None:
            raise problem("unknown_task", 404, "no such task")
        if task.expires_at <= now:
            if task.status == "pending":
                self._finish(task, "expired", now)
            raise problem("task_expired", 410, "the task has expired")
        return task

    def cancel(self, task_id: str, now: float) -> Task:
        """Cancel a pending task.

        Raises:
            ServerError: `unknown_task`, `task_expired`, or `invalid_task_state` (409)
                for a task already finished.
        """
        task = self.get(task_id, now)
        if task.status != "pending":
            raise problem("invalid_task_state", 409, f"the task is already {task.status}")
        self._finish(task, "cancelled", now)
        return task

    def pending(self, now: float) -> list[Task]:
        """Tasks awaiting an approver."""
        return [t for t in self._tasks.values() if t.status == "pending" and t.expires_at > now]

    def approve(self, task_id: str, until: float, now: float) -> Task:
        """Mark a pending task approved (the caller has recorded the engine approvals of
        its items, valid until ``until``).

        Raises:
            ServerError: as `cancel`.
        """
        task = self.get(task_id, now)
        if task.status != "pending":
            raise problem("invalid_task_state", 409, f"the task is already {task.status}")
        for item in task.items:
            approval_id = f"apr_{secrets.token_urlsafe(24)}"
            item.status = "approved"
            item.approval = {"id": approval_id, "approved_at": rfc3339(now),
                             "approved_until": rfc3339(until)}
            self._approvals[approval_id] = (task.id, item.triple, until)
        task.approval = task.items[0].approval
        self._finish(task, "approved", now)
        return task

    def deny(self, task_id: str, now: float) -> Task:
        """Mark a pending task denied.

        Raises:
            ServerError: as `cancel`.
        """
        task = self.get(task_id, now)
        if task.status != "pending":
            raise problem("invalid_task_state", 409, f"the task is already {task.status}")
        for item in task.items:
            item.status = "denied"
        self._finish(task, "denied", now)
        return task

    def _finish(self, task: Task, status: str, now: float) -> None:
        for item in task.items:
            if item.status == "pending":
                item.status = status
        task.status = status
        task.history.append((now, status))

    # -- re-evaluation ---------------------------------------------------------------------
    def check(self, approval: Any, triple: tuple[Any, Any, Any], now: float) -> str | None:
        """What a presented `context.approval` is for this request: None when it is a
        valid approval of exactly this (principal, action, resource), else the profile's
        reason (`approval_expired`, `approval_unverifiable`)."""
        if approval.__class__ is not dict or approval.get("id").__class__ is not str:
            return "approval_unverifiable"
        found = self._approvals.get(approval["id"])
        if found is None or tuple(map(str, found[1])) != tuple(map(str, triple)):
            return "approval_unverifiable"
        if found[2] <= now:
            return "approval_expired"
        return None

    def approval_until(self, approval: Any) -> float | None:
        """When a known approval expires."""
        if approval.__class__ is not dict or approval.get("id").__class__ is not str:
            return None
        found = self._approvals.get(approval["id"])
        return found[2] if found is not None else None


def task_json(task: Task, status_endpoint: str) -> dict[str, Any]:
    """A task handle, with its result when approved (the profile's response shape)."""
    handle: dict[str, Any] = {"id": task.id, "status": task.status,
                              "status_endpoint": status_endpoint,
                              "expires_at": rfc3339(task.expires_at)}
    if task.status == "pending":
        handle["links"] = {"cancel": f"{status_endpoint}/cancel"}
    if task.bulk:
        handle["items"] = []
        for item in task.items:
            entry: dict[str, Any] = {"resource": item.resource, "action": item.action,
                                     "status": item.status}
            if item.approval is not None:
                entry["result"] = {"mode": "reevaluate", "approval": item.approval}
            handle["items"].append(entry)
    out: dict[str, Any] = {"task": handle}
    if task.status == "approved" and not task.bulk and task.approval is not None:
        out["result"] = {"mode": "reevaluate", "approval": task.approval}
    return out


def _canonical(body: Any) -> bytes:
    """The submission compared for idempotency: members sorted, whitespace gone."""
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        raise ServerError("the submission is nested too deeply", code="nesting-too-deep",
                          path="$") from None


def _remember(table: OrderedDict[str, Any], key: str, value: Any, now: float) -> None:
    while table:
        oldest = next(iter(table.values()))
        if len(table) < _MAX_ENTRIES and getattr(oldest, "expires_at", now + 1) > now:
            break
        table.popitem(last=False)
    table[key] = value


def _missing(path: str) -> Any:
    raise ServerError(f"`{path}` is required", code="missing-field", path=path)


def _required(body: Mapping[str, Any], name: str, path: str) -> Any:
    value = body.get(name)
    if value is None:
        _missing(f"{path}.{name}")
    return value


def _same_entity(bound: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    """Subjects compared as the profile says: `properties.act` excluded."""
    return _same(_without_act(bound), _without_act(given))


def _without_act(subject: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = subject.get("properties")
    if isinstance(properties, dict) and "act" in properties:
        subject = dict(subject)
        subject["properties"] = {k: v for k, v in properties.items() if k != "act"}
    return subject


def _same(a: Any, b: Any) -> bool:
    """The profile's structural comparison: same JSON types (a Boolean is not a number),
    numbers equal as numbers, objects with the same members, arrays in order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a.__class__ is b.__class__ and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a.__class__ is b.__class__ and a == b


def now() -> float:
    """The time, for callers that pass it in (tests inject theirs)."""
    return time.time()
