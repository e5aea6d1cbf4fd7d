"""The OpenAPI 3.1 document served at `/openapi.json`: every route, its body and answers.

The request schemas describe what the server accepts (required members and their
types); anything else is answered with the documented 4xx, which a fuzzer such as
schemathesis checks against this document.
"""

from __future__ import annotations

from typing import Any

import rune

__all__ = ["openapi_document"]

_JSON = "application/json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {_JSON: {"schema": schema}}}


def _answers(ok: dict[str, Any] | None, *codes: int, media: str = _JSON,
             ok_status: str = "200") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ok is not None:
        out[ok_status] = {"description": "success", "content": {media: {"schema": ok}},
                          "headers": {"X-Request-ID": {"schema": {"type": "string"}}}}
    descriptions = {400: "malformed request", 401: "missing or wrong bearer token",
                    403: "needs the admin token", 404: "no such route or object",
                    405: "method not allowed", 409: "conflict", 410: "gone",
                    413: "body too large", 503: "unavailable"}
    for code in codes:
        out[str(code)] = {"description": descriptions[code],
                          "content": {_JSON: {"schema": _ref("Error")},
                                      "application/problem+json": {"schema": _ref("Problem")}}}
    return out


_POST_ERRORS = (400, 401, 404, 405, 413)


def _post(summary: str, request: dict[str, Any], response: dict[str, Any], *extra: int,
          tag: str, ok_status: str = "200", body_required: bool = True,
          security: bool = True) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary, "tags": [tag],
        "requestBody": _body(request, body_required),
        "responses": _answers(response, *_POST_ERRORS, *extra, ok_status=ok_status),
    }
    if security:
        operation["security"] = [{"bearer": []}, {}]
    return {"post": operation}


def _get(summary: str, response: dict[str, Any], *codes: int, tag: str,
         media: str = _JSON) -> dict[str, Any]:
    return {"get": {"summary": summary, "tags": [tag],
                    "responses": _answers(response, 400, 405, *codes, media=media)}}


_ANY_OBJECT: dict[str, Any] = {"type": "object"}


