"""`rune.cedar.schema` exports a sorted, public `__all__`, and so does each of its modules."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "rune.cedar.schema", "rune.cedar.schema.model", "rune.cedar.schema.fragment",
    "rune.cedar.schema.human", "rune.cedar.schema.json_schema", "rune.cedar.schema.resolve",
    "rune.cedar.schema.typed_json", "rune.cedar.schema.request", "rune.cedar.schema.schema",
    "rune.cedar.schema.validate",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    for item in exported:
        assert not item.startswith("_")
        assert hasattr(module, item)


def test_interface() -> None:
    from rune.cedar.schema import Schema, ValidationResult, validate

    assert callable(validate) and ValidationResult().passed
    for method in ("from_str", "from_json", "parse_entities", "parse_context",
                   "validate_request", "action_entities", "to_json"):
        assert callable(getattr(Schema, method))
