"""`PolicyParseCache`: a file parsed statement by statement, with statements met before
taken from then, is exactly what `PolicySet.from_str` parses (ids, texts, spans,
annotations, effects, slots; or the same error), cold and warm.

The references are every policy file of the Cedar corpus, the examples and the tests,
texts Hypothesis generates (with comments and strings that hold `;`, `//` and quotes,
CRLF line ends, Unicode blanks), their mutations (broken texts), and warm caches filled
from another arrangement of the same statements (so every statement moves).
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conformance.cedar_corpus import extracted_root
from tests.conftest import SHARED
from tests.strategies import mutated_texts, policy_set_to_cedar, policy_sets, template_sets

from rune.cedar import PolicySet
from rune.cedar.parse_cache import PolicyParseCache
from rune.errors import RuneError

ROOT = Path(__file__).resolve().parents[2]


def signature(policies: PolicySet) -> Any:
    """Everything a parsed set holds, spans and source text included."""
    return ([(p.id, p.text, p.span, p._annotations, p.effect, p.template_id)
             for p in policies],
            [(t.id, t.text, t.span, t._annotations, t.effect, t.slots)
             for t in policies.templates],
            policies.source_text)


def outcome(parse: Any, text: str, file: str | None) -> Any:
    """The signature of the parse, or its error (class, code, every diagnostic)."""
    try:
        return signature(parse(text, file))
    except RuneError as error:
        return (type(error), error.code, [(d.code, d.message, d.span)
                                          for d in error.diagnostics])


def check(text: str, file: str | None = "policies/p.cedar",
          warm: PolicyParseCache | None = None) -> None:
    expected = outcome(lambda t, f: PolicySet.from_str(t, file=f), text, file)
    assert outcome(PolicyParseCache().parse, text, file) == expected
    if warm is not None:
        assert outcome(PolicyParseCache(warm).parse, text, file) == expected


def rearranged(text: str, seed: int) -> str:
    """The statements of ``text`` in another order, below a comment: each one moves."""
    statements = text.split(";")
    random.Random(seed).shuffle(statements)
    return "// moved\n\n  " + ";".join(statements)


def corpus_texts(generated: bool) -> list[tuple[str, str]]:
    """The policy files of the examples, the tests and the corpus's hand-written tests,
    and with ``generated`` every file of its generated tests."""
    files = sorted([*ROOT.glob("examples/**/*.cedar"), *ROOT.glob("tests/**/*.cedar"),
                    *(SHARED / "corpora" / "cedar").rglob("*.cedar")])
    if generated:
        files += sorted((extracted_root() / "corpus-tests").glob("*.cedar"))
    return [(str(f), f.read_text(encoding="utf-8")) for f in files]


def test_corpus_files_parse_as_from_str_cold_and_warm() -> None:
    check_files(corpus_texts(generated=False))


@pytest.mark.slow
def test_every_corpus_file_parses_as_from_str_cold_and_warm() -> None:
    check_files(corpus_texts(generated=True))


def check_files(texts: list[tuple[str, str]]) -> None:
    """Each text cold and warm, rearranged, and cut short (mostly broken)."""
    for i, (name, text) in enumerate(texts):
        warm = PolicyParseCache()
        with contextlib.suppress(RuneError):
            warm.parse(rearranged(text, i), name)
        check(text, name, warm)
        check(rearranged(text, i + 1), name, warm)
        check(text[: random.Random(i).randrange(len(text) + 1)], name, warm)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(policy_sets(max_size=6).map(policy_set_to_cedar),
                 template_sets().map(lambda made: policy_set_to_cedar(made[0]))),
       st.integers(0, 1_000), st.sampled_from(["\n", "\r\n"]),
       st.sampled_from(["", "  ", "\t", "\u2003", "// a ; \" comment\n", "\n\n"]))
def test_generated_texts_parse_as_from_str(text: str, seed: int, newline: str,
                                           blank: str) -> None:
    text = text.replace("\n", newline).replace(";", ";" + blank)
    warm = PolicyParseCache()
    with contextlib.suppress(RuneError):
        warm.parse(rearranged(text, seed), None)
    check(text, "p.cedar", warm)
    check(text, None, warm)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_broken_texts_fail_as_from_str(data: st.DataObject) -> None:
    text = policy_set_to_cedar(data.draw(policy_sets(max_size=4)))
    warm = PolicyParseCache()
    warm.parse(text, "p.cedar")
    check(data.draw(mutated_texts(text)), "p.cedar", warm)


@pytest.mark.parametrize("text", [
    'permit(principal, action, resource) when { "a;b" == "a;b" };',
    'permit(principal, action, resource) when { "// not a comment;" == "x" };',
    '// a comment; with "quotes;\npermit(principal, action, resource);',
    'permit(principal, action, resource) when { "unterminated; };\nforbid(principal, '
    'action, resource);',
    'permit(principal, action, resource) when { "a\\";" == "b" };',
    '@id("x;y")\npermit(principal, action, resource);  trailing',
    ';;',
    'permit(principal, action, resource)',
    '',
    '// only a comment',
    'permit(principal, action, resource);\u2028forbid(principal, action, resource);',
    'permit(principal == ?principal, action, resource);\npermit(principal, action, resource);',
])
def test_tricky_texts_parse_as_from_str(text: str) -> None:
    warm = PolicyParseCache()
    with contextlib.suppress(RuneError):
        warm.parse(text + "\n" + text, "p.cedar")
    check(text, "p.cedar", warm)


def test_only_changed_statements_are_parsed() -> None:
    texts = [f'@id("p{i}")\npermit(principal == User::"u{i}", action, resource)\n'
             f'when {{ context.n > {i} }};' for i in range(50)]
    first = PolicyParseCache()
    first.parse("\n\n".join(texts), "a.cedar")
    assert (first.parsed, first.reused) == (50, 0)
    texts[7] = texts[7].replace("> 7", "> 70")
    second = PolicyParseCache(first)
    changed = "// a new header\n" + "\n".join(texts)
    assert signature(second.parse(changed, "a.cedar")) == signature(
        PolicySet.from_str(changed, file="a.cedar"))
    assert (second.parsed, second.reused) == (1, 49)
    # The same file again: not even split.
    third = PolicyParseCache(second)
    third.parse(changed, "a.cedar")
    assert (third.parsed, third.reused) == (0, 0)
    # Taken whole, the file's statements still carry over to the next cache.
    fourth = PolicyParseCache(third)
    fourth.parse("\n".join(reversed(texts)), "a.cedar")
    assert (fourth.parsed, fourth.reused) == (0, 50)


def test_a_cache_keeps_only_what_its_load_met() -> None:
    first = PolicyParseCache()
    first.parse("permit(principal, action, resource);\nforbid(principal, action, "
                "resource);", "a.cedar")
    second = PolicyParseCache(first)
    second.parse("permit(principal, action, resource);", "a.cedar")
    third = PolicyParseCache(second)
    third.parse("forbid(principal, action, resource);", "a.cedar")
    assert third.parsed == 1  # the forbid was not met by the second load


def test_hostile_texts_do_not_hang() -> None:
    for text in ('"' * 100_000, "//" + ";" * 100_000, ";" * 100_000,
                 'permit(principal, action, resource) when { "' + "\\" * 50_000 + ";",
                 "permit(principal, action, resource);" * 1_000):
        check(text)
