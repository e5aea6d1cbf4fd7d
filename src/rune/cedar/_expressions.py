"""Cedar expression parsing: the core shared by every parser entry point.

Precedence, loosest first: `if`, `||`, `&&`, one relation (`== != < <= > >= in`, `has`,
`like`, `is [in]`; relations do not chain), `+ -`, `*`, a run of at most four `!` or four
`-`, member access (`.attr`, `["attr"]`, `.method(...)`), primaries. A "soft" error (a
reserved word used as a name, an unknown function, a duplicate key...) is recorded and
parsing goes on; a syntax error is recorded and raises `Abort`.

No input makes the parser recurse: nested expressions are driven by an explicit stack
(bounded by `rune.cedar.limits.MAX_NESTING_DEPTH`) and operator chains by loops.
"""

from __future__ import annotations

from collections.abc import Generator
from itertools import pairwise
from typing import Any, NoReturn

from rune.cedar import limits
from rune.cedar._unescape import unescape_pattern, unescape_string
from rune.cedar.ast import (
    And,
    BinaryOp,
    Expr,
    ExtensionCall,
    GetAttr,
    Has,
    If,
    Is,
    Like,
    Literal,
    MethodCall,
    Neg,
    Not,
    Or,
    RecordLiteral,
    SetLiteral,
    Slot,
    Var,
    Wildcard,
)
from rune.cedar.errors import ParseError
from rune.cedar.lexer import (
    EOF,
    ERROR,
    IDENT,
    INT,
    RESERVED_WORDS,
    SLOT,
    STRING,
    Lexed,
    Token,
)
from rune.cedar.values import LONG_MAX, LONG_MIN, EntityUID, intern_uid
from rune.errors import Diagnostic, SourceSpan

__all__ = [
    "BUILTIN_METHOD_ARITY",
    "EXTENSION_METHODS",
    "FUNCTIONS",
    "RELATION_OPS",
    "VARIABLES",
    "Abort",
    "ExpressionParser",
    "describe_token",
]

VARIABLES = frozenset({"principal", "action", "resource", "context"})
FUNCTIONS = frozenset({"ip", "decimal", "datetime", "duration", "unknown"})
"""Function-style extension calls. `unknown` is cedar-policy's partial-evaluation marker,
which cedarpy's build accepts, so the parser does too (arity is checked at evaluation)."""
BUILTIN_METHOD_ARITY = {
    "contains": 1,
    "containsAll": 1,
    "containsAny": 1,
    "isEmpty": 0,
    "getTag": 1,
    "hasTag": 1,
}
EXTENSION_METHODS = frozenset({
    "isIpv4", "isIpv6", "isLoopback", "isMulticast", "isInRange",
    "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual",
    "offset", "durationSince", "toDate", "toTime",
    "toMilliseconds", "toSeconds", "toMinutes", "toHours", "toDays",
})  # fmt: skip
RELATION_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_RELATION_WORDS = frozenset({"in", "has", "like", "is"})
_LITERAL_WORDS = frozenset({"true", "false", "if"})  # identifiers that start no path
_U64_MAX = 2**64 - 1

# Binding powers of the tokens that may follow an operand, loosest first. `=` and `/ %`
# only produce errors; they bind tighter than `&&` so that a complete relation ends
# before them, as in the recursive grammar.
_OR, _AND, _RELATION, _ADD, _MUL, _ASSIGN, _DIVISION = 1, 2, 3, 4, 5, 6, 7
_POWERS = {
    "||": _OR, "&&": _AND,
    "==": _RELATION, "!=": _RELATION, "<": _RELATION, "<=": _RELATION, ">": _RELATION,
    ">=": _RELATION,
    "+": _ADD, "-": _ADD, "*": _MUL, "=": _ASSIGN, "/": _DIVISION, "%": _DIVISION,
}  # fmt: skip

_Nested = Generator[None, Any, "Expr"]
"""An expression being parsed: yields when it needs a nested expression, is sent it."""
_Pending = tuple[int, str, Any, int]
"""A binary operator waiting for its right operand: (power, operator, left, start)."""


class Abort(Exception):
    """Unwinds to the enclosing policy once a syntax error has been recorded."""


def describe_token(token: Token) -> str:
    """`token `x`` or `end of input`, for messages."""
    if token.kind == EOF:
        return "end of input"
    return f"token `{token.text}`"


