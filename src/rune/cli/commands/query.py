"""`rune query`: Datalog queries on a bundle's store (the facts its rules derive from
its entities, facts and, with `--state`, what was written and recorded).

`relation(arg, ...)`: a quoted string or a whole number binds its column; a name or `_`
leaves it free. Rows are printed as a table whose columns are named after the query's
arguments; symbols are shown as rules hold them (a uid is `Agent::\\"a1\\"`). Relations
derived per request (`config`, `obligation`...) are empty here unless their rules do
not read the request. Exit 0, 1 on an error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from rune.cli._common import (
    bundle_argument,
    clock_option,
    echo_json,
    format_option,
    load_engine,
    state_option,
)
from rune.cli._tables import print_table
from rune.cli.main import ExitCode

__all__ = ["command"]

_ARGUMENT = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[^,]+?)\s*(?:,|$)')


@click.command("query")
@bundle_argument
@click.argument("query")
@format_option
@clock_option
@state_option
def command(bundle: Path, query: str, output_format: str, now: str | None,
            state: Path | None) -> int:
    """Run the Datalog QUERY, e.g. 'derived_parent(a, g)', on BUNDLE's store."""
    engine = load_engine(bundle, now=now, state=state)
    rows = engine.query(query)
    columns = _columns(query)
    if output_format == "json":
        echo_json({"query": query, "columns": columns, "rows": [list(r) for r in rows]})
        return int(ExitCode.OK)
    if len(columns) != (len(rows[0]) if rows else len(columns)):
        columns = [f"c{i}" for i in range(1, len(rows[0]) + 1)]
    print_table(f"{query.strip()}: {len(rows)} row(s)", columns,
                [[_show(v) for v in row] for row in rows])
    return int(ExitCode.OK)


def _columns(query: str) -> list[str]:
    """The query's arguments, as written, name the columns."""
    start, end = query.find("("), query.rfind(")")
    if start < 0 or end < start:
        return []
    body = query[start + 1 : end]
    return [m.group(1) for m in _ARGUMENT.finditer(body) if m.group(1)] if body.strip() else []


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return json.dumps(value)
