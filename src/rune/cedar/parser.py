"""The Cedar parser: policy text to policy and template ASTs with source spans.

A hand-written parser accepting exactly what cedar-policy 4.12 accepts (and expressions
nested deeper than its stack allows, up to `rune.cedar.limits.MAX_NESTING_DEPTH`);
the expression grammar lives in `rune.cedar._expressions`, the scope rules in
`rune.cedar._scope`.

Errors are collected rather than raised one at a time. "Soft" errors leave the syntax intact
and parsing goes on; a syntax error abandons the current policy, and the parser resumes
after the next `;` (or at the next `@annotation` / `permit (` / `forbid (`), so one pass
reports every broken policy of a file, sorted by position, in one `ParseError`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import NoReturn

from rune.cedar._expressions import RELATION_OPS, Abort, ExpressionParser, describe_token
from rune.cedar._scope import ScopeElement, build_scope
from rune.cedar.ast import (
    Annotation,
    Condition,
    Effect,
    Expr,
    PolicyAST,
    ScopeConstraint,
)
from rune.cedar.errors import ParseError
from rune.cedar.lexer import EOF, ERROR, IDENT, STRING, tokenize, tokenize_statements
from rune.cedar.limits import checked_text
from rune.cedar.values import EntityUID

__all__ = [
    "iter_policies",
    "parse_entity_type",
    "parse_entity_uid",
    "parse_expression",
    "parse_policies",
    "parse_policy_at",
    "parse_statement",
]

_SYNC_EFFECTS = frozenset({"permit", "forbid"})


class _PolicyParser(ExpressionParser):
    """Adds policies, annotations, scopes and conditions to the expression parser."""

    __slots__ = ()

    def policies(self) -> list[PolicyAST]:
        """Every policy of the text; syntax errors skip ahead to the next policy."""
        out: list[PolicyAST] = []
        tokens = self.tokens
        while tokens[self.pos].kind != EOF:
            start = self.pos
            try:
                out.append(self.policy())
            except Abort:
                self.recover(start)
        return out

    def recover(self, start: int) -> None:
        """Skip past the next `;`, or to the start of what is clearly the next policy."""
        tokens = self.tokens
        pos = max(self.pos, start + 1)
        while True:
            token = tokens[pos]
            kind = token.kind
            if kind == EOF:
                break
            if kind == ";":
                pos += 1
                break
            if pos > start and (
                kind == "@"
                or (kind == IDENT and token.text in _SYNC_EFFECTS and tokens[pos + 1].kind == "(")
            ):
                break
            pos += 1
        self.pos = pos

    def policy(self) -> PolicyAST:
        """`{Annotation} Effect '(' Scope ')' {Condition} ';'`."""
        start = self.tokens[self.pos].start
        annotations = self.annotations()
        token = self.tokens[self.pos]
        if token.kind != IDENT:
            self.unexpected("`permit` or `forbid`")
        self.pos += 1
        if token.text == "permit":
            effect = Effect.PERMIT
        elif token.text == "forbid":
            effect = Effect.FORBID
        else:
            effect = Effect.PERMIT
            self.error(
                "invalid-effect",
                f"invalid policy effect `{token.text}`, expected `permit` or `forbid`",
                token.start,
                token.end,
            )
        self.expect("(", "`(` to open the policy scope")
        principal, action, resource = self.scope()
        conditions: list[Condition] = []
        tokens = self.tokens
        # Like cedar-policy, any `word {` is read as a condition (and a wrong word reported);
        # a bare word is more likely the start of the next policy after a missing `;`.
        while tokens[self.pos].kind == IDENT and (
            tokens[self.pos + 1].kind == "{" or tokens[self.pos].text in ("when", "unless")
        ):
            condition = self.condition()
            if condition is not None:
                conditions.append(condition)
        if self.tokens[self.pos].kind != ";":
            self.missing_semicolon()
        self.pos += 1
        return PolicyAST(
            effect,
            principal,
            action,
            resource,
            tuple(conditions),
            annotations,
            self.span_from(start),
        )

    def missing_semicolon(self) -> NoReturn:
        """Fail where the policy should end; at the end of its last line if the next is new."""
        token = self.tokens[self.pos]
        last = self.tokens[self.pos - 1]
        if token.kind == ERROR or "\n" not in self.source_map.text[last.end : token.start]:
            self.unexpected("`when`, `unless` or `;`")
        self.error(
            "unexpected-token",
            f"expected `;` at the end of the policy, found {describe_token(token)} on a later line",
            last.end,
            last.end,
        )
        raise Abort

    def annotations(self) -> tuple[Annotation, ...]:
        """`{'@' ANYIDENT ['(' STR ')']}`; reserved words are valid keys, duplicates are not."""
        tokens = self.tokens
        out: list[Annotation] = []
        seen: set[str] = set()
        while tokens[self.pos].kind == "@":
            at = tokens[self.pos]
            self.pos += 1
            key = self.expect(IDENT, "an annotation name").text
            value = ""
            if tokens[self.pos].kind == "(":
                self.pos += 1
                value = self.string_value(self.expect(STRING, "a string annotation value"))
                self.expect(")", "`)` to close the annotation")
            if key in seen:
                end = tokens[self.pos - 1].end
                self.error("duplicate-annotation", f"duplicate annotation `@{key}`", at.start, end)
                continue
            seen.add(key)
            out.append(Annotation(key, value, self.span_from(at.start)))
        return tuple(out)

    def scope(self) -> tuple[ScopeConstraint, ScopeConstraint, ScopeConstraint]:
        """The elements between the scope's parentheses, checked by `build_scope`."""
        tokens = self.tokens
        elements: list[ScopeElement] = []
        while tokens[self.pos].kind != ")":
            elements.append(self.scope_element())
            if tokens[self.pos].kind == ",":
                self.pos += 1
            elif tokens[self.pos].kind != ")":
                self.unexpected("`,` or `)`")
        close = tokens[self.pos]
        self.pos += 1
        return build_scope(elements, close, self.error)

    def scope_element(self) -> ScopeElement:
        """`IDENT [':' Path] [('==' | 'in') Expr | 'is' Path ['in' Expr] | RELOP Expr]`."""
        tokens = self.tokens
        variable = self.expect(IDENT, "`principal`, `action` or `resource`")
        if tokens[self.pos].kind == ":":
            colon = tokens[self.pos]
            self.pos += 1
            self.entity_type("a type name")
            self.error(
                "unsupported-type-constraint",
                "type constraints using `:` are not supported",
                colon.start,
                tokens[self.pos - 1].end,
            )
        token = tokens[self.pos]
        kind = token.kind
        if kind == IDENT and token.text == "is":
            self.pos += 1
            entity_type = self.entity_type("an entity type name after `is`")
            in_expr = None
            following = tokens[self.pos]
            if following.kind == IDENT and following.text == "in":
                self.pos += 1
                in_expr = self.expr()
            elif following.kind == "==":
                self.pos += 1
                self.expr()
                self.error(
                    "invalid-scope",
                    "`is` cannot be used together with `==`",
                    following.start,
                    following.end,
                )
            span = self.span_from(variable.start)
            return ScopeElement(variable, "is", in_expr, entity_type, span)
        if kind in RELATION_OPS or (kind == IDENT and token.text == "in"):
            self.pos += 1
            target = self.expr()
            op = "in" if kind == IDENT else kind
            return ScopeElement(variable, op, target, None, self.span_from(variable.start))
        return ScopeElement(variable, "", None, None, self.span_from(variable.start))

    def condition(self) -> Condition | None:
        """`('when' | 'unless') '{' Expr '}'`; None for an empty (erroneous) body."""
        tokens = self.tokens
        keyword = tokens[self.pos]
        self.pos += 1
        if keyword.text not in ("when", "unless"):
            self.error(
                "invalid-condition",
                f"invalid policy condition `{keyword.text}`, expected `when` or `unless`",
                keyword.start,
                keyword.end,
            )
        self.expect("{", "`{` to open the condition")
        if tokens[self.pos].kind == "}":
            self.pos += 1
            self.error(
                "empty-condition",
                f"`{keyword.text}` condition clause cannot be empty",
                keyword.start,
                tokens[self.pos - 1].end,
            )
            return None
        mark = len(self.slots)
        body = self.expr()
        self.expect("}", "`}` to close the condition")
        for slot in self.slots[mark:]:
            span = slot.span
            self.error(
                "slot-in-condition",
                f"template slot `?{slot.name}` cannot appear in a `{keyword.text}` clause",
                span.offset if span else keyword.start,
                span.end_offset if span else keyword.end,
            )
        return Condition(keyword.text != "unless", body, self.span_from(keyword.start))


