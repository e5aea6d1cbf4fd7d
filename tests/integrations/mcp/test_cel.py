"""The CEL subset of COAZ mappings: the binding's own examples, CEL's semantics where they
differ from Python's, optional selection, and hostile expressions."""

from __future__ import annotations

from typing import Any

import pytest

from rune.integrations.mcp import MappingError, OptionalValue, compile_expression

# The binding's example request and token ("Expressions and Literals").
VARIABLES = {
    "params": {"name": "get_customer", "arguments": {"id": "cust-12345", "case": "case-67890",
                                                     "amount": 20000, "customer-id": "c9"},
               "ref": {"type": "ref/prompt", "name": "greet"}},
    "token": {"sub": "alice@example.com", "client_id": "http://agentprovider.com/agent-app-id",
              "iss": "https://auth.example.com", "aud": "https://mcp.example.com",
              "exp": 1750000000, "roles": ["treasury", "staff"]},
}


def value(text: str) -> Any:
    return compile_expression(text).evaluate(VARIABLES)


@pytest.mark.parametrize(("text", "expected"), [
    ("params.name", "get_customer"),
    ("params.arguments.id", "cust-12345"),
    ("token.sub", "alice@example.com"),
    ('params.arguments["customer-id"]', "c9"),
    ("params.arguments.amount > 10000 ? 'high' : 'standard'", "high"),
    ("token.roles.exists(r, r == 'treasury') ? 'treasury_user' : 'standard_user'",
     "treasury_user"),
    ("params.ref.type == 'ref/prompt' ? params.ref.name : params.ref.uri", "greet"),
    ("'urn:doc:' + params.arguments.id", "urn:doc:cust-12345"),
    ("-7 / 2", -3), ("-7 % 2", -1), ("1 == 1.0", True), ("true == 1", False),
    ("'a' in ['a', 'b']", True), ("'sub' in token", True), ("size(token.roles)", 2),
    ("token.roles.size()", 2), ("has(token.sub)", True), ("has(token.nope)", False),
    ("false && params.nope", False), ("params.nope || true", True),
    ("[1, 2, 3].map(x, x * 2)", [2, 4, 6]), ("[1, 2, 3].filter(x, x > 1)", [2, 3]),
    ("[1, 2, 3].all(x, x > 0)", True), ("[1, 2, 3].exists_one(x, x > 2)", True),
    ("token.iss.startsWith('https://') && token.aud.endsWith('.com')", True),
    ("'ABC'.lowerAscii()", "abc"), ("int('42') + 1", 43), ("string(7)", "7"),
    ("token.?nope.orValue('d')", "d"), ("token.?sub.hasValue()", True),
    ("{'a': [1, 2.5, null]}", {"a": [1, 2.5, None]}), (r"'\u00e9\n'", "é\n"),
    ("r'a\\b'", "a\\b"), ("0x10", 16),
])
def test_values(text: str, expected: Any) -> None:
    assert value(text) == expected


def test_optional_selection() -> None:
    assert value("token.?client_id") == OptionalValue(True, VARIABLES["token"]["client_id"])
    assert value("token.?nope") == OptionalValue(False)
    assert value("token.?nope.deeper") == OptionalValue(False)  # stays empty down the chain
    assert value("params.arguments[?'nope']") == OptionalValue(False)


@pytest.mark.parametrize(("text", "message"), [
    ("params.arguments.region", "no such key `region`"),
    ("nobody.sub", "undeclared reference to `nobody`"),
    ("9223372036854775807 + 1", "integer overflow"),
    ("1 / 0", "division by zero"),
    ("'a' + 1", "no `+` for a string and a int"),
    ("params.name ? 1 : 2", "a condition must be a bool"),
    ("token.roles[5]", "out of range"),
    ("[token.?nope]", "an optional value inside a list"),
])
def test_evaluation_errors(text: str, message: str) -> None:
    with pytest.raises(MappingError, match="failed") as caught:
        value(text)
    assert caught.value.code == "cel-evaluation" and message in caught.value.message


@pytest.mark.parametrize("text", [
    "", "1 +", "a.b(", "in", "matches(x, 'y')", "'unterminated", "a ? b", "has(a)",
    "1 2", "timestamp('2020')", "'\\q'", "18446744073709551616", "a.'b'",
    "(" * 60 + "1" + ")" * 60, "!" * 100 + "true", "x" * 5000,
])
def test_syntax_errors(text: str) -> None:
    with pytest.raises(MappingError) as caught:
        compile_expression(text)
    assert caught.value.code == "cel-syntax"


def test_a_long_chain_evaluates_or_fails_cleanly() -> None:
    chain = compile_expression("+".join(["1"] * 2000))  # within the length limit
    try:
        assert chain.evaluate({}) == 2000
    except MappingError as error:  # Python's recursion limit: an error, not a crash
        assert error.code == "cel-evaluation"
