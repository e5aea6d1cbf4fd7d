"""The Cedar parser: every construct, every error, recovery, spans, and agreement with cedarpy.

cedarpy (cedar-policy 4.12) is the oracle: `_cedar_est` asks it for the JSON (EST) form of a
policy text, `_est` renders RUNE's AST in that form, and the two must agree on acceptance
and, when both accept, on the tree itself. The Hypothesis strategies used here live in this
module because they exist only to exercise the parser.
"""

from __future__ import annotations

import dataclasses
import json
import random
import tarfile
from pathlib import Path
from typing import Any

import cedarpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import SHARED

from rune.cedar.ast import (
    And,
    Annotation,
    BinaryOp,
    Condition,
    Effect,
    Expr,
    ExtensionCall,
    GetAttr,
    Has,
    If,
    Is,
    Like,
    Literal,
    MethodCall,
    Neg,
    Not,
    Or,
    PolicyAST,
    RecordLiteral,
    ScopeConstraint,
    ScopeOp,
    SetLiteral,
    Slot,
    Var,
    Wildcard,
)
from rune.cedar.errors import ParseError
from rune.cedar.lexer import tokenize
from rune.cedar.parser import (
    _PolicyParser,
    parse_entity_type,
    parse_entity_uid,
    parse_expression,
    parse_policies,
)
from rune.cedar.values import LONG_MAX, LONG_MIN, EntityUID
from rune.errors import SourceSpan

W = Wildcard()
P, A, R, C = Var("principal"), Var("action"), Var("resource"), Var("context")
HEAD = "permit(principal, action, resource)"


def lit(value: bool | int | str | EntityUID) -> Literal:
    return Literal(value)


def uid(text: str) -> EntityUID:
    return parse_entity_uid(text)


def when(body: str) -> str:
    return f"{HEAD} when {{ {body} }};"


def codes(text: str) -> list[str]:
    """The diagnostic codes of a text that must fail to parse."""
    with pytest.raises(ParseError) as info:
        parse_policies(text)
    return [d.code for d in info.value.diagnostics]


def expr_codes(body: str) -> list[str]:
    return codes(when(body))


# -- the cedarpy oracle ----------------------------------------------------------------------


def _uid_json(value: EntityUID) -> dict[str, str]:
    return {"type": value.type, "id": value.id}


def _scope_json(scope: ScopeConstraint) -> dict[str, Any]:
    def target(entity: EntityUID | Slot | None) -> dict[str, Any]:
        if isinstance(entity, Slot):
            return {"slot": f"?{entity.name}"}
        assert entity is not None
        return {"entity": _uid_json(entity)}

    op = scope.op
    if op is ScopeOp.ANY:
        return {"op": "All"}
    if op is ScopeOp.EQ:
        return {"op": "==", **target(scope.entity)}
    if op is ScopeOp.IN:
        return {"op": "in", **target(scope.entity)}
    if op is ScopeOp.IS:
        return {"op": "is", "entity_type": scope.entity_type}
    if op is ScopeOp.IS_IN:
        return {"op": "is", "entity_type": scope.entity_type, "in": target(scope.entity)}
    if len(scope.entities) == 1:  # cedar-policy prints `action in [A]` as `action in A`
        return {"op": "in", "entity": _uid_json(scope.entities[0])}
    return {"op": "in", "entities": [_uid_json(e) for e in scope.entities]}


_BINARY_METHODS = {"contains", "containsAll", "containsAny", "getTag", "hasTag"}


def _est(node: Expr) -> Any:
    """RUNE's expression in cedar-policy's JSON (EST) form."""
    if isinstance(node, Literal):
        value = node.value
        return {"Value": {"__entity": _uid_json(value)} if isinstance(value, EntityUID) else value}
    if isinstance(node, Var):
        return {"Var": node.name}
    if isinstance(node, Slot):
        return {"Slot": f"?{node.name}"}
    if isinstance(node, Not):
        return {"!": {"arg": _est(node.arg)}}
    if isinstance(node, Neg):
        return {"neg": {"arg": _est(node.arg)}}
    if isinstance(node, And | Or):
        op = "&&" if isinstance(node, And) else "||"
        return {op: {"left": _est(node.left), "right": _est(node.right)}}
    if isinstance(node, BinaryOp):
        return {node.op: {"left": _est(node.left), "right": _est(node.right)}}
    if isinstance(node, GetAttr | Has):
        op = "." if isinstance(node, GetAttr) else "has"
        return {op: {"left": _est(node.expr), "attr": node.attr}}
    if isinstance(node, Like):
        pattern: list[Any] = []
        for part in node.pattern:
            if isinstance(part, Wildcard):
                pattern.append("Wildcard")
            else:
                pattern.extend({"Literal": ch} for ch in part)
        return {"like": {"left": _est(node.expr), "pattern": pattern}}
    if isinstance(node, Is):
        body = {"left": _est(node.expr), "entity_type": node.entity_type}
        if node.in_expr is not None:
            body["in"] = _est(node.in_expr)
        return {"is": body}
    if isinstance(node, If):
        return {
            "if-then-else": {
                "if": _est(node.cond),
                "then": _est(node.then),
                "else": _est(node.else_),
            }
        }
    if isinstance(node, SetLiteral):
        return {"Set": [_est(e) for e in node.elements]}
    if isinstance(node, RecordLiteral):
        return {"Record": {k: _est(v) for k, v in node.items}}
    if isinstance(node, MethodCall):
        if node.name in _BINARY_METHODS:
            return {node.name: {"left": _est(node.receiver), "right": _est(node.args[0])}}
        if node.name == "isEmpty":
            return {"isEmpty": {"arg": _est(node.receiver)}}
        return {node.name: [_est(node.receiver), *(_est(a) for a in node.args)]}
    assert isinstance(node, ExtensionCall)
    return {node.name: [_est(a) for a in node.args]}


