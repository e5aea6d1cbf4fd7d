"""The root of RUNE's error hierarchy, source spans and caret-snippet rendering."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Diagnostic", "EngineError", "RuneError", "SourceSpan", "shown"]

SNIPPET_CONTEXT = 60
"""Characters of a long source line shown on each side of a caret snippet's span (and
the most carets drawn): a parse error on a 1 MiB one-line text shows ~130 characters,
not the whole line once per error."""


def shown(value: object, limit: int = 40) -> str:
    """``value`` as a message shows user input: text as it is, anything else by its repr,
    cut to about ``limit`` characters with `...` (input may be megabytes long), and
    never failing (a huge integer has no repr, a hostile object's repr may raise)."""
    if value.__class__ is int and value.bit_length() > 4 * limit:  # type: ignore[attr-defined]
        return f"<an integer of {value.bit_length():,} bits>"  # type: ignore[attr-defined]
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = f"{text[:limit]}..."
    return text


@dataclass(frozen=True, slots=True)
class SourceSpan:
    """A region of source text: 1-based line and column, end exclusive.

    ``offset``/``end_offset`` are 0-based character offsets into the source.
    """

    line: int
    column: int
    end_line: int
    end_column: int
    offset: int = 0
    end_offset: int = 0
    file: str | None = None

    def __str__(self) -> str:
        return f"{self.file or '<input>'}:{self.line}:{self.column}"

    @staticmethod
    def from_offsets(source: str, start: int, end: int, file: str | None = None) -> SourceSpan:
        """Build a span from character offsets into ``source``."""
        start = max(0, min(start, len(source)))
        end = max(start, min(end, len(source)))
        line = source.count("\n", 0, start) + 1
        column = start - (source.rfind("\n", 0, start) + 1) + 1
        end_line = source.count("\n", 0, end) + 1
        end_column = end - (source.rfind("\n", 0, end) + 1) + 1
        return SourceSpan(line, column, end_line, end_column, start, end, file)

    def _line_text(self, source: str) -> str:
        """The text of line ``line`` of ``source``, found from ``offset`` when that agrees
        with the line and column (no copy of the whole source per error), else by
        counting lines."""
        start = self.offset - (self.column - 1)
        if 0 <= start <= len(source) and (start == 0 or source[start - 1] == "\n") \
                and source.count("\n", 0, start) == self.line - 1:
            end = source.find("\n", start)
            text = source[start:] if end < 0 else source[start:end]
            return text.rstrip("\r")
        lines = source.splitlines() or [""]
        index = min(self.line, len(lines)) - 1
        return lines[index] if index >= 0 else ""

    def snippet(self, source: str) -> str:
        """Render the first line of the span with a caret underline (a long line is cut
        to about `SNIPPET_CONTEXT` characters each side of the span)."""
        text = self._line_text(source)
        width = 1
        if self.end_line == self.line:
            width = max(1, self.end_column - self.column)
        width = min(width, max(1, len(text) - self.column + 2), SNIPPET_CONTEXT)
        caret = self.column - 1
        if len(text) > 2 * SNIPPET_CONTEXT + width:
            # A long line is cut around the span, with `...` where text is left out.
            start = max(0, caret - SNIPPET_CONTEXT)
            end = min(len(text), caret + width + SNIPPET_CONTEXT)
            head = "..." if start > 0 else ""
            text = f"{head}{text[start:end]}{'...' if end < len(text) else ''}"
            caret = len(head) + caret - start
        gutter = f"{self.line} | "
        return f"{gutter}{text}\n{' ' * (len(gutter) + caret)}{'^' * width}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in user input, with a stable kebab-case ``code``."""

    code: str
    message: str
    span: SourceSpan | None = field(default=None, compare=False)
    path: str | None = None  # a JSON path such as `$[3].attrs.age`, where there is no text span
    source: str | None = field(default=None, compare=False, repr=False)  # text `span` is in

    def render(self, source: str | None = None) -> str:
        """Render as `file:line:col: error[code]: message` plus a caret snippet."""
        where = ""
        if self.span is not None:
            where = f"{self.span}: "
        elif self.path is not None:
            where = f"{self.path}: "
        head = f"{where}error[{self.code}]: {self.message}"
        source = source if source is not None else self.source
        if self.span is not None and source is not None:
            return f"{head}\n{self.span.snippet(source)}"
        return head


_DIGITS = re.compile(r"(\d+)")


def _natural(text: str) -> tuple[tuple[int, str], ...]:
    """Sort key of a JSON path or file name with its numbers compared as numbers:
    `$[9]` before `$[19]`, `f2.cedar` before `f10.cedar`."""
    # re.split with a group alternates text and digits, so the kinds line up between two
    # keys; a number is keyed by its length, then its digits (no int(): it may be huge).
    return tuple((len(piece.lstrip("0")), piece) if i % 2 else (-1, piece)
                 for i, piece in enumerate(_DIGITS.split(text)))


def _position(d: Diagnostic) -> tuple[tuple[tuple[int, str], ...], int]:
    """Sort key: by file, then by position in it (JSON-path diagnostics first, in the
    order of their paths, array indexes compared as numbers)."""
    if d.span is None:
        return (_natural(d.path or ""), -1)
    return (_natural(d.span.file or ""), d.span.offset)


class RuneError(Exception):
    """Root of every error RUNE raises on bad input or failed evaluation.

    Attributes:
        code: a stable kebab-case identifier for the kind of error.
        diagnostics: every problem found, sorted by position.
        source: the text the spans point into, when there is one.
    """

    code: str = "rune-error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        span: SourceSpan | None = None,
        path: str | None = None,
        diagnostics: tuple[Diagnostic, ...] | list[Diagnostic] | None = None,
        source: str | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if diagnostics:
            self.diagnostics = tuple(sorted(diagnostics, key=_position))
        else:
            self.diagnostics = (Diagnostic(self.code, message, span, path),)
        self.message = message
        self.source = source
        super().__init__(self.render())

    @property
    def span(self) -> SourceSpan | None:
        """The span of the first diagnostic, if any."""
        return self.diagnostics[0].span

    @property
    def path(self) -> str | None:
        """The JSON path of the first diagnostic, if any."""
        return self.diagnostics[0].path

    def render(self) -> str:
        """All diagnostics, each with a caret snippet where source is known, after a
        summary line when the error's own message is not the first diagnostic's."""
        body = "\n".join(d.render(self.source) for d in self.diagnostics)
        if self.diagnostics and self.message != self.diagnostics[0].message:
            return f"{self.message}\n{body}"
        return body


class EngineError(RuneError, ValueError):
    """A problem with the engine's inputs: derived data that is not valid Cedar, a bad
    query, a write that does not apply, a bundle that does not load. (Defined here, below
    both `rune.engine` and `rune.bundle`, which raise it.)"""

    code = "engine-error"
