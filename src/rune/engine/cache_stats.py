"""How often an engine's decision cache answers: hits and misses, for a metrics endpoint.

`Engine.authorize` keeps the last decision per (principal, action, resource) of the
current version and returns that same object when an identical request comes again. A
`CacheCounter` sees the decisions a caller receives and counts a hit when the object is
the one the same key returned before, so it needs nothing but the public API. (An engine
counter would be exact and cheaper; the server's report describes that hook. This one
undercounts in one case only: a cached "ask" or metered decision that enforcement copies.)
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["CacheCounter", "CacheCounts"]

_MAX_KEYS = 1 << 12  # as the engine's cache: a hot working set, cleared when full


@dataclass(frozen=True, slots=True)
class CacheCounts:
    """Decisions served from the engine's cache (``hits``) and computed (``misses``)."""

    hits: int
    misses: int

    @property
    def ratio(self) -> float:
        """Hits over all decisions seen (0.0 before the first)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class CacheCounter:
    """Counts cache hits among the decisions an engine returns (one thread at a time)."""

    __slots__ = ("_last", "_snapshot", "hits", "misses")

    def __init__(self) -> None:
        self._last: dict[Hashable, Any] = {}
        self._snapshot: Any = None
        self.hits = 0
        self.misses = 0

    def observe(self, key: Hashable, decision: Any) -> None:
        """Count ``decision``, returned by the engine for ``key`` (the request's
        principal, action and resource as given, with its context when it has one)."""
        snapshot = decision[7]
        if snapshot is not self._snapshot:
            # A new version: its cache starts empty, and the old decisions (with their
            # snapshot) must not be kept alive here.
            self._last.clear()
            self._snapshot = snapshot
        last = self._last
        if last.get(key) is decision:
            self.hits += 1
            return
        self.misses += 1
        if len(last) >= _MAX_KEYS:
            last.clear()
        last[key] = decision

    def counts(self) -> CacheCounts:
        """The counts so far."""
        return CacheCounts(self.hits, self.misses)