def _policy_est(policy: PolicyAST) -> dict[str, Any]:
    out: dict[str, Any] = {
        "effect": policy.effect.value,
        "principal": _scope_json(policy.principal),
        "action": _scope_json(policy.action),
        "resource": _scope_json(policy.resource),
        "conditions": [
            {"kind": "when" if c.is_when else "unless", "body": _est(c.body)}
            for c in policy.conditions
        ],
    }
    if policy.annotations:
        out["annotations"] = {a.key: a.value for a in policy.annotations}
    return out


def _cedar_est(text: str) -> list[dict[str, Any]] | None:
    """cedarpy's reading of a policy text, or None if it rejects the text."""
    try:
        data = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError:
        return None
    by_id = {**data["templates"], **data["staticPolicies"]}
    out = []
    for index in range(len(by_id)):
        policy = by_id[f"policy{index}"]
        annotations = policy.pop("annotations", None)
        if annotations:
            policy["annotations"] = {k: "" if v is None else v for k, v in annotations.items()}
        out.append(policy)
    return out


def _rune_est(text: str) -> list[dict[str, Any]] | None:
    try:
        return [_policy_est(p) for p in parse_policies(text)]
    except ParseError:
        return None


def assert_agrees_with_cedar(text: str) -> None:
    ours, theirs = _rune_est(text), _cedar_est(text)
    if theirs is None:
        assert ours is None, f"RUNE accepts what cedar-policy rejects: {text!r}"
    else:
        assert ours is not None, f"RUNE rejects what cedar-policy accepts: {text!r}"
        assert ours == theirs, f"trees differ for {text!r}"


# -- expressions: precedence and associativity --------------------------------------------------


def test_precedence_from_or_down_to_member() -> None:
    got = parse_expression("principal || action && !context.d == 1 + 2 * -resource.f")
    assert got == Or(
        P,
        And(
            A,
            BinaryOp(
                "==",
                Not(GetAttr(C, "d")),
                BinaryOp("+", lit(1), BinaryOp("*", lit(2), Neg(GetAttr(R, "f")))),
            ),
        ),
    )


def test_binary_operators_associate_left() -> None:
    assert parse_expression("1 - 2 - 3") == BinaryOp("-", BinaryOp("-", lit(1), lit(2)), lit(3))
    assert parse_expression("1 * 2 * 3") == BinaryOp("*", BinaryOp("*", lit(1), lit(2)), lit(3))
    assert parse_expression("true || false || true") == Or(Or(lit(True), lit(False)), lit(True))
    assert parse_expression("true && false && true") == And(And(lit(True), lit(False)), lit(True))


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">=", "in"])
def test_every_relational_operator(op: str) -> None:
    assert parse_expression(f"1 + 1 {op} 2") == BinaryOp(op, BinaryOp("+", lit(1), lit(1)), lit(2))


@pytest.mark.parametrize(
    "body",
    [
        "1 < 2 < 3",
        "1 == 2 == 3",
        "1 in 2 in 3",
        "1 < 2 == true",
        "principal has a has b",
        "principal has a.b == true",
        'principal like "a" like "b"',
        'principal like "a" == true',
        "principal is A is B",
        "principal is A == true",
        'principal is A in B::"a" in C::"b"',
        "1 == principal is A",
        "1 == principal has a",
        '1 in principal like "a"',
    ],
)
def test_relations_do_not_chain(body: str) -> None:
    assert expr_codes(body) == ["chained-relation"]


def test_parentheses_let_relations_nest() -> None:
    assert parse_expression("(1 < 2) == (principal has a)") == BinaryOp(
        "==", BinaryOp("<", lit(1), lit(2)), Has(P, "a")
    )


def test_if_then_else() -> None:
    assert parse_expression("if true then 1 else 2 + 3") == If(
        lit(True), lit(1), BinaryOp("+", lit(2), lit(3))
    )
    assert parse_expression("if if true then false else true then 1 else 2") == If(
        If(lit(True), lit(False), lit(True)), lit(1), lit(2)
    )
    assert parse_expression("[if true then 1 else 2]") == SetLiteral(
        (If(lit(True), lit(1), lit(2)),)
    )


@pytest.mark.parametrize(
    "body",
    [
        "1 + if true then 1 else 2",
        "1 && if true then 1 else 2",
        "1 in if true then 1 else 2",
        "!if true then 1 else 2",
        "principal is User in if true then 1 else 2",
    ],
)
def test_if_needs_parentheses_below_the_top(body: str) -> None:
    assert expr_codes(body) == ["unexpected-token"]
    assert_agrees_with_cedar(when(body))
    assert parse_expression(body.replace("if", "(if").replace(" 2", " 2)", 1))


# -- unary operators and integer literals --------------------------------------------------------


def test_negative_literals_are_folded() -> None:
    assert parse_expression("-1") == lit(-1)
    assert parse_expression("- 1") == lit(-1)
    assert parse_expression("-9223372036854775808") == lit(LONG_MIN)
    assert parse_expression("9223372036854775807") == lit(LONG_MAX)
    assert parse_expression("--1") == Neg(lit(-1))
    assert parse_expression("----9223372036854775808") == Neg(Neg(Neg(lit(LONG_MIN))))
    assert parse_expression("1 - -1") == BinaryOp("-", lit(1), lit(-1))
    assert parse_expression("-1 * 2") == BinaryOp("*", lit(-1), lit(2))


def test_minus_before_a_member_access_is_not_folded() -> None:
    assert parse_expression("-1.foo") == Neg(GetAttr(lit(1), "foo"))
    assert parse_expression('-1["foo"]') == Neg(GetAttr(lit(1), "foo"))
    assert parse_expression("-(1)") == Neg(lit(1))


@pytest.mark.parametrize(
    "body",
    [
        "9223372036854775808",
        "-(9223372036854775808)",
        "-9223372036854775808.foo",
        "-9223372036854775809",
        "[99999999999999999999]",
    ],
)
def test_integer_overflow(body: str) -> None:
    assert expr_codes(body) == ["integer-overflow"]


