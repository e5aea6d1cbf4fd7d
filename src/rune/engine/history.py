"""History retention: recorded actions older than a horizon are retracted as time passes.

The horizon trails the *history's* clock: the time of the newest recorded action, but
never later than the engine's clock (so one record stamped in the future cannot expire
the rest), minus ``retention_seconds``. It moves only when actions are recorded, and
each move retracts, in the same batch and version as the new record, exactly the
actions that fell behind it: memory and record latency stay flat however long the
engine runs, and a replayed log expires the same rows (the batch carries an
`ExpireHistory` change).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from rune.engine.writes import history_rows
from rune.store.changes import Change, ExpireHistory, Record
from rune.store.overlay import Overlay

__all__ = ["DEFAULT_RETENTION_SECONDS", "Retention"]

Row = tuple[Any, ...]

# One day: long enough for the windows rules usually count over (a rate per minute or
# hour, a budget per day), short enough that an agent recording an action a second keeps
# fewer than 100,000 rows. Rules counting over a longer window need a longer retention.
DEFAULT_RETENTION_SECONDS = 86400.0


class Retention:
    """Which history rows a batch of records expires (owned by an engine, under its lock).

    Args:
        seconds: how long recorded actions are kept.
        overlay: the engine's written state (its records).
        base: history rows the bundle itself holds (`performed`/`spent` facts files), as
            (relation, row) pairs; they expire like recorded ones.
    """

    def __init__(self, seconds: float, overlay: Overlay,
                 base: Iterable[tuple[str, Row]] = ()) -> None:
        self.seconds = seconds
        self._overlay = overlay
        # (at, relation, row), sorted: a bundle's rows never change, so a cursor walks them.
        self._base = sorted(((row[-2], name, row) for name, row in base), key=_first)
        self._cursor = 0
        latest = [r.at for r in overlay.records.values()] + [at for at, _, _ in self._base]
        self.latest = max(latest, default=None)

    def expire(self, changes: Sequence[Change], now: float
               ) -> tuple[list[Change], list[tuple[str, Row]], int | None]:
        """``changes`` plus an `ExpireHistory` when their records move the horizon, the
        history rows it retracts, and the horizon (None when nothing expires)."""
        newest = oldest = None
        for change in changes:
            if change.__class__ is Record:
                at = change.at  # type: ignore[union-attr]
                if newest is None:
                    newest = oldest = at
                elif at > newest:
                    newest = at
                elif at < oldest:  # type: ignore[operator]
                    oldest = at
        if newest is None:
            return list(changes), [], None
        latest = newest if self.latest is None or newest > self.latest else self.latest
        clock = math.floor(now) if math.isfinite(now) else latest
        before = min(latest, clock) - math.ceil(self.seconds)
        if oldest >= before and self._overlay.oldest_at(before) is None and (  # type: ignore[operator]
                self._cursor >= len(self._base) or self._base[self._cursor][0] >= before):
            return list(changes), [], None  # nothing falls behind the horizon (the usual case)
        rows = [pair for record in self._overlay.expiring(before)
                for pair in history_rows(record)]
        cursor = self._cursor
        base = self._base
        while cursor < len(base) and base[cursor][0] < before:
            rows.append((base[cursor][1], base[cursor][2]))
            cursor += 1
        # Records of this very batch older than the horizon expire with it too.
        rows += [pair for c in changes if c.__class__ is Record and c.at < before  # type: ignore[union-attr]
                 for pair in history_rows(c)]  # type: ignore[arg-type]
        if not rows:
            return list(changes), [], None
        return [*changes, ExpireHistory(before)], rows, before

    def committed(self, changes: Sequence[Change]) -> None:
        """Advance past a batch `expire` prepared, once it is published."""
        for change in changes:
            if change.__class__ is Record:
                at = change.at  # type: ignore[union-attr]
                if self.latest is None or at > self.latest:
                    self.latest = at
            elif change.__class__ is ExpireHistory:
                before = change.before  # type: ignore[union-attr]
                base = self._base
                while self._cursor < len(base) and base[self._cursor][0] < before:
                    self._cursor += 1


def _first(item: tuple[int, str, Row]) -> int:
    return item[0]
