"""Policy validation against a schema (Cedar's strict mode): static policies, templates
and template-linked policies.

`validate` runs RUNE's own typechecker (`rune.cedar.schema.typecheck`), which agrees with
cedar-policy 4.12 on every policy of the Cedar conformance corpus (7,831 files), on
templates made from those policies, and on their links. Like cedar-policy, it validates:

* every static policy and every template (a template once for each type its slots may
  be linked to), with errors under the policy's or template's id;
* every template-linked policy's slot values (a declared entity type, and an action
  that applies once the slots are filled in), with errors under the link's id.

``engine="cedarpy"`` is an explicit opt-in for tests that use cedar-policy as an oracle:
it needs `cedarpy`, which RUNE does not depend on (``pip install cedarpy``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rune.cedar.errors import CedarError
from rune.errors import SourceSpan

if TYPE_CHECKING:
    from rune.cedar.schema.schema import Schema
    from rune.cedar.values import EntityUID

__all__ = ["ValidationError", "ValidationResult", "error_code", "import_cedarpy", "validate"]


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
            assigns them; links keep the ids they were given).
        schema: the schema to validate against.
        engine: ``"rune"`` (RUNE's typechecker, the default) or ``"cedarpy"``: hand the
            policies to cedar-policy instead, for tests that compare the two. cedarpy is
            not a dependency of RUNE; this engine raises `CedarError` (code
            ``cedarpy-not-installed``) when it is missing.

    Returns:
        The errors policy by policy: every static policy's, then every template's (each
        in the set's order), then every template-linked policy's.
    """
    if engine == "cedarpy":
        return _validate_with_cedarpy(policies, schema)
    if engine != "rune":
        raise CedarError(f"unknown validation engine `{engine}`", code="unknown-engine")
    from rune.cedar.schema.typecheck import prepare, typecheck_link, typecheck_policy

    prepared = prepare(schema.entity_types, schema.actions)
    templates = {t.id: t for t in getattr(policies, "templates", ())}
    linked = []
    errors: list[ValidationError] = []

    def add(policy_id: str, found: Iterable[Any], span: SourceSpan | None) -> None:
        for error in found:
            errors.append(ValidationError(policy_id, error.code, error.message,
                                          error.span or span))

    for policy in policies:
        if policy.template_id is None:
            add(policy.id, typecheck_policy(policy.ast, prepared), policy.span)
        else:
            linked.append(policy)
    for template in templates.values():
        add(template.id, typecheck_policy(template.ast, prepared), template.span)
    for policy in linked:
        tree = policy.ast  # the template's tree, slots and all
        if policy.template_id not in templates:
            # Its template is not in the set, so nothing else validates the body.
            add(policy.id, typecheck_policy(tree, prepared), policy.span)
        add(policy.id, typecheck_link(tree, dict(policy.slot_values), prepared), policy.span)
    return ValidationResult(tuple(errors))


# -- cedar-policy as an oracle (tests only) ----------------------------------------------------

def import_cedarpy() -> Any:
    """The `cedarpy` module, for the opt-in ``cedarpy`` engine (RUNE does not install it).

    Raises:
        CedarError: cedarpy is not installed (code ``cedarpy-not-installed``).
    """
    try:
        import cedarpy
    except ImportError:
        raise CedarError("the `cedarpy` engine needs cedarpy, which RUNE does not install: "
                         "`pip install cedarpy`", code="cedarpy-not-installed") from None
    return cedarpy


def _validate_with_cedarpy(policies: Any, schema: Schema) -> ValidationResult:
    """cedar-policy's verdict. Its Python API validates policy text only, so a link is
    validated as what cedar-policy links it to (the template with its slots filled in,
    as a static policy), keeping the errors cedar-policy reports for links: an
    undeclared entity type in a slot value, and no applicable action."""
    cedarpy = import_cedarpy()
    judge = schema.cedarpy_schema()
    spans: dict[str, SourceSpan | None] = {}
    links = []
    for template in getattr(policies, "templates", ()):
        spans[template.id] = template.span
    for policy in policies:
        spans[policy.id] = policy.span
        if policy.template_id is not None:
            links.append(policy)
    source: str = policies.source_text
    errors = _cedarpy_errors(cedarpy, source, judge)
    # All links in one call: the i-th linked text gets the id `policy{i}`.
    linked_text = "\n".join(_linked_text(cedarpy, p.text, dict(p.slot_values)) for p in links)
    by_position = {f"policy{i}": p for i, p in enumerate(links)}
    for error in _cedarpy_errors(cedarpy, linked_text, judge) if links else ():
        policy = by_position[error.policy_id]
        named = _UNRECOGNIZED_TYPE.match(error.message)
        slot_types = {uid.type for _, uid in policy.slot_values}
        if error.code == "invalid-action-application" or (
                named is not None and named.group(1) in slot_types):
            errors.append(ValidationError(policy.id, error.code, error.message))
    return ValidationResult(tuple(
        ValidationError(e.policy_id, e.code, e.message, e.span or spans.get(e.policy_id))
        for e in errors))


_UNRECOGNIZED_TYPE = re.compile(r"^unrecognized entity type `([^`]*)`")


def _cedarpy_errors(cedarpy: Any, text: str, judge: Any) -> list[ValidationError]:
    try:
        result = cedarpy.validate_policies(text, judge)
    except ValueError as exc:  # cedarpy could not read the policies or the schema
        raise CedarError(f"the validator failed: {exc}", code="validator-failure") from None
    out = []
    for error in result.errors:
        message = _strip_prefix(error.policy_id, error.error)
        out.append(ValidationError(error.policy_id, error_code(message), message))
    return out


def _linked_text(cedarpy: Any, template_text: str,
                 slot_values: Mapping[str, EntityUID]) -> str:
    """The template's text with its slots filled in, linked and printed by cedar-policy."""
    data = json.loads(cedarpy.policies_to_json_str(template_text))
    ((template_id, _),) = data["templates"].items()
    data["templateLinks"] = [{
        "templateId": template_id, "newId": "link",
        "values": {f"?{name}": uid.to_json() for name, uid in slot_values.items()},
    }]
    text: str = cedarpy.policies_from_json_str(json.dumps(data))
    return text