def test_unary_runs() -> None:
    assert parse_expression("!!!!true") == Not(Not(Not(Not(lit(True)))))
    assert parse_expression("!context.a") == Not(GetAttr(C, "a"))
    assert parse_expression("----1") == Neg(Neg(Neg(lit(-1))))
    assert expr_codes("!!!!!true") == ["too-many-unary-operators"]
    assert expr_codes("-----1") == ["too-many-unary-operators"]


@pytest.mark.parametrize("body", ["!-1", "-!1", "!-!-1", "- !true"])
def test_unary_operators_do_not_mix(body: str) -> None:
    assert expr_codes(body) == ["unexpected-token"]


# -- primaries -----------------------------------------------------------------------------------


def test_literals_and_variables() -> None:
    assert parse_expression("true") == lit(True)
    assert parse_expression("false") == lit(False)
    assert parse_expression("007") == lit(7)
    assert parse_expression('"a\\tb"') == lit("a\tb")
    for name in ("principal", "action", "resource", "context"):
        assert parse_expression(name) == Var(name)
    assert parse_expression("?principal") == Slot("principal")
    assert parse_expression("?resource") == Slot("resource")


def test_literal_types_stay_distinct() -> None:
    one, true = parse_expression("1"), parse_expression("true")
    assert isinstance(one, Literal) and type(one.value) is int
    assert isinstance(true, Literal) and type(true.value) is bool


@pytest.mark.parametrize("body", ["x", "Principal", "ip", "A::B", "principal::a", "permit"])
def test_unknown_variables(body: str) -> None:
    assert expr_codes(body) == ["invalid-variable"]


def test_entity_uids() -> None:
    assert parse_expression('User::"alice"') == lit(EntityUID("User", "alice"))
    assert parse_expression('Ns::Sub::User :: "a\\"b"') == lit(EntityUID("Ns::Sub::User", 'a"b'))
    assert parse_expression('principal::"x"') == lit(EntityUID("principal", "x"))
    assert parse_expression('permit::when::"x"') == lit(EntityUID("permit::when", "x"))
    assert expr_codes("User::{a: 1}") == ["invalid-entity-literal"]
    assert expr_codes('User::"a"::"b"') == ["unexpected-token"]


def test_sets_and_records() -> None:
    assert parse_expression("[]") == SetLiteral(())
    assert parse_expression("[1, [2], 3,]") == SetLiteral((lit(1), SetLiteral((lit(2),)), lit(3)))
    assert parse_expression("{}") == RecordLiteral(())
    assert parse_expression('{a: 1, "b c": {d: true},}') == RecordLiteral(
        (("a", lit(1)), ("b c", RecordLiteral((("d", lit(True)),))))
    )
    assert parse_expression('{principal: 1, permit: 2, "if": 3}') == RecordLiteral(
        (("principal", lit(1)), ("permit", lit(2)), ("if", lit(3)))
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{a: 1, a: 2}", ["duplicate-key"]),
        ('{"a": 1, a: 2}', ["duplicate-key"]),
        ('{"\\u{61}": 1, a: 2, a: 3}', ["duplicate-key", "duplicate-key"]),
        ("{if: 1}", ["reserved-identifier"]),
        ("{__cedar: 1}", ["reserved-identifier"]),
        ("{a::b: 1}", ["invalid-record-key"]),
        ("{1: 2}", ["unexpected-token"]),
        ("{a}", ["unexpected-token"]),
        ("{,}", ["unexpected-token"]),
        ("[,]", ["unexpected-token"]),
        ("[1,,2]", ["unexpected-token"]),
        ("[1, 2", ["unexpected-token"]),
        ("()", ["unexpected-token"]),
    ],
)
def test_set_and_record_errors(body: str, expected: list[str]) -> None:
    assert expr_codes(body) == expected


# -- member access, methods and functions --------------------------------------------------------


def test_attribute_access() -> None:
    assert parse_expression('context.a["b c"].d') == GetAttr(GetAttr(GetAttr(C, "a"), "b c"), "d")
    assert parse_expression("principal.permit.principal") == GetAttr(
        GetAttr(P, "permit"), "principal"
    )
    assert parse_expression('principal["if"]') == GetAttr(P, "if")
    assert parse_expression("context.contains") == GetAttr(C, "contains")
    assert parse_expression('("a")["b"]') == GetAttr(lit("a"), "b")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("principal.if", ["reserved-identifier"]),
        ("principal.true", ["reserved-identifier"]),
        ("principal.__cedar", ["reserved-identifier"]),
        ("principal[1]", ["invalid-index"]),
        ("principal[principal]", ["invalid-index"]),
        ('principal[("a")]', ["invalid-index"]),
        ('principal["a" + "b"]', ["invalid-index"]),
        ('principal["a"](1)', ["invalid-call"]),
        ('ip("1")(1)', ["invalid-call"]),
        ("principal.", ["unexpected-token"]),
    ],
)
def test_attribute_access_errors(body: str, expected: list[str]) -> None:
    assert expr_codes(body) == expected


def test_method_calls() -> None:
    assert parse_expression("[1].contains(1)") == MethodCall(
        SetLiteral((lit(1),)), "contains", (lit(1),)
    )
    assert parse_expression("context.s.isEmpty()") == MethodCall(GetAttr(C, "s"), "isEmpty", ())
    assert parse_expression('principal.getTag("t",)') == MethodCall(P, "getTag", (lit("t"),))
    assert parse_expression('ip("1.2.3.4").isInRange(ip("1.0.0.0/8"))') == MethodCall(
        ExtensionCall("ip", (lit("1.2.3.4"),)),
        "isInRange",
        (ExtensionCall("ip", (lit("1.0.0.0/8"),)),),
    )


