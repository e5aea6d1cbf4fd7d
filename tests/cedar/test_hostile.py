"""Hostile Cedar input: `like` patterns, long chains, deep nesting, huge literals, wrong
types and oversized text. Each must be answered quickly and correctly, or rejected with a
`RuneError` (or a documented `TypeError` for an argument of the wrong Python type), never
by a hang, a `RecursionError` or another raw exception.

cedarpy (cedar-policy 4.12) is the judge where it can be asked: it crashes with a stack
overflow past about 600 levels of nesting, so it is asked only about shallower inputs.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cedarpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.cedar.test_differential import check_agreement
from tests.strategies import expression_cases

from rune.cedar import (
    CedarRecord,
    CedarSet,
    ParseError,
    PolicySet,
    Request,
    RequestError,
    authorize,
    compiler,
    limits,
)
from rune.cedar._like import like_matcher
from rune.cedar.ast import Wildcard
from rune.cedar.index import PreparedPolicySet
from rune.cedar.lexer import tokenize, tokenize_statements
from rune.cedar.parser import (
    iter_policies,
    parse_entity_type,
    parse_entity_uid,
    parse_expression,
    parse_policies,
    parse_policy_at,
)
from rune.cedar.values import format_value

_SETTINGS = settings(max_examples=300, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow])
_ANY = "permit(principal, action, resource)"
_REQUEST = {"principal": 'User::"a"', "action": 'Action::"v"', "resource": 'R::"r"',
            "context": {}}


def _decide(text: str, context: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    """(decision, error messages) of RUNE on the fixed request, through `authorize` and
    through a fused plan (which must agree)."""
    policies = PolicySet.from_str(text)
    request = Request('User::"a"', 'Action::"v"', 'R::"r"', context or {})
    response = authorize(request, policies)
    fused = PreparedPolicySet(tuple(policies), always_index=True, fuse_at_first_use=True)
    assert fused.decide(*request, {}) == response
    return str(response.decision), [e.message for e in response.errors]


def _cedar(text: str, context: dict[str, Any] | None = None) -> str:
    """cedarpy's decision on the fixed request ("allow", "deny" or "nodecision")."""
    request = {**_REQUEST, "context": context or {}}
    return str(cedarpy.is_authorized(request, text, []).decision.name).lower()


@contextmanager
def _timed(most: float) -> Iterator[None]:
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < most, f"took {elapsed:.2f}s"


# -- 1. `like` in linear time ------------------------------------------------------------------


def _reference_like(text: str, pattern: tuple[str | Wildcard, ...]) -> bool:
    """A memoized dynamic-programming matcher: one character or one star at a time."""
    items: list[str | Wildcard] = []
    for part in pattern:
        items.extend([part] if isinstance(part, Wildcard) else list(part))

    @functools.cache
    def match(i: int, j: int) -> bool:
        if j == len(items):
            return i == len(text)
        if isinstance(items[j], Wildcard):
            return match(i, j + 1) or (i < len(text) and match(i + 1, j))
        return i < len(text) and text[i] == items[j] and match(i + 1, j + 1)

    return match(0, 0)


_pattern_parts = st.lists(st.one_of(st.just(Wildcard()), st.sampled_from(["a", "b", "ab", "*"])),
                          max_size=7).map(tuple)


@_SETTINGS
@given(pattern=_pattern_parts, text=st.text(alphabet="ab*", max_size=12))
def test_like_matches_the_reference(pattern: tuple[str | Wildcard, ...], text: str) -> None:
    # (`"*"` as a part is a literal star, the pattern's `\*`.)
    assert like_matcher(pattern)(text) is _reference_like(text, pattern)


def _pattern_literal(pattern: tuple[str | Wildcard, ...]) -> str:
    return "".join("*" if isinstance(p, Wildcard) else p.replace("*", "\\*") for p in pattern)


