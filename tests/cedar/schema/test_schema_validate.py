"""Policy validation against a schema (`rune.cedar.schema.validate`)."""

from __future__ import annotations

import pytest

from rune.cedar import PolicySet
from rune.cedar.schema import Schema, ValidationError, ValidationResult, validate
from rune.cedar.schema.validate import error_code

SCHEMA = Schema.from_str("""
entity User in [Group] { name: String, age?: Long } tags String;
entity Group;
entity Doc { owner: User };
action view appliesTo { principal: User, resource: Doc, context: { ip: ipaddr } };
""")


def check(text: str) -> ValidationResult:
    return validate(PolicySet.from_str(text), SCHEMA)


def test_valid_policies_pass() -> None:
    result = check("""
    permit (principal, action == Action::"view", resource)
    when { resource.owner == principal && context.ip.isLoopback() };
    permit (principal in Group::"admins", action, resource)
    when { principal has age && principal.age > 18 };
    """)
    assert result.passed and bool(result) and result.errors == ()


@pytest.mark.parametrize("text,code", [
    ('permit (principal == Usr::"a", action, resource);', "unrecognized-entity-type"),
    ('permit (principal, action == Action::"edit", resource);', "unrecognized-action"),
    ('permit (principal, action, resource == User::"a");', "invalid-action-application"),
    ("permit (principal, action, resource) when { principal.nme == \"\" };",
     "unsafe-attribute-access"),
    ("permit (principal, action, resource) when { principal.age > 1 };",
     "unsafe-optional-attribute-access"),
    ('permit (principal, action, resource) when { principal.getTag("t") == "" };',
     "unsafe-tag-access"),
    ('permit (principal, action, resource) when { principal.name > 1 };', "unexpected-type"),
    ("permit (principal, action, resource) when { [] == [] };", "empty-set-forbidden"),
    ('permit (principal, action, resource) when { ip(principal.name).isIpv4() };',
     "non-literal-extension-constructor"),
    ('permit (principal, action, resource) when { ip("nope").isIpv4() };',
     "invalid-extension-literal"),
    ('permit (principal, action, resource) when { principal == 1 };', "incompatible-types"),
])
def test_errors_have_codes(text: str, code: str) -> None:
    result = check(text)
    assert not result.passed
    assert code in [e.code for e in result.errors]


def test_error_fields() -> None:
    result = check('permit (principal, action, resource);\n'
                   'forbid (principal, action, resource) when { principal.nme == "" };')
    (error,) = result.errors
    assert error.policy_id == "policy1"
    assert error.message == "attribute `nme` on entity type `User` not found"
    assert error.span is not None and error.span.line == 2
    assert str(error) == (
        "policy1: error[unsafe-attribute-access]: attribute `nme` on entity type `User` "
        "not found"
    )
    assert isinstance(error, ValidationError)


def test_templates_are_validated() -> None:
    assert not check('permit (principal == ?principal, action, resource) '
                     'when { resource.nope };').passed


def test_unknown_messages_get_a_generic_code() -> None:
    assert error_code("something new") == "validation-error"
