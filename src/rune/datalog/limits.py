"""Every resource limit of the Datalog layer, in one place, and the budget that enforces them.

Hostile or mistaken input must end in a clear `DatalogError`, never in a hang, an
exhausted memory or a raw Python exception. The limits that guarantee it:

===========================  ===============  ==============================================
limit                        default          why
===========================  ===============  ==============================================
`MAX_PROGRAM_CHARS`          16,000,000       program text, all `#include`d files together;
                                              parsing and compiling cost time and memory in
                                              proportion (error `program-too-large`)
`MAX_NESTING_DEPTH`          256              brackets, prefix operators, `^` exponents,
                                              functor arguments, aggregates and negations
                                              nested in one another (error
                                              `nesting-too-deep`); a flat chain such as
                                              `1 + 1 + ... + 1` is one level however long,
                                              and is compiled in pieces, never recursively
`MAX_CLAUSE_EXPANSION`       10,000           clauses one rule becomes once its `;`
                                              disjunctions are multiplied out (and its heads
                                              split); `(a ; b), (c ; d), ...` doubles with
                                              each group (error `rule-too-large`)
`Limits.max_iterations`      2,000,000        semi-naive rounds of one recursive stratum
`Limits.max_tuples`          20,000,000       tuples the rules derive in one evaluation,
                                              update or scoped call (inputs not counted)
`Limits.max_seconds`         none             wall-clock time of one evaluation, update or
                                              scoped call
===========================  ===============  ==============================================

The three `Limits` stop derivations that do not terminate, such as `n(x + 1) :- n(x).`
(Datalog with arithmetic is not guaranteed to), or that grow without bound; hitting one
raises `DatalogError` with code `derivation-limit` naming the limit and the relations
being derived. They are checked after every rule call and, inside a rule call, every
`CHECK_INTERVAL` iterations of the generated loops, so a single long join is stopped too:
the time limit fires within a few milliseconds of the deadline, the tuple limit within
`CHECK_INTERVAL` tuples of being passed. A service evaluating rules per request should
pass a small budget, e.g. ``Limits(max_tuples=10_000, max_seconds=0.05)``, to
`Result.scoped` (bound once) or to `ScopedRules.evaluate` (per call).

Integer arithmetic is *not* limited: as in Soufflé, `number` and `unsigned` wrap around
at their width (64 bits, or 32 with ``number_bits=32``) on overflow. Integer literals
and input facts outside their column's range are refused, never wrapped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from typing import Any

from rune.datalog.errors import DatalogError, ErrorCode

__all__ = [
    "CHECK_INTERVAL",
    "MAX_CLAUSE_EXPANSION",
    "MAX_NESTING_DEPTH",
    "MAX_PROGRAM_CHARS",
    "Budget",
    "Limits",
]

MAX_PROGRAM_CHARS = 16_000_000
MAX_NESTING_DEPTH = 256
MAX_CLAUSE_EXPANSION = 10_000

# Iterations of generated rule loops between two checks of the limits: a check costs
# about a clock read; ~1,000 iterations take 0.05-1 ms, so the clock is read rarely
# and a deadline is still noticed within about a millisecond.
CHECK_INTERVAL = 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that stop a derivation that would not terminate (e.g. `n(x+1) :- n(x).`).

    ``None`` disables a bound. See `rune.datalog.limits` for how they are enforced.

    Attributes:
        max_iterations: semi-naive rounds allowed in any one recursive stratum.
        max_tuples: tuples the rules may derive in one evaluation, one update, or one
            `ScopedRules.evaluate` call (input facts do not count).
        max_seconds: wall-clock time allowed for one evaluation, update or call.

    Raises:
        DatalogError: (`invalid-input`) a bound that is not a positive number.
    """

    max_iterations: int | None = 2_000_000
    max_tuples: int | None = 20_000_000
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_iterations", "max_tuples"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 0):
                raise DatalogError(
                    f"`Limits.{name}` must be a non-negative int or None, not {value!r}",
                    code=ErrorCode.INVALID_INPUT,
                )
        seconds = self.max_seconds
        if seconds is not None and (
            type(seconds) not in (int, float) or not 0 <= seconds < float("inf")
        ):
            raise DatalogError(
                f"`Limits.max_seconds` must be a non-negative number or None, not {seconds!r}",
                code=ErrorCode.INVALID_INPUT,
            )