class ExpressionParser:
    """One parse of one text. Holds the position and the diagnostics found so far."""

    __slots__ = ("diagnostics", "pos", "slots", "source_map", "tokens")

    def __init__(self, lexed: Lexed) -> None:
        self.tokens = lexed.tokens
        self.pos = 0
        self.source_map = lexed.source_map
        self.diagnostics: list[Diagnostic] = list(lexed.diagnostics)
        # Every slot parsed so far, so a condition can tell whether it used one.
        self.slots: list[Slot] = []

    # -- errors ------------------------------------------------------------------------------

    def error(self, code: str, message: str, start: int, end: int) -> None:
        """Record a problem that leaves the syntax intact; parsing goes on.

        Past `MAX_REPORTED_ERRORS` problems, further ones are not kept (`finish` says so).
        """
        diagnostics = self.diagnostics
        if len(diagnostics) <= limits.MAX_REPORTED_ERRORS:
            diagnostics.append(Diagnostic(code, message, self.source_map.span(start, end)))

    def fail(self, code: str, message: str, token: Token) -> NoReturn:
        """Record a syntax error at ``token`` and abandon the current policy."""
        if token.kind != ERROR:  # the lexer has already reported it
            self.error(code, message, token.start, token.end)
        raise Abort

    def unexpected(self, expected: str) -> NoReturn:
        """Fail on the current token, saying what was expected instead."""
        token = self.tokens[self.pos]
        message = f"unexpected {describe_token(token)}, expected {expected}"
        self.fail("unexpected-token", message, token)

    def expect(self, kind: str, expected: str) -> Token:
        """Consume a token of ``kind`` or fail."""
        token = self.tokens[self.pos]
        if token.kind != kind:
            self.unexpected(expected)
        self.pos += 1
        return token

    def at_word(self, word: str) -> bool:
        """Whether the current token is the identifier ``word``."""
        token = self.tokens[self.pos]
        return token.kind == IDENT and token.text == word

    def span_from(self, start: int) -> SourceSpan:
        """The span from offset ``start`` to the end of the last consumed token."""
        return self.source_map.span(start, self.tokens[self.pos - 1].end)

    def finish(self, source: str) -> None:
        """Raise a `ParseError` carrying every diagnostic, if there are any (at most
        `MAX_REPORTED_ERRORS`, then one `too-many-errors` saying that more were found)."""
        if not self.diagnostics:
            return
        ordered = sorted(
            self.diagnostics, key=lambda d: d.span.offset if d.span is not None else -1
        )
        cap = limits.MAX_REPORTED_ERRORS
        if len(ordered) > cap:
            ordered = ordered[:cap]
            last = ordered[-1].span
            end = self.source_map.span(len(source), len(source)) if last is None else (
                SourceSpan(last.end_line, last.end_column, last.end_line, last.end_column,
                           last.end_offset, last.end_offset, last.file))
            message = f"too many problems: only the first {cap} are reported"
            ordered.append(Diagnostic("too-many-errors", message, end))
        first = ordered[0]
        raise ParseError(first.message, code=first.code, diagnostics=ordered, source=source)

    # -- names and literals --------------------------------------------------------------------

    def check_identifier(self, token: Token) -> str:
        """Reject reserved words and `__cedar` where an identifier names something."""
        text = token.text
        if text in RESERVED_WORDS:
            self.error(
                "reserved-identifier",
                f"`{text}` is a reserved word and cannot be used as an identifier",
                token.start,
                token.end,
            )
        elif text == "__cedar":
            self.error("reserved-identifier", "`__cedar` is reserved", token.start, token.end)
        return text

    def string_value(self, token: Token) -> str:
        """Decode a string literal token, reporting each bad escape."""
        value, problems = unescape_string(token.text[1:-1])
        base = token.start + 1
        for problem in problems:
            self.error("invalid-escape", problem.message, base + problem.start, base + problem.end)
        return value

    def pattern_value(self, token: Token) -> tuple[str | Wildcard, ...]:
        """Decode a `like` pattern literal token, reporting each bad escape."""
        value, problems = unescape_pattern(token.text[1:-1])
        base = token.start + 1
        for problem in problems:
            self.error("invalid-escape", problem.message, base + problem.start, base + problem.end)
        return value

    def path(self, first: Token) -> list[Token]:
        """`first {:: IDENT}`, stopping before a `::` that is not followed by an identifier."""
        tokens = self.tokens
        parts = [first]
        while tokens[self.pos].kind == "::" and tokens[self.pos + 1].kind == IDENT:
            parts.append(tokens[self.pos + 1])
            self.pos += 2
        return parts

    def entity_type(self, what: str) -> str:
        """An entity type name `A::B::C` (after `is`, or standing alone)."""
        first = self.expect(IDENT, what)
        parts = self.path(first)
        token = self.tokens[self.pos]
        if token.kind == "::":
            after = self.tokens[self.pos + 1]
            if after.kind == STRING:
                text = "::".join(p.text for p in parts)
                self.fail(
                    "invalid-entity-type",
                    f"expected an entity type, found the entity uid `{text}::{after.text}`",
                    after,
                )
            self.pos += 1
            self.unexpected("an identifier")
        return "::".join(self.check_identifier(p) for p in parts)

    # -- expressions ---------------------------------------------------------------------------
    #
    # Nesting (parentheses, sets, records, arguments, `if` branches, indexes) does not use
    # Python's call stack: Cedar accepts hundreds of levels and a recursive descent spends
    # nine Python frames on each. Every nested expression is one generator
    # (`_expression`), which yields where it needs a nested expression and is sent it
    # back; `expr` drives them with an explicit stack, whose height is the nesting depth.
    # Within one expression, the binary operators are parsed by precedence climbing.

    def expr(self) -> Expr:
        """`'if' Expr 'then' Expr 'else' Expr | Or`, nested at most `MAX_NESTING_DEPTH` deep.

        Nesting deeper than `rune.cedar.limits.MAX_NESTING_DEPTH` is a `nesting-too-deep`
        syntax error at the first token of the expression too many.
        """
        limit = limits.MAX_NESTING_DEPTH
        stack = [self._expression()]
        value: Expr | None = None
        while True:
            try:
                stack[-1].send(value)
            except StopIteration as done:
                stack.pop()
                if not stack:
                    return done.value  # type: ignore[no-any-return]
                value = done.value
                continue
            # INVARIANT: the new expression is nested len(stack) levels deep (the outermost
            # one is level 0).
            if len(stack) > limit:
                self.nesting_too_deep(limit)
            stack.append(self._expression())
            value = None

    def nesting_too_deep(self, limit: int) -> NoReturn:
        """Fail at the first token of an expression nested deeper than ``limit``."""
        token = self.tokens[self.pos]
        message = f"expression is nested too deeply (more than {limit} levels)"
        self.fail("nesting-too-deep", message, token)

    def _expression(self) -> _Nested:
        """One expression: `if`, or operands joined by binary operators (see `expr`)."""
        tokens = self.tokens
        first = tokens[self.pos]
        if first.kind == IDENT and first.text == "if":
            self.pos += 1
            cond = yield
            if not self.at_word("then"):
                self.unexpected("`then`")
            self.pos += 1
            then = yield
            if not self.at_word("else"):
                self.unexpected("`else`")
            self.pos += 1
            else_ = yield
            return If(cond, then, else_, self.span_from(first.start))
        # INVARIANT: the binding powers on `pending` strictly increase towards its top.
        # Each entry is an operator waiting for its right operand: (power, operator, left
        # operand, offset where the left operand starts).
        pending: list[_Pending] = []
        while True:
            # -- an operand: `['!'x1..4 | '-'x1..4] Primary {Access}` ---------------------------
            start = tokens[self.pos].start
            token = tokens[self.pos]
            kind = token.kind
            starts: list[int] = []
            node: Expr | None = None
            if kind == "!" or kind == "-":
                node = self._prefix(kind, starts)
            if node is None:
                member_start = tokens[self.pos].start
                token = tokens[self.pos]
                self.pos += 1
                primary = token.kind
                if primary == "(":
                    node = yield
                    self.expect(")", "`)`")
                elif primary == "[":
                    node = SetLiteral((yield from self._items("]")), self.span_from(token.start))
                elif primary == "{":
                    node = yield from self._record(token)
                elif primary == IDENT and token.text not in _LITERAL_WORDS:
                    parts = self.path(token)
                    if tokens[self.pos].kind == "(":
                        for part in parts:
                            self.check_identifier(part)
                        self.pos += 1
                        node = self._call(token, parts, (yield from self._items(")")))
                    else:
                        node = self._name(token, parts)
                else:
                    node = self._primary(token)
                # Member accesses: `.attr`, `.method(args)`, `["attr"]`.
                while True:
                    token = tokens[self.pos]
                    access = token.kind
                    if access == ".":
                        self.pos += 1
                        name_token = self.expect(IDENT, "an attribute or method name after `.`")
                        name = self.check_identifier(name_token)
                        if tokens[self.pos].kind == "(":
                            self.pos += 1
                            args = yield from self._items(")")
                            self.check_method(name_token, len(args))
                            node = MethodCall(node, name, args, self.span_from(member_start))
                        else:
                            node = GetAttr(node, name, self.span_from(member_start))
                    elif access == "[":
                        self.pos += 1
                        key = tokens[self.pos]
                        if key.kind == STRING and tokens[self.pos + 1].kind == "]":
                            self.pos += 2
                            value = self.string_value(key)
                            node = GetAttr(node, value, self.span_from(member_start))
                        else:
                            yield
                            self.expect("]", "`]`")
                            self.error(
                                "invalid-index",
                                "`[...]` attribute access requires a string literal",
                                key.start,
                                tokens[self.pos - 1].end,
                            )
                    elif access == "(":
                        self.fail(
                            "invalid-call",
                            "function calls must be of the form `name(arg1, arg2, ...)`",
                            token,
                        )
                    else:
                        break
            if starts:
                wrap = Neg if kind == "-" else Not
                while starts:
                    node = wrap(node, self.span_from(starts.pop()))
            # -- what follows the operand -------------------------------------------------------
            # `closed`: `node` is a complete relation, which only `&&` or `||` may continue.
            closed = False
            while True:
                token = tokens[self.pos]
                kind = token.kind
                if kind == IDENT:
                    power = _RELATION if token.text in _RELATION_WORDS else 0
                else:
                    power = _POWERS.get(kind, 0)
                if power > _AND and closed:
                    if power == _RELATION:
                        self.chained_relation(token)
                    power = 0  # the relation ends the expression; the caller judges the token
                if power == _DIVISION:
                    what = "division" if kind == "/" else "remainder"
                    message = f"{what} (`{kind}`) is not supported"
                    self.fail("unsupported-operator", message, token)
                # Build each waiting operator that binds at least as tightly as this one.
                threshold = _RELATION if power == _ASSIGN else power or _OR
                built_relation = False
                while pending and pending[-1][0] >= threshold:
                    entry = pending.pop()
                    start = entry[3]
                    node = _combine(entry, node, self.span_from(start))
                    if entry[0] == _RELATION:
                        built_relation = True
                if built_relation:
                    closed = True
                    if power > _AND:
                        continue  # look at the token again, now after a complete relation
                if power == _ASSIGN:
                    self.fail("invalid-operator", "`=` is not a Cedar operator; use `==`", token)
                if power == _RELATION:
                    self.pos += 1
                    if kind == IDENT:
                        word = token.text
                        if word == "has":
                            node = self.has(node, start)
                            closed = True
                            continue
                        if word == "like":
                            pattern = tokens[self.pos]
                            if pattern.kind != STRING:
                                self.fail(
                                    "invalid-pattern",
                                    "the right-hand side of `like` must be a string literal "
                                    "pattern",
                                    pattern,
                                )
                            self.pos += 1
                            node = Like(node, self.pattern_value(pattern), self.span_from(start))
                            closed = True
                            continue
                        if word == "is":
                            entity_type = self.entity_type("an entity type name after `is`")
                            if not self.at_word("in"):
                                node = Is(node, entity_type, None, self.span_from(start))
                                closed = True
                                continue
                            self.pos += 1
                            pending.append((_RELATION, "is", (node, entity_type), start))
                            break
                        kind = "in"
                    pending.append((_RELATION, kind, node, start))
                    break
                if power == 0:
                    return node
                self.pos += 1
                pending.append((power, kind, node, start))
                break

    def _prefix(self, kind: str, starts: list[int]) -> Expr | None:
        """A run of `!` or of `-` (its offsets go to ``starts``); the negative integer
        literal when a `-` is directly before one, else None."""
        tokens = self.tokens
        while tokens[self.pos].kind == kind:
            starts.append(tokens[self.pos].start)
            self.pos += 1
        if len(starts) > 4:
            self.error(
                "too-many-unary-operators",
                f"too many occurrences of `{kind}`: at most four may be stacked",
                starts[0],
                tokens[self.pos - 1].end,
            )
        number = tokens[self.pos]
        if kind == "-" and number.kind == INT and tokens[self.pos + 1].kind not in (".", "["):
            # Fold the innermost minus into the literal, so `-9223372036854775808` is in range.
            self.pos += 1
            value = self.integer(number, negative=True)
            return Literal(value, self.span_from(starts.pop()))
        return None

    def chained_relation(self, token: Token) -> NoReturn:
        """Fail at a relational operator that follows a complete relation."""
        self.fail(
            "chained-relation",
            f"unexpected `{token.text}`: relational operators cannot be chained, "
            "use parentheses to make the order explicit",
            token,
        )

    def integer(self, token: Token, *, negative: bool = False) -> int:
        """The value of an integer literal token (negated when ``negative``), reporting a
        literal outside the 64-bit range as cedar-policy does.

        The digits are counted before `int()` converts them: a literal of thousands of
        digits must not reach Python's limit on integer string conversion.
        """
        digits = token.text.lstrip("0") or "0"
        if len(digits) <= 19:  # INVARIANT: within |LONG_MIN|, so the conversion is cheap
            value = -int(digits) if negative else int(digits)
            if LONG_MIN <= value <= LONG_MAX:
                return value
        if len(digits) <= 20 and int(digits) <= _U64_MAX:
            # cedar-policy reads the literal as a 64-bit unsigned number first.
            message = f"integer literal `{digits}` is too large"
        else:
            shown = digits if len(digits) <= 24 else f"{digits[:20]}..."
            message = (f"integer literal `{shown}` ({len(digits)} digits) is too large "
                       "to fit in 64 bits")
        self.error("integer-overflow", message, token.start, token.end)
        return 0

    def has(self, target: Expr, start: int) -> Expr:
        """The right side of `has`: a string, or `a.b.c` desugared into a conjunction."""
        tokens = self.tokens
        token = tokens[self.pos]
        if token.kind == STRING:
            self.pos += 1
            return Has(target, self.string_value(token), self.span_from(start))
        if token.kind != IDENT:
            found = describe_token(token)
            message = f"unexpected {found} after `has`, expected an attribute name or string"
            self.fail("invalid-has", message, token)
        self.pos += 1
        names = [self.check_identifier(token)]
        while True:
            following = tokens[self.pos]
            if following.kind == "::":
                self.fail(
                    "invalid-has", "an attribute name cannot contain a namespace (`::`)", following
                )
            if following.kind != ".":
                break
            self.pos += 1
            names.append(self.check_identifier(self.expect(IDENT, "an attribute name")))
        span = self.span_from(start)
        node: Expr = Has(target, names[0], span)
        reached: Expr = target
        # INVARIANT: `e has a.b.c` means `e has a && e.a has b && e.a.b has c`, left-nested
        # exactly as cedar-policy builds it.
        for previous, name in pairwise(names):
            reached = GetAttr(reached, previous, span)
            node = And(node, Has(reached, name, span), span)
        return node


    def check_method(self, name_token: Token, count: int) -> None:
        """Reject unknown methods and wrong arities of the built-in ones."""
        name = name_token.text
        arity = BUILTIN_METHOD_ARITY.get(name)
        if arity is not None:
            if count != arity:
                plural = "" if arity == 1 else "s"
                given = "1 was" if count == 1 else f"{count} were"
                self.error(
                    "wrong-arity",
                    f"`{name}` takes exactly {arity} argument{plural}, but {given} given",
                    name_token.start,
                    self.tokens[self.pos - 1].end,
                )
        elif name in FUNCTIONS:
            self.error(
                "unknown-method",
                f"`{name}` is a function, not a method; call it as `{name}(...)`",
                name_token.start,
                name_token.end,
            )
        elif name not in EXTENSION_METHODS and name not in RESERVED_WORDS and name != "__cedar":
            message = f"`{name}` is not a known method"
            self.error("unknown-method", message, name_token.start, name_token.end)


    def _primary(self, token: Token) -> Expr:
        """A primary that nests nothing (``token`` is consumed): `true`, `false`, an
        integer, a string or a slot; anything else is a syntax error."""
        kind = token.kind
        if kind == IDENT:
            if token.text == "if":
                self.pos -= 1
                self.fail(
                    "unexpected-token",
                    "an `if` expression must be wrapped in parentheses here",
                    token,
                )
            return Literal(token.text == "true", self.span_from(token.start))
        if kind == INT:
            return Literal(self.integer(token), self.span_from(token.start))
        if kind == STRING:
            return Literal(self.string_value(token), self.span_from(token.start))
        if kind == SLOT:
            name = token.text[1:]
            if name != "principal" and name != "resource":
                self.fail(
                    "invalid-slot",
                    f"`{token.text}` is not a valid template slot, "
                    "expected `?principal` or `?resource`",
                    token,
                )
            slot = Slot(name, self.span_from(token.start))
            self.slots.append(slot)
            return slot
        self.pos -= 1
        self.unexpected("an expression")

    def _name(self, first: Token, parts: list[Token]) -> Expr:
        """A path not followed by `(`: an entity uid `A::B::"id"` or a variable."""
        tokens = self.tokens
        token = tokens[self.pos]
        if token.kind == "::":
            after = tokens[self.pos + 1]
            if after.kind == STRING:
                self.pos += 2
                entity_type = "::".join(self.check_identifier(p) for p in parts)
                # Interned: the thousand policies of a large set name the same few
                # groups, and the entity store shares the same uid objects.
                uid = intern_uid(EntityUID(entity_type, self.string_value(after)))
                return Literal(uid, self.span_from(first.start))
            if after.kind == "{":
                self.fail(
                    "invalid-entity-literal",
                    'entity literals must be written `Type::"id"`',
                    after,
                )
            self.pos += 1
            self.unexpected("an identifier or a string after `::`")
        name = "::".join(p.text for p in parts)
        if len(parts) == 1 and name in VARIABLES:
            return Var(name, self.span_from(first.start))
        if len(parts) == 1 and (name in RESERVED_WORDS or name == "__cedar"):
            self.check_identifier(first)
        else:
            self.error(
                "invalid-variable",
                f"`{name}` is not a variable, expected `principal`, `action`, `resource` "
                "or `context`",
                first.start,
                parts[-1].end,
            )
        return Var(name, self.span_from(first.start))

    def _call(self, first: Token, parts: list[Token], args: tuple[Expr, ...]) -> Expr:
        """A function call `A::f(args)` whose arguments have been parsed."""
        name = "::".join(p.text for p in parts)
        if name not in FUNCTIONS:
            if name in EXTENSION_METHODS or name in BUILTIN_METHOD_ARITY:
                message = f"`{name}` is a method, not a function; call it as `x.{name}(...)`"
            else:
                message = f"`{name}` is not a known function"
            self.error("unknown-function", message, first.start, parts[-1].end)
        return ExtensionCall(name, args, self.span_from(first.start))

    def _items(self, close: str) -> Generator[None, Any, tuple[Expr, ...]]:
        """`[Expr {',' Expr} [',']] close`, after the opening bracket."""
        tokens = self.tokens
        items: list[Expr] = []
        while tokens[self.pos].kind != close:
            items.append((yield))
            kind = tokens[self.pos].kind
            if kind == ",":
                self.pos += 1
            elif kind != close:
                self.unexpected(f"`,` or `{close}`")
        self.pos += 1
        return tuple(items)

    def _record(self, open_token: Token) -> Generator[None, Any, RecordLiteral]:
        """`{[Key ':' Expr {',' Key ':' Expr} [',']]}` with identifier or string keys."""
        tokens = self.tokens
        items: list[tuple[str, Expr]] = []
        seen: set[str] = set()
        while tokens[self.pos].kind != "}":
            key_token = tokens[self.pos]
            if key_token.kind == IDENT:
                self.pos += 1
                key = self.check_identifier(key_token)
                if tokens[self.pos].kind == "::":
                    self.fail(
                        "invalid-record-key",
                        "a record key cannot contain a namespace (`::`)",
                        tokens[self.pos],
                    )
            elif key_token.kind == STRING:
                self.pos += 1
                key = self.string_value(key_token)
            else:
                self.unexpected("a record key (an identifier or a string)")
            self.expect(":", "`:` after the record key")
            value = yield
            if key in seen:
                self.error(
                    "duplicate-key",
                    f"duplicate key `{key}` in record literal",
                    key_token.start,
                    key_token.end,
                )
            else:
                seen.add(key)
                items.append((key, value))
            kind = tokens[self.pos].kind
            if kind == ",":
                self.pos += 1
            elif kind != "}":
                self.unexpected("`,` or `}`")
        self.pos += 1
        return RecordLiteral(tuple(items), self.span_from(open_token.start))


def _combine(entry: _Pending, right: Expr, span: SourceSpan) -> Expr:
    """The node of a waiting binary operator, now that its right operand is parsed."""
    _, operator, left, _ = entry
    if operator == "||":
        return Or(left, right, span)
    if operator == "&&":
        return And(left, right, span)
    if operator == "is":
        target, entity_type = left
        return Is(target, entity_type, right, span)
    return BinaryOp(operator, left, right, span)
