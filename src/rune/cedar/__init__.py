"""Cedar, RUNE's authorization language: the full Cedar 4.x language, compiled once.

```python
from rune.cedar import PolicySet, Schema, Entities, Request, authorize, validate
policies = PolicySet.from_str(text)                 # ids policy0, policy1, ... in order
entities = Entities.from_json(data, schema=None)
response = authorize(Request(principal=..., action=..., resource=..., context={}),
                     policies, entities)
```
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rune.cedar.authorizer import AuthorizationError, Decision, Response, authorize
    from rune.cedar.entities import Entities, Entity
    from rune.cedar.errors import (
        CedarError,
        EntitiesError,
        EvaluationError,
        LinkError,
        ParseError,
        RequestError,
        SchemaError,
    )
    from rune.cedar.formatter import format_policies
    from rune.cedar.policy_set import Policy, PolicySet, Template
    from rune.cedar.request import Request

    # (mypy sees `validate` bound twice: the schema package has a `validate` submodule
    # and a function of that name; the function is the one exported.)
    from rune.cedar.schema import Schema, ValidationResult, validate  # type: ignore[no-redef]
    from rune.cedar.values import CedarRecord, CedarSet, EntityUID

__all__ = [
    "AuthorizationError",
    "CedarError",
    "CedarRecord",
    "CedarSet",
    "Decision",
    "Entities",
    "EntitiesError",
    "Entity",
    "EntityUID",
    "EvaluationError",
    "LinkError",
    "ParseError",
    "Policy",
    "PolicySet",
    "Request",
    "RequestError",
    "Response",
    "Schema",
    "SchemaError",
    "Template",
    "ValidationResult",
    "authorize",
    "format_policies",
    "validate",
]

# Every name is imported on first use: a module that needs one part (`values` for uids,
# `errors`) does not load the compiler, the authorizer or the schema code (schemas and
# the formatter are a large share of the package, and many engines use neither).
_WHERE = {
    "AuthorizationError": "authorizer", "Decision": "authorizer", "Response": "authorizer",
    "authorize": "authorizer", "Entities": "entities", "Entity": "entities",
    "CedarError": "errors", "EntitiesError": "errors", "EvaluationError": "errors",
    "LinkError": "errors", "ParseError": "errors", "RequestError": "errors",
    "SchemaError": "errors", "format_policies": "formatter", "Policy": "policy_set",
    "PolicySet": "policy_set", "Template": "policy_set", "Request": "request",
    "Schema": "schema", "ValidationResult": "schema", "validate": "schema",
    "CedarRecord": "values", "CedarSet": "values", "EntityUID": "values",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rune.cedar.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
