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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rune.store.changes import Change

__all__ = ["ChangeLog", "LogEntry", "MemoryChangeLog"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One batch as a log returns it."""

    position: int
    changes: tuple[Change, ...]
    checkpoint: bool = False


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
    process. Every batch is kept (nothing is compacted)."""

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []

    def append(self, changes: Sequence[Change]) -> int:
        position = len(self._entries) + 1
        self._entries.append(LogEntry(position, tuple(changes)))
        return position

    def replay(self, after: int = 0) -> Iterator[LogEntry]:
        return iter(self._entries[after:])

    def close(self) -> None:
        pass
