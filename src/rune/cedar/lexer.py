"""The Cedar lexer: policy text to tokens with character offsets, plus offset-to-line mapping.

Tokens are what cedar-policy 4.x's lexer produces: identifiers (reserved words included,
the parser decides where they are allowed), unsigned integers, string literals (kept raw;
the parser decodes escapes because `like` patterns decode them differently), template
slots `?name`, and operators. Whitespace is Unicode `White_Space` and `//` starts a comment
that runs to the end of the line. Characters that start no token become `error` tokens,
each reported once as a `Diagnostic`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from sys import intern
from typing import NamedTuple

from rune.cedar.limits import MAX_REPORTED_ERRORS
from rune.errors import Diagnostic, SourceSpan

__all__ = [
    "EOF",
    "ERROR",
    "IDENT",
    "INT",
    "RESERVED_WORDS",
    "SLOT",
    "STRING",
    "Lexed",
    "SourceMap",
    "Token",
    "tokenize",
    "tokenize_statements",
]

# Token kinds. Operators and punctuation use their own text as their kind (`"=="`, `"("`).
IDENT = "ident"
INT = "int"
STRING = "string"
SLOT = "slot"
EOF = "eof"
ERROR = "error"

RESERVED_WORDS = frozenset({"true", "false", "if", "then", "else", "in", "like", "has", "is"})
"""Words that can never name a variable, attribute, type or namespace component."""

# Rust's `\s` (Unicode White_Space), which cedar-policy's lexer skips. Python's `\s` differs
# (it also matches U+001C..U+001F), so the set is spelled out.
_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_TOKEN_RE = re.compile(
    rf"(?:[{_WHITESPACE}]+|//[^\n\r]*)*"
    r"(?:"
    r"([A-Za-z_][A-Za-z0-9_]*)"  # 1: identifier or keyword
    r"|([0-9]+)"  # 2: integer (the sign is a separate token)
    r'|("[^"\\]*(?:\\.[^"\\]*)*")'  # 3: string; `.` excludes only `\n`, as in Rust
    r"|(\?[A-Za-z_][A-Za-z0-9_]*)"  # 4: template slot
    r"|(::|==|!=|<=|>=|&&|\|\||[()\[\]{},;.:@<>!+\-*/%=])"  # 5: operator or punctuation
    r")?"
)
_KIND_BY_GROUP = (None, IDENT, INT, STRING, SLOT, None)
_IDENTIFIER, _PUNCTUATION = 1, 5
# A run of characters none of which can start a token, reported as one error.
_INVALID_RUN_RE = re.compile(rf"[^{_WHITESPACE}A-Za-z0-9_\"?()\[\]{{}},;.:@<>!=+\-*/%&|]*")
_HINTS = {
    "&": "invalid token `&`; did you mean `&&`",
    "|": "invalid token `|`; did you mean `||`",
    "?": "invalid token `?`; a template slot is written `?principal` or `?resource`",
}


class Token(NamedTuple):
    """One token: its kind, its exact text and its character offsets (end exclusive).

    A NamedTuple rather than a dataclass: tokens are created by the hundred thousand at load
    time and are never shared beyond the parser.
    """

    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Maps character offsets in one source text to 1-based line/column `SourceSpan`s.

    The text may be a piece of a larger file (one policy, re-parsed on demand): then
    ``origin`` is the file offset where it starts, added to every span's offsets, and
    ``line_starts``/``line_numbers`` are set up so lines and columns are the file's.
    """

    text: str
    file: str | None
    line_starts: tuple[int, ...]
    # One int object per line number, shared by every span on that line (spans outlive
    # the parse in the ASTs of a policy set; most line numbers are not small cached ints).
    line_numbers: tuple[int, ...] = field(default=(), compare=False, repr=False)
    origin: int = 0

    @classmethod
    def of(cls, text: str, file: str | None = None, *, origin: int = 0, line: int = 1,
           column: int = 1) -> SourceMap:
        """Index the line starts of ``text`` (lines end at `\\n`, as in `SourceSpan`).

        ``origin``, ``line`` and ``column`` say where ``text`` starts in its file.
        """
        # INVARIANT: offsets are relative to `text`; the first line starts `column - 1`
        # characters before it, so columns on that line come out as in the file.
        starts = [1 - column]
        find = text.find
        i = find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = find("\n", i + 1)
        numbers = tuple(range(line - 1, line + len(starts)))
        return cls(text, file, tuple(starts), numbers, origin)

    def span(self, start: int, end: int) -> SourceSpan:
        """The span of ``text[start:end]``; O(log lines)."""
        starts = self.line_starts
        line = bisect_right(starts, start)
        end_line = line if end <= start else bisect_right(starts, end)
        column = start - starts[line - 1] + 1
        end_column = end - starts[end_line - 1] + 1
        numbers = self.line_numbers
        if numbers:
            line, end_line = numbers[line], numbers[end_line]
        origin = self.origin
        if origin:
            start += origin
            end += origin
        return SourceSpan(line, column, end_line, end_column, start, end, self.file)


