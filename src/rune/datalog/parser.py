"""Parse Soufflé-dialect Datalog text into a `ProgramAst`, collecting every syntax error.

The grammar follows Soufflé's: directives (`.decl`, `.type`, `.input`, `.output`, ...),
facts, and rules whose bodies may use `;` disjunction, parentheses and `!` over any term.
Bodies are expanded to disjunctive normal form here, and multi-head rules are split, so
every `Clause` the parser returns has one head and a conjunctive body. `#include "file"`
lines (and `.include "file"`) splice in other files; their spans keep their own file name.

Hostile text is refused with located errors, never a crash (see `rune.datalog.limits`):
more than `MAX_PROGRAM_CHARS` of text (`program-too-large`), constructs nested more than
`MAX_NESTING_DEPTH` levels deep (`nesting-too-deep`), a rule whose disjunctions multiply
out to more than `MAX_CLAUSE_EXPANSION` clauses (`rule-too-large`), and numeric literals
no integer or float can hold (`number-out-of-range`). Expressions are parsed with explicit
operand and operator stacks, so brackets, prefix operators and long operator chains
(`1 + 1 + ... + 1`) cost no recursion; functor calls, aggregates and bracketed bodies
recurse, guarded by the nesting limit and by the room left on the Python stack.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rune.datalog.ast import (
    Aggregate,
    Atom,
    Attribute,
    BinaryOp,
    BooleanLiteral,
    Clause,
    Comparison,
    Counter,
    Directive,
    Expr,
    FunctorCall,
    Literal,
    Negation,
    NumberConstant,
    Pragma,
    ProgramAst,
    RelationDecl,
    StringConstant,
    TypeCast,
    TypeDecl,
    UnaryOp,
    Variable,
    Wildcard,
)
from rune.datalog.errors import DatalogError, ErrorCode
from rune.datalog.lexer import Token, TokenKind, tokenize
from rune.datalog.limits import MAX_CLAUSE_EXPANSION, MAX_NESTING_DEPTH, MAX_PROGRAM_CHARS
from rune.datalog.source import SourceFile
from rune.errors import Diagnostic, SourceSpan

__all__ = ["FUNCTOR_ARITIES", "ParsedProgram", "parse_program"]

# Intrinsic functors called with parentheses, and how many arguments each accepts.
FUNCTOR_ARITIES: dict[str, tuple[int, int]] = {
    "cat": (1, 1000),
    "ord": (1, 1),
    "strlen": (1, 1),
    "substr": (3, 3),
    "to_float": (1, 1),
    "to_number": (1, 1),
    "to_string": (1, 1),
    "to_unsigned": (1, 1),
    "itof": (1, 1),
    "itou": (1, 1),
    "utoi": (1, 1),
    "utof": (1, 1),
    "ftoi": (1, 1),
    "ftou": (1, 1),
    "range": (2, 3),
    "min": (2, 1000),
    "max": (2, 1000),
}

_AGGREGATES = frozenset({"count", "sum", "min", "max", "mean"})
_RELATION_QUALIFIERS = frozenset(
    {
        "input",
        "output",
        "printsize",
        "overridable",
        "inline",
        "no_inline",
        "magic",
        "no_magic",
        "brie",
        "btree",
        "btree_delete",
        "eqrel",
    }
)
_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_NEGATED_COMPARISON = {
    "=": "!=",
    "!=": "=",
    "<": ">=",
    ">=": "<",
    ">": "<=",
    "<=": ">",
    "match": "not_match",
    "not_match": "match",
    "contains": "not_contains",
    "not_contains": "contains",
}
# Binary operator levels, loosest first; each level is left-associative.
_BINARY_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"lor"}),
    frozenset({"lxor"}),
    frozenset({"land"}),
    frozenset({"bor"}),
    frozenset({"bxor"}),
    frozenset({"band"}),
    frozenset({"bshl", "bshr", "bshru"}),
    frozenset({"+", "-"}),
    frozenset({"*", "/", "%"}),
)
_LEVEL_OF = {op: level for level, ops in enumerate(_BINARY_LEVELS) for op in ops}
# Prefix operators bind tighter than every binary operator, `^` tighter still (and to the
# right): `-a ^ b * c` is `(-(a ^ b)) * c`.
_PREFIX_LEVEL = len(_BINARY_LEVELS)
_POWER_LEVEL = _PREFIX_LEVEL + 1
_WORD_OPERATORS = frozenset().union(*_BINARY_LEVELS[:7]) | {"bnot", "lnot"}
# The most digits (after leading zeros) of an integer below 2**64, by base: no integer
# type is wider, so longer literals are out of range whatever their context.
_MAX_DIGITS = {10: 20, 16: 16, 2: 64}
# Python frames kept free below the recursion limit; the nesting guard looks every 16
# levels, and one level (an aggregate) takes up to 8 parser frames.
_STACK_HEADROOM = 250
_RESERVED = _AGGREGATES | _WORD_OPERATORS | frozenset(FUNCTOR_ARITIES) | {"as", "nil", "autoinc"}

FileReader = Callable[[Path], str]
Dnf = list[list[Literal]]


@dataclass(frozen=True, slots=True)
class ParsedProgram:
    """The parser's output: the AST plus the text of every file it read."""

    ast: ProgramAst
    sources: dict[str | None, str]