@settings(max_examples=60, deadline=None, database=None)
@given(pattern=_pattern_parts, text=st.text(alphabet="ab*", max_size=8))
def test_like_agrees_with_cedar(pattern: tuple[str | Wildcard, ...], text: str) -> None:
    policy = f'{_ANY} when {{ "{text}" like "{_pattern_literal(pattern)}" }};'
    assert _decide(policy)[0] == _cedar(policy)


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        # The report: a 2,000-character path took 35 s.
        ("/".join(["d"] * 999) + "x", "*/*/*/*.py", False),
        ("/".join(["d"] * 999) + ".py", "*/*/*/*.py", True),
        ("a" * 2000, "*a*a*a*a*a*b", False),
        ("a" * 100_000, "*a" * 40 + "*b", False),
        ("ab" * 50_000, "*a*b" * 100 + "*c", False),
        ("a" * 100_000, "a*" * 200 + "a", True),
        ("a" * 50_000 + "b", "*" + "a" * 1000 + "*b", True),
    ],
)
def test_like_is_fast_on_adversarial_input(value: str, pattern: str, expected: bool) -> None:
    text = f'{_ANY} when {{ context.path like "{pattern}" }};'
    with _timed(1.0):
        assert _decide(text, {"path": value}) == ("allow" if expected else "deny", [])


def test_like_fast_cases_stay_string_methods() -> None:
    assert like_matcher(("abc",))("abc") and not like_matcher(("abc",))("abcd")
    assert like_matcher(("ab", Wildcard()))("abz")
    assert like_matcher((Wildcard(), "yz"))("xyz")
    assert like_matcher((Wildcard(), "b", Wildcard()))("abc")
    assert like_matcher(("a", Wildcard(), "a"))("aa") and not like_matcher(
        ("a", Wildcard(), "a"))("a")
    assert like_matcher((Wildcard(), Wildcard()))("")


# -- 2. chains compile, whatever their length ----------------------------------------------------


def _nest(n: int, record: type = CedarRecord) -> Any:
    """`{"a": {"a": ... 1}}`, read by ``n`` `.a` from a context holding it under `a`.

    (A `CedarRecord` skips the JSON reader, whose own depth limit is not tested here.)"""
    nested: Any = 1
    for _ in range(n - 1):
        nested = record({"a": nested})
    return nested


def _chain_cases(n: int, record: type = CedarRecord) -> list[tuple[str, str, Any]]:
    """(name, policy, context) for chains of about ``n`` links, all allowing."""
    names = [f'"tool-{i}"' for i in range(n)]
    nested = _nest(n, record)
    return [
        ("allow-list ||",
         f"{_ANY} when {{ {' || '.join(f'context.tool == {x}' for x in names)} }};",
         record(tool=f"tool-{n - 1}")),
        ("&&", f"{_ANY} when {{ {' && '.join(['context.on'] * n)} }};", record(on=True)),
        ("+", f"{_ANY} when {{ {' + '.join(['context.one'] * n)} == {n} }};", record(one=1)),
        ("- and *", f"{_ANY} when {{ 0 {' - context.one * 2' * n} == {-2 * n} }};", record(one=1)),
        (".attr", f"{_ANY} when {{ context{'.a' * n} == 1 }};", record(a=nested)),
        ("has", f"{_ANY} when {{ context has {'.'.join(['a'] * n)} }};", record(a=nested)),
        ("method", f'{_ANY} when {{ datetime("2024-01-01"){".offset(duration(context.d))" * n}'
                   f' == datetime("2024-01-01").offset(duration("{n}ms")) }};', record(d="1ms")),
    ]


@pytest.mark.parametrize("n", [600, 2_000])
def test_long_chains_compile_and_evaluate(n: int) -> None:
    for name, text, context in _chain_cases(n):
        with _timed(10.0):
            assert _decide(text, context) == ("allow", []), name


@pytest.mark.parametrize(("name", "text", "context"), _chain_cases(100, dict))
def test_long_chains_agree_with_cedar(name: str, text: str, context: dict[str, Any]) -> None:
    assert _cedar(text, context) == "allow"
    assert _decide(text, context)[0] == "allow"


def test_long_chains_fail_where_and_as_the_short_ones_do() -> None:
    # An error half-way along a long chain is the error of the same link in a short one.
    for n in (3, 2_000):
        missing = _decide(f"{_ANY} when {{ context{'.a' * (n - 1)}.b == 1 }};",
                          CedarRecord(a=_nest(n)))
        assert missing == ("deny", ["record does not have the attribute `b`"])
        total = f"{_ANY} when {{ {' + '.join(['context.big'] * n)} > 0 }};"
        _, errors = _decide(total, {"big": 2**62})
        assert errors == ["integer overflow: `4611686018427387904 + 4611686018427387904`"]
        typed = f"{_ANY} when {{ {' || '.join(['false'] * n)} || context.s }};"
        assert _decide(typed, {"s": "x"}) == ("deny", ["type error: expected Bool, got String"])
        not_record = f"{_ANY} when {{ context has {'.'.join(['a'] * n)}.b.c }};"
        assert _decide(not_record, CedarRecord(a=_nest(n))) == (
            "deny", ["type error: expected Entity or Record, got Long"])