def _opt(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional member: the server takes `null` as absent (AuthZEN asks senders to
    omit nulls, and a receiver to treat them so)."""
    return {"anyOf": [schema, {"type": "null"}]}


_OPT_OBJECT = _opt(_ANY_OBJECT)
_UID = {"oneOf": [{"type": "string", "description": 'Cedar uid text: Type::"id"'},
                  {"type": "object", "required": ["type", "id"],
                   "properties": {"type": {"type": "string"}, "id": {"type": "string"}}}]}

_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["status", "code", "message"],
        "properties": {"status": {"type": "integer"}, "code": {"type": "string"},
                       "message": {"type": "string"}, "path": {"type": "string"}}}}},
    "Problem": {"type": "object", "required": ["type", "status"],
                "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                               "status": {"type": "integer"}, "detail": {"type": "string"}}},
    "Subject": {"type": "object", "required": ["type", "id"], "properties": {
        "type": {"type": "string"}, "id": {"type": "string"},
        "properties": _OPT_OBJECT}},
    "SearchedEntity": {"type": "object", "required": ["type"], "properties": {
        "type": {"type": "string"}, "id": _opt({"type": "string"}),
        "properties": _OPT_OBJECT}},
    "Action": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "properties": _OPT_OBJECT}},
    "Context": _OPT_OBJECT,
    "EvaluationRequest": {"type": "object", "required": ["subject", "action", "resource"],
                          "properties": {"subject": _ref("Subject"), "action": _ref("Action"),
                                         "resource": _ref("Subject"),
                                         "context": _ref("Context")}},
    "Decision": {"type": "object", "required": ["decision"], "properties": {
        "decision": {"type": "boolean"}, "context": _ANY_OBJECT}},
    # Items are not constrained: under `execute_all` a malformed item is that item's
    # `{"decision": false}` (with the error in its context), not the request's failure.
    "EvaluationsRequest": {"type": "object", "properties": {
        "subject": _opt(_ref("Subject")), "action": _opt(_ref("Action")),
        "resource": _opt(_ref("Subject")), "context": _ref("Context"),
        "options": _opt({"type": "object", "properties": {"evaluations_semantic": _opt({
            "enum": ["execute_all", "deny_on_first_deny", "permit_on_first_permit"]})}}),
        "evaluations": _opt({"type": "array", "maxItems": 10_000, "items": {}})}},
    "EvaluationsResponse": {"type": "object", "properties": {
        "decision": {"type": "boolean"}, "context": _ANY_OBJECT,
        "evaluations": {"type": "array", "items": _ref("Decision")}}},
    "Page": _opt({"type": "object", "properties": {
        "token": _opt({"type": "string"}),
        "limit": _opt({"type": "integer", "minimum": 0})}}),
    "SubjectSearchRequest": {"type": "object", "required": ["subject", "action", "resource"],
                             "properties": {"subject": _ref("SearchedEntity"),
                                            "action": _ref("Action"),
                                            "resource": _ref("Subject"),
                                            "context": _ref("Context"), "page": _ref("Page")}},
    "ResourceSearchRequest": {"type": "object", "required": ["subject", "action", "resource"],
                              "properties": {"subject": _ref("Subject"),
                                             "action": _ref("Action"),
                                             "resource": _ref("SearchedEntity"),
                                             "context": _ref("Context"),
                                             "page": _ref("Page")}},
    "ActionSearchRequest": {"type": "object", "required": ["subject", "resource"],
                            "properties": {"subject": _ref("Subject"),
                                           "resource": _ref("Subject"),
                                           "context": _ref("Context"), "page": _ref("Page")}},
    "SearchResponse": {"type": "object", "required": ["results"], "properties": {
        "page": {"type": "object", "required": ["next_token"], "properties": {
            "next_token": {"type": "string"}, "count": {"type": "integer"}}},
        "results": {"type": "array", "items": _ANY_OBJECT}}},
    "Metadata": {"type": "object", "required": ["policy_decision_point",
                                                "access_evaluation_endpoint"],
                 "properties": {"policy_decision_point": {"type": "string"},
                                "access_evaluation_endpoint": {"type": "string"}}},
    "AccessRequest": {"type": "object", "required": ["subject"], "properties": {
        "subject": _ref("Subject"), "resource": _opt(_ref("Subject")),
        "action": _opt(_ref("Action")),
        "items": _opt({"type": "array", "items": _ANY_OBJECT}), "context": {},
        "denial": {}}},
    "TaskResponse": {"type": "object", "required": ["task"], "properties": {
        "task": {"type": "object", "required": ["id", "status", "status_endpoint"]},
        "result": _ANY_OBJECT}},
    "DecideRequest": {"type": "object", "required": ["principal", "action", "resource"],
                      "properties": {"principal": _UID, "action": _UID, "resource": _UID,
                                     "context": _OPT_OBJECT, "explain": {"type": "boolean"}}},
    "RuneDecision": {"type": "object", "required": ["decision", "reasons", "errors",
                                                    "config", "obligations", "version"],
                     "properties": {"decision": {"enum": ["allow", "deny", "ask"]},
                                    "reasons": {"type": "array", "items": {"type": "string"}},
                                    "errors": {"type": "array", "items": {"type": "string"}},
                                    "config": _ANY_OBJECT,
                                    "obligations": {"type": "array", "items": _ANY_OBJECT},
                                    "version": {"type": "integer"},
                                    "decision_id": {"type": "string"},
                                    "explanation": _ANY_OBJECT}},
    "Version": {"type": "object", "required": ["version"],
                "properties": {"version": {"type": "integer"}}},
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of every route."""
    authzen, rune_tag, admin, ops = "AuthZEN 1.0", "RUNE v1", "RUNE admin", "operations"
    paths: dict[str, Any] = {
        "/access/v1/evaluation": _post("Access Evaluation", _ref("EvaluationRequest"),
                                       _ref("Decision"), 503, tag=authzen),
        "/access/v1/evaluations": _post("Access Evaluations", _ref("EvaluationsRequest"),
                                        _ref("EvaluationsResponse"), 503, tag=authzen),
        "/access/v1/search/subject": _post("Subject Search", _ref("SubjectSearchRequest"),
                                           _ref("SearchResponse"), tag=authzen),
        "/access/v1/search/resource": _post("Resource Search", _ref("ResourceSearchRequest"),
                                            _ref("SearchResponse"), tag=authzen),
        "/access/v1/search/action": _post("Action Search", _ref("ActionSearchRequest"),
                                          _ref("SearchResponse"), tag=authzen),
        "/access/v1/requests": _post("Submit an access request", _ref("AccessRequest"),
                                     _ref("TaskResponse"), 409, 410, tag=authzen,
                                     ok_status="202"),
        "/access/v1/requests/{id}": {"get": {
            "summary": "Access request status", "tags": [authzen],
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": _answers(_ref("TaskResponse"), 400, 401, 404, 405, 410)}},
        "/access/v1/requests/{id}/cancel": {method: {
            "summary": "Cancel an access request", "tags": [authzen],
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": _answers(_ref("TaskResponse"), 400, 401, 404, 405, 409, 410)}
            for method in ("post", "delete")},
        "/.well-known/authzen-configuration": _get("PDP metadata", _ref("Metadata"),
                                                   tag=authzen),
        "/v1/decide": _post("RUNE's whole decision", _ref("DecideRequest"),
                            _ref("RuneDecision"), 403, 503, tag=rune_tag),
        "/v1/decide/batch": _post("Many decisions", {
            "type": "object", "required": ["requests"], "properties": {"requests": {
                "type": "array", "maxItems": 10_000, "items": _ref("DecideRequest")}}},
            {"type": "object", "required": ["decisions"], "properties": {
                "decisions": {"type": "array", "items": _ref("RuneDecision")}}},
            403, 503, tag=rune_tag),
        "/v1/hooks/claude-code": _post(
            "Claude Code's http hook: PreToolUse, PermissionRequest, PostToolUse",
            # Any body: what is not a hook payload is answered (200) with a deny, since
            # Claude Code lets a tool call through when its hook fails.
            {}, _ANY_OBJECT, tag=rune_tag, body_required=False),
        "/v1/query": _post("A Datalog query on the current version (admin)", {
            "type": "object", "required": ["query"],
            "properties": {"query": {"type": "string"}}},
            {"type": "object", "required": ["rows", "version"], "properties": {
                "rows": {"type": "array", "items": {"type": "array"}},
                "version": {"type": "integer"}}}, tag=admin),
        "/v1/admin/write": _post("Write entities and facts (admin)", {
            "type": "object", "properties": {
                "entities": _opt({"type": "array", "items": _ANY_OBJECT}),
                "remove_entities": _opt({"type": "array", "items": _UID}),
                "facts": _OPT_OBJECT, "retract": _OPT_OBJECT}}, _ref("Version"), tag=admin),
        "/v1/admin/record": _post("Record a performed action (admin)", {
            "type": "object", "required": ["principal", "action", "resource"],
            "properties": {"principal": _UID, "action": _UID, "resource": _UID,
                           "at": _opt({"type": "number"}),
                           "amount": _opt({"type": "integer"})}},
            _ref("Version"), tag=admin),
        "/v1/admin/approve": _post("Approve a request (admin)", {
            "type": "object", "required": ["principal", "action", "resource"],
            "properties": {"principal": _UID, "action": _UID, "resource": _UID,
                           "ttl_seconds": _opt({"type": "number"})}}, _ref("Version"),
            tag=admin),
        "/v1/admin/reload": {"post": {"summary": "Reload the bundle (admin)", "tags": [admin],
                                      "responses": _answers(_ref("Version"), 401, 404, 405,
                                                            409)}},
        "/v1/admin/version": _get("The version served (admin)", _ref("Version"), 401, 404,
                                  tag=admin),
        "/v1/admin/requests": _get("Pending access requests (admin)", _ANY_OBJECT, 401, 404,
                                   tag=admin),
        "/v1/admin/requests/{id}/approve": {"post": {
            "summary": "Approve an access request (admin)", "tags": [admin],
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "requestBody": _body({"type": "object", "properties": {
                "ttl_seconds": _opt({"type": "number", "exclusiveMinimum": 0})}},
                required=False),
            "responses": _answers(_ref("TaskResponse"), 400, 401, 404, 405, 409, 410, 413)}},
        "/v1/admin/requests/{id}/deny": {"post": {
            "summary": "Deny an access request (admin)", "tags": [admin],
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": _answers(_ref("TaskResponse"), 400, 401, 404, 405, 409, 410)}},
        "/health": _get("Liveness", {"type": "object"}, tag=ops),
        "/ready": _get("Readiness", {"type": "object"}, 503, tag=ops),
        "/metrics": _get("Prometheus metrics", {"type": "string"}, tag=ops,
                         media="text/plain"),
        "/openapi.json": _get("This document", {"type": "object"}, tag=ops),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "RUNE", "version": rune.__version__,
                 "description": "RUNE's policy decision point: the OpenID AuthZEN "
                 "Authorization API 1.0 (with the obligations and access request approval "
                 "profiles) and RUNE's own API."},
        "paths": paths,
        "components": {"schemas": _SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