@dataclass(frozen=True, slots=True)
class Lexed:
    """The result of `tokenize`: tokens ending with one `EOF`, and the lexical errors."""

    tokens: tuple[Token, ...]
    diagnostics: tuple[Diagnostic, ...]
    source_map: SourceMap


def _visible(text: str) -> str:
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def tokenize(text: str, file: str | None = None, *, origin: int = 0, line: int = 1,
             column: int = 1) -> Lexed:
    """Split Cedar text into tokens.

    Never raises: text that starts no token becomes an `ERROR` token with a diagnostic
    (`invalid-token`, or `unterminated-string` for a string literal with no closing quote).

    Args:
        text: the Cedar source.
        file: a file name for the spans of diagnostics.
        origin: where ``text`` starts in its file, as an offset, ``line`` and ``column``
            (for a piece of a file): token offsets stay relative to ``text``, spans are
            the file's.

    Returns:
        The tokens (the last is always `EOF`), the diagnostics and the offset map.

    Raises:
        TypeError: ``text`` is not a `str`.
    """
    _check_type(text, "tokenize")
    source_map = SourceMap.of(text, file, origin=origin, line=line, column=column)
    tokens, diagnostics, _ = _scan(text, source_map, 0, statement=False)
    return Lexed(tuple(tokens), tuple(diagnostics), source_map)


def tokenize_statements(text: str, file: str | None = None) -> Iterator[Lexed]:
    """`tokenize`, one statement at a time: each `Lexed` holds the tokens up to and
    including the next `;` (or to the end of the text), then an `EOF`.

    Parsing a large policy file statement by statement keeps only one statement's tokens
    alive at a time. Spans and offsets are those of the whole text.

    Raises:
        TypeError: ``text`` is not a `str` (when the first statement is asked for).
    """
    _check_type(text, "tokenize_statements")
    source_map = SourceMap.of(text, file)
    n = len(text)
    pos = 0
    while True:
        tokens, diagnostics, pos = _scan(text, source_map, pos, statement=True)
        yield Lexed(tuple(tokens), tuple(diagnostics), source_map)
        if pos >= n:
            return


def _check_type(text: object, function: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{function}: argument `text` must be a str, not {type(text).__name__}")


def _scan(text: str, source_map: SourceMap, pos: int, *, statement: bool
          ) -> tuple[list[Token], list[Diagnostic], int]:
    """Tokens from offset ``pos`` to the end (the last an `EOF`), or with ``statement``
    only to the first `;` (then an `EOF` where the `;` ends); and where scanning stopped."""
    tokens: list[Token] = []
    diagnostics: list[Diagnostic] = []
    append = tokens.append
    match = _TOKEN_RE.match
    kinds = _KIND_BY_GROUP
    n = len(text)
    while True:
        m = match(text, pos)
        if m is None:  # unreachable: every part of the pattern is optional
            break
        group = m.lastindex
        if group is not None:
            start = m.start(group)
            pos = m.end()
            token_text = m.group(group)
            if group == _IDENTIFIER:
                # Names recur in every policy (`principal`, `context`, attribute names)
                # and outlive the parse in the ASTs.
                token_text = intern(token_text)
            append(Token(kinds[group] or token_text, token_text, start, pos))
            if statement and token_text == ";" and group == _PUNCTUATION:
                append(Token(EOF, "", pos, pos))
                return tokens, diagnostics, pos
            continue
        pos = m.end()
        if pos >= n:
            break
        char = text[pos]
        if char == '"':
            # INVARIANT: the string pattern failed, so no closing quote is reachable without
            # crossing a backslash-newline; report up to the end of the line and go on.
            end = text.find("\n", pos)
            end = n if end < 0 else end
            code, message = "unterminated-string", "unterminated string literal"
        else:
            end = pos + 1
            if char not in _HINTS:
                end = _INVALID_RUN_RE.match(text, end).end()  # type: ignore[union-attr]
            code = "invalid-token"
            message = _HINTS.get(char) or f"invalid token `{_visible(text[pos:end])}`"
        append(Token(ERROR, text[pos:end], pos, end))
        # (One more than the parser reports, so that it knows there were more.)
        if len(diagnostics) <= MAX_REPORTED_ERRORS:
            diagnostics.append(Diagnostic(code, message, source_map.span(pos, end)))
        pos = end
    append(Token(EOF, "", n, n))
    return tokens, diagnostics, n