@pytest.mark.parametrize(
    "method",
    [
        "isIpv4",
        "isIpv6",
        "isLoopback",
        "isMulticast",
        "isInRange",
        "lessThan",
        "lessThanOrEqual",
        "greaterThan",
        "greaterThanOrEqual",
        "offset",
        "durationSince",
        "toDate",
        "toTime",
        "toMilliseconds",
        "toSeconds",
        "toMinutes",
        "toHours",
        "toDays",
    ],
)
def test_extension_methods_accept_any_arity_at_parse_time(method: str) -> None:
    for args in ("", "1", "1, 2"):
        assert parse_expression(f"context.{method}({args})") == MethodCall(
            C,
            method,
            tuple(parse_expression(f"[{args}]").elements),  # type: ignore[union-attr]
        )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[1].contains()", ["wrong-arity"]),
        ("[1].contains(1, 2)", ["wrong-arity"]),
        ("[1].containsAll()", ["wrong-arity"]),
        ("[1].containsAny(1, 2)", ["wrong-arity"]),
        ("[1].isEmpty(1)", ["wrong-arity"]),
        ("principal.getTag()", ["wrong-arity"]),
        ("principal.hasTag(1, 2)", ["wrong-arity"]),
        ("context.foo()", ["unknown-method"]),
        ("context.toString()", ["unknown-method"]),
        ('"1".ip()', ["unknown-method"]),
        ("[1].unknown()", ["unknown-method"]),
        ("principal.if()", ["reserved-identifier"]),
    ],
)
def test_method_errors(body: str, expected: list[str]) -> None:
    assert expr_codes(body) == expected


def test_wrong_arity_message() -> None:
    with pytest.raises(ParseError) as info:
        parse_expression("[1].isEmpty(1)")
    assert info.value.message == "`isEmpty` takes exactly 0 arguments, but 1 was given"


@pytest.mark.parametrize("name", ["ip", "decimal", "datetime", "duration", "unknown"])
def test_extension_functions(name: str) -> None:
    assert parse_expression(f'{name}("x")') == ExtensionCall(name, (lit("x"),))
    assert parse_expression(f"{name}()") == ExtensionCall(name, ())  # arity: at evaluation


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('foo("x")', "`foo` is not a known function"),
        ('Foo::bar("x")', "`Foo::bar` is not a known function"),
        ('decimal::decimal("1")', "`decimal::decimal` is not a known function"),
        ("principal(1)", "`principal` is not a known function"),
        ("lessThan(1, 2)", "`lessThan` is a method, not a function; call it as `x.lessThan(...)`"),
        (
            "contains([1], 1)",
            "`contains` is a method, not a function; call it as `x.contains(...)`",
        ),
    ],
)
def test_unknown_functions(body: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_expression(body)
    assert [(d.code, d.message) for d in info.value.diagnostics] == [("unknown-function", message)]


# -- has, like, is ---------------------------------------------------------------------------------


def test_has() -> None:
    assert parse_expression("principal has a") == Has(P, "a")
    assert parse_expression('principal has "b c"') == Has(P, "b c")
    assert parse_expression("principal has principal") == Has(P, "principal")
    assert parse_expression("1 + context has a") == Has(BinaryOp("+", lit(1), C), "a")


def test_has_with_a_path_desugars_left_nested() -> None:
    assert parse_expression("context has a.b.c") == And(
        And(Has(C, "a"), Has(GetAttr(C, "a"), "b")),
        Has(GetAttr(GetAttr(C, "a"), "b"), "c"),
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("principal has if", ["reserved-identifier"]),
        ("principal has a.true", ["reserved-identifier"]),
        ("principal has 1", ["invalid-has"]),
        ("principal has (a)", ["invalid-has"]),
        ("principal has", ["invalid-has"]),
        ("principal has a::b", ["invalid-has"]),
        ('principal has "a".b', ["unexpected-token"]),
        ('principal has a["b"]', ["unexpected-token"]),
        ("principal has a.b()", ["unexpected-token"]),
        ("principal has a + 1", ["unexpected-token"]),
        ('principal has "a\\q"', ["invalid-escape"]),
    ],
)
def test_has_errors(body: str, expected: list[str]) -> None:
    assert expr_codes(body) == expected


def test_like() -> None:
    assert parse_expression('context.s like "a*b\\*c**"') == Like(
        GetAttr(C, "s"), ("a", W, "b*c", W, W)
    )
    assert parse_expression('"x" like ""') == Like(lit("x"), ())
    assert parse_expression('"x" like "\\u{2a}"') == Like(lit("x"), (W,))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("principal like principal", ["invalid-pattern"]),
        ('principal like ("a")', ["invalid-pattern"]),
        ('principal like "a" + "b"', ["unexpected-token"]),
        ('principal like "\\q"', ["invalid-escape"]),
    ],
)
def test_like_errors(body: str, expected: list[str]) -> None:
    assert expr_codes(body) == expected


def test_is() -> None:
    assert parse_expression("principal is User") == Is(P, "User")
    assert parse_expression('principal is Ns::User in Group::"g"') == Is(
        P, "Ns::User", lit(EntityUID("Group", "g"))
    )
    assert parse_expression("principal is A in context.groups + 1") == Is(
        P, "A", BinaryOp("+", GetAttr(C, "groups"), lit(1))
    )
    assert parse_expression("1 is permit") == Is(lit(1), "permit")
    assert parse_expression('principal is A in B::"a" && true') == And(
        Is(P, "A", lit(EntityUID("B", "a"))), lit(True)
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('principal is User::"a"', ["invalid-entity-type"]),
        ("principal is (User)", ["unexpected-token"]),
        ('principal is "User"', ["unexpected-token"]),
        ("principal is if", ["reserved-identifier"]),
        ("principal is __cedar::X", ["reserved-identifier"]),
        ("principal is A in 1 == 1", ["chained-relation"]),
    ],
)
def test_is_errors(body: str, expected: list[str]) -> None:
    assert expr_codes(body) == expected


# -- reserved words --------------------------------------------------------------------------------


RESERVED = ["true", "false", "if", "then", "else", "in", "like", "has", "is", "__cedar"]
USABLE = [
    "permit",
    "forbid",
    "when",
    "unless",
    "principal",
    "action",
    "resource",
    "context",
    "__cedarx",
    "_",
    "Action",
]
POSITIONS = [
    "principal.{w}",
    "principal has {w}",
    "{{{w}: 1}}",
    'A::{w}::"a"',
    "principal is A::{w}",
    "principal.{w}(1)",
]


