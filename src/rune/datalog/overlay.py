"""Relations defined as a shared base plus a small change set: cheap immutable versions.

An incremental update or a per-request extension must leave the `Result` it starts from
valid, yet copying a relation of a million tuples to change one would cost more than
the update itself. An `OverlayRelation` is instead a *base* `Relation` (shared with the
results it came from, and never modified) plus the rows ``added`` to it and the rows
``removed`` from it. Its ``tuples`` and indexes are views that merge the three, so the
generated rule code and `Result` queries read it like any relation.

Changed index buckets are copied, never modified in place, so overlays forked from one
another share every bucket they did not change. When the change set grows past about
``4 * sqrt(len(base))`` rows the overlay is *compacted* into a plain relation (with its
indexes carried over), so reads stay fast and an update's cost stays proportional to its
own changes plus an amortised share of the compaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from itertools import chain
from math import isqrt
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

from rune.datalog.relation import Index, Relation, Row

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values

__all__ = ["OverlayIndex", "OverlayRelation", "OverlaySet", "new_version"]

# Relations up to this many rows are copied rather than overlaid: copying is cheap and
# plain sets and dicts are the fastest to read.
SMALL_RELATION = 2048

_T = TypeVar("_T")


# A relation kept as a store of versions that rule code never reads (the engine's input
# facts and recorded history): overlays from this size up, and kept small.
SMALL_STORED_RELATION = 64


def compaction_threshold(base_size: int, *, read: bool = True) -> int:
    """How many changed rows an overlay on ``base_size`` rows may carry before compaction.

    Each fork copies the change set (cost ~ threshold) and each compaction copies the base
    (cost ~ base_size, once per ~threshold changes): ``sqrt`` balances the two. A relation
    rule code reads (``read``) keeps a larger change set, since every compaction also
    merges its indexes and reads are fastest on plain sets; a stored one balances the
    two copies alone (``sqrt(2 * base_size)``), so a version costs a few hundred row
    copies at most.
    """
    if read:
        return max(1024, 4 * isqrt(base_size))
    return max(SMALL_STORED_RELATION, isqrt(2 * base_size))


class OverlaySet(AbstractSet[Row]):
    """The rows of ``base`` minus ``removed`` plus ``added``, as a read-only set.

    INVARIANT: ``added`` is disjoint from ``base`` and ``removed`` is a subset of it.
    """

    __slots__ = ("_added", "_base", "_removed")

    def __init__(self, base: set[Row], added: set[Row], removed: set[Row]) -> None:
        self._base = base
        self._added = added
        self._removed = removed

    def __contains__(self, row: object) -> bool:
        return row in self._added or (row in self._base and row not in self._removed)

    def __iter__(self) -> Iterator[Row]:
        if not self._removed:
            return chain(self._added, self._base)
        removed = self._removed
        return chain(self._added, (row for row in self._base if row not in removed))

    def __len__(self) -> int:
        return len(self._base) - len(self._removed) + len(self._added)

    def __repr__(self) -> str:
        return f"OverlaySet({len(self)} rows)"

    @classmethod
    def _from_iterable(cls, rows: Iterable[_T]) -> AbstractSet[_T]:
        # Set operators (`&`, `|`, `-`) build plain sets, not overlays.
        return set(rows)


class OverlayIndex(dict[Any, list[Row]]):
    """An index of an overlay: the base relation's index with some buckets replaced.

    The dict itself holds the replaced buckets (an empty list where every row of a key
    was removed); every other key is looked up in ``base``. Generated rule code calls
    `get`, `in` and `bool` on an index, which are cheap here; iterating it or taking its
    length builds the merged index first.
    """

    __slots__ = ("base",)

    def __init__(self, base: Index, changed: dict[Any, list[Row]] | None = None) -> None:
        super().__init__(changed or {})
        self.base = base

    def get(self, key: Any, default: Any = None) -> Any:
        bucket = dict.get(self, key)
        if bucket is None:
            return self.base.get(key, default)
        return bucket if bucket else default

    def __contains__(self, key: object) -> bool:
        bucket = dict.get(self, key)
        if bucket is None:
            return key in self.base
        return bool(bucket)

    def __getitem__(self, key: Any) -> list[Row]:
        bucket = self.get(key)
        if not bucket:
            raise KeyError(key)
        result: list[Row] = bucket
        return result

    def __bool__(self) -> bool:
        # Generated code tests `if index:` for a negation with only wildcards (an index
        # on no columns). Stops at the first key that has rows.
        if any(super().values()):
            return True
        changed = super().keys()
        return any(key not in changed for key in self.base)

    # Iterating or sizing an overlay index merges it first (O(keys)); the engine never
    # does, but a plain dict would allow it.

    def __iter__(self) -> Iterator[Any]:
        return iter(self.merged())

    def __len__(self) -> int:
        return len(self.merged())

    def keys(self) -> dict_keys[Any, list[Row]]:
        return self.merged().keys()

    def values(self) -> dict_values[Any, list[Row]]:
        return self.merged().values()

    def items(self) -> dict_items[Any, list[Row]]:
        return self.merged().items()

    def changed_buckets(self) -> dict[Any, list[Row]]:
        """A copy of the replaced buckets (the lists themselves are shared)."""
        return dict(dict.items(self))

    def merged(self) -> Index:
        """A plain index: a copy of the base's with the replaced buckets applied."""
        index = dict(self.base)
        for key, bucket in dict.items(self):
            if bucket:
                index[key] = bucket
            else:
                index.pop(key, None)
        return index