def test_nested_sums_do_not_double_their_code() -> None:
    # Each `-x + ...` level repeated the text of the one below: 30 terms took gigabytes.
    text = f"{_ANY} when {{ {' + '.join(['-context.a'] * 40)} == -40 }};"
    with _timed(2.0):
        assert _decide(text, {"a": 1}) == ("allow", [])


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_flat_compilation_agrees_with_cedar(data: st.DataObject) -> None:
    # Every chain, however short, compiled the way long ones are (statements, has-paths,
    # chunked helpers), judged by cedarpy on generated policies.
    case = data.draw(expression_cases())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compiler, "_SPINE_INLINE", 1)
        patch.setattr(compiler, "_HAS_PATH_MIN", 1)
        patch.setattr(compiler, "_CHAIN_CHUNK", 2)
        check_agreement(case)


# -- 3. nesting as deep as Cedar's, and a clear error beyond -------------------------------------


def _nested_cases(n: int) -> list[tuple[str, str]]:
    """(name, condition) nested ``n`` levels deep, all true."""
    half = n // 2  # (each `(if` opens two levels: the parenthesis and the branch)
    return [
        ("parentheses", "(" * n + "true" + ")" * n),
        ("!(", "!(" * n + ("true" if n % 2 == 0 else "false") + ")" * n),
        ("-(", "-(" * n + "1" + ")" * n + (" == 1" if n % 2 == 0 else " == -1")),
        ("sets", "[" * n + "]" * n + " == " + "[" * n + "]" * n),
        ("records", "{a:" * n + "1" + "}" * n + " == " + "{a:" * n + "1" + "}" * n),
        ("if", "if true then " * n + "true" + " else false" * n),
        ("(if", "(if true then " * half + "true" + " else false)" * half),
        ("sets of principal", "[" * n + "principal" + "]" * n + ".contains("
         + "[" * (n - 1) + "principal" + "]" * (n - 1) + ")"),
        ("method arguments", "[true].contains(" * n + "true" + ")" * n),
    ]


@pytest.mark.parametrize(("name", "condition"), _nested_cases(500))
def test_nesting_agrees_with_cedar(name: str, condition: str) -> None:
    text = f"{_ANY} when {{ {condition} }};"
    assert _cedar(text) == "allow", name
    assert _decide(text) == ("allow", []), name


def test_nesting_to_the_limit_parses_compiles_and_evaluates() -> None:
    for name, condition in _nested_cases(limits.MAX_NESTING_DEPTH):
        text = f"{_ANY} when {{ {condition} }};"
        policies = PolicySet.from_str(text)
        (policy,) = policies.policies
        # Comparing, hashing and printing a deep tree must not recurse either.
        again = PolicySet.from_str(text).policies[0]
        assert policy == again and hash(policy) == hash(again) and repr(policy), name
        assert _decide(text) == ("allow", []), name


def test_nesting_beyond_the_limit_is_an_error_with_a_span() -> None:
    depth = limits.MAX_NESTING_DEPTH + 2
    for name, condition in _nested_cases(depth):
        text = f"{_ANY} when {{ {condition} }};"
        with pytest.raises(ParseError) as info:
            PolicySet.from_str(text)
        assert [d.code for d in info.value.diagnostics] == ["nesting-too-deep"], name
        span = info.value.span
        assert span is not None and span.line == 1 and span.column > depth, name
        assert f"more than {limits.MAX_NESTING_DEPTH} levels" in info.value.message


def test_the_nesting_limit_can_be_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_NESTING_DEPTH", 10)
    assert parse_expression("(" * 10 + "1" + ")" * 10)
    with pytest.raises(ParseError, match="nesting-too-deep"):
        parse_expression("[" * 12 + "]" * 12)  # (the outermost set is at level 0)