class _Failure(Exception):
    """Abandon the current top-level item; carries the diagnostic to report."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class _Collector:
    """Everything gathered across the main file and its includes."""

    include_dirs: tuple[Path, ...]
    read: FileReader
    relations: list[RelationDecl] = field(default_factory=list)
    types: list[TypeDecl] = field(default_factory=list)
    clauses: list[Clause] = field(default_factory=list)
    directives: list[Directive] = field(default_factory=list)
    pragmas: list[Pragma] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str | None, str] = field(default_factory=dict)
    including: list[Path] = field(default_factory=list)
    characters: int = 0


def parse_program(
    text: str,
    file: str | None = None,
    *,
    include_dirs: Sequence[str | Path] = (),
    read_file: FileReader | None = None,
) -> ParsedProgram:
    """Parse a whole program.

    Args:
        text: the program text.
        file: the name spans report (and the base for relative `#include` paths).
        include_dirs: extra directories searched by `#include`.
        read_file: how included files are read (defaults to UTF-8 from disk).

    Returns:
        The AST and the text of every file read.

    Raises:
        DatalogError: every syntax error found, sorted by position; (`program-too-large`)
            more than `MAX_PROGRAM_CHARS` characters in all files together.
    """
    if len(text) > MAX_PROGRAM_CHARS:
        raise DatalogError(
            f"program too large: {len(text):,} characters, at most {MAX_PROGRAM_CHARS:,}",
            code=ErrorCode.PROGRAM_TOO_LARGE,
        )
    collector = _Collector(
        include_dirs=tuple(Path(d) for d in include_dirs),
        read=read_file or (lambda path: path.read_text(encoding="utf-8")),
    )
    if file is not None:
        collector.including.append(Path(file).resolve())
    _FileParser(SourceFile(file, text), collector).parse()
    if collector.diagnostics:
        raise DatalogError.from_diagnostics(collector.diagnostics, collector.sources)
    ast = ProgramAst(
        relations=tuple(collector.relations),
        types=tuple(collector.types),
        clauses=tuple(collector.clauses),
        directives=tuple(collector.directives),
        pragmas=tuple(collector.pragmas),
    )
    return ParsedProgram(ast, collector.sources)


class _FileParser:
    """A recursive-descent parser over the tokens of one file."""

    def __init__(self, source: SourceFile, collector: _Collector) -> None:
        self.source = source
        self.collector = collector
        collector.sources[source.name] = source.text
        collector.characters += len(source.text)
        self.tokens, lexical_errors = tokenize(source)
        collector.diagnostics.extend(lexical_errors)
        self.position = 0
        # How deeply the construct being parsed is nested (see `enter`).
        self.depth = 0

    # -- token helpers -------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        index = min(self.position + ahead, len(self.tokens) - 1)
        return self.tokens[index]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        if token.kind is not TokenKind.EOF:
            self.position += 1
        return token

    def at(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.text == text and token.kind in (TokenKind.PUNCT, TokenKind.IDENT)

    def accept(self, text: str) -> Token | None:
        if self.at(text):
            return self.advance()
        return None

    def expect(self, text: str, what: str | None = None) -> Token:
        if self.at(text):
            return self.advance()
        raise self.unexpected(what or f"`{text}`")

    def expect_kind(self, kind: TokenKind, what: str) -> Token:
        if self.peek().kind is kind:
            return self.advance()
        raise self.unexpected(what)

    def unexpected(self, expected: str) -> _Failure:
        token = self.peek()
        return self.failure(token, f"expected {expected}, found {token.describe()}")

    def failure(self, token: Token, message: str, code: str = ErrorCode.SYNTAX) -> _Failure:
        end = max(token.end, token.start + 1)
        return _Failure(Diagnostic(code, message, self.span(token.start, end)))

    def span(self, start: int, end: int) -> SourceSpan:
        return self.source.span(start, end)

    def span_from(self, first: Token) -> SourceSpan:
        previous = self.tokens[self.position - 1] if self.position > 0 else first
        return self.span(first.start, max(previous.end, first.end))

    def previous_end(self) -> int:
        """Where the last token consumed ends."""
        return self.tokens[self.position - 1].end if self.position > 0 else 0

    def enter(self, token: Token) -> None:
        """One level deeper (a bracket, prefix operator, `^`, functor call, aggregate or
        negation starting at ``token``); `leave` (or a failure) ends it."""
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH or (self.depth & 15 == 0 and _stack_nearly_full()):
            raise self.failure(
                token,
                f"nested too deeply: at most {MAX_NESTING_DEPTH} levels of brackets, prefix "
                "operators, `^`, functor calls, aggregates and negations",
                ErrorCode.NESTING_TOO_DEEP,
            )

    def leave(self) -> None:
        self.depth -= 1

    # -- top level -----------------------------------------------------------------------

    def parse(self) -> None:
        while self.peek().kind is not TokenKind.EOF:
            start = self.position
            try:
                self.parse_item()
            except _Failure as failure:
                self.collector.diagnostics.append(failure.diagnostic)
                self.depth = 0
                self.recover(start)

    def recover(self, start: int) -> None:
        """Skip to just after the next `.` ending a clause, or to the next directive."""
        if self.position == start:
            self.advance()
        while True:
            token = self.peek()
            if token.kind in (TokenKind.EOF, TokenKind.DIRECTIVE, TokenKind.HASH):
                return
            self.advance()
            if token.kind is TokenKind.PUNCT and token.text == ".":
                return

    def parse_item(self) -> None:
        token = self.peek()
        if token.kind is TokenKind.HASH:
            self.advance()
            self.parse_hash_line(token)
        elif token.kind is TokenKind.DIRECTIVE:
            self.advance()
            self.parse_directive(token)
        else:
            self.parse_clause()

    def parse_hash_line(self, token: Token) -> None:
        words = token.text[1:].strip().split(None, 1)
        if not words or words[0].isdigit() or words[0] in ("line", "pragma"):
            return  # line markers and pragmas from a C preprocessor carry no meaning here
        if words[0] == "include" and len(words) == 2:
            target = words[1].strip()
            if len(target) >= 2 and target[0] in '"<' and target[-1] in '">':
                self.include(token, target[1:-1])
                return
            raise self.failure(token, "expected a quoted file name after `#include`")
        raise self.failure(
            token,
            f"unsupported preprocessor directive `#{words[0]}`",
            ErrorCode.UNSUPPORTED,
        )

    def include(self, token: Token, name: str) -> None:
        base = Path(self.source.name).parent if self.source.name else Path.cwd()
        candidates = [base / name, *(d / name for d in self.collector.include_dirs)]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise self.failure(token, f"cannot find included file `{name}`", ErrorCode.INCLUDE)
        resolved = path.resolve()
        if resolved in self.collector.including:
            raise self.failure(token, f"file `{name}` includes itself", ErrorCode.INCLUDE)
        try:
            text = self.collector.read(path)
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or error
            message = f"cannot read included file `{name}`: {reason}"
            raise self.failure(token, message, ErrorCode.INCLUDE) from error
        if self.collector.characters + len(text) > MAX_PROGRAM_CHARS:
            raise self.failure(
                token,
                f"program too large with `{name}`: at most {MAX_PROGRAM_CHARS:,} characters "
                "in all files together",
                ErrorCode.PROGRAM_TOO_LARGE,
            )
        self.collector.including.append(resolved)
        try:
            _FileParser(SourceFile(str(path), text), self.collector).parse()
        finally:
            self.collector.including.pop()

    # -- directives ----------------------------------------------------------------------

    def parse_directive(self, token: Token) -> None:
        name = token.text
        if name == "decl":
            self.parse_decl()
        elif name == "type":
            self.parse_type()
        elif name in ("number_type", "symbol_type"):
            ident = self.expect_kind(TokenKind.IDENT, "a type name")
            base = "number" if name == "number_type" else "symbol"
            span = self.span(ident.start, ident.end)
            self.collector.types.append(TypeDecl(ident.text, "subtype", (base,), span))
        elif name in ("input", "output", "printsize", "limitsize"):
            self.parse_io(name)
        elif name == "pragma":
            key = self.expect_kind(TokenKind.STRING, "a quoted pragma name")
            value = ""
            if self.peek().kind is TokenKind.STRING:
                value = self.advance().text
            span = self.span(token.start, key.end)
            self.collector.pragmas.append(Pragma(key.text, value, span))
        elif name == "plan":
            self.parse_plan()
        elif name in ("include", "once"):
            if name == "include":
                target = self.expect_kind(TokenKind.STRING, "a quoted file name")
                self.include(target, target.text)
        else:
            raise self.failure(token, f"unsupported directive `.{name}`", ErrorCode.UNSUPPORTED)

    def parse_decl(self) -> None:
        names = [self.expect_kind(TokenKind.IDENT, "a relation name")]
        while self.accept(","):
            names.append(self.expect_kind(TokenKind.IDENT, "a relation name"))
        self.expect("(")
        attributes: list[Attribute] = []
        if not self.at(")"):
            while True:
                attr_name = self.expect_kind(TokenKind.IDENT, "an attribute name")
                self.expect(":")
                type_token = self.expect_kind(TokenKind.IDENT, "a type name")
                type_name = type_token.text
                while self.at(".") and self.peek(1).kind is TokenKind.IDENT:
                    self.advance()
                    type_name += "." + self.advance().text
                span = self.span(type_token.start, self.peek(-1).end)
                attributes.append(Attribute(attr_name.text, type_name, span))
                if not self.accept(","):
                    break
        self.expect(")", "`,` or `)`")
        qualifiers: set[str] = set()
        while self.peek().kind is TokenKind.IDENT:
            word = self.peek().text
            if word in _RELATION_QUALIFIERS:
                qualifiers.add(self.advance().text)
            elif word == "choice" and self.at("-", 1):
                raise self.failure(
                    self.peek(), "unsupported `choice-domain`", ErrorCode.UNSUPPORTED
                )
            else:
                break
        for name in names:
            span = self.span(name.start, name.end)
            self.collector.relations.append(
                RelationDecl(name.text, tuple(attributes), frozenset(qualifiers), span)
            )
        for io in ("input", "output", "printsize"):
            if io in qualifiers:
                for name in names:
                    span = self.span(name.start, name.end)
                    self.collector.directives.append(Directive(io, name.text, (), span))

    def parse_type(self) -> None:
        ident = self.expect_kind(TokenKind.IDENT, "a type name")
        span = self.span(ident.start, ident.end)
        if self.accept("<:"):
            base = self.expect_kind(TokenKind.IDENT, "a base type name")
            self.collector.types.append(TypeDecl(ident.text, "subtype", (base.text,), span))
            return
        if self.accept("="):
            if self.at("["):
                raise self.failure(self.peek(), "unsupported record type", ErrorCode.UNSUPPORTED)
            members = [self.expect_kind(TokenKind.IDENT, "a type name")]
            if self.at("{"):
                raise self.failure(
                    self.peek(), "unsupported algebraic data type", ErrorCode.UNSUPPORTED
                )
            while self.accept("|"):
                members.append(self.expect_kind(TokenKind.IDENT, "a type name"))
            names = tuple(m.text for m in members)
            self.collector.types.append(TypeDecl(ident.text, "union", names, span))
            return
        self.collector.types.append(TypeDecl(ident.text, "subtype", ("symbol",), span))

    def parse_io(self, kind: str) -> None:
        names = [self.expect_kind(TokenKind.IDENT, "a relation name")]
        while self.accept(","):
            names.append(self.expect_kind(TokenKind.IDENT, "a relation name"))
        parameters: list[tuple[str, str]] = []
        if self.accept("("):
            if not self.at(")"):
                while True:
                    key = self.expect_kind(TokenKind.IDENT, "an option name")
                    self.expect("=")
                    value = self.advance()
                    if value.kind not in (TokenKind.STRING, TokenKind.IDENT, TokenKind.NUMBER):
                        self.position -= 1
                        raise self.unexpected("an option value")
                    parameters.append((key.text, value.text))
                    if not self.accept(","):
                        break
            self.expect(")", "`,` or `)`")
        for name in names:
            span = self.span(name.start, name.end)
            self.collector.directives.append(Directive(kind, name.text, tuple(parameters), span))

    def parse_plan(self) -> None:
        """Skip a `.plan` (Soufflé's manual join order); RUNE chooses its own."""
        while True:
            self.expect_kind(TokenKind.NUMBER, "a rule version number")
            self.expect(":")
            self.expect("(")
            while not self.at(")"):
                self.expect_kind(TokenKind.NUMBER, "an atom position")
                if not self.accept(","):
                    break
            self.expect(")")
            if not self.accept(","):
                return

    # -- clauses -------------------------------------------------------------------------

    def parse_clause(self) -> None:
        first = self.peek()
        heads = [self.parse_atom()]
        while self.accept(","):
            heads.append(self.parse_atom())
        bodies: Dnf = [[]]
        if self.accept(":-"):
            bodies = self.parse_disjunction()
        end = self.expect(".", "`.` at the end of the clause")
        span = self.span(first.start, end.end)
        if len(heads) * len(bodies) > MAX_CLAUSE_EXPANSION:
            raise self.too_large(first)
        for head in heads:
            for body in bodies:
                self.collector.clauses.append(Clause(head, tuple(body), span))

    def parse_atom(self) -> Atom:
        name = self.expect_kind(TokenKind.IDENT, "a relation name")
        if name.text in _RESERVED or name.text == "_":
            raise self.failure(name, f"expected a relation name, found `{name.text}`")
        relation = name.text
        while self.at(".") and self.peek(1).kind is TokenKind.IDENT and self.at("(", 2):
            self.advance()
            relation += "." + self.advance().text
        self.expect("(", "`(` after the relation name")
        args: list[Expr] = []
        if not self.at(")"):
            args.append(self.parse_expression())
            while self.accept(","):
                args.append(self.parse_expression())
        self.expect(")", "`,` or `)`")
        return Atom(relation, tuple(args), self.span(name.start, name.end))

    def too_large(self, token: Token) -> _Failure:
        return self.failure(
            token,
            f"rule too large: its disjunctions (`;`) multiply out to more than "
            f"{MAX_CLAUSE_EXPANSION:,} clauses",
            ErrorCode.RULE_TOO_LARGE,
        )

    def parse_disjunction(self) -> Dnf:
        first = self.peek()
        result = self.parse_conjunction()
        while self.accept(";"):
            result = result + self.parse_conjunction()
            if len(result) > MAX_CLAUSE_EXPANSION:
                raise self.too_large(first)
        return result

    def parse_conjunction(self) -> Dnf:
        result: Dnf = [[]]
        while True:
            token = self.peek()
            term = self.parse_term()
            if len(result) * len(term) > MAX_CLAUSE_EXPANSION:
                raise self.too_large(token)
            result = [left + right for left in result for right in term]
            if not self.accept(","):
                return result

    def parse_term(self) -> Dnf:
        token = self.peek()
        if self.accept("!"):
            self.enter(token)
            inner = self.parse_term()
            self.leave()
            negated = _negate(inner, self.span(token.start, token.end))
            if negated is None:
                raise self.too_large(token)
            return negated
        if self.at("("):
            start = self.position
            depth = self.depth
            try:
                return [[self.parse_constraint()]]
            except _Failure:
                self.position = start
                self.depth = depth
            self.enter(self.advance())
            inner = self.parse_disjunction()
            self.expect(")", "`)` closing the parenthesised body")
            self.leave()
            return inner
        if token.kind is TokenKind.IDENT:
            word = token.text
            if word in ("true", "false") and not self.at("(", 1):
                self.advance()
                span = self.span(token.start, token.end)
                return [[BooleanLiteral(word == "true", span)]]
            if word in ("match", "contains") and self.at("(", 1):
                self.advance()
                self.enter(self.advance())
                left = self.parse_expression()
                self.expect(",")
                right = self.parse_expression()
                self.expect(")")
                self.leave()
                return [[Comparison(word, left, right, self.span_from(token))]]
            if self.at("(", 1) and word not in _RESERVED:
                return [[self.parse_atom()]]
        return [[self.parse_constraint()]]

    def parse_constraint(self) -> Comparison:
        first = self.peek()
        left = self.parse_expression()
        op = self.peek()
        if op.kind is not TokenKind.PUNCT or op.text not in _COMPARISONS:
            raise self.unexpected("a comparison operator")
        self.advance()
        right = self.parse_expression()
        return Comparison(op.text, left, right, self.span_from(first))

    # -- expressions ---------------------------------------------------------------------

    def parse_expression(self) -> Expr:
        """An expression, by operator precedence over explicit stacks: brackets, prefix
        operators, `^`, functor calls and chains of binary operators cost no recursion
        (only aggregates, whose bodies are parsed as bodies, recurse)."""
        # Operands with their source extent. Operators as (kind, token, level), kind one of
        # "prefix", "^", "binary", or "(" marking an open bracket (level -1, so reductions
        # stop there). Open brackets as (kind, token, first operand), kind one of "(",
        # "call" or "as". INVARIANT: `self.depth` exceeds `base` by the number of open
        # brackets, prefix and `^` operators, so it is back to `base` once all are done.
        operands: list[tuple[Expr, int, int]] = []
        operators: list[tuple[str, Token, int]] = []
        brackets: list[tuple[str, Token, int]] = []
        base = self.depth
        expect_operand = True
        try:
            while True:
                token = self.peek()
                punct = token.kind is TokenKind.PUNCT
                if expect_operand:
                    word = token.text if token.kind is TokenKind.IDENT else ""
                    if punct and token.text == "(":
                        self.advance()
                        brackets.append(("(", token, len(operands)))
                        operators.append(("(", token, -1))
                        self.enter(token)
                    elif (punct and token.text == "-") or word in ("bnot", "lnot"):
                        self.advance()
                        operators.append(("prefix", token, _PREFIX_LEVEL))
                        self.enter(token)
                    elif (word in FUNCTOR_ARITIES or word == "as") and self.at("(", 1):
                        self.advance()
                        self.advance()
                        brackets.append(("as" if word == "as" else "call", token, len(operands)))
                        operators.append(("(", token, -1))
                        self.enter(token)
                        # A call without arguments is closed (and refused) right away.
                        expect_operand = word == "as" or not self.at(")")
                    else:
                        operands.append((self.parse_operand(), token.start, self.previous_end()))
                        expect_operand = False
                    continue
                if punct and token.text == "^":
                    self.advance()
                    operators.append(("^", token, _POWER_LEVEL))
                    self.enter(token)
                    expect_operand = True
                    continue
                level = _binary_level(token)
                if level is not None:
                    self.reduce(operands, operators, level)
                    self.advance()
                    operators.append(("binary", token, level))
                    expect_operand = True
                    continue
                if not brackets:
                    self.reduce(operands, operators, 0)
                    return operands[0][0]
                kind, opening, first = brackets[-1]
                if kind == "(" and not (punct and token.text == ")"):
                    raise self.unexpected("`)`")
                if kind == "as" and not (punct and token.text == ","):
                    raise self.unexpected("`,`")
                if kind == "call" and not (punct and token.text in (",", ")")):
                    raise self.unexpected("`,` or `)`")
                self.reduce(operands, operators, 0)
                if kind == "call" and token.text == ",":
                    self.advance()
                    expect_operand = True
                    continue
                self.advance()
                if kind == "as":
                    type_name = self.expect_kind(TokenKind.IDENT, "a type name")
                    self.expect(")")
                brackets.pop()
                operators.pop()
                self.leave()
                end = self.previous_end()
                if kind == "(":
                    expr, _, _ = operands.pop()
                elif kind == "as":
                    value, _, _ = operands.pop()
                    expr = TypeCast(value, type_name.text, self.span(opening.start, end))
                else:
                    args = [operand for operand, _, _ in operands[first:]]
                    del operands[first:]
                    expr = self.functor(opening, args)
                    end = self.previous_end()
                operands.append((expr, opening.start, end))
        finally:
            self.depth = base

    def functor(self, token: Token, args: list[Expr]) -> Expr:
        """The call of functor ``token`` on ``args`` just parsed: `min`/`max` with one
        argument and a `:` after it is an aggregate (`min(x) : body`)."""
        word = token.text
        if word in ("min", "max"):
            if len(args) == 1 and self.at(":"):
                self.enter(token)
                aggregate = self.parse_aggregate_body(token, word, args[0])
                self.leave()
                return aggregate
            if len(args) < 2:
                raise self.failure(token, f"functor `{word}` expects at least 2 arguments")
            return FunctorCall(word, tuple(args), self.span_from(token))
        low, high = FUNCTOR_ARITIES[word]
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            raise self.failure(
                token, f"functor `{word}` expects {expected} arguments, got {len(args)}"
            )
        return FunctorCall(word, tuple(args), self.span_from(token))

    def reduce(
        self,
        operands: list[tuple[Expr, int, int]],
        operators: list[tuple[str, Token, int]],
        level: int,
    ) -> None:
        """Apply the stacked operators binding at least as tightly as ``level``, down to
        the innermost open bracket."""
        while operators and operators[-1][0] != "(" and operators[-1][2] >= level:
            kind, token, _ = operators.pop()
            right, _, end = operands.pop()
            if kind == "prefix":
                span = self.span(token.start, end)
                if token.text == "-" and isinstance(right, NumberConstant):
                    operands.append((NumberConstant(-right.value, right.literal, span),
                                     token.start, end))
                else:
                    operands.append((UnaryOp(token.text, right, span), token.start, end))
                self.leave()
                continue
            left, start, _ = operands.pop()
            operands.append((BinaryOp(token.text, left, right, self.span(start, end)), start, end))
            if kind == "^":
                self.leave()

    def parse_operand(self) -> Expr:
        """A constant, variable, counter, functor call or aggregate (brackets and
        operators are `parse_expression`'s)."""
        token = self.peek()
        kind = token.kind
        if kind is TokenKind.NUMBER or kind is TokenKind.UNSIGNED:
            self.advance()
            literal = "int" if kind is TokenKind.NUMBER else "unsigned"
            value = self.integer_value(token)
            return NumberConstant(value, literal, self.span(token.start, token.end))
        if kind is TokenKind.FLOAT:
            self.advance()
            number = float(token.text)
            mantissa = token.text.lower().split("e")[0]
            if number == float("inf") or (number == 0.0 and mantissa.strip("0.")):
                # Beyond a double, or a non-zero literal that rounds to 0 (as Soufflé,
                # which refuses both rather than change the value).
                raise self.failure(
                    token,
                    f"float constant `{token.text}` is out of range",
                    ErrorCode.NUMBER_OUT_OF_RANGE,
                )
            return NumberConstant(number, "float", self.span(token.start, token.end))
        if kind is TokenKind.STRING:
            self.advance()
            return StringConstant(token.text, self.span(token.start, token.end))
        if self.at("$"):
            self.advance()
            if self.peek().kind is TokenKind.IDENT:
                raise self.failure(token, "unsupported algebraic data type", ErrorCode.UNSUPPORTED)
            return Counter(self.span(token.start, token.end))
        if self.at("["):
            raise self.failure(token, "unsupported record constructor", ErrorCode.UNSUPPORTED)
        if self.at("@"):
            raise self.failure(token, "unsupported user-defined functor", ErrorCode.UNSUPPORTED)
        if kind is not TokenKind.IDENT:
            raise self.unexpected("an expression")
        return self.parse_word(token)

    def integer_value(self, token: Token) -> int:
        """The value of an integer literal (decimal, `0x` hex or `0b` binary).

        Literals of 2**64 or more fit no integer type (whatever the context, the range
        check of `rune.datalog.codegen` would refuse them) and are refused here, before
        Python converts thousands of digits.
        """
        text = token.text.lower()
        base = 16 if text.startswith("0x") else 2 if text.startswith("0b") else 10
        digits = text if base == 10 else text[2:]
        if len(digits.lstrip("0")) <= _MAX_DIGITS[base]:
            value = int(digits, base)
            if value < 1 << 64:
                return value
        shown = token.text if len(token.text) <= 40 else token.text[:37] + "..."
        raise self.failure(
            token,
            f"number constant `{shown}` is out of range: integers have at most 64 bits",
            ErrorCode.NUMBER_OUT_OF_RANGE,
        )

    def parse_word(self, token: Token) -> Expr:
        """A word starting an operand: `_`, a variable, an aggregate, `autoinc()`, or an
        unknown functor (known functors and `as` are `parse_expression`'s)."""
        word = token.text
        span = self.span(token.start, token.end)
        if word == "_":
            self.advance()
            return Wildcard(span)
        if word == "nil":
            raise self.failure(token, "unsupported record constant `nil`", ErrorCode.UNSUPPORTED)
        if word in _AGGREGATES:
            self.advance()
            self.enter(token)
            target = None if word == "count" else self.parse_expression()
            aggregate = self.parse_aggregate_body(token, word, target)
            self.leave()
            return aggregate
        if word == "autoinc" and self.at("(", 1):
            self.advance()
            self.advance()
            self.expect(")")
            return Counter(self.span_from(token))
        if self.at("(", 1):
            raise self.failure(token, f"unknown functor `{word}`")
        if word in _RESERVED:
            raise self.failure(token, f"expected an expression, found `{word}`")
        self.advance()
        return Variable(word, span)

    def parse_aggregate_body(self, token: Token, op: str, target: Expr | None) -> Aggregate:
        self.expect(":", f"`:` after the `{op}` aggregate")
        if self.accept("{"):
            bodies = self.parse_disjunction()
            self.expect("}", "`}` closing the aggregate body")
        else:
            bodies = [[self.parse_atom()]]
        if len(bodies) != 1:
            raise self.failure(
                token, "unsupported disjunction in an aggregate body", ErrorCode.UNSUPPORTED
            )
        return Aggregate(op, target, tuple(bodies[0]), self.span(token.start, token.end))


def _binary_level(token: Token) -> int | None:
    """The precedence level of a binary operator token (loosest 0), else ``None``."""
    if token.kind is TokenKind.PUNCT or token.kind is TokenKind.IDENT:
        return _LEVEL_OF.get(token.text)
    return None


def _stack_nearly_full() -> bool:
    """Whether fewer than `_STACK_HEADROOM` frames are left below the recursion limit."""
    try:
        sys._getframe(sys.getrecursionlimit() - _STACK_HEADROOM)
    except ValueError:
        return False
    return True


def _negate(dnf: Dnf, span: SourceSpan) -> Dnf | None:
    """The disjunctive normal form of the negation of ``dnf`` (De Morgan); ``None`` when
    it would have more than `MAX_CLAUSE_EXPANSION` conjunctions."""
    result: Dnf = [[]]
    for conjunction in dnf:
        if not conjunction:
            alternatives: Dnf = [[BooleanLiteral(False, span)]]
        else:
            alternatives = [[_negate_literal(literal, span)] for literal in conjunction]
        if len(result) * len(alternatives) > MAX_CLAUSE_EXPANSION:
            return None
        result = [left + right for left in result for right in alternatives]
    return result


def _negate_literal(literal: Literal, span: SourceSpan) -> Literal:
    if isinstance(literal, Atom):
        return Negation(literal, span)
    if isinstance(literal, Negation):
        return literal.atom
    if isinstance(literal, Comparison):
        return Comparison(
            _NEGATED_COMPARISON[literal.op], literal.left, literal.right, literal.span
        )
    return BooleanLiteral(not literal.value, literal.span)
