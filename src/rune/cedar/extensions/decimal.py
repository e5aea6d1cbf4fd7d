"""Cedar's `decimal` extension type: the `decimal()` constructor and its four comparisons.

Accepted text, as cedar-policy 4.12 accepts it (checked against cedarpy): an optional
`-`, one or more ASCII digits (leading zeros allowed), a `.`, then one to four ASCII
digits. No `+`, no exponent, no whitespace. The value is stored as a 64-bit integer
scaled by 10^4, so the range is -922337203685477.5808 to 922337203685477.5807; anything
outside is an overflow error. `-0.5` is negative (older Cedar releases got this wrong).

Equality is by value (`decimal("1.0") == decimal("1.00")`, `decimal("-0.0") ==
decimal("0.0")`). Cedar's `< <= > >=` reject decimals; only the methods compare them.
"""

from __future__ import annotations

import re
from typing import Any

from rune.cedar.errors import EvaluationError
from rune.cedar.extensions._checks import (
    INVALID_DECIMAL,
    OVERFLOW,
    cached_constructor,
    raise_type_error,
)
from rune.cedar.values import LONG_MAX, LONG_MIN

__all__ = [
    "Decimal",
    "decimal",
    "greater_than",
    "greater_than_or_equal",
    "less_than",
    "less_than_or_equal",
    "parse_decimal",
]

SCALE = 10_000
_DECIMAL = re.compile(r"(-?)([0-9]+)\.([0-9]+)")
_FRACTION_SCALE = (0, 1000, 100, 10, 1)  # indexed by the number of fractional digits
_HASH_SALT = 0x5DEECE66D


class Decimal:
    """A Cedar `decimal` value.

    Attributes:
        scaled: the value times 10^4, a 64-bit signed integer.
    """

    __slots__ = ("_text", "scaled")

    cedar_type = "decimal"
    cedar_ordered = False  # Cedar's `<` rejects decimals; use the methods

    scaled: int
    _text: str | None

    def __init__(self, text: str) -> None:
        """Parse ``text`` as Cedar's `decimal()` does; raise `EvaluationError` if invalid."""
        _set_scaled(self, parse_decimal(text).scaled)
        _set_text(self, text)

    @classmethod
    def from_scaled(cls, scaled: int) -> Decimal:
        """The decimal ``scaled / 10^4``.

        Raises:
            ValueError: ``scaled`` does not fit in 64 bits.
        """
        if not LONG_MIN <= scaled <= LONG_MAX:
            raise ValueError(f"scaled decimal `{scaled}` does not fit in 64 bits")
        return _make(scaled, None)

    @property
    def source(self) -> str | None:
        """The string this value was parsed from; None when built from a number."""
        return self._text

    @property
    def text(self) -> str:
        """The string this value was parsed from, or a canonical one when built from a number."""
        if self._text is not None:
            return self._text
        magnitude = abs(self.scaled)
        fraction = f"{magnitude % SCALE:04d}".rstrip("0") or "0"
        sign = "-" if self.scaled < 0 else ""
        return f"{sign}{magnitude // SCALE}.{fraction}"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"`Decimal` is immutable: cannot set `{name}`")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"`Decimal` is immutable: cannot delete `{name}`")

    def __eq__(self, other: object) -> bool:
        return other.__class__ is Decimal and self.scaled == other.scaled  # type: ignore[attr-defined]

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self.scaled) ^ _HASH_SALT

    def __str__(self) -> str:
        return f'decimal("{self.text}")'

    __repr__ = __str__

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make, (self.scaled, self._text))


_new = object.__new__
_set_scaled = Decimal.__dict__["scaled"].__set__
_set_text = Decimal.__dict__["_text"].__set__


def _make(scaled: int, text: str | None) -> Decimal:
    value = _new(Decimal)
    _set_scaled(value, scaled)
    _set_text(value, text)
    return value


def parse_decimal(text: str) -> Decimal:
    """Parse a `decimal()` argument exactly as Cedar 4.12 does.

    Raises:
        EvaluationError: code ``invalid-decimal`` for a malformed string,
            ``extension-overflow`` for a value outside the 64-bit range.
    """
    match = _DECIMAL.fullmatch(text)
    if match is None:
        raise EvaluationError(f"`{text}` is not a well-formed decimal value", code=INVALID_DECIMAL)
    sign, whole, fraction = match.groups()
    if len(fraction) > 4:
        raise EvaluationError(
            f"too many digits after the decimal in `{text}`: at most 4 are supported",
            code=INVALID_DECIMAL,
        )
    # INVARIANT: bound the digit count before int(): 16+ significant whole digits always
    # overflow, and Python refuses to convert very long digit strings at all.
    whole = whole.lstrip("0")
    if len(whole) > 15:
        raise EvaluationError(f"overflow when converting `{text}` to decimal", code=OVERFLOW)
    scaled = (int(whole) if whole else 0) * SCALE + int(fraction) * _FRACTION_SCALE[len(fraction)]
    if sign:
        scaled = -scaled
        if scaled < LONG_MIN:
            raise EvaluationError(f"overflow when converting `{text}` to decimal", code=OVERFLOW)
    elif scaled > LONG_MAX:
        raise EvaluationError(f"overflow when converting `{text}` to decimal", code=OVERFLOW)
    return _make(scaled, text)


# ---- Cedar functions and methods (receiver first) -------------------------------------




decimal = cached_constructor(
    parse_decimal, "Cedar `decimal(string)` (recently parsed strings are cached)."
)
_CACHE = decimal.cache  # type: ignore[attr-defined]


def less_than(left: Any, right: Any) -> bool:
    """Cedar `decimal.lessThan(decimal)`."""
    if left.__class__ is not Decimal:
        raise_type_error("decimal", left)
    if right.__class__ is not Decimal:
        raise_type_error("decimal", right)
    return left.scaled < right.scaled  # type: ignore[no-any-return]


def less_than_or_equal(left: Any, right: Any) -> bool:
    """Cedar `decimal.lessThanOrEqual(decimal)`."""
    if left.__class__ is not Decimal:
        raise_type_error("decimal", left)
    if right.__class__ is not Decimal:
        raise_type_error("decimal", right)
    return left.scaled <= right.scaled  # type: ignore[no-any-return]


def greater_than(left: Any, right: Any) -> bool:
    """Cedar `decimal.greaterThan(decimal)`."""
    if left.__class__ is not Decimal:
        raise_type_error("decimal", left)
    if right.__class__ is not Decimal:
        raise_type_error("decimal", right)
    return left.scaled > right.scaled  # type: ignore[no-any-return]


def greater_than_or_equal(left: Any, right: Any) -> bool:
    """Cedar `decimal.greaterThanOrEqual(decimal)`."""
    if left.__class__ is not Decimal:
        raise_type_error("decimal", left)
    if right.__class__ is not Decimal:
        raise_type_error("decimal", right)
    return left.scaled >= right.scaled  # type: ignore[no-any-return]
