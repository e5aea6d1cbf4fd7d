"""The public surface: every package's `__all__` is sorted, importable and leaks nothing private."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["rune", "rune.bundle", "rune.cedar", "rune.datalog", "rune.engine", "rune.integrations",
            "rune.integrations.langchain", "rune.store"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    for item in exported:
        assert not item.startswith("_") or item == "__version__", f"{name} exports {item}"
        assert hasattr(module, item), f"{name}.__all__ names missing `{item}`"


def test_cedar_api_names() -> None:
    from rune.cedar import Entities, PolicySet, Request, Schema, authorize, validate

    assert callable(authorize) and callable(validate)
    assert all(callable(getattr(x, m)) for x, m in [
        (PolicySet, "from_str"), (Schema, "from_str"), (Schema, "from_json"),
        (Entities, "from_json"),
    ])
    assert Request is not None
