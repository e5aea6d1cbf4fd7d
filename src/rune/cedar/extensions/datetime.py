"""Cedar's `datetime` and `duration` extension types, their constructors and methods.

Both are 64-bit counts of milliseconds (since the Unix epoch, for `datetime`), compared
by value and ordered: Cedar 4.12 accepts `< <= > >=` between two datetimes or two
durations (never mixed), and rejects `+ - *` on them.

`datetime()` accepts, as cedar-policy 4.12 does (checked against cedarpy), exactly:
`YYYY-MM-DD`, `YYYY-MM-DDThh:mm:ssZ`, `YYYY-MM-DDThh:mm:ss.SSSZ`,
`YYYY-MM-DDThh:mm:ss(+|-)hhmm` and `YYYY-MM-DDThh:mm:ss.SSS(+|-)hhmm` with ASCII digits,
an upper-case `T` and `Z`, a real calendar date (proleptic Gregorian, years 0000-9999,
so `2023-02-29` is rejected and `0000-02-29` is accepted), `hh` < 24, `mm` < 60, `ss` < 60
(no leap seconds) and an offset whose hours are < 24 and minutes < 60. The offset is
subtracted: `2024-01-01T01:00:00+0100` is `2024-01-01`.

`duration()` accepts an optional `-` then quantity-unit pairs in the order `d h m s ms`,
each unit at most once, each quantity one or more ASCII digits; at least one pair. The
sign applies to the whole duration (`-1d12h` is minus 36 hours); the total must fit in
64 bits of milliseconds.
"""

from __future__ import annotations

import re
from typing import Any

from rune.cedar.errors import EvaluationError
from rune.cedar.extensions._checks import (
    INVALID_DATETIME,
    INVALID_DURATION,
    OVERFLOW,
    cached_constructor,
    raise_type_error,
)
from rune.cedar.values import LONG_MAX, LONG_MIN

__all__ = [
    "Datetime",
    "Duration",
    "datetime",
    "duration",
    "duration_since",
    "offset",
    "parse_datetime",
    "parse_duration",
    "to_date",
    "to_days",
    "to_hours",
    "to_milliseconds",
    "to_minutes",
    "to_seconds",
    "to_time",
]

MILLIS_PER_DAY = 86_400_000
EPOCH_TEXT = "1970-01-01"

_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{3}))?(?:Z|([+-])([0-9]{2})([0-9]{2})))?"
)
# The three stages Cedar checks in order, used only to word an error message.
_DATE_PREFIX = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HMS_PREFIX = re.compile(r"T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_DURATION = re.compile(
    r"(-?)(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DATETIME_SALT = 0x2545F491
_DURATION_SALT = 0x4F1BBCDD


class Datetime:
    """A Cedar `datetime` value.

    Attributes:
        millis: milliseconds since 1970-01-01T00:00:00Z, a 64-bit signed integer.
    """

    __slots__ = ("_text", "millis")

    cedar_type = "datetime"
    cedar_ordered = True  # `< <= > >=` compare two datetimes

    millis: int
    _text: str | None

    def __init__(self, text: str) -> None:
        """Parse ``text`` as Cedar's `datetime()` does; raise `EvaluationError` if invalid."""
        _set_datetime_millis(self, parse_datetime(text).millis)
        _set_datetime_text(self, text)

    @classmethod
    def from_millis(cls, millis: int) -> Datetime:
        """The datetime ``millis`` milliseconds after the epoch.

        Raises:
            ValueError: ``millis`` does not fit in 64 bits.
        """
        if not LONG_MIN <= millis <= LONG_MAX:
            raise ValueError(f"datetime `{millis}` ms does not fit in 64 bits")
        return _make_datetime(millis, None)

    @property
    def source(self) -> str | None:
        """The string this value was parsed from; None for a computed value."""
        return self._text

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"`Datetime` is immutable: cannot set `{name}`")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"`Datetime` is immutable: cannot delete `{name}`")

    def __eq__(self, other: object) -> bool:
        return other.__class__ is Datetime and self.millis == other.millis  # type: ignore[attr-defined]

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __lt__(self, other: object) -> bool:
        if other.__class__ is not Datetime:
            return NotImplemented
        return self.millis < other.millis  # type: ignore[attr-defined, no-any-return]

    def __le__(self, other: object) -> bool:
        if other.__class__ is not Datetime:
            return NotImplemented
        return self.millis <= other.millis  # type: ignore[attr-defined, no-any-return]

    def __gt__(self, other: object) -> bool:
        if other.__class__ is not Datetime:
            return NotImplemented
        return self.millis > other.millis  # type: ignore[attr-defined, no-any-return]

    def __ge__(self, other: object) -> bool:
        if other.__class__ is not Datetime:
            return NotImplemented
        return self.millis >= other.millis  # type: ignore[attr-defined, no-any-return]

    def __hash__(self) -> int:
        return hash(self.millis) ^ _DATETIME_SALT

    def __str__(self) -> str:
        if self._text is not None:
            return f'datetime("{self._text}")'
        # Cedar's own rendering of a computed datetime.
        return f'datetime("{EPOCH_TEXT}").offset(duration("{self.millis}ms"))'

    __repr__ = __str__

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make_datetime, (self.millis, self._text))


