"""Templates and template-linked policies, validated by RUNE and compared with cedarpy.

A template is typechecked once for every type its slots may be linked to in each request
environment (for `principal in ?principal`: the principal's type and each type it may
descend from). A link is checked as cedar-policy checks it: each slot value's entity type
is declared (or is an action type) and, with the slots filled in, some action applies.

cedarpy validates policy text only; `validate(..., engine="cedarpy")` validates a link as
the static policy cedar-policy links it to and keeps the errors cedar-policy reports for
links (see `rune.cedar.schema.validate`). The corpus sweep is in `test_schema_corpus.py`.
"""

from __future__ import annotations

import cedarpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests import strategies as general
from tests.cedar.schema.strategies import schemas, static_policies, template_links, templates

from rune.cedar import ParseError, PolicySet
from rune.cedar.errors import CedarError
from rune.cedar.policy_set import Policy
from rune.cedar.schema import Schema, ValidationResult, validate
from rune.cedar.schema.typecheck import prepare, typecheck_policy
from rune.cedar.values import EntityUID

SCHEMA_TEXT = """
entity Org;
entity Team in [Org];
entity User in [Team] { name: String, age?: Long };
entity Bot { owner: User };
entity Doc in [Folder] { owner: User };
entity Folder in [Folder];
entity Level enum ["low", "high"];
action view appliesTo { principal: [User, Bot], resource: [Doc, Folder] };
action admin appliesTo { principal: User, resource: Level };
action ping;
"""
SCHEMA = Schema.from_str(SCHEMA_TEXT)


def both(policies: PolicySet) -> tuple[ValidationResult, ValidationResult]:
    return validate(policies, SCHEMA), validate(policies, SCHEMA, engine="cedarpy")


def errors(result: ValidationResult) -> set[tuple[str, str]]:
    return {(e.policy_id, e.code) for e in result.errors}


# -- templates --------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("permit(principal == ?principal, action, resource);", set()),
    ("permit(principal in ?principal, action == Action::\"view\", resource in ?resource);",
     set()),
    # For a Bot principal, `principal.name` does not exist: the slot does not narrow it.
    ('permit(principal in ?principal, action == Action::"view", resource) '
     "when { principal.name == \"\" };", {("policy0", "unsafe-attribute-access")}),
    ('permit(principal is User in ?principal, action == Action::"view", resource) '
     "when { principal.name == \"\" };", set()),
    ("permit(principal is User in ?principal, action, resource) when { principal.age > 1 };",
     {("policy0", "unsafe-optional-attribute-access")}),
    ("permit(principal is Org in ?principal, action, resource);",
     {("policy0", "invalid-action-application")}),
    ("permit(principal is Nope in ?principal, action, resource);",
     {("policy0", "unrecognized-entity-type"), ("policy0", "invalid-action-application")}),
    ('permit(principal == ?principal, action == Action::"ping", resource);',
     {("policy0", "invalid-action-application")}),
    ("permit(principal, action, resource == ?resource) when { resource.owner.age > 1 };",
     {("policy0", "unsafe-attribute-access"), ("policy0", "unsafe-optional-attribute-access")}),
])
def test_templates_validate_as_cedar_does(text: str, expected: set[tuple[str, str]]) -> None:
    mine, judge = both(PolicySet.from_str(text))
    assert errors(mine) == errors(judge) == expected


def test_templates_and_static_policies_keep_their_ids() -> None:
    policies = PolicySet.from_str(
        'permit(principal, action == Action::"view", resource) when { principal.age > 1 };\n'
        "permit(principal == ?principal, action, resource) when { resource.nope };\n"
        "permit(principal, action, resource);")
    mine, judge = both(policies)
    assert errors(mine) == errors(judge) == {
        ("policy0", "unsafe-optional-attribute-access"),  # for a User
        ("policy0", "unsafe-attribute-access"),  # for a Bot
        ("policy1", "unsafe-attribute-access")}
    ids = [e.policy_id for e in mine.errors]
    assert ids == sorted(ids)  # policy by policy
    assert all(e.span is not None and e.span.line == 2 for e in mine.errors
               if e.policy_id == "policy1")


# -- links ------------------------------------------------------------------------------------

TEMPLATE = PolicySet.from_str(
    'permit(principal in ?principal, action == Action::"view", resource == ?resource);')


