"""AuthZEN Authorization API 1.0 on the wire: requests parsed, responses shaped.

Parsing follows the spec's rules: a required member missing or of the wrong type is a
400 naming its JSON path; unknown members are ignored (forward compatibility); a member
whose value is `null` counts as absent (the spec asks senders to omit nulls). In a batch
(`evaluations`), a malformed item is that item's failure, not the request's: under
`execute_all` it is answered `{"decision": false}` with the error in its context, as the
certification scenario requires; a malformed top-level default is the request's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from rune.server.errors import ServerError

__all__ = [
    "Action",
    "Entity",
    "Evaluation",
    "Evaluations",
    "MAX_EVALUATIONS",
    "Page",
    "Search",
    "SearchKind",
    "Semantic",
    "error_body",
    "parse_evaluation",
    "parse_evaluations",
    "parse_search",
]

# Evaluations in one request: enough for any page of a UI or an agent's plan, and few
# enough (tens of milliseconds) that one request never holds the server.
MAX_EVALUATIONS = 10_000


class Semantic(StrEnum):
    """`options.evaluations_semantic`."""

    EXECUTE_ALL = "execute_all"
    DENY_ON_FIRST_DENY = "deny_on_first_deny"
    PERMIT_ON_FIRST_PERMIT = "permit_on_first_permit"


class SearchKind(StrEnum):
    """What a search looks for."""

    SUBJECT = "subject"
    RESOURCE = "resource"
    ACTION = "action"


# Entity, Action and Evaluation are built for every request: immutable named tuples,
# which cost a third of a frozen dataclass to construct.
class Entity(NamedTuple):
    """A Subject or a Resource: `{type, id, properties}` (``id`` None only where the
    request searches for it). ``raw`` is the object as sent."""

    type: str
    id: str | None
    properties: Mapping[str, Any] | None
    raw: Mapping[str, Any]


class Action(NamedTuple):
    """An Action: `{name, properties}`; ``raw`` is the object as sent."""

    name: str
    properties: Mapping[str, Any] | None
    raw: Mapping[str, Any]


class Evaluation(NamedTuple):
    """One access evaluation request."""

    subject: Entity
    action: Action
    resource: Entity
    context: Mapping[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        """The request as evaluated (defaults of a batch applied), as JSON."""
        out: dict[str, Any] = {"subject": self.subject.raw, "action": self.action.raw,
                               "resource": self.resource.raw}
        if self.context is not None:
            out["context"] = self.context
        return out


@dataclass(frozen=True, slots=True)
class Evaluations:
    """An Access Evaluations request: each item an `Evaluation`, or the `ServerError`
    that item failed with; ``single`` when the request has no (or an empty)
    `evaluations` array and so behaves as one Access Evaluation."""

    items: tuple[Evaluation | ServerError, ...]
    semantic: Semantic
    single: Evaluation | None


@dataclass(frozen=True, slots=True)
class Page:
    """A search's `page`: the token of a previous response, and the page size."""

    token: str | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Search:
    """A Subject, Resource or Action Search request. The searched entity's `id` is
    ignored (``subject.id`` of a subject search, say); an action search has no action."""

    kind: SearchKind
    subject: Entity
    action: Action | None
    resource: Entity
    context: Mapping[str, Any] | None
    page: Page

    def binding(self) -> dict[str, Any]:
        """What must not change between the pages of one search (everything but the
        token), as JSON."""
        out: dict[str, Any] = {"kind": str(self.kind), "subject": _bound(self.subject),
                               "resource": _bound(self.resource),
                               "context": self.context, "limit": self.page.limit}
        if self.action is not None:
            out["action"] = {"name": self.action.name, "properties": self.action.properties}
        if self.kind is SearchKind.SUBJECT:
            out["subject"].pop("id", None)
        elif self.kind is SearchKind.RESOURCE:
            out["resource"].pop("id", None)
        return out


def _bound(entity: Entity) -> dict[str, Any]:
    return {"type": entity.type, "id": entity.id, "properties": entity.properties}


# -- parsing ---------------------------------------------------------------------------------

_new = tuple.__new__

def _object(body: Any, path: str) -> Mapping[str, Any]:
    if body.__class__ is not dict:
        raise ServerError(f"`{path}` must be a JSON object", code="invalid-field", path=path)
    return body  # type: ignore[no-any-return]


def _member(body: Mapping[str, Any], name: str, path: str) -> Any:
    value = body.get(name)
    if value is None:
        raise ServerError(f"`{path}.{name}` is required", code="missing-field",
                          path=f"{path}.{name}")
    return value