def test_deep_values_compare_and_print_without_recursion() -> None:
    def nest(depth: int, leaf: Any, record: bool) -> Any:
        value = leaf
        for i in range(depth):
            value = CedarRecord({"a": value, "n": i}) if record else CedarSet([value, i])
        return value

    for record in (False, True):
        a, b, c = nest(5_000, 1, record), nest(5_000, 1, record), nest(5_000, True, record)
        assert a == b and a != c and not (a != b) and hash(a) == hash(b)  # noqa: SIM202
        assert format_value(a).count("1") >= 1 and len(repr(c)) > 5_000


def test_no_recursion_error_on_very_long_chains() -> None:
    # Fifty thousand links: linear time, no RecursionError at any stage.
    text = f"{_ANY} when {{ context{'.a' * 50_000} == 1 }};"
    with _timed(60.0):
        assert _decide(text, CedarRecord(a=_nest(50_000))) == ("allow", [])


# -- 4. integer literals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("9223372036854775808", "integer literal `9223372036854775808` is too large"),
        ("-9223372036854775809", "integer literal `9223372036854775809` is too large"),
        ("0009223372036854775808", "integer literal `9223372036854775808` is too large"),
        ("18446744073709551616", "integer literal `18446744073709551616` (20 digits) is too "
         "large to fit in 64 bits"),
        ("1" * 5_000, f"integer literal `{'1' * 20}...` (5000 digits) is too large to fit in "
         "64 bits"),
        ("-" + "9" * 5_000, f"integer literal `{'9' * 20}...` (5000 digits) is too large to "
         "fit in 64 bits"),
    ],
)
def test_integer_overflow_is_a_parse_error_as_in_cedar(literal: str, message: str) -> None:
    text = f"{_ANY} when {{ {literal} == 1 }};"
    assert _cedar(text) == "nodecision"  # cedarpy: a parse error
    with pytest.raises(ParseError) as info:
        PolicySet.from_str(text)
    assert info.value.code == "integer-overflow" and info.value.message == message
    assert info.value.span is not None and info.value.span.column == 44 + literal.startswith("-")


def test_leading_zeros_do_not_overflow() -> None:
    text = f"{_ANY} when {{ {'0' * 5_000}1 == 1 && -{'0' * 5_000}9223372036854775808 < 0 }};"
    assert _cedar(text) == "allow"
    assert _decide(text) == ("allow", [])


# -- 5. text of the wrong type ------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, b"permit(principal, action, resource);", 5, ["x"]])
@pytest.mark.parametrize(
    ("function", "name"),
    [
        (PolicySet.from_str, "PolicySet.from_str"),
        (parse_policies, "parse_policies"),
        (lambda text: list(iter_policies(text)), "iter_policies"),
        (parse_expression, "parse_expression"),
        (parse_entity_uid, "parse_entity_uid"),
        (parse_entity_type, "parse_entity_type"),
        (lambda text: parse_policy_at(text, offset=0, line=1, column=1, file=None),
         "parse_policy_at"),
        (tokenize, "tokenize"),
        (lambda text: list(tokenize_statements(text)), "tokenize_statements"),
    ],
)
def test_text_of_the_wrong_type_is_a_type_error(function: Any, name: str, bad: Any) -> None:
    with pytest.raises(TypeError, match=rf"^{name}: argument `text` must be a str, not "
                                        rf"{type(bad).__name__}$"):
        function(bad)


@pytest.mark.parametrize(
    ("context", "path"),
    [
        ({1: "a"}, "$.context"),
        ({None: 1, "b": True}, "$.context"),
        ({b"k": {"x": 1}}, "$.context"),
        ({"a": {2: 1}}, "$.context.a"),
        ({"a": [1, {3: 1}]}, "$.context.a[1]"),
        ({"a": {"b": [{"c": {(1, 2): 1}}]}}, "$.context.a.b[0].c"),
    ],
)
def test_context_keys_must_be_strings(context: dict[Any, Any], path: str) -> None:
    with pytest.raises(RequestError) as info:
        Request('User::"a"', 'Action::"v"', 'R::"r"', context)
    assert info.value.code == "invalid-key" and info.value.path == path