class Duration:
    """A Cedar `duration` value.

    Attributes:
        millis: the length in milliseconds, a 64-bit signed integer.
    """

    __slots__ = ("_text", "millis")

    cedar_type = "duration"
    cedar_ordered = True  # `< <= > >=` compare two durations

    millis: int
    _text: str | None

    def __init__(self, text: str) -> None:
        """Parse ``text`` as Cedar's `duration()` does; raise `EvaluationError` if invalid."""
        _set_duration_millis(self, parse_duration(text).millis)
        _set_duration_text(self, text)

    @classmethod
    def from_millis(cls, millis: int) -> Duration:
        """The duration of ``millis`` milliseconds.

        Raises:
            ValueError: ``millis`` does not fit in 64 bits.
        """
        if not LONG_MIN <= millis <= LONG_MAX:
            raise ValueError(f"duration `{millis}` ms does not fit in 64 bits")
        return _make_duration(millis, None)

    @property
    def source(self) -> str | None:
        """The string this value was parsed from; None for a computed value."""
        return self._text

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"`Duration` is immutable: cannot set `{name}`")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"`Duration` is immutable: cannot delete `{name}`")

    def __eq__(self, other: object) -> bool:
        return other.__class__ is Duration and self.millis == other.millis  # type: ignore[attr-defined]

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __lt__(self, other: object) -> bool:
        if other.__class__ is not Duration:
            return NotImplemented
        return self.millis < other.millis  # type: ignore[attr-defined, no-any-return]

    def __le__(self, other: object) -> bool:
        if other.__class__ is not Duration:
            return NotImplemented
        return self.millis <= other.millis  # type: ignore[attr-defined, no-any-return]

    def __gt__(self, other: object) -> bool:
        if other.__class__ is not Duration:
            return NotImplemented
        return self.millis > other.millis  # type: ignore[attr-defined, no-any-return]

    def __ge__(self, other: object) -> bool:
        if other.__class__ is not Duration:
            return NotImplemented
        return self.millis >= other.millis  # type: ignore[attr-defined, no-any-return]

    def __hash__(self) -> int:
        return hash(self.millis) ^ _DURATION_SALT

    def __str__(self) -> str:
        text = self._text if self._text is not None else f"{self.millis}ms"
        return f'duration("{text}")'

    __repr__ = __str__

    def __reduce__(self) -> tuple[Any, ...]:
        return (_make_duration, (self.millis, self._text))


_new = object.__new__
_set_datetime_millis = Datetime.__dict__["millis"].__set__
_set_datetime_text = Datetime.__dict__["_text"].__set__
_set_duration_millis = Duration.__dict__["millis"].__set__
_set_duration_text = Duration.__dict__["_text"].__set__


def _make_datetime(millis: int, text: str | None) -> Datetime:
    value = _new(Datetime)
    _set_datetime_millis(value, millis)
    _set_datetime_text(value, text)
    return value


