"""`rune.errors`: caret snippets stay short on huge lines, diagnostics sort by position
with array indexes compared as numbers, and user input is shown bounded."""

from __future__ import annotations

import pytest

from rune.cedar import PolicySet
from rune.cedar.errors import ParseError
from rune.errors import Diagnostic, RuneError, SourceSpan


def test_snippet_of_a_long_line_is_clipped_around_the_column() -> None:
    text = "x" * 500_000 + "@" + "y" * 500_000
    span = SourceSpan.from_offsets(text, 500_000, 500_001)
    snippet = span.snippet(text)
    assert len(snippet) < 400
    code_line, caret_line = snippet.split("\n")
    assert code_line.startswith("1 | ...") and code_line.endswith("...")
    assert code_line[caret_line.index("^")] == "@"


def test_snippet_keeps_short_lines_whole() -> None:
    text = "permit(principal, action, resource)\nwhen { 1 + };"
    span = SourceSpan.from_offsets(text, text.index("}"), text.index("}") + 1)
    assert span.snippet(text) == "2 | when { 1 + };\n" + " " * 15 + "^"


def test_snippet_uses_the_span_line_not_other_line_breaks() -> None:
    # `str.splitlines` also breaks at U+2028; spans count only "\n".
    text = 'permit(principal, action, resource) when { "\u2028" };\nforbid ( @ );'
    offset = text.index("@")
    span = SourceSpan.from_offsets(text, offset, offset + 1)
    assert span.snippet(text).startswith("2 | forbid ( @ );")


def test_parse_error_on_a_megabyte_line_renders_briefly() -> None:
    text = "permit(principal, action, resource) when { " + "1 + " * 200_000 + "};"
    with pytest.raises(ParseError) as caught:
        PolicySet.from_str(text)
    assert len(str(caught.value)) < 2_000


def test_json_paths_sort_with_indexes_as_numbers() -> None:
    paths = ["$[10].uid", "$[9].uid", "$[100]", "$[2].attrs.b", "$[2].attrs.a"]
    error = RuneError("bad", diagnostics=[Diagnostic("bad", f"bad {p}", path=p) for p in paths])
    assert [d.path for d in error.diagnostics] == [
        "$[2].attrs.a", "$[2].attrs.b", "$[9].uid", "$[10].uid", "$[100]"]


def test_files_sort_with_numbers_as_numbers() -> None:
    spans = [SourceSpan(1, 1, 1, 2, 0, 1, f"policies/p{n}.cedar") for n in (10, 9, 1)]
    error = RuneError("bad", diagnostics=[Diagnostic("bad", "bad", span=s) for s in spans])
    assert [d.span.file for d in error.diagnostics if d.span] == [
        "policies/p1.cedar", "policies/p9.cedar", "policies/p10.cedar"]


def test_shown_bounds_any_value() -> None:
    from rune.errors import shown

    assert shown("abc") == "abc"
    assert shown("x" * 1000) == "x" * 40 + "..."
    assert shown(10**100_000).startswith("<an integer of")
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert shown(deep) == "<list>"  # its repr recurses too deeply

    class Hostile:
        def __repr__(self) -> str:
            raise ValueError("no")

    assert shown(Hostile()) == "<Hostile>"
