"""Canonical formatting of Cedar policy text (`rune fmt`), keeping comments and annotations.

The formatter works on tokens, not on the syntax tree, so nothing the author wrote is
lost: string literals, patterns and escapes are kept exactly, and every `//` comment
stays where it was relative to the tokens around it (at the end of a line when it was
there, on its own line otherwise). The layout:

* one blank line between policies; comments before a policy stay above it (a blank line
  between them and the policy is kept); annotations one per line;
* the head on one line when it fits in ``width`` columns, else one scope per line;
* each `when`/`unless` on its own line: `when { ... }` when it fits, else the body on
  indented lines, broken at the top-level `||`, then `&&` (operator at the line's end),
  then inside the last bracket group (one element per line);
* canonical spacing: spaces around binary operators and after commas and colons, none
  inside brackets, before `(` of a call, or around `.` and `::`.

A comment inside an expression forces that part onto several lines. Formatting is
idempotent, and the result parses to the same policies (`format_policies` checks that
before returning).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rune.cedar.errors import CedarError
from rune.cedar.lexer import EOF, IDENT, RESERVED_WORDS, Token, tokenize

__all__ = ["format_policies"]

_INDENT = 2
_KEYWORDS = RESERVED_WORDS - {"true", "false"}  # words that are operators, not operands
_BINARY = {"==", "!=", "<", "<=", ">", ">=", "&&", "||", "+", "*", "-"}
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}


@dataclass(slots=True)
class _Comment:
    text: str
    blank_before: bool  # an empty line separated it from what came before


@dataclass(slots=True)
class _Tok:
    kind: str
    text: str
    before: list[_Comment] = field(default_factory=list)  # on lines of their own
    after: _Comment | None = None  # on the same line, after the token
    blank_before: bool = False


def format_policies(text: str, file: str | None = None, *, width: int = 80) -> str:
    """Cedar policy text in canonical form (see the module docstring).

    Raises:
        ParseError: the text does not parse (every error, located); nothing is formatted.
        CedarError: (`format-changed-policies`) the formatted text would not parse to the
            same policies (a bug; the input is left as it is).
    """
    from rune.cedar.policy_set import PolicySet

    before = PolicySet.from_str(text, file=file)
    tokens = _tokens(text, file)
    out = _Layout(tokens, width).run()
    try:
        after = PolicySet.from_str(out, file=file)
    except CedarError as error:  # pragma: no cover - a formatter bug
        raise CedarError(f"formatting would change the policies: {error.message}",
                         code="format-changed-policies") from None
    if _trees(before) != _trees(after):  # pragma: no cover - a formatter bug
        raise CedarError("formatting would change the policies", code="format-changed-policies")
    return out


def _trees(policies: object) -> list[object]:
    from rune.cedar.policy_set import PolicySet

    assert isinstance(policies, PolicySet)
    trees: list[object] = [(p.id, p.ast) for p in policies]
    trees += [(t.id, t.ast) for t in policies.templates]
    return sorted(trees, key=lambda item: str(item[0]))  # type: ignore[index]


# -- tokens with their comments -------------------------------------------------------------

def _tokens(text: str, file: str | None) -> list[_Tok]:
    """The tokens (the last an `EOF` holding the comments after the last policy)."""
    lexed = tokenize(text, file)
    out: list[_Tok] = []
    previous: Token | None = None
    for token in lexed.tokens:
        gap_start = previous.end if previous is not None else 0
        gap = text[gap_start : token.start]
        tok = _Tok(token.kind, token.text)
        _attach(gap, out[-1] if out else None, tok)
        out.append(tok)
        previous = token
    return out


def _attach(gap: str, previous: _Tok | None, tok: _Tok) -> None:
    """Give the comments of ``gap`` (between ``previous`` and ``tok``) to one of them."""
    position = 0
    newlines = 0
    while True:
        start = gap.find("//", position)
        if start < 0:
            break
        newlines += gap.count("\n", position, start)
        end = gap.find("\n", start)
        end = len(gap) if end < 0 else end
        comment = _Comment(gap[start:end].rstrip().replace("\r", ""), newlines >= 2)
        if previous is not None and newlines == 0 and previous.after is None \
                and previous.kind != EOF:
            previous.after = comment
        else:
            tok.before.append(comment)
        newlines = 0
        position = end
    newlines += gap.count("\n", position)
    tok.blank_before = newlines >= 2


def _operand_end(tok: _Tok) -> bool:
    """Whether ``tok`` can end an operand (so a following `-` is binary, `[` an index)."""
    if tok.kind == IDENT:
        return tok.text not in _KEYWORDS
    return tok.kind in ("int", "string", "slot") or tok.text in _CLOSERS


def _space(previous: _Tok | None, tok: _Tok, unary: bool) -> bool:
    """Whether a space separates ``previous`` and ``tok`` on one line."""
    if previous is None:
        return False
    p, t = previous.text, tok.text
    if p in ("(", "[", ".", "::", "!", "@") or (p == "-" and unary):
        return False
    if t in (")", "]", ",", ";", ".", "::", ":"):
        return False
    if p == "{" or t == "}":  # a record literal, `{a: 1}` (a condition's braces: see below)
        return False
    if t == "(":
        return previous.kind != IDENT or p in _KEYWORDS or p in ("permit", "forbid")
    if t == "[":
        return not _operand_end(previous)
    return True


# -- layout -------------------------------------------------------------------------------------

class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current = ""
        self.indent = 0
        self.must_break = False  # a line comment ended the current line

    def column(self) -> int:
        return len(self.current) if self.current else self.indent

    def newline(self) -> None:
        if self.current.strip():
            self.lines.append(self.current.rstrip())
        self.current = ""
        self.must_break = False

    def blank(self) -> None:
        self.newline()
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def comment_line(self, comment: _Comment) -> None:
        self.newline()
        self.lines.append(" " * self.indent + comment.text)

    def word(self, text: str, space: bool) -> None:
        if self.must_break:
            self.newline()
        if not self.current:
            self.current = " " * self.indent + text
        else:
            self.current += (" " if space else "") + text

    def trailing(self, comment: _Comment) -> None:
        self.current += " " + comment.text
        self.must_break = True


class _Layout:
    def __init__(self, tokens: list[_Tok], width: int) -> None:
        self.tokens = tokens
        self.width = width
        self.out = _Writer()
        self.match = self._matches()

    def _matches(self) -> dict[int, int]:
        """The index of each bracket's partner."""
        match: dict[int, int] = {}
        stack: list[int] = []
        for index, tok in enumerate(self.tokens):
            if tok.text in _OPENERS and tok.kind != "string":
                stack.append(index)
            elif tok.text in _CLOSERS and tok.kind != "string" and stack:
                opener = stack.pop()
                match[opener], match[index] = index, opener
        return match

    # -- tokens ----------------------------------------------------------------------------------
    def emit(self, index: int, *, space: bool | None = None) -> None:
        """Write one token (its comments first); ``space`` overrides the spacing rules."""
        tok = self.tokens[index]
        for comment in tok.before:
            self.out.comment_line(comment)
        if space is None:
            previous = self.tokens[index - 1] if index > 0 else None
            unary = previous is not None and previous.text == "-" and (
                index < 2 or not _operand_end(self.tokens[index - 2]))
            space = _space(previous, tok, unary)
        self.out.word(tok.text, space)
        if tok.after is not None:
            self.out.trailing(tok.after)

    def flat_width(self, start: int, end: int) -> int | None:
        """The width of tokens ``start..end`` on one line, or None if a comment inside
        them (other than before the first) forbids one line."""
        total = 0
        for index in range(start, end):
            tok = self.tokens[index]
            if (tok.before and index != start) or (tok.after is not None and index != end - 1):
                return None
            previous = self.tokens[index - 1] if index > start else None
            unary = previous is not None and previous.text == "-" and (
                index - start < 2 or not _operand_end(self.tokens[index - 2]))
            total += len(tok.text) + (1 if _space(previous, tok, unary) else 0)
        if self.tokens[end - 1].after is not None:
            return None
        return total

    def fits(self, start: int, end: int, extra: int = 0) -> bool:
        width = self.flat_width(start, end)
        if width is None:
            return False
        column = self.out.column()
        if self.out.current and not self.out.must_break:
            column += 1
        return column + width + extra <= self.width

    def flat(self, start: int, end: int) -> None:
        for index in range(start, end):
            self.emit(index)

    # -- policies ----------------------------------------------------------------------------------
    def run(self) -> str:
        index = 0
        count = len(self.tokens) - 1  # the last is EOF
        first = True
        while index < count:
            end = index
            while end < count and self.tokens[end].text != ";":
                end += 1
            if not first:
                self.out.blank()
            self.policy(index, min(end + 1, count), first)
            first = False
            index = end + 1
        eof = self.tokens[-1]
        for number, comment in enumerate(eof.before):
            if comment.blank_before or (number == 0 and not first):
                self.out.blank()
            self.out.comment_line(comment)
        self.out.newline()
        return "\n".join(self.out.lines) + "\n" if self.out.lines else ""

    def policy(self, start: int, end: int, first: bool) -> None:
        head = self.tokens[start]
        for number, comment in enumerate(head.before):
            if comment.blank_before and not (first and number == 0):
                self.out.blank()
            self.out.comment_line(comment)
        if head.before and head.blank_before:
            self.out.blank()
        head.before = []
        index = start
        while index < end and self.tokens[index].text == "@":  # annotations
            stop = index + 2
            if stop < end and self.tokens[stop].text == "(":
                stop = self.match.get(stop, stop) + 1
            self.flat(index, stop)
            self.out.newline()
            index = stop
        self.emit(index)  # permit / forbid
        index += 1
        if index < end and self.tokens[index].text == "(":
            close = self.match[index]
            self.head(index, close)
            index = close + 1
        while index < end and self.tokens[index].text in ("when", "unless"):
            self.out.newline()
            self.emit(index)
            brace = index + 1
            close = self.match[brace]
            last = close + 1 < end and self.tokens[close + 1].text == ";"
            self.condition(brace, close, 2 if last else 1)
            index = close + 1
        self.flat(index, end)  # `;` and anything unexpected
        self.out.newline()

    def head(self, open_: int, close: int) -> None:
        semicolon = 1 if self.tokens[close + 1].text == ";" else 0
        if self.fits(open_, close + 1, semicolon):
            self.flat(open_, close + 1)
            return
        self.emit(open_)
        self.block(open_ + 1, close, separated=True)
        self.emit(close)

    def condition(self, brace: int, close: int, suffix: int) -> None:
        # `when { body }`: two spaces more than the body alone.
        if close > brace + 1 and self.fits(brace, close + 1, suffix + 2):
            self.emit(brace)
            self.emit(brace + 1, space=True)
            self.flat(brace + 2, close)
            self.emit(close, space=True)
            return
        self.emit(brace)
        self.block(brace + 1, close, separated=False)
        self.emit(close)

    def block(self, start: int, end: int, *, separated: bool) -> None:
        """Tokens ``start..end`` on indented lines (one element per line when separated
        by top-level commas)."""
        self.out.newline()
        self.out.indent += _INDENT
        parts = self.split(start, end, {","}) if separated else [(start, end, None)]
        for part_start, part_end, comma in parts:
            self.expression(part_start, part_end)
            if comma is not None:
                self.emit(comma)
            self.out.newline()
        self.out.indent -= _INDENT

    # -- expressions -----------------------------------------------------------------------
    def split(self, start: int, end: int, operators: set[str]
              ) -> list[tuple[int, int, int | None]]:
        """Top-level parts of ``start..end`` separated by ``operators``: (start, end,
        index of the operator after the part, or None for the last)."""
        parts: list[tuple[int, int, int | None]] = []
        depth = 0
        part = start
        for index in range(start, end):
            text = self.tokens[index].text
            kind = self.tokens[index].kind
            if kind == "string":
                continue
            if text in _OPENERS:
                depth += 1
            elif text in _CLOSERS:
                depth -= 1
            elif depth == 0 and text in operators:
                parts.append((part, index, index))
                part = index + 1
        parts.append((part, end, None))
        return [p for p in parts if p[0] < p[1] or p[2] is not None]

    def expression(self, start: int, end: int) -> None:
        if start >= end:
            return
        if self.fits(start, end, 1):
            self.flat(start, end)
            return
        if self.tokens[start].text == "if" and self.conditional(start, end):
            return
        for operator in ("||", "&&"):
            parts = self.split(start, end, {operator})
            if len(parts) > 1:
                for part_start, part_end, op in parts:
                    self.expression(part_start, part_end)
                    if op is not None:
                        self.emit(op)
                        self.out.newline()
                return
        group = self.widest_group(start, end)
        if group is None:
            self.flat(start, end)
            return
        open_, close = group
        self.flat(start, open_ + 1)
        separated = self.tokens[open_].text != "(" or self.is_call(open_)
        self.block(open_ + 1, close, separated=separated)
        self.flat(close, end)

    def conditional(self, start: int, end: int) -> bool:
        """`if c then a else b` over three lines (when `then`/`else` are at this level)."""
        parts = self.split(start + 1, end, {"then", "else"})
        if len(parts) != 3:
            return False
        self.emit(start)
        (c0, c1, then), (a0, a1, other), (b0, b1, _) = parts
        self.expression(c0, c1)
        self.out.newline()
        assert then is not None and other is not None
        self.emit(then)
        self.expression(a0, a1)
        self.out.newline()
        self.emit(other)
        self.expression(b0, b1)
        return True

    def widest_group(self, start: int, end: int) -> tuple[int, int] | None:
        """The widest top-level bracket pair with something inside (the last of equals)."""
        best: tuple[int, int] | None = None
        best_width = -1
        index = start
        while index < end:
            tok = self.tokens[index]
            close = self.match.get(index) if tok.text in _OPENERS else None
            if close is not None and close < end:
                width = sum(len(self.tokens[k].text) for k in range(index + 1, close))
                if close > index + 1 and width >= best_width:
                    best, best_width = (index, close), width
                index = close + 1
                continue
            index += 1
        return best

    def is_call(self, open_: int) -> bool:
        return open_ > 0 and self.tokens[open_ - 1].kind == IDENT and \
            self.tokens[open_ - 1].text not in _KEYWORDS
