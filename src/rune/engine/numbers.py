"""Checks for the numbers that bound security: times, durations, amounts.

A TTL of `nan` never expires and a negative retention keeps nothing: every such number
must be finite and in range, or it is refused with an error naming the argument.
"""

from __future__ import annotations

import math
from typing import Any

from rune.engine.errors import EngineError
from rune.errors import shown

__all__ = ["MAX_APPROVAL_TTL_SECONDS", "MAX_TIMESTAMP", "positive_seconds", "timestamp"]

# A timestamp must fit a Datalog number and a float exactly (2**53 s is ~285 million years).
MAX_TIMESTAMP = 2**53
# An approval lasts at most ten years: a TTL beyond that is a mistake, not a policy.
MAX_APPROVAL_TTL_SECONDS = 10 * 365 * 86400.0


def _is_number(value: Any) -> bool:
    return value.__class__ in (int, float)  # bool is refused: `True` is no duration


def _is_finite(value: int | float) -> bool:
    # `math.isfinite` converts an int to float: OverflowError past ~1.8e308.
    return value.__class__ is int or math.isfinite(value)


def positive_seconds(value: Any, name: str, *, maximum: float | None = None) -> float:
    """``value`` as a finite, positive number of seconds (at most ``maximum``).

    Raises:
        EngineError: (`invalid-number`) naming the argument.
    """
    if not _is_number(value):
        raise EngineError(f"`{name}` must be a number of seconds, not "
                          f"{type(value).__name__}", code="invalid-number", path=f"$.{name}")
    if not _is_finite(value) or value <= 0:
        raise EngineError(f"`{name}` must be a finite number of seconds above zero, not "
                          f"`{shown(value)}`", code="invalid-number", path=f"$.{name}")
    if maximum is not None and value > maximum:
        raise EngineError(f"`{name}` must be at most {maximum:g} seconds, "
                          f"not `{shown(value)}`",
                          code="invalid-number", path=f"$.{name}")
    return float(value)


def timestamp(value: Any, name: str) -> int:
    if not _is_number(value) or not _is_finite(value) or not 0 <= value < MAX_TIMESTAMP:
        raise EngineError(f"`{name}` must be a time in seconds since the epoch (a finite "
                          f"number from 0 to 2**53), not `{shown(value)}`",
                          code="invalid-number", path=f"$.{name}")
    return int(value)
