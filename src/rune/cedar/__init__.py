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

from typing import TYPE_CHECKING, Any

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
from rune.cedar.policy_set import Policy, PolicySet, Template
from rune.cedar.request import Request
from rune.cedar.values import CedarRecord, CedarSet, EntityUID

if TYPE_CHECKING:
    from rune.cedar.formatter import format_policies
    from rune.cedar.schema import Schema, ValidationResult, validate

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

# Schemas and validation are imported on first use: an engine without a schema never
# pays for them (they are a large share of the package).
_LAZY = frozenset({"Schema", "ValidationResult", "validate"})


def __getattr__(name: str) -> Any:
    if name == "format_policies":  # only `rune fmt` needs it
        from rune.cedar.formatter import format_policies

        globals()[name] = format_policies
        return format_policies
    if name in _LAZY:
        from rune.cedar import schema

        value = getattr(schema, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