@pytest.mark.parametrize("word", RESERVED + USABLE)
@pytest.mark.parametrize("position", POSITIONS)
def test_identifier_positions_agree_with_cedar(word: str, position: str) -> None:
    assert_agrees_with_cedar(when(position.format(w=word)))


# -- strings ---------------------------------------------------------------------------------------


def test_every_bad_escape_in_a_policy_is_reported_at_its_place() -> None:
    text = when('"a\\qb" == "\\x80"')
    with pytest.raises(ParseError) as info:
        parse_policies(text)
    spans = [d.span for d in info.value.diagnostics]
    assert [text[s.offset : s.end_offset] for s in spans if s] == ["\\q", "\\x80"]


@pytest.mark.parametrize(
    "text",
    [
        '@a("\\*") ' + HEAD + ";",
        'permit(principal == User::"\\*", action, resource);',
        when('"\\*"'),
        when('principal has "\\*"'),
        when('{"\\*": 1}'),
        when('"a\rb"'),
    ],
)
def test_star_escape_only_in_patterns(text: str) -> None:
    assert codes(text) == ["invalid-escape"]


# -- policies --------------------------------------------------------------------------------------


def test_a_full_policy() -> None:
    text = (
        '@id("p1")\n@advice\n'
        'forbid(principal is User in Group::"admins", action in [Action::"read", '
        'Ns::Action::"write"], resource == Doc::"d")\n'
        "when { context.ok }\nunless { principal has banned };"
    )
    (policy,) = parse_policies(text)
    assert policy == PolicyAST(
        Effect.FORBID,
        ScopeConstraint(ScopeOp.IS_IN, EntityUID("Group", "admins"), "User"),
        ScopeConstraint(
            ScopeOp.IN_SET,
            entities=(EntityUID("Action", "read"), EntityUID("Ns::Action", "write")),
        ),
        ScopeConstraint(ScopeOp.EQ, EntityUID("Doc", "d")),
        (Condition(True, GetAttr(C, "ok")), Condition(False, Has(P, "banned"))),
        (Annotation("id", "p1"), Annotation("advice", "")),
    )
    assert not policy.is_template
    assert policy.span is not None
    assert text[policy.span.offset : policy.span.end_offset] == text


def test_scope_forms() -> None:
    def head(scope: str) -> PolicyAST:
        (policy,) = parse_policies(f"permit({scope});")
        return policy

    any_ = ScopeConstraint()
    got = head("principal, action, resource")
    assert (got.principal, got.action, got.resource) == (any_, any_, any_)
    got = head('principal == User::"a", action == Action::"x", resource in Folder::"f"')
    assert got.principal == ScopeConstraint(ScopeOp.EQ, EntityUID("User", "a"))
    assert got.action == ScopeConstraint(ScopeOp.EQ, EntityUID("Action", "x"))
    assert got.resource == ScopeConstraint(ScopeOp.IN, EntityUID("Folder", "f"))
    got = head('principal is User, action in Action::"g", resource is Doc')
    assert got.principal == ScopeConstraint(ScopeOp.IS, entity_type="User")
    assert got.action == ScopeConstraint(ScopeOp.IN, EntityUID("Action", "g"))
    got = head("principal, action in [], resource,")  # trailing comma accepted, as in Cedar
    assert got.action == ScopeConstraint(ScopeOp.IN_SET, entities=())
    got = head('principal == (User::"a"), action == (Action::"b"), resource')
    assert got.principal.entity == EntityUID("User", "a")


def test_templates() -> None:
    (policy,) = parse_policies(
        "permit(principal == ?principal, action, resource is Doc in ?resource);"
    )
    assert policy.principal == ScopeConstraint(ScopeOp.EQ, Slot("principal"))
    assert policy.resource == ScopeConstraint(ScopeOp.IS_IN, Slot("resource"), "Doc")
    assert policy.is_template
    assert policy.slots == frozenset({"principal", "resource"})
    (policy,) = parse_policies("permit(principal in (?principal), action, resource);")
    assert policy.principal == ScopeConstraint(ScopeOp.IN, Slot("principal"))


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("principal, action", ["invalid-scope"]),
        ("", ["invalid-scope"]),
        ("principal, action, resource, context", ["invalid-scope"]),
        ("action, principal, resource", ["invalid-scope", "invalid-scope"]),
        ("foo, action, resource", ["invalid-scope"]),
        ("principal: User, action, resource", ["unsupported-type-constraint"]),
        ('principal in [User::"a"], action, resource', ["invalid-scope"]),
        ('principal in User::"a" is User, action, resource', ["invalid-scope"]),
        ('principal is User == User::"a", action, resource', ["invalid-scope"]),
        ("principal == ?resource, action, resource", ["invalid-scope"]),
        ("principal, action, resource in ?principal", ["invalid-scope"]),
        ("principal == principal, action, resource", ["invalid-scope"]),
        ('principal == User::"a" + 1, action, resource', ["invalid-scope"]),
        ('principal != User::"a", action, resource', ["invalid-scope"]),
        ("principal == ?foo, action, resource", ["invalid-slot"]),
        ("principal, action == ?principal, resource", ["invalid-scope"]),
        ("principal, action in ?resource, resource", ["invalid-scope"]),
        ("principal, action in [?resource], resource", ["invalid-scope"]),
        ("principal, action is Action, resource", ["invalid-scope"]),
        ('principal, action == [Action::"a"], resource', ["invalid-scope"]),
        ('principal, action in [[Action::"a"]], resource', ["invalid-scope"]),
        ('principal, action == Foo::"a", resource', ["invalid-action"]),
        ('principal, action in [Action::"a", Foo::"b"], resource', ["invalid-action"]),
        ('principal, action == Action::Foo::"a", resource', ["invalid-action"]),
        ("(principal), action, resource", ["unexpected-token"]),
        ("principal has a, action, resource", ["unexpected-token"]),
    ],
)
def test_scope_errors(scope: str, expected: list[str]) -> None:
    text = f"permit({scope});"
    assert codes(text) == expected
    assert_agrees_with_cedar(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEAD, ["unexpected-token"]),
        ("Permit(principal, action, resource);", ["invalid-effect"]),
        (f"{HEAD} when {{}};", ["empty-condition"]),
        (f"{HEAD} when {{ true }} unless {{ }};", ["empty-condition"]),
        (f"{HEAD} otherwise {{ true }};", ["invalid-condition"]),
        (f"{HEAD} when (true);", ["unexpected-token"]),
        (f"{HEAD} when {{ true;", ["unexpected-token"]),
        (f"{HEAD};;", ["unexpected-token"]),
        (f"{HEAD} when {{ ?principal }};", ["slot-in-condition"]),
        (
            "permit(principal == ?principal, action, resource) when { principal == ?principal };",
            ["slot-in-condition"],
        ),
        (f'@id("a") @id("b") {HEAD};', ["duplicate-annotation"]),
        (f"@a(1) {HEAD};", ["unexpected-token"]),
        (f"@a() {HEAD};", ["unexpected-token"]),
        (f'@a::b("x") {HEAD};', ["unexpected-token"]),
        ('@a("x");', ["unexpected-token"]),
    ],
)
def test_policy_errors(text: str, expected: list[str]) -> None:
    assert codes(text) == expected
    assert_agrees_with_cedar(text)


