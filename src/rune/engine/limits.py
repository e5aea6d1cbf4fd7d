"""Sliding-window rate limits and budgets, enforced without a global lock.

Each key has its own window and its own lock; creating a window uses `dict.setdefault`,
which is atomic, so two threads deciding for different keys never wait on each other.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

__all__ = ["Limiter", "SlidingWindows"]


class Limiter(Protocol):
    """What enforces an engine's rate limits and budgets (`Engine.set_limiter`)."""

    def try_acquire(self, key: str, limit: int, window_seconds: float, now: float,
                    amount: int = 1) -> bool:
        """Take ``amount`` of ``limit`` for the window ending at ``now``, if it is left."""
        ...

    def release(self, key: str, now: float, amount: int = 1) -> None:
        """Give back what `try_acquire` took at ``now`` (the request was refused later)."""
        ...


class _Window:
    __slots__ = ("events", "lock", "total")

    def __init__(self) -> None:
        self.events: deque[tuple[float, int]] = deque()
        self.total = 0
        self.lock = threading.Lock()


class SlidingWindows:
    """Counters of (time, amount) events per key over a sliding time window."""

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}

    def _window(self, key: str) -> _Window:
        w = self._windows.get(key)
        if w is None:
            w = self._windows.setdefault(key, _Window())
        return w

    def try_acquire(self, key: str, limit: int, window_seconds: float, now: float,
                    amount: int = 1) -> bool:
        """Record ``amount`` at ``now`` if the window's total stays within ``limit``."""
        w = self._windows.get(key)
        if w is None:
            w = self._window(key)
        with w.lock:
            events = w.events
            cutoff = now - window_seconds
            while events and events[0][0] <= cutoff:
                w.total -= events.popleft()[1]
            if w.total + amount > limit:
                return False
            events.append((now, amount))
            w.total += amount
            return True

    def release(self, key: str, now: float, amount: int = 1) -> None:
        """Give back the most recent event of ``amount`` recorded at ``now`` for ``key``."""
        w = self._windows.get(key)
        if w is None:
            return
        with w.lock:
            for i in range(len(w.events) - 1, -1, -1):
                if w.events[i] == (now, amount):
                    del w.events[i]
                    w.total -= amount
                    return

    def used(self, key: str, window_seconds: float, now: float) -> int:
        """The total recorded for ``key`` within the window ending at ``now``."""
        w = self._windows.get(key)
        if w is None:
            return 0
        with w.lock:
            cutoff = now - window_seconds
            return sum(a for t, a in w.events if t > cutoff)

    def reset(self) -> None:
        """Forget every window (for tests and for `Engine.reload` when asked)."""
        self._windows = {}
