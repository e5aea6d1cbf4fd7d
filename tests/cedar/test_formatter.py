"""`format_policies` (`rune fmt`): canonical, idempotent, comments and annotations kept,
and the same policies after formatting; over the whole official Cedar corpus (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conformance.cedar_corpus import all_tests, resolve, sample_tests

from rune.cedar import ParseError, PolicySet
from rune.cedar.formatter import format_policies


def trees(text: str) -> list[object]:
    policies = PolicySet.from_str(text)
    found: list[object] = [(p.id, p.ast, p.ast.annotations) for p in policies]
    found += [(t.id, t.ast, t.ast.annotations) for t in policies.templates]
    return sorted(found, key=lambda item: str(item[0]))  # type: ignore[index]


def check_formats(text: str) -> str:
    out = format_policies(text)
    assert trees(out) == trees(text)
    assert format_policies(out) == out
    return out


MESSY = (Path(__file__).parent / "messy.cedar").read_text()

EXPECTED = '''// Header comment.

@id("read-source") // the id
permit (
  principal in Team::"coding",
  action == Action::"read_file",
  resource is File
)
when {
  resource.path like "src/*" ||
  resource.path like "tests/*" ||
  resource.path like "docs/*" // docs
};

@id("x")
forbid (principal, action, resource)
when { context.a > -1 && !(context.b == [1, 2, 3]) && context has c }
unless {
  // own line
  principal == User::"alice"
};

permit (principal, action in [Action::"a", Action::"b"], resource == ?resource)
when { if context.x then -context.y < 3 else false };

// trailing
'''


def test_canonical_layout_keeps_comments_and_annotations() -> None:
    assert check_formats(MESSY) == EXPECTED


def test_long_lines_break_inside_brackets() -> None:
    text = ('permit(principal, action, resource) when { [' +
            ", ".join(f'"element-number-{i}"' for i in range(8)) + '].contains(context.x) };')
    out = check_formats(text)
    assert all(len(line) <= 80 for line in out.splitlines())
    assert '  "element-number-0",\n' in out


@pytest.mark.parametrize("text", [
    "", "// only a comment\n", "permit(principal,action,resource);",
    'permit(principal, action, resource) when { "a // not a comment" == "b" };',
    'permit(principal, action, resource) when { context has "odd key" && {"a b": 1}["a b"] == 1 };',
    "permit(principal, action, resource) when { 1 - -1 == 2 && 3-1 == 2 && context[\"x\"] };",
    "permit(principal, action, resource)\n// a\n// b\nwhen { true } // c\n; // d\n",
])
def test_edge_cases_round_trip(text: str) -> None:
    check_formats(text)


def test_text_that_does_not_parse_is_refused() -> None:
    with pytest.raises(ParseError):
        format_policies("permit(principal, action, resource) when { ", file="bad.cedar")


def corpus_policy_files(tests: list[Path]) -> list[Path]:
    files = {resolve(json.loads(t.read_text())["policies"]) for t in tests}
    return sorted(files)


@pytest.mark.parametrize("step", [50])
def test_a_sample_of_the_corpus(step: int) -> None:
    for file in corpus_policy_files(sample_tests(step)):
        check_formats(file.read_text())


@pytest.mark.slow
def test_the_whole_cedar_corpus() -> None:
    failures = []
    for file in corpus_policy_files(all_tests()):
        try:
            check_formats(file.read_text())
        except (AssertionError, Exception) as error:
            failures.append(f"{file}: {error}")
    assert not failures, failures[:5]