def test_annotations() -> None:
    (policy,) = parse_policies(f'@if("x") @principal @__cedar("y\\n") @ID("z") {HEAD};')
    assert policy.annotations == (
        Annotation("if", "x"),
        Annotation("principal", ""),
        Annotation("__cedar", "y\n"),
        Annotation("ID", "z"),
    )


def test_many_policies_in_source_order_with_comments() -> None:
    text = (
        "// leading comment\n"
        f"{HEAD};\n"
        "forbid(principal, action, resource) when { 1 < 2 }; // trailing\n"
        "permit(principal, action, resource == ?resource);"
    )
    policies = parse_policies(text)
    assert [p.effect for p in policies] == [Effect.PERMIT, Effect.FORBID, Effect.PERMIT]
    assert [p.is_template for p in policies] == [False, False, True]
    assert parse_policies("") == []
    assert parse_policies("  // nothing here\n") == []


# -- errors: recovery, ordering, rendering ---------------------------------------------------------

BROKEN = """\
permit(principal, action, resource) when { 1 < 2 < 3 };
permit(principal, action == Foo::"a", resource);
permit(principal, action, resource);
forbid(principal, action, resource) when { context.x == "\\q" }
@id("p5") permit(principal, action, resource) when { {a: 1, a: 2} };
"""


def test_recovery_reports_every_broken_policy_sorted() -> None:
    with pytest.raises(ParseError) as info:
        parse_policies(BROKEN, "policies.cedar")
    error = info.value
    assert [(d.code, d.span.line if d.span else 0) for d in error.diagnostics] == [
        ("chained-relation", 1),
        ("invalid-action", 2),
        ("invalid-escape", 4),
        ("unexpected-token", 4),  # the missing `;`, placed at the end of line 4
        ("duplicate-key", 5),
    ]
    assert error.code == "chained-relation"
    assert error.source == BROKEN
    assert all(d.span and d.span.file == "policies.cedar" for d in error.diagnostics)


def test_recovery_after_a_lexical_error() -> None:
    text = f"{HEAD} when {{ 1 # 2 }};\n{HEAD} when {{ x }};\nforbid(principal, action, resource);"
    assert codes(text) == ["invalid-token", "invalid-variable"]


def test_recovery_resumes_at_the_next_policy_without_a_semicolon() -> None:
    text = f'{HEAD} when {{ true }}\n@id("b") {HEAD} when {{ {{a: 1, a: 2}} }};\n{HEAD} x;'
    with pytest.raises(ParseError) as info:
        parse_policies(text)
    assert [(d.code, d.span.line if d.span else 0) for d in info.value.diagnostics] == [
        ("unexpected-token", 1),
        ("duplicate-key", 2),
        ("unexpected-token", 3),
    ]


GOLDEN = """\
policies.cedar:1:50: error[chained-relation]: unexpected `<`: relational operators cannot be \
chained, use parentheses to make the order explicit
1 | permit(principal, action, resource) when { 1 < 2 < 3 };
                                                     ^
policies.cedar:2:29: error[invalid-action]: expected an entity uid with type `Action`, found \
`Foo::"a"`
2 | permit(principal, action == Foo::"a", resource);
                                ^^^^^^^^
policies.cedar:4:58: error[invalid-escape]: invalid escape `\\q`
4 | forbid(principal, action, resource) when { context.x == "\\q" }
                                                             ^^
policies.cedar:4:63: error[unexpected-token]: expected `;` at the end of the policy, found token \
`@` on a later line
4 | forbid(principal, action, resource) when { context.x == "\\q" }
                                                                  ^
policies.cedar:5:61: error[duplicate-key]: duplicate key `a` in record literal
5 | @id("p5") permit(principal, action, resource) when { {a: 1, a: 2} };
                                                                ^"""


def test_rendered_errors_golden() -> None:
    with pytest.raises(ParseError) as info:
        parse_policies(BROKEN, "policies.cedar")
    assert str(info.value) == GOLDEN


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    # (Beyond the limit: 2,000 levels parse since Cedar's own depth became the target.)
    deep = "(" * 2001 + "1" + ")" * 2001
    assert codes(when(deep)) == ["nesting-too-deep"]
    assert parse_expression("(" * 60 + "1" + ")" * 60) == lit(1)


# -- spans -----------------------------------------------------------------------------------------


