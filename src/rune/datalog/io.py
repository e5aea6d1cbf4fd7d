"""Soufflé's default fact IO: tab-separated `<rel>.facts` in, `<rel>.csv` out.

Options of `.input`/`.output` directives that are honoured: `IO=file|stdout`, `filename=`
(relative to the fact or output directory), `delimiter=`, `headers=true`, `rfc4180=true`
(quoted fields), and for `.output`, `IO=stdout` printing in Soufflé's framed format.
Otherwise symbols are read and written as is (no quoting or escaping), numbers in
decimal (hexadecimal `0x..` and binary `0b..` are accepted on input), and floats the way
C++ streams print them.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from rune.datalog.ast import Directive
from rune.datalog.errors import DatalogError, ErrorCode
from rune.datalog.relation import Row
from rune.datalog.runtime import format_float
from rune.datalog.types import Kind
from rune.errors import SourceSpan

__all__ = [
    "format_row",
    "input_path",
    "output_path",
    "parse_rows",
    "read_facts",
    "value_parser",
    "write_rows",
]

Parser = Callable[[str], Any]


def value_parser(kind: Kind | None, bits: int) -> Parser:
    """A function parsing one field of a column of ``kind``; raises `ValueError`.

    Integers are decimal, `0x` hexadecimal or `0b` binary, with an optional sign, and
    must fit the column (they are never wrapped); floats must be finite unless written
    `inf` or `nan` (a value beyond a double is refused, not made infinite).
    """
    if kind is Kind.SYMBOL or kind is None:
        return str
    if kind is Kind.FLOAT:
        return _parse_float
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    if kind is Kind.UNSIGNED:
        low, high = 0, (1 << bits) - 1

    def parse_integer(text: str) -> int:
        stripped = text.strip()
        found = _INTEGER.fullmatch(stripped.lower())
        if found is None:
            raise ValueError("malformed value")
        digits = found.group("digits").lstrip("0")
        value = None
        if len(digits) <= _MAX_DIGITS[found.group("base") or ""]:
            value = int(stripped.lower(), 0 if found.group("base") else 10)
        if value is None or not low <= value <= high:
            shown = stripped if len(stripped) <= 40 else stripped[:37] + "..."
            raise ValueError(f"`{shown}` is out of range for a {bits}-bit {kind}")
        return value

    return parse_integer


# An integer field: sign, base prefix, digits (Python's `int` alone would also take `1_0`).
_INTEGER = re.compile(r"[+-]?(?P<base>0x|0b)?(?P<digits>[0-9a-f]+)")
# At most so many significant digits below 2**64, by base prefix (longer is out of range,
# and is refused before Python converts thousands of digits).
_MAX_DIGITS = {"": 20, "0x": 16, "0b": 64}


def _parse_float(text: str) -> float:
    stripped = text.strip()
    if "_" in stripped:
        raise ValueError("malformed value")
    value = float(stripped)
    if math.isinf(value) and "inf" not in stripped.lower():
        raise ValueError(f"`{stripped}` is out of range for a float")
    return value


def parse_rows(
    lines: Iterable[str],
    kinds: Sequence[Kind | None],
    bits: int,
    *,
    delimiter: str = "\t",
    origin: str = "<facts>",
    first_line: int = 1,
    relation: str | None = None,
) -> set[Row]:
    """Parse lines of delimited fields into rows of a relation with column ``kinds``.

    Raises:
        DatalogError: (`invalid-facts`) naming the file, line and column at fault.
    """
    arity = len(kinds)
    rows: set[Row] = set()
    if arity == 0:
        if any(True for _ in lines):
            rows.add(())
        return rows
    parsers = [value_parser(kind, bits) for kind in kinds]
    all_symbols = all(p is str for p in parsers)
    for number, line in enumerate(lines, first_line):
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
        fields = line.split(delimiter) if arity > 1 else [line]
        if len(fields) != arity:
            if not line.strip():
                continue
            raise _bad_line(
                origin,
                number,
                f"expected {arity} fields separated by {delimiter!r}, found {len(fields)}",
                relation,
            )
        if all_symbols:
            rows.add(tuple(fields))
            continue
        try:
            rows.add(tuple(parse(field) for parse, field in zip(parsers, fields, strict=True)))
        except ValueError as error:
            detail = str(error) if "out of range" in str(error) else "malformed value"
            shown = line if len(line) <= 80 else line[:77] + "..."
            raise _bad_line(origin, number, f"{detail} in `{shown}`", relation) from None
    return rows


def _bad_line(
    origin: str, line: int, message: str, relation: str | None = None
) -> DatalogError:
    span = SourceSpan(line, 1, line, 1, file=origin)
    what = f"invalid facts for `{relation}`" if relation else "invalid facts"
    return DatalogError(f"{what}: {message}", code=ErrorCode.INVALID_FACTS, span=span)


def input_path(directive: Directive, fact_dir: Path) -> Path:
    """Where an `.input` directive reads from."""
    name = directive.parameter("filename") or f"{directive.relation}.facts"
    path = Path(name)
    return path if path.is_absolute() else fact_dir / path


def output_path(directive: Directive, output_dir: Path) -> Path:
    """Where an `.output` directive writes to."""
    name = directive.parameter("filename") or f"{directive.relation}.csv"
    path = Path(name)
    return path if path.is_absolute() else output_dir / path


def read_facts(
    directive: Directive, fact_dir: Path, kinds: Sequence[Kind | None], bits: int
) -> set[Row]:
    """Read the rows of an `.input` relation from its file.

    Raises:
        DatalogError: (`io-error`) when the file cannot be read, (`invalid-facts`) when a
            line does not parse.
    """
    path = input_path(directive, fact_dir)
    delimiter = _delimiter(directive)
    skip_header = (directive.parameter("headers") or "false").lower() == "true"
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            lines = handle.readlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise DatalogError(
            f"cannot read facts of `{directive.relation}` from `{path}`: {reason}",
            code=ErrorCode.IO,
            span=directive.span,
        ) from None
    first = 1
    if skip_header and lines:
        lines = lines[1:]
        first = 2
    if (directive.parameter("rfc4180") or "false").lower() == "true":
        # Quoted fields: re-join each parsed record with the delimiter (tab-free data).
        records = csv.reader(lines, delimiter=delimiter, strict=True)
        try:
            lines = ["\t".join(record) for record in records]
        except csv.Error as error:
            line = records.line_num + first - 1
            raise _bad_line(str(path), line, str(error), directive.relation) from None
        delimiter = "\t"
    return parse_rows(
        lines,
        kinds,
        bits,
        delimiter=delimiter,
        origin=str(path),
        first_line=first,
        relation=directive.relation,
    )


def format_row(
    row: Row, kinds: Sequence[Kind | None], delimiter: str = "\t", *, rfc4180: bool = False
) -> str:
    """One output line (without newline); a nullary tuple prints as `()`.

    With ``rfc4180``, symbols containing the delimiter, a quote or a newline are quoted.
    """
    if not row:
        return "()"
    fields = [
        format_float(value) if kind is Kind.FLOAT else str(value)
        for value, kind in zip(row, kinds, strict=True)
    ]
    if rfc4180:
        fields = [
            '"' + f.replace('"', '""') + '"' if delimiter in f or '"' in f or "\n" in f else f
            for f in fields
        ]
    return delimiter.join(fields)


def write_rows(
    handle: TextIO,
    rows: Iterable[Row],
    kinds: Sequence[Kind | None],
    *,
    delimiter: str = "\t",
    header: Sequence[str] | None = None,
    rfc4180: bool = False,
) -> None:
    """Write rows sorted, one per line."""
    if header is not None:
        handle.write(delimiter.join(header) + "\n")
    for row in sorted(rows):
        handle.write(format_row(row, kinds, delimiter, rfc4180=rfc4180) + "\n")


def _delimiter(directive: Directive) -> str:
    value = directive.parameter("delimiter")
    if value is None:
        return "\t"
    return value.encode("utf-8").decode("unicode_escape") if "\\" in value else value
