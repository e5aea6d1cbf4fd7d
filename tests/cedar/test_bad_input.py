"""Bad input of every kind raises a `rune.RuneError` subclass with a location, nothing else."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rune import RuneError
from rune.cedar import (
    Entities,
    EntitiesError,
    ParseError,
    PolicySet,
    Request,
    RequestError,
    Schema,
    SchemaError,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["uid", "attrs", "parents", "tags", "type", "id", "__entity", "__extn",
                         "fn", "arg", "x"]), inner, max_size=4),
    max_leaves=12,
)

POLICY_WORDS = ["permit", "forbid", "(", ")", "principal", "action", "resource", "when", "unless",
                "{", "}", ";", "==", "in", "is", "has", "like", "&&", "||", "!", "-", "+", "if",
                "then", "else", '"s"', "1", "9223372036854775808", "User::\"a\"", ".", "[", "]",
                ",", "context", "ip", "decimal", "?principal", "@id", "true", ":", "\\"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(POLICY_WORDS), max_size=30))
def test_garbage_policies_raise_parse_error(words: list[str]) -> None:
    try:
        PolicySet.from_str(" ".join(words))
    except ParseError as exc:
        assert exc.span is not None and exc.span.line >= 1
        assert "^" in exc.render()


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, max_size=3))
def test_garbage_entities_raise_entities_error(data: list[object]) -> None:
    try:
        Entities.from_json(data)
    except EntitiesError as exc:
        assert exc.path is not None


@settings(max_examples=200, deadline=None)
@given(json_values, json_values, json_values, json_values)
def test_garbage_requests_raise_request_error(p: object, a: object, r: object, c: object) -> None:
    try:
        Request(p, a, r, c)
    except RequestError as exc:
        assert exc.path is not None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_garbage_schemas_raise_schema_error(text: str) -> None:
    with contextlib.suppress(SchemaError):
        Schema.from_str(text)
    with contextlib.suppress(SchemaError):
        Schema.from_json(text)


@pytest.mark.parametrize("depth", [50, 2000])
def test_deeply_nested_input(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    data = f'[{{"uid": {{"type": "U", "id": "x"}}, "attrs": {{"a": {nested}}}, "parents": []}}]'
    try:
        Entities.from_json(data)
    except EntitiesError:
        assert depth > 100
    body = "(" * depth + "true" + ")" * depth
    text = "permit(principal, action, resource) when { " + body + " };"
    try:
        PolicySet.from_str(text)
    except ParseError:
        assert depth > 100


def test_unknown_extension_function_is_a_rune_error_or_an_evaluation_error() -> None:
    # Cedar's parser accepts only known extension functions (plus `unknown`).
    with pytest.raises(RuneError):
        PolicySet.from_str('permit(principal, action, resource) when { nosuch("x") };')


def test_parse_errors_report_every_error_with_location() -> None:
    text = 'permit(principal, action, resource) when { 1 + };\nforbid(principal action);\n'
    with pytest.raises(ParseError) as info:
        PolicySet.from_str(text, file="bad.cedar")
    lines = [d.span.line for d in info.value.diagnostics if d.span]
    assert lines == sorted(lines) and set(lines) == {1, 2}
    assert "bad.cedar:1:" in info.value.render()


def test_malformed_json_text() -> None:
    with pytest.raises(EntitiesError):
        Entities.from_json('{"not": "a list"}')
    with pytest.raises(EntitiesError):
        Entities.from_json(json.dumps([{"uid": "User::\"a\""}]))