def _make_duration(millis: int, text: str | None) -> Duration:
    value = _new(Duration)
    _set_duration_millis(value, millis)
    _set_duration_text(value, text)
    return value


# ---- parsing ---------------------------------------------------------------------------


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if month <= 2:
        year -= 1
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _is_valid_date(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return day <= 29
    return day <= _DAYS_IN_MONTH[month]


def _pattern_error(text: str) -> EvaluationError:
    """Word the error for a string that fails the pattern, naming the stage Cedar names."""
    if _DATE_PREFIX.match(text) is None:
        stage = "date pattern: a datetime must start with `YYYY-MM-DD`"
    elif _HMS_PREFIX.match(text, 10) is None:
        stage = "hour/minute/second pattern: expected `Thh:mm:ss` after the date"
    else:
        stage = (
            "millisecond and/or offset pattern: a datetime must end with "
            "`Z`, `.SSSZ`, `(+|-)hhmm` or `.SSS(+|-)hhmm`"
        )
    return EvaluationError(f"invalid datetime `{text}`: invalid {stage}", code=INVALID_DATETIME)


def parse_datetime(text: str) -> Datetime:
    """Parse a `datetime()` argument exactly as Cedar 4.12 does.

    Raises:
        EvaluationError: code ``invalid-datetime`` when Cedar rejects the string.
    """
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise _pattern_error(text)
    year_s, month_s, day_s, hour_s, minute_s, second_s, milli_s, sign, off_h_s, off_m_s = (
        match.groups()
    )
    year, month, day = int(year_s), int(month_s), int(day_s)
    if not _is_valid_date(year, month, day):
        raise EvaluationError(
            f"invalid datetime `{text}`: invalid date `{text[:10]}`", code=INVALID_DATETIME
        )
    millis = _days_from_civil(year, month, day) * MILLIS_PER_DAY
    if hour_s is None:
        return _make_datetime(millis, text)
    hour, minute, second = int(hour_s), int(minute_s), int(second_s)
    if hour >= 24 or minute >= 60 or second >= 60:
        raise EvaluationError(
            f"invalid datetime `{text}`: invalid hour/minute/second `{text[11:19]}`",
            code=INVALID_DATETIME,
        )
    millis += ((hour * 60 + minute) * 60 + second) * 1000
    if milli_s is not None:
        millis += int(milli_s)
    if sign is not None:
        off_h, off_m = int(off_h_s), int(off_m_s)
        if off_h >= 24 or off_m >= 60:
            raise EvaluationError(
                f"invalid datetime `{text}`: invalid offset range `{sign}{off_h_s}{off_m_s}`: "
                "hours must be below 24 and minutes below 60",
                code=INVALID_DATETIME,
            )
        shift = (off_h * 60 + off_m) * 60_000
        # A positive offset means local time is ahead of UTC: subtract it.
        millis = millis - shift if sign == "+" else millis + shift
    return _make_datetime(millis, text)


def parse_duration(text: str) -> Duration:
    """Parse a `duration()` argument exactly as Cedar 4.12 does.

    Raises:
        EvaluationError: code ``invalid-duration`` for a malformed string,
            ``extension-overflow`` when the total does not fit in 64 bits.
    """
    match = _DURATION.fullmatch(text)
    if match is None or text == "" or text == "-":
        raise EvaluationError(
            f"invalid duration pattern `{text}`: a duration is a sequence of quantity-unit "
            "pairs in the order d, h, m, s, ms with an optional leading `-`",
            code=INVALID_DURATION,
        )
    sign, days, hours, minutes, seconds, millis = match.groups()
    total = 0
    for quantity, unit in (
        (days, MILLIS_PER_DAY),
        (hours, 3_600_000),
        (minutes, 60_000),
        (seconds, 1000),
        (millis, 1),
    ):
        if quantity is not None:
            quantity = quantity.lstrip("0")
            # INVARIANT: bound the digits before int(): 20+ significant digits always
            # overflow, and Python refuses to convert very long digit strings at all.
            if len(quantity) > 19:
                raise _duration_overflow(text)
            if quantity:
                total += int(quantity) * unit
    if sign:
        total = -total
    if not LONG_MIN <= total <= LONG_MAX:
        raise _duration_overflow(text)
    return _make_duration(total, text)


def _duration_overflow(text: str) -> EvaluationError:
    return EvaluationError(
        f"duration `{text}` overflows its 64-bit millisecond representation", code=OVERFLOW
    )


# ---- Cedar functions and methods (receiver first) -------------------------------------




datetime = cached_constructor(
    parse_datetime, "Cedar `datetime(string)` (recently parsed strings are cached)."
)
_DATETIME_CACHE = datetime.cache  # type: ignore[attr-defined]


duration = cached_constructor(
    parse_duration, "Cedar `duration(string)` (recently parsed strings are cached)."
)
_DURATION_CACHE = duration.cache  # type: ignore[attr-defined]


def offset(value: Any, delta: Any) -> Datetime:
    """Cedar `datetime.offset(duration)`."""
    if value.__class__ is not Datetime:
        raise_type_error("datetime", value)
    if delta.__class__ is not Duration:
        raise_type_error("duration", delta)
    millis = value.millis + delta.millis
    if not LONG_MIN <= millis <= LONG_MAX:
        raise EvaluationError(
            f"overflow when adding an offset: `{value}.offset({delta})`", code=OVERFLOW
        )
    return _make_datetime(millis, None)


def duration_since(value: Any, other: Any) -> Duration:
    """Cedar `datetime.durationSince(datetime)`: ``value`` minus ``other``."""
    if value.__class__ is not Datetime:
        raise_type_error("datetime", value)
    if other.__class__ is not Datetime:
        raise_type_error("datetime", other)
    millis = value.millis - other.millis
    if not LONG_MIN <= millis <= LONG_MAX:
        raise EvaluationError(
            f"overflow when computing the duration between `{value}` and `{other}`", code=OVERFLOW
        )
    return _make_duration(millis, None)


def to_date(value: Any) -> Datetime:
    """Cedar `datetime.toDate()`: midnight UTC of the same day (rounding down)."""
    if value.__class__ is not Datetime:
        raise_type_error("datetime", value)
    millis = value.millis - value.millis % MILLIS_PER_DAY
    if millis < LONG_MIN:
        raise EvaluationError(f"overflow when computing the date of `{value}`", code=OVERFLOW)
    return _make_datetime(millis, None)


def to_time(value: Any) -> Duration:
    """Cedar `datetime.toTime()`: the time since midnight UTC, always non-negative."""
    if value.__class__ is not Datetime:
        raise_type_error("datetime", value)
    return _make_duration(value.millis % MILLIS_PER_DAY, None)


def _truncate(millis: int, unit: int) -> int:
    """Integer division rounding toward zero, as Rust's `/` does."""
    return millis // unit if millis >= 0 else -(-millis // unit)


def to_milliseconds(value: Any) -> int:
    """Cedar `duration.toMilliseconds()`."""
    if value.__class__ is not Duration:
        raise_type_error("duration", value)
    return value.millis  # type: ignore[no-any-return]


def to_seconds(value: Any) -> int:
    """Cedar `duration.toSeconds()`, rounding toward zero."""
    if value.__class__ is not Duration:
        raise_type_error("duration", value)
    return _truncate(value.millis, 1000)


def to_minutes(value: Any) -> int:
    """Cedar `duration.toMinutes()`, rounding toward zero."""
    if value.__class__ is not Duration:
        raise_type_error("duration", value)
    return _truncate(value.millis, 60_000)


def to_hours(value: Any) -> int:
    """Cedar `duration.toHours()`, rounding toward zero."""
    if value.__class__ is not Duration:
        raise_type_error("duration", value)
    return _truncate(value.millis, 3_600_000)


def to_days(value: Any) -> int:
    """Cedar `duration.toDays()`, rounding toward zero."""
    if value.__class__ is not Duration:
        raise_type_error("duration", value)
    return _truncate(value.millis, MILLIS_PER_DAY)
