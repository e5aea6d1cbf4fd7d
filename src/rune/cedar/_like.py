"""Matching Cedar `like` patterns in time linear in the text, whatever the pattern.

A pattern is literal text and `*` wildcards (each matching any run of characters,
including none). With no other wildcard, the first fitting place of each piece of text
between two stars is as good as any later one: taking it leaves the most of the string for
the pieces after it. So a pattern is matched by checking the piece before the first
star as a prefix and the piece after the last as a suffix, then finding each piece in
between with `str.find`, left to right, never going back. The text is scanned once
(`str.find` runs in C), where a backtracking matcher (a regular expression such as
`.*a.*a.*b`) can take exponential time on a hostile string.
"""

from __future__ import annotations

from collections.abc import Callable

from rune.cedar.ast import Wildcard

__all__ = ["like_matcher", "pattern_pieces"]

Matcher = Callable[[str], bool]


def pattern_pieces(pattern: tuple[str | Wildcard, ...]) -> list[str]:
    """The literal pieces of ``pattern`` between its stars: one more than the number of
    (runs of) stars, so the first is the prefix and the last the suffix (either may be
    empty). A pattern without a star has exactly one piece."""
    pieces = [""]
    star = False
    for part in pattern:
        if isinstance(part, Wildcard):
            star = True
        elif star:
            pieces.append(part)
            star = False
        else:
            pieces[-1] += part
    if star:
        pieces.append("")
    return pieces


def like_matcher(pattern: tuple[str | Wildcard, ...]) -> Matcher:
    """A function telling whether a string matches ``pattern``.

    The common shapes (`"abc"`, `"abc*"`, `"*abc"`, `"*abc*"`, `"a*c"`) are one string
    method; any other pattern is matched by `_match_pieces`, in one left-to-right pass.
    """
    pieces = pattern_pieces(pattern)
    if len(pieces) == 1:
        exact = pieces[0]
        return lambda s: s == exact
    prefix, *middle, suffix = pieces
    if not middle:
        if not suffix:
            if not prefix:
                return lambda s: True
            return lambda s: s.startswith(prefix)
        if not prefix:
            return lambda s: s.endswith(suffix)
        least = len(prefix) + len(suffix)
        return lambda s: len(s) >= least and s.startswith(prefix) and s.endswith(suffix)
    if len(middle) == 1 and not prefix and not suffix:
        inner = middle[0]
        return lambda s: inner in s
    fixed = (prefix, tuple(m for m in middle if m), suffix)
    return lambda s: _match_pieces(s, *fixed)


def _match_pieces(s: str, prefix: str, middle: tuple[str, ...], suffix: str) -> bool:
    """Whether ``s`` is ``prefix``, then each of ``middle`` in order with anything
    between, then ``suffix``; O(len(s) * len(middle)) at worst, linear in practice."""
    if not s.startswith(prefix):
        return False
    end = len(s) - len(suffix)
    pos = len(prefix)
    if end < pos or not s.endswith(suffix):
        return False
    find = s.find
    for piece in middle:
        # INVARIANT: the leftmost occurrence is the best one (see the module docstring),
        # and `end` keeps the suffix's characters out of every piece.
        found = find(piece, pos, end)
        if found < 0:
            return False
        pos = found + len(piece)
    return True
