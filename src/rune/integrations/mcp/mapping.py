"""COAZ-MCP mappings: the binding's default mapping per MCP method, declared mappings
(`x-authzen-mapping` in a tool's `inputSchema`), and their resolution into AuthZEN
evaluations.

A mapping is compiled once (`compile_mapping`: every `$` string becomes a CEL
`Expression`, `$$` escapes a literal `$`), then resolved per request against the two
input variables of the binding, `params` (the JSON-RPC request's params) and `token`
(the caller's claims). Resolution yields an `AuthorizationRequest`: the envelope
(`evaluation` or `evaluations`), the body to send to that AuthZEN API, and the effective
evaluations (top-level defaults applied to each entry) for a PDP that decides them one by
one. Everything that keeps a valid AuthZEN request from being built is a `MappingError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rune.integrations.mcp.cel import Expression, OptionalValue, compile_expression
from rune.integrations.mcp.errors import MappingError

__all__ = [
    "PASS_THROUGH",
    "AuthorizationRequest",
    "Caller",
    "CompiledMapping",
    "compile_mapping",
    "declared_mapping",
    "default_mapping",
    "resolve",
    "tool_names",
]

_log = logging.getLogger("rune.integrations.mcp")

ENVELOPES: Final = ("evaluation", "evaluations")
# Methods the PEP must allow without asking the PDP (notifications are the others).
PASS_THROUGH: Final = frozenset({"ping"})
_MAX_MAPPING_NODES: Final = 2_000
_MAX_EVALUATIONS: Final = 64


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the claims of the caller's (validated) access token, and which
    claim identifies the subject (`sub` unless an on-behalf-of claim is designated)."""

    claims: Mapping[str, Any]
    subject_claim: str = "sub"

    @property
    def subject_id(self) -> Any:
        """The subject-identity claim's value (None when the token has none)."""
        return self.claims.get(self.subject_claim)


