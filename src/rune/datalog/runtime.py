"""Arithmetic and functor helpers called by generated rule code, per integer width.

Soufflé's `number` is a two's-complement integer of a fixed width (32 bits in its default
build) and `unsigned` its unsigned counterpart; `/` and `%` truncate toward zero like C.
`runtime_namespace(bits)` returns the helpers, bound to one width, that the code
generator refers to by name.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator
from functools import lru_cache

from rune.datalog.limits import Budget, check_budget

__all__ = ["EvaluationEnv", "RuntimeFailure", "format_float", "runtime_namespace"]


class RuntimeFailure(Exception):
    """A rule failed while being evaluated (division by zero, a bad `to_number` ...)."""


class EvaluationEnv:
    """Per-evaluation state shared by all rules: the `$` counter, `ord` ordinals, and the
    budget generated loops check (``None``: no limits)."""

    __slots__ = ("_counter", "budget", "ordinals")

    def __init__(self, budget: Budget | None = None) -> None:
        self._counter = itertools.count()
        self.ordinals: dict[str, int] = {}
        self.budget = budget

    def next_counter(self) -> int:
        """The next auto-increment value (0, 1, 2 ...)."""
        return next(self._counter)

    def ordinal(self, symbol: str) -> int:
        """The ordinal of a symbol: its rank in order of first use during evaluation."""
        ordinals = self.ordinals
        found = ordinals.get(symbol)
        if found is None:
            found = ordinals[symbol] = len(ordinals)
        return found


def format_float(value: float) -> str:
    """Print a float the way C++ streams do by default (`%g`, six significant digits)."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:g}"


@lru_cache(maxsize=256)
def _compiled_pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _match(pattern: str, text: str) -> bool:
    compiled = _compiled_pattern(pattern)
    return compiled is not None and compiled.fullmatch(text) is not None


def _substr(text: str, start: int, length: int) -> str:
    if start < 0 or start > len(text):
        return ""
    if length < 0:
        return text[start:]
    return text[start : start + length]


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise RuntimeFailure(f"`to_float` cannot convert `{text}`") from None


def _float_division(left: float, right: float) -> float:
    if right == 0:
        if left == 0 or math.isnan(left):
            return math.nan
        return math.copysign(math.inf, left) * math.copysign(1.0, right)
    return left / right


def _float_modulo(left: float, right: float) -> float:
    if right == 0:
        return math.nan
    return math.fmod(left, right)


def _float_power(left: float, right: float) -> float:
    try:
        return math.pow(left, right)
    except (OverflowError, ValueError):
        return math.inf if left > 0 else math.nan


def _float_range(start: float, stop: float, step: float | None) -> Iterator[float]:
    if step is None:
        step = 1.0 if stop >= start else -1.0
    if step == 0:
        if start != stop:
            yield start
        return
    value = start
    while (step > 0 and value < stop) or (step < 0 and value > stop):
        yield value
        value += step


