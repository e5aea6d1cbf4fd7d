"""Cedar schemas: parsing both syntaxes, schema-directed JSON, request and policy validation.

```python
from rune.cedar.schema import Schema, validate
schema = Schema.from_str(text)          # or Schema.from_json(data)
entities = schema.parse_entities(data)  # implicit escapes, conformance checks, actions
result = validate(policy_set, schema)   # result.passed, result.errors
```
"""

from __future__ import annotations

from rune.cedar.schema.model import (
    ActionDef,
    AttributeType,
    EntityType,
    EntityTypeDef,
    ExtensionType,
    PrimitiveType,
    RecordType,
    SchemaType,
    SetType,
)
from rune.cedar.schema.schema import Schema
from rune.cedar.schema.validate import ValidationError, ValidationResult, validate

__all__ = [
    "ActionDef",
    "AttributeType",
    "EntityType",
    "EntityTypeDef",
    "ExtensionType",
    "PrimitiveType",
    "RecordType",
    "Schema",
    "SchemaType",
    "SetType",
    "ValidationError",
    "ValidationResult",
    "validate",
]