class Budget:
    """The limits of one evaluation as it runs: a deadline and a count of derived tuples.

    Generated rule code calls `check` every `CHECK_INTERVAL` loop iterations with the set
    it is adding to; the engines call `count` after each rule call and `round` after each
    semi-naive round. ``relations`` names what is being derived, for the error message;
    ``counting`` is cleared while rules fill sets that are not derivations (incremental
    maintenance's over-deletion), so that `check` does not count them.
    """

    __slots__ = (
        "counting",
        "deadline",
        "derived",
        "limits",
        "max_tuples",
        "relations",
        "started",
        "what",
    )

    def __init__(self, limits: Limits, what: str = "evaluation") -> None:
        self.limits = limits
        self.what = what
        self.started = time.perf_counter()
        seconds = limits.max_seconds
        self.deadline: float | None = None if seconds is None else self.started + seconds
        self.max_tuples: int | None = limits.max_tuples
        self.derived = 0
        self.relations: Iterable[str] = ()
        self.counting = True

    def check(self, out: Any) -> int:
        """Raise if a limit is passed (counting ``out``'s rows as derived); else return
        how many iterations may run before the next check."""
        deadline = self.deadline
        if deadline is not None and time.perf_counter() > deadline:
            raise self.out_of_time()
        maximum = self.max_tuples
        if (
            maximum is not None
            and self.counting
            and isinstance(out, Sized)
            and self.derived + len(out) > maximum
        ):
            raise self.too_many_tuples()
        return CHECK_INTERVAL

    def count(self, rows: int) -> None:
        """Record ``rows`` newly derived tuples; raise past `Limits.max_tuples`."""
        self.derived += rows
        if self.max_tuples is not None and self.derived > self.max_tuples:
            raise self.too_many_tuples()

    def round(self, rounds: int) -> None:
        """After semi-naive round number ``rounds``: raise past the iteration or time limit."""
        limit = self.limits.max_iterations
        if limit is not None and rounds > limit:
            raise self.error(
                f"{self.what} stopped after {limit} iterations (`Limits.max_iterations`) "
                f"of the recursive stratum {self.names()}: it may not terminate (arithmetic "
                "in a recursive head?); raise the limit if it should"
            )
        deadline = self.deadline
        if deadline is not None and time.perf_counter() > deadline:
            raise self.out_of_time()

    def names(self) -> str:
        """The relations being derived, for a message."""
        return ", ".join(f"`{name}`" for name in self.relations) or "(none)"

    def out_of_time(self) -> DatalogError:
        """The error for a passed deadline."""
        seconds = self.limits.max_seconds
        return self.error(
            f"{self.what} stopped after its time limit of {seconds:g} s "
            f"(`Limits.max_seconds`) while deriving {self.names()}"
        )

    def too_many_tuples(self) -> DatalogError:
        """The error for too many derived tuples."""
        return self.error(
            f"{self.what} stopped: more than {self.max_tuples} tuples derived "
            f"(`Limits.max_tuples`) while deriving {self.names()}; it may not terminate "
            "(arithmetic in a recursive head?); raise the limit if it should"
        )

    @staticmethod
    def error(message: str) -> DatalogError:
        """A `derivation-limit` error."""
        return DatalogError(message, code=ErrorCode.DERIVATION_LIMIT)


def check_budget(env: Any, out: Any) -> int:
    """What generated code calls every `CHECK_INTERVAL` loop iterations (as `_check`):
    ``env`` is a `Budget` (or has one as ``env.budget``), or ``None`` for no limits."""
    budget = getattr(env, "budget", env)
    if budget is None:
        return CHECK_INTERVAL
    result: int = budget.check(out)
    return result