def test_every_node_has_a_span_covering_its_text() -> None:
    text = (
        f"{HEAD}\nwhen {{ -context.a.contains(1) + 2 * [3] == {{k: -4}}\n"
        '  && principal has x.y || ip("1").isIpv4() && !(principal is U in G::"g") };'
    )
    (policy,) = parse_policies(text, "f.cedar")

    def walk(node: object) -> list[tuple[str, SourceSpan | None]]:
        out = [(type(node).__name__, getattr(node, "span", None))]
        for name in getattr(node, "__dataclass_fields__", ()):
            if name == "span":
                continue
            child = getattr(node, name)
            items = child if isinstance(child, tuple) else (child,)
            for item in items:
                for leaf in item if isinstance(item, tuple) else (item,):
                    if hasattr(leaf, "__dataclass_fields__") and not isinstance(leaf, Wildcard):
                        out.extend(walk(leaf))
        return out

    found = walk(policy.conditions[0].body)
    assert len(found) > 20
    for name, span in found:
        assert span is not None, name
        assert span.file == "f.cedar"
        assert span == SourceSpan.from_offsets(text, span.offset, span.end_offset, "f.cedar")
    body = policy.conditions[0].body
    assert body.span is not None
    assert text[body.span.offset : body.span.end_offset].startswith("-context.a.contains(1)")
    assert text[body.span.offset : body.span.end_offset].endswith('G::"g")')


def test_spans_of_leaves() -> None:
    text = 'permit(principal == User::"a", action, resource) when {\n  context.flag\n};'
    (policy,) = parse_policies(text)
    assert policy.principal.span == SourceSpan(1, 8, 1, 30, 7, 29)
    body = policy.conditions[0].body
    assert body.span == SourceSpan(2, 3, 2, 15, 58, 70)
    assert isinstance(body, GetAttr) and body.expr.span == SourceSpan(2, 3, 2, 10, 58, 65)


# -- entity uids and types -----------------------------------------------------------------------


def test_parse_entity_uid() -> None:
    assert parse_entity_uid('User::"alice"') == EntityUID("User", "alice")
    assert parse_entity_uid(' Ns::Type :: "a\\nb" ') == EntityUID("Ns::Type", "a\nb")
    assert parse_entity_uid('Action::""') == EntityUID("Action", "")


@pytest.mark.parametrize(
    "text",
    [
        'User::"a" x',
        'if::"a"',
        "User",
        '"a"',
        "",
        'A::true::"a"',
        'User::"\\q"',
        'User::"a',
        "User::a",
    ],
)
def test_parse_entity_uid_errors(text: str) -> None:
    with pytest.raises(ParseError):
        parse_entity_uid(text)


def test_parse_entity_type() -> None:
    assert parse_entity_type("Ns::User") == "Ns::User"
    assert parse_entity_type(" A :: B ") == "A::B"
    for bad in ("Ns::", "if", 'A::"b"', "", "A B"):
        with pytest.raises(ParseError):
            parse_entity_type(bad)


def test_parse_expression_errors() -> None:
    for bad in ("", "1 +", "1 2", "x"):
        with pytest.raises(ParseError):
            parse_expression(bad)


# -- agreement with cedarpy ----------------------------------------------------------------------

ORACLE_CASES = [
    # numbers and unary operators
    "9223372036854775807",
    "-9223372036854775808",
    "- 9223372036854775808",
    "--9223372036854775808",
    "1--9223372036854775808",
    "-9223372036854775808 + 1",
    "!!!!true",
    "!!!!!true",
    "----1",
    "-----1",
    "!-1",
    "-!1",
    "-1.foo",
    "007 == 7",
    "1a",
    "0x10",
    "1.5",
    "1_000",
    "1 / 2",
    "1 % 2",
    "principal.a = 1",
    "1 & 2",
    "1 | 2",
    # strings
    '"\\n\\r\\t\\\\\\0\\\'\\""',
    '"\\u{1F600}"',
    '"\\x41"',
    '"\\x80"',
    '"\\u{110000}"',
    '"\\u{D800}"',
    '"\\q"',
    '"\\u{}"',
    '"\\u{1234567}"',
    '"\\u{1_F600}"',
    '"\\u{_1}"',
    '"a\nb"',
    '"a\\\nb"',
    '"abc',
    '"é" == "é"',
    "é == 1",
    '"\\u{2a__}"',
    '"\\x7f"',
    # whitespace and comments
    "1 \u00a0== 1",
    "1 \u2003== 1",
    "1\x0b== 1",
    "1\x1c== 1",
    "1\u200b== 1",
    "1 // c\n == 1",
    "1 /* c */ == 1",
    "principal.a//x\n.b",
    # sets, records, members
    "[1,2,]",
    "{a:1,}",
    "{a:1,a:2}",
    "{if:1}",
    '{"if":1}',
    "{principal:1}",
    "[]",
    "{}",
    'ip("1.2.3.4", "x")',
    "ip()",
    'ip("bogus")',
    'unknown("a")',
    'decimal("1.0").lessThan()',
    "context.isEmpty",
    "principal.contains",
    'principal["if"]',
    "principal . a",
    'User :: "a" == User::"a"',
    'Foo::"a" in [Foo::"b"]',
    "true.contains(1)",
    # relations
    "1 + principal has a",
    "(principal has a).b",
    'principal has "a\\n"',
    "principal has a.b.c.d.e",
    'principal like "a*b\\*c"',
    'principal like "\\u{2a}"',
    "principal is User",
    "principal is principal",
    "1 is A",
    "(principal) has a",
    'principal is A in B::"a" in C',
    "if 1 then 2 else 3 == 4",
    # slots in conditions
    "?principal",
    "?resource",
    "?foo",
    "principal == ?principal",
]


@pytest.mark.parametrize("body", ORACLE_CASES)
def test_acceptance_agrees_with_cedar(body: str) -> None:
    assert_agrees_with_cedar(when(body))


# -- the conformance corpus ----------------------------------------------------------------------

CEDAR_CORPUS = SHARED / "corpora" / "cedar"


