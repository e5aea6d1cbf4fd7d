"""`rune.cedar.json_format` on hostile JSON: values nested to any depth convert both ways
without recursion, and errors show user input bounded, with the JSON path."""

from __future__ import annotations

from typing import Any

import pytest

from rune.cedar import Entities
from rune.cedar.errors import EntitiesError
from rune.cedar.json_format import value_from_json, value_to_json
from rune.cedar.values import CedarRecord, CedarSet, EntityUID

DEPTH = 100_000


def _nested_lists(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _nested_records(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def _same_json(a: Any, b: Any) -> bool:
    """`a == b` for JSON values of any depth (`==` itself recurses)."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x.__class__ is not y.__class__:
            return False
        if isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, dict):
            if list(x) != list(y):
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif x != y:
            return False
    return True


@pytest.mark.parametrize("build", [_nested_lists, _nested_records])
def test_deep_values_convert_both_ways(build: Any) -> None:
    data = build(DEPTH, {"__entity": {"type": "User", "id": "alice"}})
    value = value_from_json(data, "$")
    # Walk down without recursion: every level is there, the leaf is an entity.
    node = value
    for _ in range(DEPTH):
        assert isinstance(node, CedarSet | CedarRecord)
        (node,) = node if isinstance(node, CedarSet) else node.values()
    assert node == EntityUID("User", "alice")
    assert _same_json(value_to_json(value), data)


def test_deep_value_error_names_the_path_briefly() -> None:
    data = _nested_lists(5_000, 1.5)
    with pytest.raises(EntitiesError) as caught:
        value_from_json(data, "$.attrs.x")
    error = caught.value
    assert error.code == "invalid-value"
    assert error.path is not None
    assert error.path.startswith("$.attrs.x[0][0]") and "levels" in error.path
    assert len(str(error)) < 1_000


def test_shallow_value_error_path_is_exact() -> None:
    with pytest.raises(EntitiesError) as caught:
        value_from_json({"a": [1, {"b": None}]}, "$")
    assert caught.value.path == "$.a[1].b"


@pytest.mark.parametrize("bad", [b"x" * 1_000_000, 10**5_000, -(10**5_000),
                                 b"not json" * 100_000],
                         ids=["bytes", "huge-int", "huge-negative-int", "long-bytes"])
def test_huge_bad_values_are_shown_briefly(bad: Any) -> None:
    with pytest.raises(EntitiesError) as caught:
        value_from_json({"a": bad}, "$")
    assert caught.value.path == "$.a"
    assert len(str(caught.value)) < 300


def test_entities_with_deep_attributes_load() -> None:
    entities = Entities.from_json([{"uid": {"type": "User", "id": "a"},
                                    "attrs": {"x": _nested_lists(DEPTH, 1)}, "parents": []}])
    entity = entities.get(EntityUID("User", "a"))
    assert entity is not None
    assert _same_json(entities.to_json()[0]["attrs"]["x"], _nested_lists(DEPTH, 1))
