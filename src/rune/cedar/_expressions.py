"""Cedar expression parsing: the recursive-descent core shared by every parser entry point.

Precedence, loosest first: `if`, `||`, `&&`, one relation (`== != < <= > >= in`, `has`,
`like`, `is [in]`; relations do not chain), `+ -`, `*`, a run of at most four `!` or four
`-`, member access (`.attr`, `["attr"]`, `.method(...)`), primaries. A "soft" error (a
reserved word used as a name, an unknown function, a duplicate key...) is recorded and
parsing goes on; a syntax error is recorded and raises `Abort`.
"""

from __future__ import annotations

from itertools import pairwise
from typing import NoReturn

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
        """Record a problem that leaves the syntax intact; parsing goes on."""
        self.diagnostics.append(Diagnostic(code, message, self.source_map.span(start, end)))

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
        """Raise a `ParseError` carrying every diagnostic, if there are any."""
        if not self.diagnostics:
            return
        ordered = sorted(
            self.diagnostics, key=lambda d: d.span.offset if d.span is not None else -1
        )
        first = ordered[0]
        raise ParseError(first.message, code=first.code, diagnostics=ordered, source=source)

    def too_deep(self) -> None:
        """Report nesting beyond what the recursive descent (Python's stack) can follow."""
        token = self.tokens[min(self.pos, len(self.tokens) - 1)]
        self.error(
            "nesting-too-deep",
            "expression is nested too deeply (more than about 100 levels)",
            token.start,
            token.end,
        )

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

    def expr(self) -> Expr:
        """`'if' Expr 'then' Expr 'else' Expr | Or`."""
        token = self.tokens[self.pos]
        if token.kind == IDENT and token.text == "if":
            self.pos += 1
            cond = self.expr()
            if not self.at_word("then"):
                self.unexpected("`then`")
            self.pos += 1
            then = self.expr()
            if not self.at_word("else"):
                self.unexpected("`else`")
            self.pos += 1
            else_ = self.expr()
            return If(cond, then, else_, self.span_from(token.start))
        return self.disjunction()

    def disjunction(self) -> Expr:
        """`And {'||' And}`, left-associative."""
        tokens = self.tokens
        start = tokens[self.pos].start
        left = self.conjunction()
        while tokens[self.pos].kind == "||":
            self.pos += 1
            right = self.conjunction()
            left = Or(left, right, self.span_from(start))
        return left

    def conjunction(self) -> Expr:
        """`Relation {'&&' Relation}`, left-associative."""
        tokens = self.tokens
        start = tokens[self.pos].start
        left = self.relation()
        while tokens[self.pos].kind == "&&":
            self.pos += 1
            right = self.relation()
            left = And(left, right, self.span_from(start))
        return left

    def relation(self) -> Expr:
        """`Add [RELOP Add | 'has' Attr | 'like' PAT | 'is' Path ['in' Add]]`, not chained."""
        tokens = self.tokens
        start = tokens[self.pos].start
        left = self.additive()
        token = tokens[self.pos]
        kind = token.kind
        node: Expr
        if kind in RELATION_OPS:
            self.pos += 1
            node = BinaryOp(kind, left, self.additive(), self.span_from(start))
        elif kind == IDENT and token.text in _RELATION_WORDS:
            self.pos += 1
            word = token.text
            if word == "in":
                node = BinaryOp("in", left, self.additive(), self.span_from(start))
            elif word == "has":
                node = self.has(left, start)
            elif word == "like":
                pattern = tokens[self.pos]
                if pattern.kind != STRING:
                    self.fail(
                        "invalid-pattern",
                        "the right-hand side of `like` must be a string literal pattern",
                        pattern,
                    )
                self.pos += 1
                node = Like(left, self.pattern_value(pattern), self.span_from(start))
            else:
                entity_type = self.entity_type("an entity type name after `is`")
                in_expr = None
                if self.at_word("in"):
                    self.pos += 1
                    in_expr = self.additive()
                node = Is(left, entity_type, in_expr, self.span_from(start))
        elif kind == "=":
            self.fail("invalid-operator", "`=` is not a Cedar operator; use `==`", token)
        else:
            return left
        token = tokens[self.pos]
        if token.kind in RELATION_OPS or (token.kind == IDENT and token.text in _RELATION_WORDS):
            self.fail(
                "chained-relation",
                f"unexpected `{token.text}`: relational operators cannot be chained, "
                "use parentheses to make the order explicit",
                token,
            )
        return node

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

    def additive(self) -> Expr:
        """`Mult {('+' | '-') Mult}`, left-associative."""
        tokens = self.tokens
        start = tokens[self.pos].start
        left = self.multiplicative()
        while True:
            kind = tokens[self.pos].kind
            if kind != "+" and kind != "-":
                return left
            self.pos += 1
            left = BinaryOp(kind, left, self.multiplicative(), self.span_from(start))

    def multiplicative(self) -> Expr:
        """`Unary {'*' Unary}`, left-associative; `/` and `%` get a clear error."""
        tokens = self.tokens
        start = tokens[self.pos].start
        left = self.unary()
        while True:
            token = tokens[self.pos]
            if token.kind == "*":
                self.pos += 1
                left = BinaryOp("*", left, self.unary(), self.span_from(start))
            elif token.kind == "/" or token.kind == "%":
                what = "division" if token.kind == "/" else "remainder"
                message = f"{what} (`{token.kind}`) is not supported"
                self.fail("unsupported-operator", message, token)
            else:
                return left

    def unary(self) -> Expr:
        """`['!'x1..4 | '-'x1..4] Member`; `-` directly before an integer makes it negative."""
        tokens = self.tokens
        token = tokens[self.pos]
        kind = token.kind
        if kind != "!" and kind != "-":
            return self.member()
        starts: list[int] = []
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
        node: Expr
        if kind == "-" and number.kind == INT and tokens[self.pos + 1].kind not in (".", "["):
            # Fold the innermost minus into the literal, so `-9223372036854775808` is in range.
            self.pos += 1
            value = -int(number.text)
            if value < LONG_MIN:
                self.error(
                    "integer-overflow",
                    f"integer literal `{number.text}` is too large",
                    number.start,
                    number.end,
                )
            node = Literal(value, self.span_from(starts.pop()))
        else:
            node = self.member()
        wrap = Neg if kind == "-" else Not
        while starts:
            node = wrap(node, self.span_from(starts.pop()))
        return node

    def member(self) -> Expr:
        """`Primary {'.' IDENT ['(' Args ')'] | '[' STR ']'}`."""
        tokens = self.tokens
        start = tokens[self.pos].start
        node = self.primary()
        while True:
            token = tokens[self.pos]
            kind = token.kind
            if kind == ".":
                self.pos += 1
                name_token = self.expect(IDENT, "an attribute or method name after `.`")
                name = self.check_identifier(name_token)
                if tokens[self.pos].kind == "(":
                    self.pos += 1
                    args = self.expressions(")")
                    self.check_method(name_token, len(args))
                    node = MethodCall(node, name, args, self.span_from(start))
                else:
                    node = GetAttr(node, name, self.span_from(start))
            elif kind == "[":
                self.pos += 1
                key = tokens[self.pos]
                if key.kind == STRING and tokens[self.pos + 1].kind == "]":
                    self.pos += 2
                    node = GetAttr(node, self.string_value(key), self.span_from(start))
                else:
                    self.expr()
                    self.expect("]", "`]`")
                    self.error(
                        "invalid-index",
                        "`[...]` attribute access requires a string literal",
                        key.start,
                        tokens[self.pos - 1].end,
                    )
            elif kind == "(":
                self.fail(
                    "invalid-call",
                    "function calls must be of the form `name(arg1, arg2, ...)`",
                    token,
                )
            else:
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

    def primary(self) -> Expr:
        """Literals, names, entity uids, calls, slots, `(...)`, `[...]` and `{...}`."""
        tokens = self.tokens
        token = tokens[self.pos]
        kind = token.kind
        self.pos += 1
        if kind == IDENT:
            text = token.text
            if text == "true" or text == "false":
                return Literal(text == "true", self.span_from(token.start))
            if text == "if":
                self.pos -= 1
                self.fail(
                    "unexpected-token",
                    "an `if` expression must be wrapped in parentheses here",
                    token,
                )
            return self.name(token)
        if kind == INT:
            value = int(token.text)
            if value > LONG_MAX:
                self.error(
                    "integer-overflow",
                    f"integer literal `{token.text}` is too large",
                    token.start,
                    token.end,
                )
            return Literal(value, self.span_from(token.start))
        if kind == STRING:
            return Literal(self.string_value(token), self.span_from(token.start))
        if kind == "(":
            inner = self.expr()
            self.expect(")", "`)`")
            return inner
        if kind == "[":
            return SetLiteral(self.expressions("]"), self.span_from(token.start))
        if kind == "{":
            return self.record(token)
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

    def name(self, first: Token) -> Expr:
        """A path: an entity uid `A::B::"id"`, a call `A::f(...)` or a variable."""
        tokens = self.tokens
        parts = self.path(first)
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
        if token.kind == "(":
            for part in parts:
                self.check_identifier(part)
            self.pos += 1
            args = self.expressions(")")
            if name not in FUNCTIONS:
                if name in EXTENSION_METHODS or name in BUILTIN_METHOD_ARITY:
                    message = f"`{name}` is a method, not a function; call it as `x.{name}(...)`"
                else:
                    message = f"`{name}` is not a known function"
                self.error("unknown-function", message, first.start, parts[-1].end)
            return ExtensionCall(name, args, self.span_from(first.start))
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

    def expressions(self, close: str) -> tuple[Expr, ...]:
        """`[Expr {',' Expr} [',']] close`, after the opening bracket."""
        tokens = self.tokens
        items: list[Expr] = []
        while tokens[self.pos].kind != close:
            items.append(self.expr())
            kind = tokens[self.pos].kind
            if kind == ",":
                self.pos += 1
            elif kind != close:
                self.unexpected(f"`,` or `{close}`")
        self.pos += 1
        return tuple(items)

    def record(self, open_token: Token) -> RecordLiteral:
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
            value = self.expr()
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
