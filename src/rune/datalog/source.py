"""Program text with its file name, and fast offset-to-line/column spans."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from rune.errors import SourceSpan

__all__ = ["SourceFile"]


@dataclass(frozen=True, slots=True)
class SourceFile:
    """The text of one program file; ``name`` is ``None`` for text given directly."""

    name: str | None
    text: str
    _line_starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0]
        find = self.text.find
        position = find("\n")
        while position >= 0:
            starts.append(position + 1)
            position = find("\n", position + 1)
        object.__setattr__(self, "_line_starts", tuple(starts))

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based (line, column) of a 0-based character offset."""
        index = bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def span(self, start: int, end: int) -> SourceSpan:
        """The span of characters ``start`` (inclusive) to ``end`` (exclusive)."""
        start = max(0, min(start, len(self.text)))
        end = max(start, min(end, len(self.text)))
        line, column = self.position(start)
        end_line, end_column = self.position(end)
        return SourceSpan(line, column, end_line, end_column, start, end, self.name)
