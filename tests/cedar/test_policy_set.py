"""Policy sets keep each policy's text, not its syntax tree: the tree parsed again on demand
must be the one parsing the whole file gives, spans (file, line, column, offset) included."""

from __future__ import annotations

from dataclasses import fields, is_dataclass

import pytest

import rune
from rune.cedar import ParseError, Policy, PolicySet
from rune.cedar.parser import parse_policies, parse_policy_at

FILE = "policies/mixed.cedar"

MIXED = """// héllo — a file with comments, unicode and several policies per line
@id("first") @note("ünïcödé ✓")
permit(principal == User::"ålice", action, resource)
when { context.tag == "naïve" && context.n > 1 };   permit(principal, action, resource)
  unless { context.flag == "x" };
// 🙂
\t@id("tmpl")
forbid(principal == ?principal, action == Action::"read", resource in ?resource)
when {
    resource.owner != principal  // comment ✓
};
"""

TEXTS = {
    "lf": MIXED,
    "crlf": MIXED.replace("\n", "\r\n"),
    "one-line": 'permit(principal, action, resource);forbid(principal, action, resource) '
                'when { context.x like "a*b" };  @id("z") permit(principal, action, resource);',
}


def dump(node: object) -> object:
    """Every field of a tree, spans included (equality leaves spans out)."""
    if is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__,
                tuple((f.name, dump(getattr(node, f.name))) for f in fields(node)))
    if isinstance(node, tuple):
        return tuple(dump(item) for item in node)
    return node


def items_in_order(policies: PolicySet) -> list[object]:
    by_id = {p.id: p for p in (*policies.templates, *policies)}
    return [by_id[f"policy{i}"] for i in range(len(by_id))]


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_trees_parsed_again_have_the_spans_of_the_whole_file(name: str) -> None:
    text = TEXTS[name]
    expected = parse_policies(text, file=FILE)
    policies = PolicySet.from_str(text, file=FILE)
    items = items_in_order(policies)
    assert len(items) == len(expected) >= 3
    policies.prepared()
    for item, tree in zip(items, expected, strict=True):
        assert item._ast is None  # type: ignore[attr-defined]  # the set holds no tree
        assert dump(item.ast) == dump(tree)  # type: ignore[attr-defined]
        assert item.span == tree.span  # type: ignore[attr-defined]
        span = tree.span
        assert span is not None
        assert item.text == text[span.offset:span.end_offset]  # type: ignore[attr-defined]


def test_facts_read_often_are_kept_without_the_tree() -> None:
    policies = PolicySet.from_str(MIXED, file=FILE)
    first, second = policies
    assert first.annotated_id == "first"
    assert dict(first.annotations) == {"id": "first", "note": "ünïcödé ✓"}
    assert str(first.effect) == "permit" and second.annotated_id is None
    template = policies.template("policy2")
    assert template.slots == frozenset({"principal", "resource"})
    assert str(template.effect) == "forbid" and template.annotations["id"] == "tmpl"
    linked = policies.link("policy2", "link", {"?principal": 'User::"bob"',
                                               "?resource": 'Folder::"f"'})
    link = linked.policy("link")
    assert link.template_id == "policy2" and link.annotated_id == "tmpl"
    assert dump(link.ast) == dump(template.ast) and link.span == template.span
    response = rune.cedar.authorize(
        rune.cedar.Request('User::"bob"', 'Action::"read"', 'Doc::"d"', {}),
        linked, rune.cedar.Entities.from_json(
            [{"uid": {"type": "Doc", "id": "d"}, "attrs": {"owner": {"__entity": {
                "type": "User", "id": "carol"}}}, "parents": [{"type": "Folder", "id": "f"}]}]))
    assert response.decision == rune.cedar.Decision.DENY and response.reason == ("link",)


def test_renamed_and_joined_sets_keep_one_copy_of_the_text() -> None:
    policies = PolicySet.from_str(MIXED, file=FILE)
    renamed = [p.with_id(f"p{i}") for i, p in enumerate(policies)]
    assert [(p.id, p.text, p.span) for p in renamed] == [
        (f"p{i}", p.text, p.span) for i, p in enumerate(policies)]
    assert renamed[0].ast == policies.policy("policy0").ast
    joined = PolicySet.from_policies(renamed, policies.templates)
    assert joined.source_text == "\n".join(
        [policies.template("policy2").text, *(p.text for p in renamed)])
    assert policies.source_text == MIXED


def test_a_policy_built_from_a_tree_keeps_it() -> None:
    tree = parse_policies("permit(principal, action, resource);")[0]
    policy = Policy("mine", tree, text="not the policy's text")
    assert policy.ast is tree and policy.span == tree.span
    assert policy == Policy("mine", tree)
    assert repr(policy).startswith("Policy(id='mine', ast=PolicyAST(")


def test_parse_policy_at_wants_exactly_one_policy() -> None:
    tree = parse_policy_at("permit(principal, action, resource);", offset=10, line=3,
                           column=5, file="f.cedar")
    assert tree.span is not None
    assert (tree.span.line, tree.span.column, tree.span.offset, tree.span.file) == (
        3, 5, 10, "f.cedar")
    with pytest.raises(ParseError):
        parse_policy_at("permit(principal, action, resource); permit(principal, action, "
                        "resource);", offset=0, line=1, column=1, file=None)


def test_explanations_point_into_the_file() -> None:
    text = TEXTS["crlf"]
    engine = rune.Engine(policies=text, entities="[]")
    decision = engine.authorize('User::"ålice"', 'Action::"read"', 'Doc::"d"',
                                {"tag": "naïve", "n": 0, "flag": "x"})
    report = next(r for r in decision.explain().not_applied if r.id == "first")
    assert report.failed is not None and report.failed.text == "context.n > 1"
    span = report.failed.span
    assert span is not None
    offset = text.index("context.n > 1")
    line_start = text.rfind("\n", 0, offset) + 1
    assert (span.offset, span.line, span.column) == (
        offset, text.count("\n", 0, offset) + 1, offset - line_start + 1)
    assert report.span == engine.snapshot.policies.policy("first").span