def parse_policies(text: str, file: str | None = None, *, max_length: int | None = None
                   ) -> list[PolicyAST]:
    """Parse Cedar policies and templates.

    Args:
        text: Cedar policy text, zero or more policies each ending with `;`.
        file: a file name used in the spans of nodes and errors.
        max_length: the most characters accepted (default
            `rune.cedar.limits.MAX_POLICY_TEXT_LENGTH`).

    Returns:
        The policies and templates in source order.

    Raises:
        TypeError: ``text`` is not a `str`.
        ParseError: carrying one `Diagnostic` per problem found in the whole text, sorted by
            position, each with a span; rendering it shows a caret snippet. A text longer
            than ``max_length`` is a `policy-text-too-large` error.
    """
    text = checked_text(text, "parse_policies", max_length=max_length, file=file)
    return list(iter_policies(text, file, max_length=max_length))


def iter_policies(text: str, file: str | None = None, *, max_length: int | None = None
                  ) -> Iterator[PolicyAST]:
    """`parse_policies`, one policy at a time: a caller that keeps only a little of each
    tree never holds the trees of a whole file at once.

    Raises:
        TypeError: ``text`` is not a `str` (when the first policy is asked for).
        ParseError: as `parse_policies` does, once the first problem is reached (after the
            policies before it have been yielded).
    """
    text = checked_text(text, "iter_policies", max_length=max_length, file=file)
    count = 0
    for statement in tokenize_statements(text, file):
        parser = _PolicyParser(statement)
        found = parser.policies()
        if parser.diagnostics:
            break
        count += len(found)
        yield from found
    else:
        return
    # A problem: parse the whole text at once, so that every error is found and recovered
    # from exactly as a single pass does (recovery may skip across statements).
    parser = _PolicyParser(tokenize(text, file))
    policies = parser.policies()
    parser.finish(text)
    yield from policies[count:]


