"""A relation as the engine stores it: a set of tuples plus hash indexes on column sets."""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import Any

__all__ = ["Index", "Relation", "Row"]

Row = tuple[Any, ...]
# Maps a key (the value of one column, or a tuple of values of several) to matching rows.
Index = dict[Any, list[Row]]


class Relation:
    """The tuples of one relation and the indexes rule plans asked for.

    An index on columns ``(c1, ..., ck)`` maps the key (the bare value when k = 1, a tuple
    otherwise) to the list of rows having it.

    INVARIANT: every index holds exactly the rows of ``tuples``; rows are only added
    through `insert` (or `add`), which update all indexes.
    """

    __slots__ = ("arity", "indexes", "name", "tuples")

    def __init__(self, name: str, arity: int, rows: Iterable[Row] = ()) -> None:
        self.name = name
        self.arity = arity
        self.tuples: set[Row] = set(rows)
        self.indexes: dict[tuple[int, ...], Index] = {}

    def __len__(self) -> int:
        return len(self.tuples)

    def __repr__(self) -> str:
        return f"Relation({self.name!r}, {len(self.tuples)} tuples)"

    def index(self, columns: tuple[int, ...]) -> Index:
        """The index on ``columns``, built on first request and kept up to date after."""
        found = self.indexes.get(columns)
        if found is None:
            found = {}
            _extend_index(found, columns, self.tuples)
            self.indexes[columns] = found
        return found

    def insert(self, rows: set[Row]) -> None:
        """Add ``rows``, which must not already be present."""
        if not rows:
            return
        self.tuples |= rows
        for columns, index in self.indexes.items():
            _extend_index(index, columns, rows)

    def add(self, rows: Iterable[Row]) -> set[Row]:
        """Add any rows not already present; returns the ones that were new."""
        fresh = set(rows) - self.tuples
        self.insert(fresh)
        return fresh

    def lookup(self, columns: tuple[int, ...], key: Any) -> list[Row]:
        """The rows whose ``columns`` hold ``key`` (a bare value for one column)."""
        if not columns:
            return list(self.tuples)
        return self.index(columns).get(key, [])


def _extend_index(index: Index, columns: tuple[int, ...], rows: Iterable[Row]) -> None:
    key_of = itemgetter(*columns) if columns else (lambda row: ())
    get = index.get
    for row in rows:
        key = key_of(row)
        bucket = get(key)
        if bucket is None:
            index[key] = [row]
        else:
            bucket.append(row)