def _string(value: Any, path: str) -> str:
    if value.__class__ is not str:
        raise ServerError(f"`{path}` must be a string", code="invalid-field", path=path)
    return value  # type: ignore[no-any-return]


def _properties(body: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    value = body.get("properties")
    if value is None:
        return None
    return _object(value, f"{path}.properties")


def _well_formed_entity(value: Mapping[str, Any]) -> Entity | None:
    """A Subject or Resource object with its `type` and `id` as an `Entity`, or None
    when it is not one (for the checks that name what is wrong)."""
    kind = value.get("type")
    ident = value.get("id")
    properties = value.get("properties")
    if kind.__class__ is str and ident.__class__ is str and (
            properties is None or properties.__class__ is dict):
        return _new(Entity, (kind, ident, properties, value))  # type: ignore[no-any-return]
    return None


def parse_entity(value: Any, path: str, *, needs_id: bool = True) -> Entity:
    """A Subject or Resource object (``needs_id`` False: the `id` may be missing, and is
    then ignored, as a search's target's is)."""
    if value.__class__ is dict:  # fast path: a well-formed entity
        given_type = value.get("type")
        given_id = value.get("id")
        given = value.get("properties")
        if given_type.__class__ is str and given_id.__class__ is str and (
                given is None or given.__class__ is dict):
            return _new(Entity, (given_type, given_id, given, value))
    body = _object(value, path)
    kind = _string(_member(body, "type", path), f"{path}.type")
    raw_id = body.get("id")
    ident: str | None = None
    if needs_id:
        ident = _string(_member(body, "id", path), f"{path}.id")
    elif raw_id is not None and raw_id.__class__ is not str:
        raise ServerError(f"`{path}.id` must be a string", code="invalid-field",
                          path=f"{path}.id")
    return Entity(kind, ident, _properties(body, path), body)


def parse_action(value: Any, path: str) -> Action:
    """An Action object."""
    body = _object(value, path)
    return Action(_string(_member(body, "name", path), f"{path}.name"),
                  _properties(body, path), body)


def _context(body: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    value = body.get("context")
    if value is None:
        return None
    return _object(value, f"{path}.context")


def parse_evaluation(body: Any) -> Evaluation:
    """An Access Evaluation request body.

    Raises:
        ServerError: (400) a required member missing or of the wrong type.
    """
    # Fast path: a well-formed request (what nearly every request is), checked inline.
    if body.__class__ is dict:
        s = body.get("subject")
        a = body.get("action")
        r = body.get("resource")
        c = body.get("context")
        if s.__class__ is dict and a.__class__ is dict and r.__class__ is dict and (
                c is None or c.__class__ is dict):
            st = s.get("type")
            si = s.get("id")
            name = a.get("name")
            rt = r.get("type")
            ri = r.get("id")
            sp = s.get("properties")
            ap = a.get("properties")
            rp = r.get("properties")
            if st.__class__ is str and si.__class__ is str and name.__class__ is str \
                    and rt.__class__ is str and ri.__class__ is str \
                    and (sp is None or sp.__class__ is dict) \
                    and (ap is None or ap.__class__ is dict) \
                    and (rp is None or rp.__class__ is dict):
                return _new(Evaluation, (_new(Entity, (st, si, sp, s)),
                                         _new(Action, (name, ap, a)),
                                         _new(Entity, (rt, ri, rp, r)), c))
    top = _object(body, "$")
    return Evaluation(parse_entity(_member(top, "subject", "$"), "$.subject"),
                      parse_action(_member(top, "action", "$"), "$.action"),
                      parse_entity(_member(top, "resource", "$"), "$.resource"),
                      _context(top, "$"))


def parse_evaluations(body: Any) -> Evaluations:
    """An Access Evaluations request body.

    Raises:
        ServerError: (400) the request as a whole is malformed: not an object, a
            malformed default, `evaluations` not an array (or longer than
            `MAX_EVALUATIONS`), an unknown `evaluations_semantic`, or no `evaluations`
            and no complete single request.
    """
    top = _object(body, "$")
    semantic = Semantic.EXECUTE_ALL
    options = top.get("options")
    if options is not None:
        chosen = _object(options, "$.options").get("evaluations_semantic")
        if chosen is not None:
            if chosen.__class__ is not str or chosen not in Semantic._value2member_map_:
                raise ServerError(
                    "`$.options.evaluations_semantic` must be `execute_all`, "
                    "`deny_on_first_deny` or `permit_on_first_permit`",
                    code="invalid-field", path="$.options.evaluations_semantic")
            semantic = Semantic(chosen)
    items = top.get("evaluations")
    if items is not None and items.__class__ is not list:
        raise ServerError("`$.evaluations` must be an array", code="invalid-field",
                          path="$.evaluations")
    if not items:
        return Evaluations((), semantic, parse_evaluation(top))
    if len(items) > MAX_EVALUATIONS:
        raise ServerError(f"at most {MAX_EVALUATIONS} evaluations fit in one request",
                          code="too-many-evaluations", path="$.evaluations")
    subject = top.get("subject")
    action = top.get("action")
    resource = top.get("resource")
    default_subject = None if subject is None else parse_entity(subject, "$.subject")
    default_action = None if action is None else parse_action(action, "$.action")
    default_resource = None if resource is None else parse_entity(resource, "$.resource")
    default_context = _context(top, "$")
    parsed: list[Evaluation | ServerError] = []
    append = parsed.append
    for i, item in enumerate(items):
        if item.__class__ is dict:
            # Fast path: each member well formed or defaulted (checked inline, as in
            # `parse_evaluation`); anything else takes the checks that name its path.
            s = item.get("subject", default_subject)
            a = item.get("action", default_action)
            r = item.get("resource", default_resource)
            c = item.get("context")
            if r.__class__ is dict:
                r = _well_formed_entity(r)
            if s.__class__ is dict:
                s = _well_formed_entity(s)
            if a.__class__ is dict:
                name = a.get("name")
                properties = a.get("properties")
                a = (_new(Action, (name, properties, a)) if name.__class__ is str
                     and (properties is None or properties.__class__ is dict) else None)
            if s.__class__ is Entity and a.__class__ is Action and r.__class__ is Entity \
                    and (c is None or c.__class__ is dict):
                append(_new(Evaluation, (s, a, r, default_context if c is None else c)))
                continue
        path = f"$.evaluations[{i}]"
        try:
            fields = _object(item, path)
            s = fields.get("subject")
            a = fields.get("action")
            r = fields.get("resource")
            append(Evaluation(
                parse_entity(s, f"{path}.subject") if s is not None
                else _default(default_subject, "subject", path),
                parse_action(a, f"{path}.action") if a is not None
                else _default(default_action, "action", path),
                parse_entity(r, f"{path}.resource") if r is not None
                else _default(default_resource, "resource", path),
                _context(fields, path) if fields.get("context") is not None
                else default_context))
        except ServerError as error:
            append(error)
    return Evaluations(tuple(parsed), semantic, None)


def _default(value: Any, name: str, path: str) -> Any:
    if value is None:
        raise ServerError(f"`{path}.{name}` is required (there is no top-level `{name}`)",
                          code="missing-field", path=f"{path}.{name}")
    return value


def parse_search(body: Any, kind: SearchKind) -> Search:
    """A Subject, Resource or Action Search request body.

    Raises:
        ServerError: (400) a required member missing or of the wrong type: every input
            entity needs its `type` and `id`, the searched one its `type`.
    """
    top = _object(body, "$")
    subject = parse_entity(_member(top, "subject", "$"), "$.subject",
                           needs_id=kind is not SearchKind.SUBJECT)
    action = (None if kind is SearchKind.ACTION
              else parse_action(_member(top, "action", "$"), "$.action"))
    resource = parse_entity(_member(top, "resource", "$"), "$.resource",
                            needs_id=kind is not SearchKind.RESOURCE)
    page = Page()
    raw_page = top.get("page")
    if raw_page is not None:
        fields = _object(raw_page, "$.page")
        token = fields.get("token")
        if token is not None and token.__class__ is not str:
            raise ServerError("`$.page.token` must be a string", code="invalid-field",
                              path="$.page.token")
        limit = fields.get("limit")
        if limit is not None and (limit.__class__ is not int or limit < 0):
            raise ServerError("`$.page.limit` must be a non-negative integer",
                              code="invalid-field", path="$.page.limit")
        page = Page(token or None, limit)
    return Search(kind, subject, action, resource, _context(top, "$"), page)


# -- responses -------------------------------------------------------------------------------

def error_body(error: ServerError) -> dict[str, Any]:
    """The body of an error response: the spec's per-evaluation error object
    (`status`, `message`), with RUNE's stable `code` and the JSON `path` when known."""
    inner: dict[str, Any] = {"status": error.status, "code": error.code,
                             "message": error.message}
    if error.path:
        inner["path"] = error.path
    return {"error": inner}