@pytest.mark.parametrize("principal,resource,expected", [
    ('Team::"t"', 'Doc::"d"', set()),
    ('Org::"o"', 'Folder::"f"', set()),  # a User may be in an Org through a Team
    ('Bot::"b"', 'Doc::"d"', set()),
    ('Nope::"x"', 'Doc::"d"', {"unrecognized-entity-type", "invalid-action-application"}),
    ('Team::"t"', 'NS::Nope::"x"', {"unrecognized-entity-type", "invalid-action-application"}),
    ('Doc::"d"', 'Doc::"d"', {"invalid-action-application"}),  # no principal is in a Doc
    ('Team::"t"', 'Org::"o"', {"invalid-action-application"}),  # `==`: Org is no resource
    ('Action::"view"', 'Doc::"d"', {"invalid-action-application"}),  # an action type
    ('Level::"nope"', 'Doc::"d"', {"invalid-action-application"}),  # enum ids: not checked
])
def test_links_are_checked_against_the_schema(principal: str, resource: str,
                                              expected: set[str]) -> None:
    linked = TEMPLATE.link("policy0", "link", {"?principal": principal,
                                               "?resource": resource})
    mine, judge = both(linked)
    assert errors(mine) == errors(judge) == {("link", code) for code in expected}
    if expected:
        assert all(e.span == linked.policy("link").span for e in mine.errors)


def test_every_link_is_checked_and_keeps_its_id() -> None:
    linked = TEMPLATE
    for n, principal in enumerate(('Team::"t"', 'Nope::"x"', 'Doc::"d"', 'User::"u"')):
        linked = linked.link("policy0", f"L{n}", {"?principal": principal,
                                                  "?resource": 'Doc::"d"'})
    mine, judge = both(linked)
    assert {e.policy_id for e in mine.errors} == {e.policy_id for e in judge.errors} == {
        "L1", "L2"}


def test_a_link_without_its_template_has_its_body_validated() -> None:
    template = PolicySet.from_str(
        "permit(principal == ?principal, action, resource) when { resource.nope };")
    (link,) = template.link("policy0", "only", {"?principal": 'User::"u"'}).policies
    alone = PolicySet.from_policies([link])
    assert errors(validate(alone, SCHEMA)) == {("only", "unsafe-attribute-access")}
    policy = Policy("built", template.template("policy0").ast, "policy0",
                    (("principal", EntityUID("Nope", "x")),))
    assert errors(validate(PolicySet.from_policies([policy]), SCHEMA)) == {
        ("built", "unsafe-attribute-access"), ("built", "unrecognized-entity-type"),
        ("built", "invalid-action-application")}


def test_slot_types_are_those_cedar_links_a_template_to() -> None:
    prepared = prepare(SCHEMA.entity_types, SCHEMA.actions)
    (template,) = PolicySet.from_str(
        "permit(principal in ?principal, action, resource == ?resource);").templates
    tree = template.ast
    assert prepared.slot_types(tree.principal, "User") == ("Org", "Team", "User")
    assert prepared.slot_types(tree.resource, "Doc") == ("Doc",)
    assert prepared.slot_types(tree.principal, "Folder") == ("Folder",)  # its own parent
    assert prepared.slot_types(tree.action, "User") == (None,)
    every = list(prepared.environments(tree, every_slot_type=True))
    assert {(e.principal, e.principal_slot) for e in every} >= {
        ("User", "Org"), ("User", "Team"), ("User", "User"), ("Bot", "Bot")}
    assert len(list(prepared.environments(tree))) == len(
        list(prepared.environments(PolicySet.from_str(
            "permit(principal, action, resource);").policies[0].ast)))


def test_a_deep_hierarchy_does_not_multiply_the_work() -> None:
    # 400 types in a chain: linking both slots could take 401 * 401 types per request
    # environment; one stands for all, so this is as fast as a static policy.
    chain = "\n".join(["entity T0 { n: Long };",
                        *(f"entity T{i} in [T{i - 1}];" for i in range(1, 400)),
                        "action a appliesTo { principal: [T399], resource: [T399] };"])
    policies = PolicySet.from_str("permit(principal in ?principal, action, "
                                  "resource in ?resource) when { principal.n > 0 };")
    (error,) = validate(policies, Schema.from_str(chain)).errors
    assert error.code == "unsafe-attribute-access"


def test_unknown_engine_is_an_error() -> None:
    with pytest.raises(CedarError) as caught:
        validate(TEMPLATE, SCHEMA, engine="nope")  # type: ignore[arg-type]
    assert caught.value.code == "unknown-engine"


def test_the_cedarpy_engine_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "cedarpy", None)  # `import cedarpy` now fails
    with pytest.raises(CedarError) as caught:
        validate(TEMPLATE, SCHEMA, engine="cedarpy")
    assert caught.value.code == "cedarpy-not-installed"
    assert "pip install cedarpy" in caught.value.message


