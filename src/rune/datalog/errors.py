"""Errors raised by the Datalog front end, analyses, fact IO and engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rune.errors import Diagnostic, RuneError, SourceSpan

__all__ = ["DatalogError", "ErrorCode", "render_warning"]


class ErrorCode:
    """The stable kebab-case codes of every Datalog diagnostic (a closed set of names)."""

    SYNTAX = "syntax-error"
    INCLUDE = "include-error"
    UNSUPPORTED = "unsupported-feature"
    DUPLICATE_DECLARATION = "duplicate-declaration"
    UNDEFINED_TYPE = "undefined-type"
    CYCLIC_TYPE = "cyclic-type"
    UNDECLARED_RELATION = "undeclared-relation"
    ARITY_MISMATCH = "arity-mismatch"
    TYPE_MISMATCH = "type-mismatch"
    VARIABLE_IN_FACT = "variable-in-fact"
    UNDERSCORE_IN_HEAD = "underscore-in-head"
    UNDERSCORE_IN_EXPRESSION = "underscore-in-expression"
    UNGROUNDED_VARIABLE = "ungrounded-variable"
    MUTUALLY_DEPENDENT_AGGREGATES = "mutually-dependent-aggregates"
    UNSTRATIFIABLE_NEGATION = "unstratifiable-negation"
    UNSTRATIFIABLE_AGGREGATION = "unstratifiable-aggregation"
    COUNTER_IN_RECURSION = "counter-in-recursion"
    NUMBER_OUT_OF_RANGE = "number-out-of-range"
    NESTING_TOO_DEEP = "nesting-too-deep"
    PROGRAM_TOO_LARGE = "program-too-large"
    RULE_TOO_LARGE = "rule-too-large"
    INVALID_FACTS = "invalid-facts"
    INVALID_INPUT = "invalid-input"
    IO = "io-error"
    DERIVATION_LIMIT = "derivation-limit"
    EVALUATION = "evaluation-error"
    # Hook for rune.datalog.explain: asked to explain a row the relation does not hold.
    MISSING_FACT = "missing-fact"


class DatalogError(RuneError, ValueError):
    """Base of every error raised by `rune.datalog`: bad programs, bad facts, runaway derivations.

    A program may span several files (`#include`); ``sources`` maps each file name (or
    ``None`` for text given directly) to its text so every diagnostic renders its own snippet.

    Attributes:
        sources: the text of every file the spans point into.
    """

    code = "datalog-error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        span: SourceSpan | None = None,
        diagnostics: Sequence[Diagnostic] | None = None,
        source: str | None = None,
        sources: Mapping[str | None, str] | None = None,
    ) -> None:
        self.sources: dict[str | None, str] = dict(sources or {})
        if source is not None and None not in self.sources:
            self.sources[None] = source
        ordered = sorted(diagnostics, key=_position) if diagnostics else None
        if ordered:
            code = code or ordered[0].code
        super().__init__(message, code=code, span=span, diagnostics=ordered, source=source)
        if ordered:
            # INVARIANT: RuneError orders by offset alone; spans from several files need the
            # file as the first key, so restore our order and re-render the message.
            self.diagnostics = tuple(ordered)
            self.args = (self.render(),)

    def render(self) -> str:
        """All diagnostics, each with a caret snippet from the file its span points into."""
        lines = []
        for diagnostic in self.diagnostics:
            span = diagnostic.span
            text = None
            if span is not None:
                text = self.sources.get(span.file, self.source if span.file is None else None)
            lines.append(diagnostic.render(text))
        return "\n".join(lines)

    @classmethod
    def from_diagnostics(
        cls,
        diagnostics: Sequence[Diagnostic],
        sources: Mapping[str | None, str] | None = None,
    ) -> DatalogError:
        """Build one error reporting every diagnostic, sorted by file and position."""
        ordered = sorted(diagnostics, key=_position)
        first = ordered[0]
        summary = first.message if len(ordered) == 1 else f"{len(ordered)} errors"
        return cls(summary, code=first.code, diagnostics=ordered, sources=sources)


def _position(diagnostic: Diagnostic) -> tuple[str, int]:
    span = diagnostic.span
    if span is None:
        return ("", -1)
    return (span.file or "", span.offset)


def render_warning(diagnostic: Diagnostic, sources: Mapping[str | None, str]) -> str:
    """Render a warning like an error (`file:line:col: warning[code]: ...` and a snippet)."""
    span = diagnostic.span
    head = f"warning[{diagnostic.code}]: {diagnostic.message}"
    if span is None:
        return head
    text = sources.get(span.file)
    head = f"{span}: {head}"
    return head if text is None else f"{head}\n{span.snippet(text)}"
