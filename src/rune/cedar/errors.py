"""Errors raised by the Cedar front end, entity loader, request builder and evaluator."""

from __future__ import annotations

from rune.errors import RuneError

__all__ = [
    "CedarError",
    "EntitiesError",
    "EvaluationError",
    "LinkError",
    "ParseError",
    "RequestError",
    "SchemaError",
]


class CedarError(RuneError):
    """Base of every error raised by `rune.cedar`."""

    code = "cedar-error"


class ParseError(CedarError, ValueError):
    """Policy, template, expression or entity-uid text that does not parse."""

    code = "cedar-parse-error"


class EntitiesError(CedarError, ValueError):
    """Entity data (Cedar JSON format) that is malformed or does not conform to the schema."""

    code = "cedar-entities-error"


class RequestError(CedarError, ValueError):
    """An ill-formed authorization request (bad uid, context not a record, fails the schema)."""

    code = "cedar-request-error"


class SchemaError(CedarError, ValueError):
    """A Cedar schema (human-readable or JSON) that does not parse or is inconsistent."""

    code = "cedar-schema-error"


class LinkError(CedarError, ValueError):
    """A template link with a missing template, a duplicate id or wrong slot values."""

    code = "cedar-link-error"


class EvaluationError(CedarError):
    """An error evaluating a policy condition (type error, missing attribute, overflow...).

    Never escapes `authorize`: the policy is skipped and reported in the response's errors.
    Constructed cheaply on the hot path, so it renders lazily.
    """

    code = "evaluation-error"

    def __init__(self, message: str, *, code: str = "evaluation-error") -> None:
        # INVARIANT: no span lookup here; evaluation errors are frequent in the corpus and
        # must stay cheap. The authorizer attaches the policy id.
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.source = None
        self.diagnostics = ()

    def __str__(self) -> str:
        return self.message