@pytest.fixture(scope="session")
def generated_policies() -> list[tuple[str, str]]:
    """(name, text) of every policy file of the generated corpus, read straight from the
    tarball once per session (no files written, about a second)."""
    out = []
    with tarfile.open(CEDAR_CORPUS / "corpus-tests.tar.gz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".cedar"):
                data = tar.extractfile(member)
                assert data is not None
                out.append((Path(member.name).name, data.read().decode("utf-8")))
    return sorted(out)


def _handwritten_policies() -> list[tuple[str, str]]:
    root = CEDAR_CORPUS / "tests"
    return [
        (str(p.relative_to(root)), p.read_text(encoding="utf-8"))
        for p in sorted(root.rglob("*.cedar"))
    ]


def _check_files(files: list[tuple[str, str]]) -> list[str]:
    failures = []
    for name, text in files:
        try:
            ours = [_policy_est(p) for p in parse_policies(text, name)]
        except ParseError as exc:
            failures.append(f"{name}: {exc}")
            continue
        if ours != _cedar_est(text):
            failures.append(f"{name}: tree differs from cedar-policy's")
    return failures


def test_handwritten_corpus_parses_like_cedar() -> None:
    files = _handwritten_policies()
    assert len(files) >= 20
    assert _check_files(files) == []


def test_generated_corpus_sample_parses_like_cedar(
    generated_policies: list[tuple[str, str]],
) -> None:
    sample = generated_policies[::15]
    assert len(sample) >= 500
    assert _check_files(sample) == []


@pytest.mark.slow
def test_generated_corpus_parses_like_cedar(generated_policies: list[tuple[str, str]]) -> None:
    assert len(generated_policies) > 7000
    assert _check_files(generated_policies) == []


# -- fuzzing against cedarpy -----------------------------------------------------------------------

SEEDS = [
    '@id("a") permit(principal == User::"alice", action in [Action::"read", Action::"list"], '
    'resource is Doc in Folder::"f") when { context.time.hour > 9 && principal.dept == '
    '"eng" } unless { resource.tags.contains("secret") };',
    'forbid(principal is Ns::User, action == Ns::Action::"delete", resource == ?resource) '
    "when { if principal has manager.level then principal.manager.level < 3 else true };",
    "permit(principal in ?principal, action, resource) unless { ip(context.ip).isInRange("
    'ip("10.0.0.0/8")) || decimal("1.5").lessThan(context.score) || -1 - -2 * !!true };',
    'permit(principal, action, resource) when { {a: [1, -9223372036854775808], "b c": '
    'User::"u"}["b c"] in [User::"u"] && context.s like "a*\\*b" && resource.getTag("t") };',
]
VOCABULARY = [
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ";",
    ".",
    "::",
    ":",
    "@",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "&&",
    "||",
    "!",
    "-",
    "+",
    "*",
    "/",
    "=",
    "in",
    "has",
    "like",
    "is",
    "if",
    "then",
    "else",
    "true",
    "false",
    "principal",
    "action",
    "resource",
    "context",
    "?principal",
    "?resource",
    "?x",
    "permit",
    "forbid",
    "when",
    "unless",
    "__cedar",
    "Action",
    '"a"',
    '"\\*"',
    '"\\q"',
    '"\\u{2a}"',
    "9223372036854775808",
    "0",
    "ip",
    "contains",
    "isEmpty",
    "lessThan",
    "foo",
    'Action::"a"',
    'User::"u"',
    "#",
    '""',
]


@st.composite
def mutated_policies(draw: st.DrawFn) -> str:
    """A seed policy with one to three token-level deletions, insertions or replacements."""
    from rune.cedar.lexer import EOF, tokenize

    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        tokens = [t for t in tokenize(text).tokens if t.kind != EOF]
        if not tokens:
            break
        token = draw(st.sampled_from(tokens))
        action = draw(st.sampled_from(["delete", "insert", "replace", "copy"]))
        if action == "delete":
            text = text[: token.start] + text[token.end :]
        elif action == "insert":
            text = f"{text[: token.start]}{draw(st.sampled_from(VOCABULARY))} {text[token.start :]}"
        elif action == "replace":
            text = text[: token.start] + draw(st.sampled_from(VOCABULARY)) + text[token.end :]
        else:
            other = draw(st.sampled_from(tokens))
            text = text[: token.start] + other.text + text[token.end :]
    return text


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated_policies())
def test_mutated_policies_agree_with_cedar(text: str) -> None:
    assert_agrees_with_cedar(text)


def test_random_corpus_mutations_agree_with_cedar(
    generated_policies: list[tuple[str, str]],
) -> None:
    """Deterministic token mutations of real corpus policies (a broader, cheaper sweep)."""
    from rune.cedar.lexer import EOF, tokenize

    rng = random.Random(20240)
    for _ in range(300):
        _, text = rng.choice(generated_policies)
        tokens = [t for t in tokenize(text).tokens if t.kind != EOF]
        if not tokens:
            continue
        token = rng.choice(tokens)
        replacement = rng.choice([*VOCABULARY, ""])
        assert_agrees_with_cedar(text[: token.start] + replacement + text[token.end :])


def _with_spans(node: Any) -> Any:
    """A node as nested tuples including its spans (AST equality ignores spans)."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__,
                tuple((f.name, _with_spans(getattr(node, f.name)))
                      for f in dataclasses.fields(node)))
    if isinstance(node, tuple):
        return tuple(_with_spans(x) for x in node)
    return node


@pytest.mark.parametrize("text", [
    'permit(principal, action, resource);\nforbid(principal, action, resource) when { 1 < 2 };',
    '// a; comment\n@id("a;b") permit(principal == User::"a;", action, resource)\n'
    '  when { "x;" like "*;*" };  // trailing; comment\n\n',
    'permit(principal in ?principal, action, resource);permit(principal, action, resource);',
    "",
    "  // only a comment",
    'permit(principal, action, resource)\n  unless { context.a.b && [1, 2].contains(1) };\n'
    '@x\n@y("z") forbid(principal is A in A::"b", action in [Action::"c"], resource);',
])
def test_statement_by_statement_parse_is_the_single_pass_parse(text: str) -> None:
    single = _PolicyParser(tokenize(text, "p.cedar"))
    expected = single.policies()
    assert not single.diagnostics
    assert _with_spans(parse_policies(text, "p.cedar")) == _with_spans(expected)