class OverlayRelation(Relation):
    """A relation stored as a shared ``base`` plus the rows ``added`` and ``removed``.

    It is built mutable (`insert`, `remove`) while an update computes it, then published
    in a `Result` and never modified again; the next update `fork`s it.

    INVARIANT: ``base`` is a plain `Relation` that nothing modifies any more; ``added``
    is disjoint from its rows and ``removed`` a subset of them; each index in
    ``indexes`` is an `OverlayIndex` over the base's index on the same columns.
    """

    __slots__ = ("added", "base", "removed")

    def __init__(self, base: Relation, added: set[Row], removed: set[Row]) -> None:
        super().__init__(base.name, base.arity)
        self.base = base
        self.added = added
        self.removed = removed
        # The tuple set is a view merging base and changes; everything that reads
        # `Relation.tuples` only tests membership, iterates or takes the length.
        self.tuples = OverlaySet(base.tuples, added, removed)  # type: ignore[assignment]

    @classmethod
    def fork(cls, relation: Relation) -> OverlayRelation:
        """A new, mutable overlay with the rows of ``relation`` (which stays unchanged)."""
        if not isinstance(relation, OverlayRelation):
            return cls(relation, set(), set())
        forked = cls(relation.base, set(relation.added), set(relation.removed))
        # A snapshot of the index table: another thread may be adding an index to it.
        for columns, index in tuple(relation.indexes.items()):
            assert isinstance(index, OverlayIndex)
            forked.indexes[columns] = OverlayIndex(index.base, index.changed_buckets())
        return forked

    def __repr__(self) -> str:
        return (
            f"OverlayRelation({self.name!r}, {len(self)} tuples: base {len(self.base)} "
            f"+{len(self.added)} -{len(self.removed)})"
        )

    @property
    def change_count(self) -> int:
        """How many rows differ from the base."""
        return len(self.added) + len(self.removed)

    def index(self, columns: tuple[int, ...]) -> Index:
        """The index on ``columns``: the base's (built once there) with changed buckets."""
        found = self.indexes.get(columns)
        if found is None:
            found = OverlayIndex(self.base.index(columns))
            if self.added or self.removed:
                _replace_buckets(found, columns, self.added, self.removed)
            self.indexes[columns] = found
        return found

    def insert(self, rows: AbstractSet[Row]) -> None:
        """Add ``rows``, which must not be present (only while the overlay is being built)."""
        if not rows:
            return
        back = rows & self.removed
        if back:
            self.removed -= back
            self.added |= rows - back
        else:
            self.added |= rows
        for columns, index in self.indexes.items():
            assert isinstance(index, OverlayIndex)
            _replace_buckets(index, columns, rows, set())

    def remove(self, rows: AbstractSet[Row]) -> None:
        """Remove ``rows``, which must be present (only while the overlay is being built)."""
        if not rows:
            return
        dropped = rows & self.added
        if dropped:
            self.added -= dropped
            self.removed |= rows - dropped
        else:
            self.removed |= rows
        for columns, index in self.indexes.items():
            assert isinstance(index, OverlayIndex)
            _replace_buckets(index, columns, set(), rows)

    def add(self, rows: Iterable[Row]) -> set[Row]:
        """Add any rows not already present; returns the ones that were new."""
        fresh = {row for row in rows if row not in self.tuples}
        self.insert(fresh)
        return fresh

    def lookup(self, columns: tuple[int, ...], key: Any) -> list[Row]:
        """The rows whose ``columns`` hold ``key`` (a bare value for one column)."""
        if not columns:
            return list(self.tuples)
        found: list[Row] = self.index(columns).get(key, [])
        return found

    def materialize(self) -> Relation:
        """A plain relation with the same rows, carrying over every index built so far."""
        rows = set(self.base.tuples)
        rows -= self.removed
        rows |= self.added
        plain = Relation(self.name, self.arity)
        plain.tuples = rows
        for columns, index in self.indexes.items():
            assert isinstance(index, OverlayIndex)
            # INVARIANT: buckets are shared with the base's index, never modified in place:
            # a relation published in a result is never inserted into again.
            plain.indexes[columns] = index.merged()
        return plain

    def publish(self, *, read: bool = True) -> Relation:
        """The relation to publish in a result: this overlay, or a compacted plain copy
        (``read``: see `compaction_threshold`)."""
        size = len(self.base)
        if size <= (SMALL_RELATION if read else SMALL_STORED_RELATION) \
                or self.change_count > compaction_threshold(size, read=read):
            return self.materialize()
        return self


