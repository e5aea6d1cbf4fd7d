"""Tables and progress bars (rich), readable on an 80-column terminal and stable in a pipe."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

__all__ = ["console", "percentile", "print_table", "progress"]

T = TypeVar("T")


def console(*, err: bool = False) -> Any:
    """A rich console on stdout (or stderr): colours only on a terminal, at most 80
    columns wide, and exactly 80 in a pipe so output does not depend on the caller."""
    from rich.console import Console

    stream = sys.stderr if err else sys.stdout
    terminal = stream.isatty()
    width = 80
    if terminal:
        import shutil

        width = min(80, shutil.get_terminal_size((80, 24)).columns)
    return Console(file=stream, width=width, highlight=False, soft_wrap=False,
                   color_system="auto" if terminal else None, force_terminal=terminal)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
                right: Sequence[int] = ()) -> None:
    """A table with a title; the columns at indexes ``right`` are right-aligned."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left",
                  title_style=None, header_style=None, pad_edge=False)
    for index, name in enumerate(columns):
        table.add_column(name, justify="right" if index in right else "left",
                         overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console().print(table)


def progress(items: Sequence[T], description: str) -> Iterator[T]:
    """``items``, with a progress bar on stderr when it is a terminal."""
    if not sys.stderr.isatty() or len(items) < 2:
        yield from items
        return
    from rich.progress import Progress

    with Progress(console=console(err=True), transient=True) as bar:
        task = bar.add_task(description, total=len(items))
        for item in items:
            yield item
            bar.advance(task)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` percentile of already sorted values (nearest rank)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]
