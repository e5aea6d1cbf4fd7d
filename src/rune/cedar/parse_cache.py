"""Parsing policy files again, statement by statement: only changed statements are parsed.

A bundle loaded again (a hot reload, a node swapping in a published version) mostly
holds the policies it held before. `PolicyParseCache.parse` gives exactly what
`PolicySet.from_str` gives for a file, but parses only the statements (the text from
a policy's first token to its `;`) whose text it has not met before; a statement met before
takes its policies from then, moved to where the statement is now: a policy keeps only
its text, where it starts and a few facts read from its tree (see `rune.cedar.policy_set`),
and all of these but the place depend on the statement's text alone.

A file whose text is unchanged is not even split again. A file with any problem is
parsed whole by `PolicySet.from_str`, so its errors are exactly those. Each cache keeps
what one load met; the next load's cache starts from it and keeps only what that load
met in turn, so a cache holds about one bundle's statements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rune.cedar import ast as syntax
from rune.cedar.lexer import _WHITESPACE
from rune.cedar.limits import checked_text
from rune.cedar.parser import parse_statement
from rune.cedar.policy_set import Policy, PolicySet, Template
from rune.errors import SourceSpan

__all__ = ["PolicyParseCache"]

# What can hide a `;` from the lexer: a comment and a string literal (the lexer's own
# patterns), found left to right; the `;` matched outside them end statements. A
# statement cut wrongly (an unterminated string, say) does not parse cleanly on its own,
# and the file is then parsed whole. `_BLANK` is what the lexer skips before a token.
_SEPARATOR = re.compile(r'//[^\n\r]*|"[^"\\]*(?:\\.[^"\\]*)*"|;')
_BLANK = re.compile(rf"(?:[{_WHITESPACE}]+|//[^\n\r]*)*")


@dataclass(frozen=True, slots=True)
class _Parsed:
    """One policy or template of a statement, with its span in the statement alone."""

    template: bool
    effect: syntax.Effect
    slots: frozenset[str]
    annotations: tuple[tuple[str, str], ...]
    text: str
    span: SourceSpan  # from line 1, column 1, offset 0 of the statement, no file


class PolicyParseCache:
    """Parsed policy files and statements by their text (see the module docstring).

    Args:
        previous: the cache of the previous load, whose entries this one may take (it is
            only read).
    """

    __slots__ = ("_files", "_old_files", "_old_statements", "_statements", "parsed",
                 "reused")

    def __init__(self, previous: PolicyParseCache | None = None) -> None:
        self._old_files: dict[tuple[str | None, str], tuple[PolicySet, tuple[str, ...]]] = (
            previous._files if previous is not None else {})
        self._old_statements: dict[str, tuple[_Parsed, ...]] = (
            previous._statements if previous is not None else {})
        # (file, text) -> its policies and the texts of its statements
        self._files: dict[tuple[str | None, str], tuple[PolicySet, tuple[str, ...]]] = {}
        self._statements: dict[str, tuple[_Parsed, ...]] = {}
        self.parsed = 0  # statements parsed by this cache
        self.reused = 0  # statements taken from the previous cache (or met twice)

    def settle(self) -> None:
        """Drop the previous cache: this load is done, and what it met is kept here."""
        self._old_files = {}
        self._old_statements = {}

    def parse(self, text: str, file: str | None = None) -> PolicySet:
        """`PolicySet.from_str(text, file=file)`, parsing only statements not met before.

        Raises:
            TypeError, ParseError: as `PolicySet.from_str`.
        """
        text = checked_text(text, "PolicySet.from_str", file=file)
        key = (file, text)
        found = self._files.get(key)
        if found is None:
            found = self._old_files.get(key)
            if found is not None:  # the next load may meet these statements elsewhere
                old = self._old_statements
                self._statements.update((s, old[s]) for s in found[1] if s in old)
        if found is None:
            found = self._split(text, file) or (PolicySet.from_str(text, file=file), ())
        self._files[key] = found
        return found[0]

    def _split(self, text: str, file: str | None
               ) -> tuple[PolicySet, tuple[str, ...]] | None:
        """The policies of ``text`` statement by statement, or None when some statement
        does not parse cleanly on its own (the caller parses the whole text)."""
        policies: dict[str, Policy] = {}
        templates: dict[str, Template] = {}
        # `start` is where the statement's first token is (the blanks and comments before
        # it are not part of its text: they may change without it); `seen` is how far
        # `line` and `column` have been counted.
        start = seen = 0
        line = column = 1
        count = 0
        statements: list[str] = []
        for match in _SEPARATOR.finditer(text):
            if match.group() != ";":
                continue
            end = match.end()
            start = _BLANK.match(text, start).end()  # type: ignore[union-attr]
            newlines = text.count("\n", seen, start)
            if newlines:
                line += newlines
                column = start - text.rfind("\n", seen, start)
            else:
                column += start - seen
            seen = start
            statement = text[start:end]
            statements.append(statement)
            parsed = self._statement(statement)
            if parsed is None:
                return None
            for item in parsed:
                pid = f"policy{count}"
                count += 1
                span = _moved(item.span, start, line, column, file)
                if item.template:
                    templates[pid] = Template._located(pid, item.effect, item.slots,
                                                       item.annotations, item.text, span)
                else:
                    policies[pid] = Policy._located(pid, item.effect, item.annotations,
                                                    item.text, span)
            start = end
        if _BLANK.fullmatch(text, start) is None:
            return None  # text after the last `;` that is not blank: an error
        return PolicySet(policies, templates, text), tuple(statements)

    def _statement(self, statement: str) -> tuple[_Parsed, ...] | None:
        found = self._statements.get(statement)
        if found is None:
            found = self._old_statements.get(statement)
        if found is not None:
            self.reused += 1
            self._statements[statement] = found
            return found
        try:
            trees = parse_statement(statement)
        except RecursionError:
            return None
        self.parsed += 1
        if trees is None:
            return None
        parsed = []
        for tree in trees:
            span = tree.span
            assert span is not None  # INVARIANT: the parser gives every policy its span
            slots = tree.slots
            parsed.append(_Parsed(bool(slots), tree.effect, slots,
                                  tuple((a.key, a.value) for a in tree.annotations),
                                  statement[span.offset:span.end_offset], span))
        found = self._statements[statement] = tuple(parsed)
        return found


def _moved(span: SourceSpan, offset: int, line: int, column: int, file: str | None
           ) -> SourceSpan:
    """``span`` (in a statement parsed alone) where the statement starts at ``offset``,
    ``line`` and ``column`` of ``file``: lines move down, and columns on the statement's
    first line move right."""
    return SourceSpan(span.line + line - 1,
                      span.column + column - 1 if span.line == 1 else span.column,
                      span.end_line + line - 1,
                      span.end_column + column - 1 if span.end_line == 1 else span.end_column,
                      span.offset + offset, span.end_offset + offset, file)