def new_version(relation: Relation, added: AbstractSet[Row], removed: AbstractSet[Row], *,
                read: bool = True) -> Relation:
    """``relation`` with ``removed`` taken out and ``added`` put in, leaving it unchanged.

    ``added`` must be disjoint from the relation and ``removed`` a subset of it. Small
    relations are copied; large ones become (or stay) overlays. ``read`` says rule code
    reads the relation: ``False`` (a store of versions, such as recorded history written
    one row at a time) overlays much smaller relations and compacts sooner, so that a
    one-row change costs a bounded copy rather than a copy of the whole relation.
    """
    if not added and not removed:
        return relation
    if not read and not relation.indexes:
        return _stored_version(relation, added, removed)
    small = SMALL_RELATION if read else SMALL_STORED_RELATION
    if len(relation) <= small and not isinstance(relation, OverlayRelation):
        rows = set(relation.tuples)
        rows -= removed
        rows |= added
        plain = Relation(relation.name, relation.arity)
        plain.tuples = rows
        return plain
    overlay = OverlayRelation.fork(relation)
    overlay.remove(removed)
    overlay.insert(added)
    return overlay.publish(read=read)


def _stored_version(relation: Relation, added: AbstractSet[Row], removed: AbstractSet[Row]
                    ) -> Relation:
    """`new_version` of a stored relation without indexes: the new change sets are built
    directly (a set operation each), sharing what did not change with ``relation``."""
    if isinstance(relation, OverlayRelation):
        base, old_added, old_removed = relation.base, relation.added, relation.removed
    else:
        base, old_added, old_removed = relation, set(), set()
    # A removed row leaves `added` if it was added here, else joins `removed`; an added row
    # leaves `removed` if the base has it (removed earlier), else joins `added`.
    if removed:
        new_added = old_added - removed
        new_removed = old_removed | (removed - old_added)
    else:
        new_added, new_removed = old_added, old_removed
    if added:
        if new_removed:
            back = added & new_removed
            if back:
                new_removed = new_removed - back
                added = added - back
        new_added = new_added | added
    size = len(base.tuples)
    if size <= SMALL_STORED_RELATION or \
            len(new_added) + len(new_removed) > compaction_threshold(size, read=False):
        plain = Relation(relation.name, relation.arity)
        rows = base.tuples - new_removed if new_removed else set(base.tuples)
        rows |= new_added
        plain.tuples = rows
        return plain
    # INVARIANT: published relations are never modified, so the change sets may be shared
    # with the version before (a fork for an update copies them first).
    return OverlayRelation(base, new_added, new_removed)


def _replace_buckets(
    index: OverlayIndex, columns: tuple[int, ...], added: Iterable[Row],
    removed: AbstractSet[Row]
) -> None:
    """Give every key touched by ``added``/``removed`` a new bucket (copy on write)."""
    key_of = itemgetter(*columns) if columns else (lambda row: ())
    grouped: dict[Any, list[Row]] = {}
    for row in added:
        grouped.setdefault(key_of(row), []).append(row)
    touched = {key_of(row) for row in removed}
    for key in touched:
        grouped.setdefault(key, [])
    for key, rows in grouped.items():
        current: list[Row] = index.get(key, [])
        if key in touched:
            bucket = [row for row in current if row not in removed]
            bucket.extend(rows)
        else:
            bucket = [*current, *rows]
        dict.__setitem__(index, key, bucket)