@dataclass(frozen=True, slots=True)
class CompiledMapping:
    """A mapping whose expressions are compiled: ``envelope`` is `evaluation` or
    `evaluations`, ``template`` the body with `Expression`s at its leaves, ``anchored``
    whether `subject.id` is the subject-identity claim (so verified against the token)."""

    envelope: str
    template: Mapping[str, Any]
    anchored: bool
    declared: bool
    # The template compiled to one function per node (compile once, resolve many).
    resolver: Callable[[Mapping[str, Any]], Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A resolved mapping: the AuthZEN ``body`` for the API the ``envelope`` names, and
    its effective ``evaluations`` (subject, action, resource, context each), in order."""

    envelope: str
    body: Mapping[str, Any]
    evaluations: tuple[Mapping[str, Any], ...]


def _default(action: str, resource_type: str, resource_id: str,
             context: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"evaluation": {
        "subject": {"type": "identity", "id": "$token.sub"},
        "context": {"agent": "$token.?client_id", **(context or {})},
        "action": {"name": action},
        "resource": {"type": resource_type, "id": resource_id},
    }}


# The binding's default mappings (COAZ-MCP "Default Mappings"), verbatim.
DEFAULT_MAPPINGS: Final[Mapping[str, Mapping[str, Any]]] = {
    "initialize": _default("initialize", "mcp_server", "$token.aud",
                           {"protocol_version": "$params.protocolVersion"}),
    "tools/list": _default("tools/list", "mcp_server", "$token.aud"),
    "tools/call": _default("tools/call", "tool", "$params.name"),
    "resources/list": _default("resources/list", "mcp_server", "$token.aud"),
    "resources/read": _default("resources/read", "resource", "$params.uri"),
    "resources/subscribe": _default("resources/subscribe", "resource", "$params.uri"),
    "resources/unsubscribe": _default("resources/unsubscribe", "resource", "$params.uri"),
    "prompts/list": _default("prompts/list", "mcp_server", "$token.aud"),
    "prompts/get": _default("prompts/get", "prompt", "$params.name"),
    "completion/complete": _default(
        "completion/complete",
        "$params.ref.type == 'ref/prompt' ? 'prompt' : 'resource'",
        "$params.ref.type == 'ref/prompt' ? params.ref.name : params.ref.uri"),
    "logging/setLevel": _default("logging/setLevel", "mcp_server", "$token.aud",
                                 {"level": "$params.level"}),
    "tasks/get": _default("tasks/get", "task", "$params.taskId"),
    "tasks/result": _default("tasks/result", "task", "$params.taskId"),
    "tasks/cancel": _default("tasks/cancel", "task", "$params.taskId"),
    "tasks/list": _default("tasks/list", "mcp_server", "$token.aud"),
}


def compile_mapping(mapping: Any, *, subject_claim: str = "sub",
                    declared: bool = True) -> CompiledMapping:
    """Check a mapping's shape and compile its expressions.

    Raises:
        MappingError: not exactly one envelope, a template that is not AuthZEN-shaped, a
            per-evaluation `subject` (identity smuggling), an expression that does not
            parse.
    """
    if not isinstance(mapping, dict) or len(mapping) != 1 or \
            next(iter(mapping)) not in ENVELOPES:
        raise MappingError("a mapping must hold exactly one of `evaluation` or "
                           "`evaluations`", code="mapping-malformed")
    envelope, body = next(iter(mapping.items()))
    if not isinstance(body, dict):
        raise MappingError(f"`{envelope}` must be an object", code="mapping-malformed")
    counter = [0]
    template = _compile_value(body, envelope, counter)
    if envelope == "evaluations":
        entries = body.get("evaluations")
        if not isinstance(entries, list) or not entries or len(entries) > _MAX_EVALUATIONS:
            raise MappingError(f"`evaluations.evaluations` must be a list of 1 to "
                               f"{_MAX_EVALUATIONS} entries", code="mapping-malformed")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise MappingError(f"`evaluations.evaluations[{i}]` must be an object",
                                   code="mapping-malformed")
            if "subject" in entry:
                raise MappingError(f"`evaluations.evaluations[{i}]` sets a subject: only "
                                   "the top-level subject may be declared",
                                   code="mapping-subject-smuggled")
    for part in ("subject", "action", "resource", "context"):
        if part in body and not isinstance(body[part], dict):
            raise MappingError(f"`{envelope}.{part}` must be an object",
                               code="mapping-malformed")
    subject = body.get("subject")
    identity = subject.get("id") if isinstance(subject, dict) else None
    anchored = identity is None or (isinstance(identity, str) and identity.replace(" ", "")
                                    in (f"$token.{subject_claim}",
                                        f"$token['{subject_claim}']",
                                        f'$token["{subject_claim}"]'))
    return CompiledMapping(envelope, template, anchored, declared, _resolver(template))


def _compile_value(value: Any, path: str, counter: list[int]) -> Any:
    counter[0] += 1
    if counter[0] > _MAX_MAPPING_NODES:
        raise MappingError(f"a mapping may hold at most {_MAX_MAPPING_NODES} values",
                           code="mapping-malformed")
    if isinstance(value, str):
        if value.startswith("$$"):
            return value[1:]
        if value.startswith("$"):
            return compile_expression(value[1:])
        return value
    if isinstance(value, dict):
        return {key: _compile_value(item, f"{path}.{key}", counter)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_compile_value(item, f"{path}[{i}]", counter) for i, item in enumerate(value)]
    return value


_DEFAULTS: dict[tuple[str, str], CompiledMapping] = {}


def default_mapping(method: str, subject_claim: str = "sub") -> CompiledMapping | None:
    """The binding's default mapping for ``method`` (None for a method it does not map),
    with `$token.sub` read as `$token.<subject_claim>`."""
    key = (method, subject_claim)
    found = _DEFAULTS.get(key)
    if found is None and method in DEFAULT_MAPPINGS:
        mapping: Any = DEFAULT_MAPPINGS[method]
        if subject_claim != "sub":
            body = dict(mapping["evaluation"])
            body["subject"] = {"type": "identity", "id": f"$token.{subject_claim}"}
            mapping = {"evaluation": body}
        found = _DEFAULTS[key] = compile_mapping(mapping, subject_claim=subject_claim,
                                                 declared=False)
    return found


_ABSENT: Final = object()


def _resolver(value: Any) -> Callable[[Mapping[str, Any]], Any]:
    """A function from the input variables to ``value`` resolved: expressions evaluated
    (an empty optional is `_ABSENT`, and its member is left out), literals as they are."""
    if isinstance(value, Expression):
        evaluate = value.evaluate

        def expression(variables: Mapping[str, Any]) -> Any:
            result = evaluate(variables)
            if result.__class__ is OptionalValue:
                return result.value if result.present else _ABSENT
            return result
        return expression
    if isinstance(value, dict):
        members = [(key, _resolver(item)) for key, item in value.items()]

        def record(variables: Mapping[str, Any]) -> Any:
            out = {}
            for key, resolve_member in members:
                resolved = resolve_member(variables)
                if resolved is not _ABSENT:
                    out[key] = resolved
            return out
        return record
    if isinstance(value, list):
        items = [_resolver(item) for item in value]

        def sequence(variables: Mapping[str, Any]) -> Any:
            return [r for r in (item(variables) for item in items) if r is not _ABSENT]
        return sequence
    return lambda variables: value  # a literal: str, number, bool or null (immutable)


def resolve(mapping: CompiledMapping, params: Mapping[str, Any], caller: Caller,
            tool: str | None = None, *, trust_declared_subjects: bool = False
            ) -> AuthorizationRequest:
    """Resolve ``mapping`` for one request: the AuthZEN request to send.

    A declared mapping whose `subject.id` is not the subject-identity claim asserts an
    identity the PEP cannot verify (the binding's edge case): refused unless
    ``trust_declared_subjects`` (then logged as a warning), since the server authoring
    the mapping is the party being authorized.

    Raises:
        MappingError: an expression fails, a required field is absent or not a string,
            the subject is not the token's, or an unverifiable subject is not trusted.
    """
    claims = caller.claims
    variables = {"params": params if params.__class__ is dict else dict(params),
                 "token": claims if claims.__class__ is dict else dict(claims)}
    body = mapping.resolver(variables)
    subject = body.get("subject")
    subject = dict(subject) if isinstance(subject, dict) else {}
    claimed = caller.subject_id
    # A mapping that omits the subject, its id or its type gets the binding's defaults.
    if "id" not in subject:
        if claimed is None:
            raise MappingError(f"the caller has no `{caller.subject_claim}` claim to "
                               "identify the subject", code="mapping-no-subject")
        subject["id"] = claimed
    subject.setdefault("type", "identity")
    if mapping.anchored and subject["id"] != claimed:
        raise MappingError("the mapping's subject is not the token's subject",
                           code="mapping-subject-mismatch")
    if not mapping.anchored and mapping.declared:
        if not trust_declared_subjects:
            raise MappingError(f"tool `{tool}` maps the subject from a source that cannot "
                               "be verified against the token",
                               code="mapping-subject-unverified")
        _log.warning("tool `%s` maps subject.id from a source the gateway cannot verify "
                     "against the token", tool)
    body["subject"] = subject
    if mapping.envelope == "evaluation":
        _check_evaluation(body, "evaluation")
        return AuthorizationRequest("evaluation", body, (body,))
    entries = body.get("evaluations")
    if not isinstance(entries, list) or not entries:
        raise MappingError("`evaluations` resolved to no evaluation",
                           code="mapping-malformed")
    evaluations = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise MappingError(f"`evaluations[{i}]` must be an object",
                               code="mapping-malformed")
        merged = {part: entry.get(part, body.get(part))
                  for part in ("subject", "action", "resource", "context")
                  if part in entry or part in body}
        merged["subject"] = subject
        _check_evaluation(merged, f"evaluations[{i}]")
        evaluations.append(merged)
    return AuthorizationRequest("evaluations", body, tuple(evaluations))


def _check_evaluation(evaluation: Mapping[str, Any], path: str) -> None:
    for part, fields in (("subject", ("type", "id")), ("action", ("name",)),
                         ("resource", ("type", "id"))):
        entity = evaluation.get(part)
        if not isinstance(entity, dict):
            raise MappingError(f"`{path}.{part}` is missing", code="mapping-missing-field")
        for name in fields:
            value = entity.get(name)
            if value is None:
                raise MappingError(f"`{path}.{part}.{name}` is missing or null",
                                   code="mapping-missing-field")
            if not isinstance(value, str) or not value:
                raise MappingError(f"`{path}.{part}.{name}` must be a non-empty string",
                                   code="mapping-invalid-field")
        properties = entity.get("properties")
        if properties is not None and not isinstance(properties, dict):
            raise MappingError(f"`{path}.{part}.properties` must be an object",
                               code="mapping-invalid-field")
    context = evaluation.get("context")
    if context is not None and not isinstance(context, dict):
        raise MappingError(f"`{path}.context` must be an object",
                           code="mapping-invalid-field")


def declared_mapping(tool: Mapping[str, Any]) -> Any:
    """The `x-authzen-mapping` a tool (a `tools/list` entry) declares, or None."""
    schema = tool.get("inputSchema")
    return schema.get("x-authzen-mapping") if isinstance(schema, dict) else None


def tool_names(tools: Sequence[Any]) -> list[str]:
    """The names of the well-formed entries of a `tools/list` result."""
    return [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