# -- generated, against cedarpy ---------------------------------------------------------------

def _slots(text: str) -> tuple[str, ...]:
    return tuple(s for s in ("principal", "resource") if f"?{s}" in text)


def check_generated_templates_and_links(data: st.DataObject) -> None:
    generated = data.draw(schemas())
    schema = Schema.from_str(generated.text)
    texts = data.draw(st.lists(st.one_of(templates(generated), static_policies(generated)),
                               min_size=1, max_size=3))
    policies = PolicySet.from_str("\n".join(texts))
    for n in range(data.draw(st.integers(0, 4)) if policies.templates else 0):
        template = data.draw(st.sampled_from(policies.templates))
        values = data.draw(template_links(generated, _slots(template.text)))
        policies = policies.link(template.id, f"link{n}", values)
    mine = validate(policies, schema)
    judge = validate(policies, schema, engine="cedarpy")
    prepared = prepare(schema.entity_types, schema.actions)
    for template in policies.templates:  # one slot type stands for all of them
        assert (set(typecheck_policy(template.ast, prepared))
                == set(typecheck_policy(template.ast, prepared, every_slot_type=True)))
    context = (generated.text, policies.source_text,
               [(p.id, p.slot_values) for p in policies if p.template_id])
    assert {e.policy_id for e in mine.errors} == {e.policy_id for e in judge.errors}, context
    links = {p.id for p in policies if p.template_id}
    assert ({(e.policy_id, e.code) for e in mine.errors if e.policy_id in links}
            == {(e.policy_id, e.code) for e in judge.errors if e.policy_id in links}), context


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_templates_and_links_agree_with_cedarpy(data: st.DataObject) -> None:
    check_generated_templates_and_links(data)


@pytest.mark.slow
@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_many_generated_templates_and_links_agree_with_cedarpy(data: st.DataObject) -> None:
    check_generated_templates_and_links(data)


# The suite's general generator (`tests/strategies.py`): deep expressions of every kind,
# over a schema that declares its vocabulary (most attributes optional, so `has` matters).
VOCABULARY_SCHEMA = Schema.from_str("""
entity Group in [Group] { n?: Long, s?: String, flag?: Bool, owner?: User };
entity User in [Group] {
  n?: Long, s?: String, flag?: Bool, owner?: User, items?: Set<Long>, rec?: { n?: Long },
  addr?: ipaddr, amount?: decimal, when?: datetime, ttl?: duration, "x y"?: String,
} tags String;
entity Doc in [NS::Folder] { n?: Long, s?: String, owner?: User };
namespace NS { entity Folder in [Folder]; }
action read, write in [all] appliesTo {
  principal: [User, Group], resource: [Doc, NS::Folder],
  context: { n?: Long, s?: String, flag?: Bool },
};
action g, all;
""")


def check_vocabulary_templates(case: tuple[list[general.Policy], list[general.Link]]) -> None:
    order, links = case
    try:
        policies = PolicySet.from_str(general.policy_set_to_cedar(order))
    except ParseError:
        return  # a chained relation or the like, which cedar-policy rejects too
    for link in links:
        policies = policies.link(link.template_id, link.new_id, link.values)
    mine = validate(policies, VOCABULARY_SCHEMA)
    judge = validate(policies, VOCABULARY_SCHEMA, engine="cedarpy")
    assert {e.policy_id for e in mine.errors} == {e.policy_id for e in judge.errors}, (
        policies.source_text, links)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(general.template_sets(invalid=False))
def test_the_suites_templates_agree_with_cedarpy(
        case: tuple[list[general.Policy], list[general.Link]]) -> None:
    check_vocabulary_templates(case)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(general.template_sets(invalid=False))
def test_many_of_the_suites_templates_agree_with_cedarpy(
        case: tuple[list[general.Policy], list[general.Link]]) -> None:
    check_vocabulary_templates(case)


def test_the_oracle_links_as_cedar_does() -> None:
    # The cedarpy engine's reading of a link is cedar-policy's own linking: the same text
    # with the slots filled in gives the same verdict as a hand-written static policy.
    text = 'permit(principal in Team::"t", action == Action::"view", resource == Doc::"d");'
    assert cedarpy.validate_policies(text, SCHEMA_TEXT).validation_passed
    linked = TEMPLATE.link("policy0", "link", {"?principal": 'Team::"t"',
                                               "?resource": 'Doc::"d"'})
    assert validate(linked, SCHEMA, engine="cedarpy").passed
