"""Policy validation against a schema (Cedar's strict mode).

By default `validate` runs RUNE's own typechecker (`rune.cedar.schema.typecheck`), which
agrees with cedar-policy 4.12 on every policy of the Cedar conformance corpus (7,831
files). ``engine="cedarpy"`` hands the policies' text and the schema's JSON form to
cedar-policy instead and maps each error it reports to a stable kebab-case code; policy
sets with templates always go to cedar-policy, since RUNE's typechecker does not model
slots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rune.cedar.errors import CedarError
from rune.errors import SourceSpan

if TYPE_CHECKING:
    from rune.cedar.schema.schema import Schema

__all__ = ["ValidationError", "ValidationResult", "error_code", "validate"]


@dataclass(frozen=True, slots=True)
class ValidationError:
    """One validation error: the policy it is in, a stable code and a message."""

    policy_id: str
    code: str
    message: str
    span: SourceSpan | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.policy_id}: error[{self.code}]: {self.message}"


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The outcome of validating a policy set: it passed when there are no errors."""

    errors: tuple[ValidationError, ...] = ()

    @property
    def passed(self) -> bool:
        """True when no policy has a validation error."""
        return not self.errors

    def __bool__(self) -> bool:
        return self.passed


# cedar-policy's validation messages, by the stable code RUNE gives them. First match wins.
_CODES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), code)
    for pattern, code in (
        (r"^unrecognized entity type", "unrecognized-entity-type"),
        (r"^unrecognized action", "unrecognized-action"),
        (r"^unable to find an applicable action", "invalid-action-application"),
        (r"^unable to guarantee safety of access to optional attribute",
         "unsafe-optional-attribute-access"),
        (r"^unable to guarantee safety of access to tag", "unsafe-tag-access"),
        (r"^attribute .* not found", "unsafe-attribute-access"),
        (r"^unexpected type", "unexpected-type"),
        (r"^the types .* are not compatible", "incompatible-types"),
        (r"^empty set literals are forbidden", "empty-set-forbidden"),
        (r"^extension constructors may not be called", "non-literal-extension-constructor"),
        (r"^error during extension function argument validation", "invalid-extension-literal"),
        (r"^wrong number of arguments", "wrong-number-arguments"),
        (r"^undefined extension function|^unrecognized extension function",
         "undefined-function"),
        (r"is of an enumerated entity type|not declared as a valid eid", "invalid-enum-entity"),
        (r"^policy is impossible", "impossible-policy"),
        (r"^internal invariant violated", "internal-invariant-violated"),
    )
)


def error_code(message: str) -> str:
    """The stable kebab-case code for one of cedar-policy's validation messages."""
    for pattern, code in _CODES:
        if pattern.search(message):
            return code
    return "validation-error"


def _strip_prefix(policy_id: str, message: str) -> str:
    prefix = f"for policy `{policy_id}`, "
    return message[len(prefix):] if message.startswith(prefix) else message


def validate(
    policies: Any, schema: Schema, *, engine: Literal["rune", "cedarpy"] = "rune"
) -> ValidationResult:
    """Validate a policy set against ``schema`` in Cedar's strict mode.

    Args:
        policies: a `rune.cedar.PolicySet` (ids are `policy0`, `policy1`, ... as Cedar
            assigns them).
        schema: the schema to validate against.
        engine: ``"rune"`` (RUNE's typechecker) or ``"cedarpy"`` (cedar-policy itself).

    Returns:
        The errors of every policy, policy by policy.
    """
    has_templates = bool(getattr(policies, "templates", None))
    if engine == "cedarpy" or has_templates:
        return _validate_with_cedarpy(policies, schema)
    from rune.cedar.schema.typecheck import prepare, typecheck_policy

    prepared = prepare(schema.entity_types, schema.actions)
    errors: list[ValidationError] = []
    for policy in policies:
        for error in typecheck_policy(policy.ast, prepared):
            errors.append(ValidationError(policy.id, error.code, error.message,
                                          error.span or policy.span))
    return ValidationResult(tuple(errors))


def _validate_with_cedarpy(policies: Any, schema: Schema) -> ValidationResult:
    import cedarpy

    text: str = policies.source_text
    try:
        result = cedarpy.validate_policies(text, schema.cedarpy_schema())
    except ValueError as exc:  # cedarpy could not read the policies or the schema
        raise CedarError(f"the validator failed: {exc}", code="validator-failure") from None
    spans: dict[str, SourceSpan | None] = {}
    try:
        for policy in policies:
            spans[policy.id] = getattr(policy, "span", None)
    except TypeError:
        pass
    errors = []
    for error in result.errors:
        message = _strip_prefix(error.policy_id, error.error)
        errors.append(ValidationError(error.policy_id, error_code(message), message,
                                      spans.get(error.policy_id)))
    return ValidationResult(tuple(errors))
