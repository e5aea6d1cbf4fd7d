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
from rune.cedar.schema import Schema, ValidationResult, validate
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
    "validate",
]