def runtime_namespace(bits: int) -> dict[str, object]:
    """The helpers generated code uses, for `number`/`unsigned` of ``bits`` bits."""
    modulus = 1 << bits
    mask = modulus - 1
    half = 1 << (bits - 1)
    shift_mask = bits - 1

    def wrap_signed(value: int) -> int:
        return ((value + half) & mask) - half

    def wrap_unsigned(value: int) -> int:
        return value & mask

    def divide_signed(left: int, right: int) -> int:
        if right == 0:
            raise RuntimeFailure("division by zero")
        quotient = abs(left) // abs(right)
        if (left < 0) != (right < 0):
            quotient = -quotient
        return wrap_signed(quotient)

    def modulo_signed(left: int, right: int) -> int:
        if right == 0:
            raise RuntimeFailure("modulo by zero")
        remainder = abs(left) % abs(right)
        return -remainder if left < 0 else remainder

    def divide_unsigned(left: int, right: int) -> int:
        if right == 0:
            raise RuntimeFailure("division by zero")
        return left // right

    def modulo_unsigned(left: int, right: int) -> int:
        if right == 0:
            raise RuntimeFailure("modulo by zero")
        return left % right

    def power_signed(base: int, exponent: int) -> int:
        if exponent < 0:
            if base == 1:
                return 1
            if base == -1:
                return -1 if exponent % 2 else 1
            return 0
        return wrap_signed(pow(base, exponent, modulus))

    def power_unsigned(base: int, exponent: int) -> int:
        return pow(base, exponent, modulus)

    def shift_left_signed(value: int, amount: int) -> int:
        return wrap_signed(value << (amount & shift_mask))

    def shift_right_signed(value: int, amount: int) -> int:
        return value >> (amount & shift_mask)

    def shift_right_logical_signed(value: int, amount: int) -> int:
        return wrap_signed((value & mask) >> (amount & shift_mask))

    def shift_left_unsigned(value: int, amount: int) -> int:
        return (value << (amount & shift_mask)) & mask

    def shift_right_unsigned(value: int, amount: int) -> int:
        return value >> (amount & shift_mask)

    def parse_number(text: str) -> int:
        try:
            stripped = text.strip()
            lowered = stripped.lower()
            if lowered.startswith(("0x", "0b", "-0x", "-0b")):
                value = int(lowered, 0)
            else:
                value = int(stripped, 10)
        except ValueError:
            raise RuntimeFailure(f"`to_number` cannot convert `{text}`") from None
        return wrap_signed(value)

    def parse_unsigned(text: str) -> int:
        try:
            value = int(text.strip(), 0 if text.strip().lower().startswith(("0x", "0b")) else 10)
        except ValueError:
            raise RuntimeFailure(f"`to_unsigned` cannot convert `{text}`") from None
        return value & mask

    def float_to_signed(value: float) -> int:
        if math.isnan(value) or math.isinf(value):
            return -half
        return wrap_signed(int(value))

    def float_to_unsigned(value: float) -> int:
        if math.isnan(value) or math.isinf(value):
            return 0
        return int(value) & mask

    def to_string(value: object) -> str:
        if isinstance(value, float):
            return format_float(value)
        return str(value)

    def integer_range(start: int, stop: int, step: int | None = None) -> Iterator[int]:
        if step is None:
            step = 1 if stop >= start else -1
        if step == 0:
            return iter((start,) if start != stop else ())
        return iter(range(start, stop, step))

    def any_range(start: float, stop: float, step: float | None = None) -> Iterator[float]:
        if isinstance(start, float) or isinstance(stop, float) or isinstance(step, float):
            return _float_range(float(start), float(stop), None if step is None else float(step))
        return integer_range(int(start), int(stop), None if step is None else int(step))

    helpers: dict[str, Callable[..., object] | int] = {
        "_ws": wrap_signed,
        "_wu": wrap_unsigned,
        "_div_s": divide_signed,
        "_mod_s": modulo_signed,
        "_div_u": divide_unsigned,
        "_mod_u": modulo_unsigned,
        "_div_f": _float_division,
        "_mod_f": _float_modulo,
        "_pow_s": power_signed,
        "_pow_u": power_unsigned,
        "_pow_f": _float_power,
        "_shl_s": shift_left_signed,
        "_shr_s": shift_right_signed,
        "_shru_s": shift_right_logical_signed,
        "_shl_u": shift_left_unsigned,
        "_shr_u": shift_right_unsigned,
        "_to_number": parse_number,
        "_to_unsigned": parse_unsigned,
        "_to_float": _parse_float,
        "_ftoi": float_to_signed,
        "_ftou": float_to_unsigned,
        "_to_string": to_string,
        "_substr": _substr,
        "_match": _match,
        "_range": any_range,
        "_RuntimeFailure": RuntimeFailure,
        "_check": check_budget,
        "_MASK": mask,
        "_HALF": half,
    }
    return dict(helpers)
