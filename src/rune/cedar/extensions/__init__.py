"""Cedar's extension types `ipaddr`, `decimal`, `datetime`, `duration` and their registries.

The evaluator looks constructors up in `FUNCTIONS` (called as `ip("...")`) and methods in
`METHODS` (called as `receiver.isInRange(...)`); each entry's `impl` takes Cedar values,
receiver first, and returns a Cedar value or raises `EvaluationError`.

Behaviour of cedar-policy 4.12 (cedarpy 4.12.2) that this package reproduces:

* Every extension error happens at evaluation time. Policy parsing rejects only unknown
  names (`foo(...)`), a method called as a function (`isIpv4(x)`) and a function called
  as a method (`x.ip()`); a bad literal such as `ip("xyz")` and a wrong number of
  arguments (`x.isIpv4(1)`) parse fine and fail when evaluated.
* Equality is by value and never an error: `decimal("1.0") == decimal("1.00")`,
  `datetime("2024-01-01") == datetime("2024-01-01T00:00:00Z")`,
  `duration("1h") == duration("60m")`, `ip("127.0.0.1") == ip("127.0.0.1/32")`, but
  `ip("10.0.0.1/24") != ip("10.0.0.0/24")`; across types `==` is false.
* `< <= > >=` accept two datetimes or two durations (`ORDERED_TYPES`, the classes'
  ``cedar_ordered``); decimals and ipaddrs are a type error there, and `+ - *` reject
  all four types.
* The JSON escape is `{"__extn": {"fn": F, "arg": A}}` or `{"__extn": {"fn": F,
  "args": [A, ...]}}`, `arg` winning when both are present; `__extn` must be the only
  key, `fn` a string and `args` a list, otherwise the object is an ordinary record.
  `fn` may name any function or method (`"offset"`, `"isInRange"`, ...); `"ipaddr"` is
  not a function. Cedar writes a computed datetime as
  `offset(datetime("1970-01-01"), duration("<n>ms"))`, a computed duration as
  `duration("<n>ms")`, and a parsed value with the string it was parsed from.

Error codes: ``invalid-ipaddr``, ``invalid-decimal``, ``invalid-datetime``,
``invalid-duration`` (a constructor string Cedar rejects), ``extension-overflow``
(a value outside 64 bits), ``type-error`` (an argument of the wrong type),
``arity-error`` and ``unknown-extension-function`` (from `call_extension`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rune.cedar.errors import EvaluationError
from rune.cedar.extensions import datetime as _datetime
from rune.cedar.extensions import decimal as _decimal
from rune.cedar.extensions import ipaddr as _ipaddr
from rune.cedar.extensions._checks import ARITY_ERROR, UNKNOWN_FUNCTION
from rune.cedar.extensions.datetime import EPOCH_TEXT, Datetime, Duration
from rune.cedar.extensions.decimal import Decimal
from rune.cedar.extensions.ipaddr import IPAddr
from rune.cedar.values import EntityUID

__all__ = [
    "Datetime",
    "Decimal",
    "Duration",
    "ExtensionFunction",
    "ExtensionMethod",
    "FUNCTIONS",
    "IPAddr",
    "METHODS",
    "ORDERED_TYPES",
    "TYPES",
    "call_extension",
    "from_json",
    "from_json_extn",
    "is_json_extn",
    "to_json",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionFunction:
    """A function-style extension call such as `ip("10.0.0.1")`.

    Attributes:
        name: the Cedar name.
        arity: the number of arguments.
        argument_types: the type each argument must have (`String` for constructors).
        return_type: the type of the result, named as `rune.cedar.values.type_name` does.
        impl: takes the arguments as Cedar values; raises `EvaluationError` on bad input.
    """

    name: str
    arity: int
    argument_types: tuple[str, ...]
    return_type: str
    impl: Callable[..., Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionMethod:
    """A method-style extension call such as `a.isInRange(b)`.

    Attributes:
        name: the Cedar name.
        arity: the number of arguments including the receiver.
        receiver_type: the type the receiver must have.
        argument_types: the types of the other arguments.
        return_type: the type of the result, named as `rune.cedar.values.type_name` does.
        impl: takes the receiver then the arguments; raises `EvaluationError` on bad input.
    """

    name: str
    arity: int
    receiver_type: str
    argument_types: tuple[str, ...]
    return_type: str
    impl: Callable[..., Any]


def _function(name: str, return_type: str, impl: Callable[..., Any]) -> ExtensionFunction:
    return ExtensionFunction(
        name=name, arity=1, argument_types=("String",), return_type=return_type, impl=impl
    )


def _method(
    name: str,
    receiver_type: str,
    argument_types: tuple[str, ...],
    return_type: str,
    impl: Callable[..., Any],
) -> ExtensionMethod:
    return ExtensionMethod(
        name=name,
        arity=1 + len(argument_types),
        receiver_type=receiver_type,
        argument_types=argument_types,
        return_type=return_type,
        impl=impl,
    )


FUNCTIONS: dict[str, ExtensionFunction] = {
    f.name: f
    for f in (
        _function("ip", "ipaddr", _ipaddr.ip),
        _function("decimal", "decimal", _decimal.decimal),
        _function("datetime", "datetime", _datetime.datetime),
        _function("duration", "duration", _datetime.duration),
    )
}

METHODS: dict[str, ExtensionMethod] = {
    m.name: m
    for m in (
        _method("isIpv4", "ipaddr", (), "Bool", _ipaddr.is_ipv4),
        _method("isIpv6", "ipaddr", (), "Bool", _ipaddr.is_ipv6),
        _method("isLoopback", "ipaddr", (), "Bool", _ipaddr.is_loopback),
        _method("isMulticast", "ipaddr", (), "Bool", _ipaddr.is_multicast),
        _method("isInRange", "ipaddr", ("ipaddr",), "Bool", _ipaddr.is_in_range),
        _method("lessThan", "decimal", ("decimal",), "Bool", _decimal.less_than),
        _method("lessThanOrEqual", "decimal", ("decimal",), "Bool", _decimal.less_than_or_equal),
        _method("greaterThan", "decimal", ("decimal",), "Bool", _decimal.greater_than),
        _method(
            "greaterThanOrEqual", "decimal", ("decimal",), "Bool", _decimal.greater_than_or_equal
        ),
        _method("offset", "datetime", ("duration",), "datetime", _datetime.offset),
        _method("durationSince", "datetime", ("datetime",), "duration", _datetime.duration_since),
        _method("toDate", "datetime", (), "datetime", _datetime.to_date),
        _method("toTime", "datetime", (), "duration", _datetime.to_time),
        _method("toMilliseconds", "duration", (), "Long", _datetime.to_milliseconds),
        _method("toSeconds", "duration", (), "Long", _datetime.to_seconds),
        _method("toMinutes", "duration", (), "Long", _datetime.to_minutes),
        _method("toHours", "duration", (), "Long", _datetime.to_hours),
        _method("toDays", "duration", (), "Long", _datetime.to_days),
    )
}

# The extension types Cedar's `< <= > >=` accept (both operands of the same type).
ORDERED_TYPES: frozenset[str] = frozenset({"datetime", "duration"})

# Each extension type's Cedar name and the class of its values.
TYPES: dict[str, type[IPAddr | Decimal | Datetime | Duration]] = {
    "ipaddr": IPAddr,
    "decimal": Decimal,
    "datetime": Datetime,
    "duration": Duration,
}


def call_extension(name: str, args: Sequence[Any]) -> Any:
    """Call any extension function or method by name, receiver first, checking the arity.

    Raises:
        EvaluationError: code ``unknown-extension-function``, ``arity-error``, or whatever
            the function itself raises.
    """
    entry: ExtensionFunction | ExtensionMethod | None = FUNCTIONS.get(name) or METHODS.get(name)
    if entry is None:
        raise EvaluationError(f"extension function `{name}` does not exist", code=UNKNOWN_FUNCTION)
    if len(args) != entry.arity:
        raise EvaluationError(
            f"wrong number of arguments provided to extension function `{name}`: "
            f"expected {entry.arity}, got {len(args)}",
            code=ARITY_ERROR,
        )
    return entry.impl(*args)


def is_json_extn(data: Any) -> bool:
    """Whether a JSON value is an `__extn` escape rather than an ordinary record.

    Cedar reads `{"__extn": {"fn": <string>, "arg": ...}}` or `..."args": [...]` as an
    escape; any other shape (an extra key, no `arg`/`args`, `args` not a list, `fn` not a
    string) is a record with an attribute named `__extn`.
    """
    if data.__class__ is not dict or len(data) != 1 or "__extn" not in data:
        return False
    body = data["__extn"]
    return (
        body.__class__ is dict
        and body.get("fn").__class__ is str
        and ("arg" in body or body.get("args").__class__ is list)
    )


def from_json(data: Any) -> Any:
    """Evaluate an `__extn` escape (see `is_json_extn`) to a Cedar value.

    Raises:
        EvaluationError: the call fails, as `from_json_extn` describes.
        ValueError: ``data`` is not an `__extn` escape.
    """
    if not is_json_extn(data):
        raise ValueError("not an `__extn` escape")
    body = data["__extn"]
    if "arg" in body:
        return from_json_extn(body["fn"], body["arg"])
    return from_json_extn(body["fn"], args=body["args"])


_MISSING: Any = object()


def from_json_extn(fn: str, arg: Any = _MISSING, *, args: Sequence[Any] | None = None) -> Any:
    """Evaluate the body of an `__extn` escape: call ``fn`` on ``arg`` or on ``args``.

    Arguments are JSON values: strings, numbers and booleans stand for themselves and
    nested `__extn` escapes are evaluated first, so `offset` can be given a datetime and
    a duration. Pass ``arg`` for the escape's `arg` key (one argument, even if it is a
    list) or ``args`` for its `args` key.

    Raises:
        EvaluationError: code ``unknown-extension-function`` (`"ipaddr"` is one),
            ``arity-error``, ``type-error`` (`{"fn": "ip", "arg": 1}`), or the
            constructor's own code for a string it rejects.
    """
    if arg is not _MISSING:
        values: list[Any] = [_json_argument(arg)]
    elif args is not None:
        values = [_json_argument(a) for a in args]
    else:
        raise TypeError("from_json_extn needs `arg` or `args`")
    return call_extension(fn, values)


def _json_argument(data: Any) -> Any:
    if data.__class__ is dict and len(data) == 1:
        if is_json_extn(data):
            return from_json(data)
        entity = data.get("__entity")
        if entity.__class__ is dict and entity.keys() == {"type", "id"}:
            return EntityUID(entity["type"], entity["id"])
    # Anything else is passed through, so the function reports it as a type error.
    return data


def to_json(value: Any) -> dict[str, Any]:
    """The explicit `__extn` escape for an extension value, as Cedar writes it.

    A value parsed from a string is written with that string; a computed datetime as
    `offset(datetime("1970-01-01"), duration("<n>ms"))`; a computed duration as
    `duration("<n>ms")`.

    Raises:
        TypeError: ``value`` is not an extension value.
    """
    cls = value.__class__
    if cls is IPAddr:
        return {"__extn": {"fn": "ip", "arg": value.text}}
    if cls is Decimal:
        return {"__extn": {"fn": "decimal", "arg": value.text}}
    if cls is Duration:
        text = value.source if value.source is not None else f"{value.millis}ms"
        return {"__extn": {"fn": "duration", "arg": text}}
    if cls is Datetime:
        if value.source is not None:
            return {"__extn": {"fn": "datetime", "arg": value.source}}
        return {
            "__extn": {
                "fn": "offset",
                "args": [
                    {"__extn": {"fn": "datetime", "arg": EPOCH_TEXT}},
                    {"__extn": {"fn": "duration", "arg": f"{value.millis}ms"}},
                ],
            }
        }
    raise TypeError(f"`{cls.__name__}` is not a Cedar extension value")
