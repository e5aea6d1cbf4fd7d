"""Error codes, argument checks and limits shared by the Cedar extension modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from rune.cedar.errors import EvaluationError
from rune.cedar.values import CedarRecord, CedarSet, EntityUID

__all__ = [
    "ARITY_ERROR",
    "CONSTRUCTOR_CACHE_SIZE",
    "INVALID_DATETIME",
    "INVALID_DECIMAL",
    "INVALID_DURATION",
    "INVALID_IPADDR",
    "OVERFLOW",
    "TYPE_ERROR",
    "UNKNOWN_FUNCTION",
    "cached_constructor",
    "describe_type",
    "raise_type_error",
]

# Stable error codes. One per kind of failure, never per message wording.
INVALID_IPADDR = "invalid-ipaddr"
INVALID_DECIMAL = "invalid-decimal"
INVALID_DATETIME = "invalid-datetime"
INVALID_DURATION = "invalid-duration"
OVERFLOW = "extension-overflow"
TYPE_ERROR = "type-error"
ARITY_ERROR = "arity-error"
UNKNOWN_FUNCTION = "unknown-extension-function"

# Each constructor remembers at most this many parsed strings. Values are immutable, so
# sharing one between requests is safe; the cache is emptied, not evicted, when full.
CONSTRUCTOR_CACHE_SIZE = 1024

_V = TypeVar("_V")


def cached_constructor(parse: Callable[[str], _V], doc: str) -> Callable[[Any], _V]:
    """A Cedar constructor `name(string)` over ``parse``, answering recently parsed
    strings from its own small cache (failures are not cached)."""
    cache: dict[str, _V] = {}

    def construct(text: Any) -> _V:
        if text.__class__ is not str:
            raise_type_error("string", text)
        value = cache.get(text)
        if value is None:
            value = parse(text)
            if len(cache) >= CONSTRUCTOR_CACHE_SIZE:
                cache.clear()
            cache[text] = value
        return value

    construct.__doc__ = doc
    construct.cache = cache  # type: ignore[attr-defined]
    return construct


# The constructor a string was probably meant for, keyed by the expected type.
_CONSTRUCTOR = {
    "ipaddr": "ip",
    "decimal": "decimal",
    "datetime": "datetime",
    "duration": "duration",
}


def describe_type(value: Any) -> str:
    """The type of ``value`` as Cedar's evaluator names it in error messages."""
    cls = value.__class__
    if cls is bool:
        return "bool"
    if cls is int:
        return "long"
    if cls is str:
        return "string"
    if cls is CedarSet or cls is list or cls is tuple:
        return "set"
    if cls is CedarRecord or cls is dict:
        return "record"
    if cls is EntityUID:
        return f"(entity of type `{value.type}`)"
    if value is None:
        return "null"
    cedar_type: object = getattr(cls, "cedar_type", None)
    if isinstance(cedar_type, str):
        return cedar_type
    return str(cls.__name__)


def raise_type_error(expected: str, value: Any) -> NoReturn:
    """Raise Cedar's type error for an argument that is not of the ``expected`` type."""
    message = f"type error: expected {expected}, got {describe_type(value)}"
    if value.__class__ is str and expected in _CONSTRUCTOR:
        # Cedar's own advice: "1.2.3.4" was probably meant to be ip("1.2.3.4").
        message += f" (maybe you forgot to apply the `{_CONSTRUCTOR[expected]}` constructor?)"
    raise EvaluationError(message, code=TYPE_ERROR)
