"""Checking what callers pass to the API: program text, input facts, query patterns.

Every mistake is a `DatalogError` with code `invalid-input` whose message names the
argument (or the relation and row) and what was expected: the API raises no `TypeError`,
`ValueError` or other raw Python exception on bad arguments, and never stores a value a
column cannot hold. The rules:

* program text is a `str` (not `bytes`, not ``None``);
* facts are a mapping from relation names to iterables of rows, each row a `tuple` or a
  `list` (a `str` is not a row: it would be split into characters) with one value per
  column;
* a `number` column takes an `int` in the signed range of the program's width, an
  `unsigned` column an `int` in `[0, 2**bits)`: out-of-range values are refused, never
  wrapped; a `float` column takes a `float` or an `int` a double can hold; a `symbol`
  column a `str`;
* `bool` is refused in every column, although Python makes it an `int`: `True` as a
  number is almost always a mistake, and Soufflé has no booleans (write 1 or 0);
* a query pattern is a `tuple` or `list` with one value (or ``None``) per column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rune.datalog.analysis import RelationInfo
from rune.datalog.errors import DatalogError, ErrorCode
from rune.datalog.relation import Row
from rune.datalog.types import Kind

__all__ = ["check_facts", "check_pattern", "check_text", "convert_rows"]

# How much of a bad value an error message shows.
_SHOWN = 60


def check_text(text: object, argument: str = "text") -> str:
    """``text`` if it is program text (a `str`)."""
    if not isinstance(text, str):
        hint = " (decode it first)" if isinstance(text, bytes | bytearray) else ""
        raise _invalid(f"`{argument}` must be a str of Datalog source, not {_type(text)}{hint}")
    return text


def check_facts(facts: object, argument: str = "facts") -> Mapping[str, Any]:
    """``facts`` if it is a mapping from relation names (its rows are checked later)."""
    if not isinstance(facts, Mapping):
        raise _invalid(
            f"`{argument}` must be a mapping from relation names to rows, not {_type(facts)}"
        )
    for name in facts:
        if not isinstance(name, str):
            raise _invalid(f"`{argument}` has a key {_show(name)}: relation names are str")
    return facts


def convert_rows(name: str, info: RelationInfo, rows: object, bits: int) -> set[Row]:
    """The rows given for relation ``name``, checked against its columns' kinds (and
    floats given as ints converted).

    Raises:
        DatalogError: (`invalid-input`) naming the relation, the row and the column.
    """
    if isinstance(rows, str | bytes | bytearray) or not isinstance(rows, Iterable):
        raise _invalid(
            f"the rows of `{name}` must be an iterable of tuples or lists, not {_type(rows)}"
        )
    kinds = info.kinds
    arity = len(kinds)
    checks = [_column_check(kind, bits) for kind in kinds]
    floats = Kind.FLOAT in kinds
    converted: set[Row] = set()
    for row in rows:
        if type(row) is tuple:
            values: tuple[Any, ...] = row
        elif type(row) is list:
            values = tuple(row)
        else:
            raise _invalid(
                f"a row of `{name}` must be a tuple or a list, not {_type(row)}: {_show(row)}"
            )
        if len(values) != arity:
            raise _invalid(
                f"input fact {_show(values)} for `{name}` has {len(values)} values, "
                f"expected {arity}"
            )
        for position, (value, check) in enumerate(zip(values, checks, strict=True), 1):
            problem = check(value)
            if problem is not None:
                kind = kinds[position - 1]
                raise _invalid(
                    f"input fact {_show(values)} for `{name}`: value {_show(value)} in "
                    f"column {position} is not a valid {kind} ({bits}-bit): {problem}"
                )
        if floats:
            values = tuple(
                float(v) if k is Kind.FLOAT else v for v, k in zip(values, kinds, strict=True)
            )
        converted.add(values)
    return converted


def check_pattern(name: str, arity: int, pattern: object) -> Sequence[Any]:
    """``pattern`` if it is a query pattern for a relation of ``arity`` columns."""
    if type(pattern) not in (tuple, list):
        raise _invalid(
            f"the query pattern for `{name}` must be a tuple or a list (a value or None "
            f"per column), not {_type(pattern)}"
        )
    assert isinstance(pattern, tuple | list)
    if len(pattern) != arity:
        raise _invalid(
            f"query pattern for `{name}` has {len(pattern)} values, expected {arity}"
        )
    for column, value in enumerate(pattern):
        try:
            hash(value)
        except TypeError:
            raise _invalid(
                f"query pattern for `{name}`: column {column + 1} is a {_type(value)}; "
                f"give a value of the column's type, or None for any"
            ) from None
    return pattern


def _column_check(kind: Kind | None, bits: int) -> Any:
    """A function returning why a value does not fit a column of ``kind``, or ``None``."""
    if kind is Kind.SYMBOL:
        return lambda v: None if type(v) is str else f"a {_type(v)}, not a str"
    if kind is Kind.FLOAT:
        return _float_problem
    if kind is Kind.UNSIGNED:
        low, high = 0, (1 << bits) - 1
    elif kind is Kind.NUMBER:
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        return lambda v: None  # a column whose type is broken (already reported)

    def integer_problem(value: Any) -> str | None:
        if type(value) is not int:
            if type(value) is bool:
                return "a bool, not an int (write 1 or 0)"
            return f"a {_type(value)}, not an int"
        if not low <= value <= high:
            return f"out of range [{low}, {high}]"
        return None

    return integer_problem


def _float_problem(value: Any) -> str | None:
    if type(value) is float:
        return None
    if type(value) is int:
        try:
            float(value)
        except OverflowError:
            return "too large for a float"
        return None
    if type(value) is bool:
        return "a bool, not a float (write 1.0 or 0.0)"
    return f"a {_type(value)}, not a float"


def _type(value: object) -> str:
    return "None" if value is None else type(value).__name__


def _show(value: object) -> str:
    """``repr(value)``, shortened (a hostile value may be huge)."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__, or an int too long to print
        return f"<{_type(value)}>"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _invalid(message: str) -> DatalogError:
    return DatalogError(message, code=ErrorCode.INVALID_INPUT)
