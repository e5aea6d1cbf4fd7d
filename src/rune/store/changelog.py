"""The one door between an engine and durable storage: a change log.

An engine appends each batch of changes it is about to publish, and on start replays
what the log holds over its bundle. Anything that can append and replay batches in
order can keep an engine's state: `rune.store.sqlite.SQLiteChangeLog` is the embedded
default; a replicated log (a NATS JetStream stream, say) implements the same protocol
with the stream's sequence as the position.

Positions are opaque increasing integers given by the log. `replay(after)` yields every
batch appended after ``after``; a log may *compact* what lies before a position into one
checkpoint entry (``checkpoint=True``) whose changes rebuild the whole written state on
top of the bundle alone, so a consumer that receives one starts over from the bundle.

A *shared* log is one several engines append to (`Engine.share`): the log decides one
order, and every engine applies every batch in that order, its own included, exactly
once by position. Such a log stamps each batch with the time it stored it
(`LogEntry.time`), so that every engine expires history at the same batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rune.store.changes import Change

__all__ = ["ChangeLog", "LogEntry", "MemoryChangeLog"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One batch as a log returns it.

    Attributes:
        position: where the log stored it (increasing; a shared log's sequence number).
        changes: the batch.
        checkpoint: the changes rebuild the whole written state (start over from the
            bundle before applying them).
        time: seconds since the epoch at which the log stored the batch, when the log
            says (a shared log does: engines applying its batches use it as their clock).
    """

    position: int
    changes: tuple[Change, ...]
    checkpoint: bool = False
    time: float | None = None


@runtime_checkable
class ChangeLog(Protocol):
    """Where an engine's acknowledged changes live."""

    def append(self, changes: Sequence[Change]) -> int:
        """Store one batch; return its position once it is as durable as the log promises.

        Raises:
            StoreError: the batch could not be stored (the engine then publishes nothing).
        """
        ...

    def replay(self, after: int = 0) -> Iterator[LogEntry]:
        """The batches appended after position ``after``, in order.

        Raises:
            StoreError: the log cannot be read (corrupt, foreign, or for another bundle).
        """
        ...

    def close(self) -> None:
        """Release the log's resources; later calls may fail."""
        ...


class MemoryChangeLog:
    """A change log in memory: for tests, and for sharing changes between engines in one
    process (give it a ``clock`` to stamp batches, as a shared log must). Every batch is
    kept (nothing is compacted)."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._entries: list[LogEntry] = []
        self._clock = clock
        self._lock = threading.Lock()

    def append(self, changes: Sequence[Change]) -> int:
        with self._lock:  # engines sharing the log append from their own threads
            position = len(self._entries) + 1
            time = None if self._clock is None else self._clock()
            self._entries.append(LogEntry(position, tuple(changes), time=time))
            return position

    def replay(self, after: int = 0) -> Iterator[LogEntry]:
        return iter(self._entries[max(after, 0):])

    def close(self) -> None:
        pass
