"""The Cedar lexer and string-literal decoding: tokens, offsets, spans and escape errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rune.cedar._unescape import unescape_pattern, unescape_string
from rune.cedar.ast import Wildcard
from rune.cedar.lexer import (
    EOF,
    ERROR,
    IDENT,
    INT,
    RESERVED_WORDS,
    SLOT,
    STRING,
    SourceMap,
    tokenize,
)
from rune.errors import SourceSpan

W = Wildcard()


def kinds(text: str) -> list[str]:
    return [t.kind for t in tokenize(text).tokens]


def texts(text: str) -> list[str]:
    return [t.text for t in tokenize(text).tokens if t.kind != EOF]


# -- tokens ------------------------------------------------------------------------------------


def test_policy_tokens_with_offsets() -> None:
    lexed = tokenize('permit(principal == User::"alice", action, resource);')
    assert [(t.kind, t.text) for t in lexed.tokens[:7]] == [
        (IDENT, "permit"),
        ("(", "("),
        (IDENT, "principal"),
        ("==", "=="),
        (IDENT, "User"),
        ("::", "::"),
        (STRING, '"alice"'),
    ]
    user = lexed.tokens[4]
    assert (user.start, user.end) == (20, 24)
    assert lexed.tokens[-1].kind == EOF
    assert lexed.diagnostics == ()


def test_every_operator_is_one_token_by_longest_match() -> None:
    ops = ":: == != <= >= && || ( ) [ ] { } , ; . : @ < > ! + - * / % ="
    assert texts(ops) == ops.split()
    assert texts("a::b<=c>=d&&e||f!=g==h") == [
        "a",
        "::",
        "b",
        "<=",
        "c",
        ">=",
        "d",
        "&&",
        "e",
        "||",
        "f",
        "!=",
        "g",
        "==",
        "h",
    ]
    assert texts("!!-- ::") == ["!", "!", "-", "-", "::"]


def test_keywords_are_identifiers_for_the_parser_to_judge() -> None:
    words = "true false if then else in like has is __cedar permit when principal _x9"
    assert set(kinds(words)[:-1]) == {IDENT}
    assert {"true", "false", "if", "then", "else", "in", "like", "has", "is"} == RESERVED_WORDS


def test_integers_are_unsigned_digit_runs() -> None:
    assert [(t.kind, t.text) for t in tokenize("007 -12 9223372036854775808").tokens[:-1]] == [
        (INT, "007"),
        ("-", "-"),
        (INT, "12"),
        (INT, "9223372036854775808"),
    ]
    assert texts("1a 1.5 0x10") == ["1", "a", "1", ".", "5", "0", "x10"]


def test_strings_are_kept_raw() -> None:
    assert texts(r'"a\"b" "\\" "" "\u{1F600}"') == [r'"a\"b"', r'"\\"', '""', r'"\u{1F600}"']
    assert texts('"two\nlines"') == ['"two\nlines"']  # a raw newline is allowed


def test_slots() -> None:
    lexed = tokenize("?principal ?resource ?other")
    assert [(t.kind, t.text) for t in lexed.tokens[:-1]] == [
        (SLOT, "?principal"),
        (SLOT, "?resource"),
        (SLOT, "?other"),  # the parser rejects unknown slot names
    ]


def test_comments_and_unicode_whitespace_are_skipped() -> None:
    assert texts("a // comment == b\nc") == ["a", "c"]
    assert texts("a //c\rb") == ["a", "b"]
    assert texts("a /* not a comment */") == ["a", "/", "*", "not", "a", "comment", "*", "/"]
    for space in "\t\x0b\x0c\r\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000":
        assert texts(f"a{space}b") == ["a", "b"], repr(space)


@pytest.mark.parametrize("char", ["\x1c", "\u200b", "\ufeff", "#", "$", "`", "~", "'", "é"])
def test_characters_that_start_no_token(char: str) -> None:
    lexed = tokenize(f"a {char} b")
    assert [t.kind for t in lexed.tokens] == [IDENT, ERROR, IDENT, EOF]
    (diagnostic,) = lexed.diagnostics
    assert diagnostic.code == "invalid-token"
    assert diagnostic.span is not None
    assert (diagnostic.span.column, diagnostic.span.end_column) == (3, 4)


def test_a_run_of_bad_characters_is_one_error() -> None:
    lexed = tokenize("x ##é€ y")
    assert [t.kind for t in lexed.tokens] == [IDENT, ERROR, IDENT, EOF]
    assert lexed.tokens[1].text == "##é€"
    assert [d.message for d in lexed.diagnostics] == ["invalid token `##é€`"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a & b", "invalid token `&`; did you mean `&&`"),
        ("a | b", "invalid token `|`; did you mean `||`"),
        (
            "? principal",
            "invalid token `?`; a template slot is written `?principal` or `?resource`",
        ),
    ],
)
def test_hints_for_near_miss_operators(text: str, message: str) -> None:
    assert [d.message for d in tokenize(text).diagnostics] == [message]


def test_unterminated_string_stops_at_end_of_line() -> None:
    lexed = tokenize('x == "abc\ny;')
    assert [t.kind for t in lexed.tokens] == [IDENT, "==", ERROR, IDENT, ";", EOF]
    (diagnostic,) = lexed.diagnostics
    assert (diagnostic.code, diagnostic.message) == (
        "unterminated-string",
        "unterminated string literal",
    )
    assert diagnostic.span == SourceSpan(1, 6, 1, 10, 5, 9)


def test_backslash_newline_is_not_a_line_continuation() -> None:
    lexed = tokenize('"a\\\nb"')
    assert lexed.diagnostics[0].code == "unterminated-string"


def test_spans_carry_the_file_name() -> None:
    lexed = tokenize("\n  #", "p.cedar")
    span = lexed.diagnostics[0].span
    assert span == SourceSpan(2, 3, 2, 4, 3, 4, "p.cedar")
    assert str(span) == "p.cedar:2:3"


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab\n\r\t é"), max_size=60),
    data=st.data(),
)
def test_source_map_agrees_with_span_from_offsets(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert SourceMap.of(text).span(start, end) == SourceSpan.from_offsets(text, start, end)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_tokens_cover_the_text_in_order(text: str) -> None:
    lexed = tokenize(text)
    position = 0
    for token in lexed.tokens:
        assert token.start >= position
        assert text[token.start : token.end] == token.text
        position = token.end
    assert lexed.tokens[-1] == (EOF, "", len(text), len(text))


# -- escapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("plain", "plain"),
        (r"\n\r\t\\\0\'\"", "\n\r\t\\\0'\""),
        (r"\x41\x7f\x7F\x00", "A\x7f\x7f\x00"),
        (r"\u{1F600}", "\U0001f600"),
        (r"\u{0}\u{000041}\u{10FFFF}", "\x00A\U0010ffff"),
        (r"\u{1_F6_00}\u{2a__}", "\U0001f600*"),
        ("é\n", "é\n"),
    ],
)
def test_valid_escapes(raw: str, value: str) -> None:
    assert unescape_string(raw) == (value, [])


@pytest.mark.parametrize(
    ("raw", "bad"),
    [
        (r"\q", r"\q"),
        (r"\*", r"\*"),
        (r"\ ", r"\ "),
        (r"\X41", r"\X"),
        (r"\x4", r"\x4"),
        (r"\xG1", r"\xG"),
        (r"\x80", r"\x80"),
        (r"\u{}", r"\u{}"),
        (r"\u{_1}", r"\u{_"),
        (r"\u{G}", r"\u{G"),
        (r"\u{1F600", r"\u{1F600"),
        (r"\u1F600", r"\u1"),
        (r"\u{1234567}", r"\u{1234567}"),
        (r"\u{110000}", r"\u{110000}"),
        (r"\u{D800}", r"\u{D800}"),
        (r"\u{DFFF}", r"\u{DFFF}"),
    ],
)
def test_invalid_escapes_report_the_exact_text(raw: str, bad: str) -> None:
    _, problems = unescape_string("ok" + raw)
    assert len(problems) == 1
    (problem,) = problems
    assert ("ok" + raw)[problem.start : problem.end] == bad
    assert problem.message.startswith(f"invalid escape `{bad}`")


def test_every_bad_escape_is_reported() -> None:
    value, problems = unescape_string(r"a\qb\x80c")
    assert value == "abc"
    assert [(p.start, p.end) for p in problems] == [(1, 3), (4, 8)]


def test_a_raw_carriage_return_is_rejected() -> None:
    _, problems = unescape_string("a\r\nb")
    assert [(p.start, p.message) for p in problems] == [
        (1, "a carriage return must be written `\\r`")
    ]


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        ("", ()),
        ("abc", ("abc",)),
        ("*", (W,)),
        ("a*b*", ("a", W, "b", W)),
        ("**", (W, W)),
        (r"a\*b", ("a*b",)),
        (r"\*\*", ("**",)),
        (r"\\*", ("\\", W)),
        (r"\u{2a}", (W,)),  # cedar-policy: an escaped-by-code-point star is still a wildcard
        (r"\n*\x41", ("\n", W, "A")),
    ],
)
def test_patterns(raw: str, pattern: tuple[str | Wildcard, ...]) -> None:
    assert unescape_pattern(raw) == (pattern, [])


def test_pattern_escape_errors() -> None:
    parts, problems = unescape_pattern(r"a\qb*")
    assert parts == ("ab", W)
    assert [(p.start, p.end) for p in problems] == [(1, 3)]
