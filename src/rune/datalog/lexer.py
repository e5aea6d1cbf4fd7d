"""Turn Soufflé-dialect Datalog text into tokens carrying character offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from rune.datalog.errors import ErrorCode
from rune.datalog.source import SourceFile
from rune.errors import Diagnostic

__all__ = ["DIRECTIVES", "Token", "TokenKind", "tokenize"]


class TokenKind(StrEnum):
    """The lexical classes of the language."""

    IDENT = "identifier"
    NUMBER = "number"
    UNSIGNED = "unsigned number"
    FLOAT = "float"
    STRING = "string"
    DIRECTIVE = "directive"
    PUNCT = "punctuation"
    HASH = "preprocessor line"
    EOF = "end of input"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its class, its text (quotes stripped for strings) and its offsets."""

    kind: TokenKind
    text: str
    start: int
    end: int

    def describe(self) -> str:
        """How the token is named in an error message."""
        if self.kind is TokenKind.EOF:
            return "end of input"
        if self.kind is TokenKind.STRING:
            return f'`"{self.text}"`'
        if self.kind is TokenKind.DIRECTIVE:
            return f"`.{self.text}`"
        return f"`{self.text}`"


# Directive keywords; any other `.name` is a dot followed by an identifier.
DIRECTIVES = frozenset(
    {
        "decl",
        "type",
        "input",
        "output",
        "printsize",
        "limitsize",
        "pragma",
        "plan",
        "comp",
        "init",
        "functor",
        "override",
        "number_type",
        "symbol_type",
        "include",
        "once",
    }
)

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+|\n)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*)
  | (?P<hash>\#[^\n]*)
  | (?P<directive>\.(?P<dname>[A-Za-z_]\w*))
  | (?P<float>\d+\.\d+(?:[eE][+-]?\d+)?)
  | (?P<hex>0[xX][0-9A-Fa-f]+)
  | (?P<binary>0[bB][01]+)
  | (?P<unsigned>\d+u)
  | (?P<number>\d+)
  | (?P<ident>[A-Za-z_?][A-Za-z0-9_?]*)
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<punct>:-|<:|<=|>=|!=|::|[(),.:;!=<>+\-*/%^{}\[\]$@|])
    """,
    re.VERBOSE,
)


def tokenize(source: SourceFile) -> tuple[list[Token], list[Diagnostic]]:
    """Split ``source`` into tokens, collecting (not raising) lexical errors.

    Comments and whitespace are dropped; a line starting with ``#`` becomes one HASH
    token so the parser can act on ``#include``. The list always ends with an EOF token.
    """
    text = source.text
    tokens: list[Token] = []
    errors: list[Diagnostic] = []
    position = 0
    length = len(text)
    at_line_start = True
    match = _TOKEN_RE.match
    while position < length:
        found = match(text, position)
        if found is None:
            end = position + 1
            if text[position] == '"':
                end = text.find("\n", position)
                end = length if end < 0 else end
                errors.append(_error(source, position, end, "unterminated string literal"))
            else:
                errors.append(
                    _error(source, position, end, f"unexpected character `{text[position]}`")
                )
            position = end
            continue
        kind = found.lastgroup
        end = found.end()
        if kind == "ws":
            if found.group() == "\n":
                at_line_start = True
            position = end
            continue
        if kind == "line_comment":
            position = end
            continue
        if kind == "block_comment":
            close = text.find("*/", end)
            if close < 0:
                errors.append(_error(source, position, end, "unterminated block comment"))
                position = length
            else:
                position = close + 2
            continue
        if kind == "hash":
            if at_line_start:
                tokens.append(Token(TokenKind.HASH, found.group(), position, end))
            else:
                errors.append(_error(source, position, position + 1, "unexpected character `#`"))
                end = position + 1
            position = end
            continue
        at_line_start = False
        if kind == "directive":
            name = found.group("dname")
            if name in DIRECTIVES:
                tokens.append(Token(TokenKind.DIRECTIVE, name, position, end))
            else:
                tokens.append(Token(TokenKind.PUNCT, ".", position, position + 1))
                end = position + 1
        elif kind == "float":
            tokens.append(Token(TokenKind.FLOAT, found.group(), position, end))
        elif kind in ("hex", "binary", "number"):
            tokens.append(Token(TokenKind.NUMBER, found.group(), position, end))
        elif kind == "unsigned":
            tokens.append(Token(TokenKind.UNSIGNED, found.group()[:-1], position, end))
        elif kind == "ident":
            tokens.append(Token(TokenKind.IDENT, found.group(), position, end))
        elif kind == "string":
            tokens.append(Token(TokenKind.STRING, found.group()[1:-1], position, end))
        else:
            tokens.append(Token(TokenKind.PUNCT, found.group(), position, end))
        position = end
    tokens.append(Token(TokenKind.EOF, "", length, length))
    return tokens, errors


def _error(source: SourceFile, start: int, end: int, message: str) -> Diagnostic:
    return Diagnostic(ErrorCode.SYNTAX, message, source.span(start, end))