def test_context_may_be_any_mapping_but_not_a_cycle() -> None:
    from types import MappingProxyType

    request = Request('User::"a"', 'Action::"v"', 'R::"r"', MappingProxyType({"a": 1}))
    assert request.context == CedarRecord({"a": 1})
    cycle: dict[str, Any] = {}
    cycle["a"] = cycle
    with pytest.raises(RequestError):
        Request('User::"a"', 'Action::"v"', 'R::"r"', cycle)


def test_link_values_of_the_wrong_type() -> None:
    from rune.cedar import LinkError

    policies = PolicySet.from_str("permit(principal == ?principal, action, resource);")
    with pytest.raises(TypeError, match="`values` must be a mapping, not NoneType"):
        policies.link("policy0", "p", None)  # type: ignore[arg-type]
    with pytest.raises(LinkError, match="slot names must be strings"):
        policies.link("policy0", "p", {1: 'User::"a"'})


# -- 6. limits -----------------------------------------------------------------------------------


def test_policy_text_size_is_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"{_ANY};\n" * 10
    monkeypatch.setattr(limits, "MAX_POLICY_TEXT_LENGTH", len(text) - 1)
    with pytest.raises(ParseError) as info:
        PolicySet.from_str(text, file="big.cedar")
    assert info.value.code == "policy-text-too-large"
    span = info.value.span
    assert span is not None and (span.file, span.line, span.offset) == ("big.cedar", 10,
                                                                        len(text) - 1)
    assert len(PolicySet.from_str(text, max_length=len(text))) == 10
    with pytest.raises(ParseError, match="policy-text-too-large"):
        parse_policies(text)
    monkeypatch.undo()
    assert limits.MAX_POLICY_TEXT_LENGTH == 1 << 20
    with pytest.raises(ParseError, match="policy-text-too-large"):
        PolicySet.from_str(" " * ((1 << 20) + 1))


def test_a_policy_loaded_past_the_default_limit_can_be_read_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Policies keep their text and parse it again on demand: that must not meet the limit.
    monkeypatch.setattr(limits, "MAX_POLICY_TEXT_LENGTH", 1_000)
    body = " || ".join(['context.x == "y"'] * 100)
    text = f"{_ANY} when {{ {body} }};"
    assert len(text) > limits.MAX_POLICY_TEXT_LENGTH
    policies = PolicySet.from_str(text, max_length=len(text))
    assert policies.policies[0].ast.conditions


def test_parse_errors_are_capped() -> None:
    text = " || ".join(["nosuch"] * 5_000)
    with pytest.raises(ParseError) as info:
        parse_expression(text)
    codes = [d.code for d in info.value.diagnostics]
    assert len(codes) == limits.MAX_REPORTED_ERRORS + 1
    assert codes[-1] == "too-many-errors" and set(codes[:-1]) == {"invalid-variable"}
    with pytest.raises(ParseError) as info:
        parse_policies("$ " * 5_000)
    assert len(info.value.diagnostics) == limits.MAX_REPORTED_ERRORS + 1


def test_huge_policies_compile_in_bounded_memory() -> None:
    # 600 KB of `if` branches generate 4.5 MB of Python: compiled as one module it took
    # 700 MB; one function at a time, about a tenth.
    import subprocess
    import sys

    script = """
import resource
from rune.cedar import CedarRecord, PolicySet, Request, authorize
x = "context.n"
for _ in range(14):
    x = f"if context.b then ({x}) else ({x})"
policies = PolicySet.from_str(f"permit(principal, action, resource) when {{ ({x}) == 1 }};")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
request = Request('User::"a"', 'Action::"v"', 'R::"r"', CedarRecord(n=1, b=True))
assert str(authorize(request, policies).decision) == "allow"
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    grown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, timeout=120)
    assert int(grown.stdout) < 250, f"compiling took {grown.stdout.strip()} MB"


def test_a_plan_too_large_to_fuse_runs_as_a_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from rune.cedar import index

    monkeypatch.setattr(index, "_FUSED_SOURCE_MAX", 10)
    text = "".join(f'{_ANY} when {{ context.n == {i} }};\n' for i in range(8))
    assert _decide(text, {"n": 3}) == ("allow", [])
    policies = PreparedPolicySet(tuple(PolicySet.from_str(text)), always_index=True)
    request = Request('User::"a"', 'Action::"v"', 'R::"r"', {"n": 3})
    for _ in range(100):  # past the uses after which a plan is fused
        assert policies.decide(*request, {}).reason == ("policy3",)
