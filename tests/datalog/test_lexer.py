"""Tokens, comments and lexical errors."""

from __future__ import annotations

from rune.datalog.lexer import TokenKind, tokenize
from rune.datalog.source import SourceFile


def kinds_and_texts(text: str) -> list[tuple[TokenKind, str]]:
    tokens, errors = tokenize(SourceFile(None, text))
    assert not errors
    return [(t.kind, t.text) for t in tokens]


def test_directives_identifiers_and_punctuation() -> None:
    assert kinds_and_texts(".decl edge(x: number)") == [
        (TokenKind.DIRECTIVE, "decl"),
        (TokenKind.IDENT, "edge"),
        (TokenKind.PUNCT, "("),
        (TokenKind.IDENT, "x"),
        (TokenKind.PUNCT, ":"),
        (TokenKind.IDENT, "number"),
        (TokenKind.PUNCT, ")"),
        (TokenKind.EOF, ""),
    ]


def test_numbers_of_every_form() -> None:
    tokens = kinds_and_texts("12 0x1F 0b101 3.25 7u")
    assert tokens[:5] == [
        (TokenKind.NUMBER, "12"),
        (TokenKind.NUMBER, "0x1F"),
        (TokenKind.NUMBER, "0b101"),
        (TokenKind.FLOAT, "3.25"),
        (TokenKind.UNSIGNED, "7"),
    ]


def test_rule_end_dot_is_not_part_of_a_number() -> None:
    assert kinds_and_texts("a(1).")[2:4] == [(TokenKind.NUMBER, "1"), (TokenKind.PUNCT, ")")]


def test_comments_are_dropped() -> None:
    text = "a(1). // line comment\n/* block\ncomment */ b(2)."
    texts = [t for _, t in kinds_and_texts(text)]
    assert texts == ["a", "(", "1", ")", ".", "b", "(", "2", ")", ".", ""]


def test_multi_character_operators() -> None:
    texts = [t for _, t in kinds_and_texts(":- <: <= >= != ::")][:-1]
    assert texts == [":-", "<:", "<=", ">=", "!=", "::"]


def test_unknown_dotted_word_is_a_dot_then_identifier() -> None:
    assert kinds_and_texts("a(1).b(2).")[4:6] == [(TokenKind.PUNCT, "."), (TokenKind.IDENT, "b")]


def test_string_keeps_its_text_without_quotes() -> None:
    assert kinds_and_texts('"a b"')[0] == (TokenKind.STRING, "a b")


def test_hash_lines_at_line_start() -> None:
    tokens = kinds_and_texts('#include "x.dl"\na(1).')
    assert tokens[0] == (TokenKind.HASH, '#include "x.dl"')


def test_lexical_errors_are_collected_with_spans() -> None:
    tokens, errors = tokenize(SourceFile("f.dl", 'a(1). ~ b("x\nc(2). /* open'))
    messages = [e.message for e in errors]
    assert messages == [
        "unexpected character `~`",
        "unterminated string literal",
        "unterminated block comment",
    ]
    assert [(e.span.line, e.span.column) for e in errors if e.span] == [(1, 7), (1, 11), (2, 7)]
    assert tokens[-1].kind is TokenKind.EOF