def parse_policy_at(text: str, *, offset: int, line: int, column: int, file: str | None
                    ) -> PolicyAST:
    """Parse the text of one policy cut from a file, with the spans it has in that file.

    A policy set keeps each policy's text rather than its syntax tree, and rebuilds the
    tree with this when it is asked for.

    Args:
        text: exactly one policy or template, from its first token to its `;`.
        offset: the 0-based character offset in the file where ``text`` starts.
        line: the 1-based line where ``text`` starts.
        column: the 1-based column where ``text`` starts.
        file: the file name of the spans.

    Raises:
        TypeError: ``text`` is not a `str`.
        ParseError: if ``text`` is not exactly one policy.
    """
    # (No size limit: the text is a piece of a file whose size was checked when loaded.)
    text = checked_text(text, "parse_policy_at", max_length=sys.maxsize, file=file)
    parser = _PolicyParser(tokenize(text, file, origin=offset, line=line, column=column))
    policies = parser.policies()
    parser.finish(text)
    if len(policies) != 1:
        raise ParseError(f"expected one policy, found {len(policies)}", code="not-one-policy")
    return policies[0]


def parse_statement(text: str) -> list[PolicyAST] | None:
    """The policies of one statement cut from a file (from its first token to its
    `;`), parsed as if it began a file: spans from line 1, column 1, offset 0,
    with no file name; or None when ``text`` is not exactly that: not one clean statement
    ending with its `;` (a problem, a `;` inside it, text after it).

    What a file's parse gives for such a statement depends only on its text (the lexer
    reads each statement alike wherever it starts, and `iter_policies` parses statement
    by statement), so `rune.cedar.parse_cache` parses a statement once and moves its
    spans to wherever the statement is met again.

    Raises:
        TypeError: ``text`` is not a `str`.
    """
    lexed = tokenize(text)
    tokens = lexed.tokens
    # INVARIANT: exactly one `;`, the last token, ending the text; `tokens[-1]` is EOF.
    if lexed.diagnostics or len(tokens) < 2 or tokens[-2].kind != ";" \
            or tokens[-2].end != len(text) or sum(t.kind == ";" for t in tokens) != 1:
        return None
    parser = _PolicyParser(lexed)
    policies = parser.policies()
    if parser.diagnostics or not policies:
        return None
    return policies


def parse_expression(text: str, file: str | None = None) -> Expr:
    """Parse one Cedar expression (template slots are allowed).

    Raises:
        TypeError: ``text`` is not a `str`.
        ParseError: with every problem found.
    """
    text = checked_text(text, "parse_expression", file=file)
    parser = ExpressionParser(tokenize(text, file))
    result: Expr | None = None
    try:
        result = parser.expr()
        if parser.tokens[parser.pos].kind != EOF:
            parser.unexpected("end of input")
    except Abort:
        pass
    parser.finish(text)
    assert result is not None  # INVARIANT: an abort always records a diagnostic
    return result


def parse_entity_uid(text: str) -> EntityUID:
    """Parse an entity uid such as `User::"alice"` or `Ns::Type::"id"`.

    Raises:
        TypeError: ``text`` is not a `str`.
        ParseError: if the text is not exactly one entity uid literal.
    """
    text = checked_text(text, "parse_entity_uid")
    parser = ExpressionParser(tokenize(text))
    result: EntityUID | None = None
    try:
        first = parser.expect(IDENT, "an entity type name")
        parts = parser.path(first)
        parser.expect("::", "`::` followed by a quoted entity id")
        id_token = parser.expect(STRING, "a quoted entity id")
        if parser.tokens[parser.pos].kind != EOF:
            parser.unexpected("end of input")
        entity_type = "::".join(parser.check_identifier(p) for p in parts)
        result = EntityUID(entity_type, parser.string_value(id_token))
    except Abort:
        pass
    parser.finish(text)
    assert result is not None  # INVARIANT: an abort always records a diagnostic
    return result


def parse_entity_type(text: str) -> str:
    """Parse an entity type name such as `User` or `Ns::User` (checked, returned normalized).

    Raises:
        TypeError: ``text`` is not a `str`.
        ParseError: if the text is not exactly one entity type name.
    """
    text = checked_text(text, "parse_entity_type")
    parser = ExpressionParser(tokenize(text))
    result: str | None = None
    try:
        result = parser.entity_type("an entity type name")
        if parser.tokens[parser.pos].kind != EOF:
            parser.unexpected("end of input")
    except Abort:
        pass
    parser.finish(text)
    assert result is not None  # INVARIANT: an abort always records a diagnostic
    return result
