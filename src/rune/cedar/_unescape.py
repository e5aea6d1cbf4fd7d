"""Decoding of Cedar string literals and `like` patterns (Rust string-literal escapes).

Cedar takes its escapes from Rust: `\\n \\r \\t \\\\ \\0 \\' \\"`, `\\xHH` (ASCII only, so at
most `\\x7F`) and `\\u{H...}` (one to six hex digits, `_` allowed after the first, a Unicode
scalar value). A raw carriage return inside a literal is rejected, as Rust does. Patterns
additionally accept `\\*` for a literal star; every other `*`, including one written as
`\\u{2a}`, is a wildcard (this matches cedar-policy 4.x).
"""

from __future__ import annotations

from typing import NamedTuple

from rune.cedar.ast import Wildcard

__all__ = ["EscapeProblem", "unescape_pattern", "unescape_string"]

_SIMPLE = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "\\": "\\",
    "0": "\0",
    "'": "'",
    '"': '"',
}
_HEX = frozenset("0123456789abcdefABCDEF")
_WILDCARD = Wildcard()
_STAR_MARK = object()  # the `*` of `\*`: a literal star inside a pattern


class EscapeProblem(NamedTuple):
    """One bad escape: offsets relative to the literal's contents (after the opening quote)."""

    start: int
    end: int
    message: str


def _show(text: str) -> str:
    """Render raw literal text for a message, making control characters visible."""
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def _decode(raw: str, pattern: bool, problems: list[EscapeProblem]) -> list[object]:
    """Decode ``raw`` into characters (str) and, in patterns, `_STAR_MARK` for `\\*`."""
    out: list[object] = []
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\r":
            problems.append(EscapeProblem(i, i + 1, "a carriage return must be written `\\r`"))
            i += 1
            continue
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            # Unreachable from the lexer (the closing quote would be escaped), kept for safety.
            problems.append(EscapeProblem(i, n, "invalid escape `\\` at end of string"))
            break
        kind = raw[i + 1]
        simple = _SIMPLE.get(kind)
        if simple is not None:
            out.append(simple)
            i += 2
        elif kind == "*" and pattern:
            out.append(_STAR_MARK)
            i += 2
        elif kind == "x":
            i = _decode_hex(raw, i, out, problems)
        elif kind == "u":
            i = _decode_unicode(raw, i, out, problems)
        else:
            problems.append(EscapeProblem(i, i + 2, f"invalid escape `{_show(raw[i : i + 2])}`"))
            i += 2
    return out


def _decode_hex(raw: str, i: int, out: list[object], problems: list[EscapeProblem]) -> int:
    """Decode `\\xHH` starting at ``raw[i] == '\\\\'``; return the index after it."""
    n = len(raw)
    j = i + 2
    digits = 0
    while digits < 2 and j < n and raw[j] in _HEX:
        j += 1
        digits += 1
    if digits < 2:
        end = j + 1 if j < n else j  # include the offending character, as cedar-policy does
        problems.append(EscapeProblem(i, end, f"invalid escape `{_show(raw[i:end])}`"))
        return end
    value = int(raw[i + 2 : j], 16)
    if value > 0x7F:
        message = f"invalid escape `{raw[i:j]}`: `\\x` escapes must be at most `\\x7F`"
        problems.append(EscapeProblem(i, j, message))
        return j
    out.append(chr(value))
    return j


def _decode_unicode(raw: str, i: int, out: list[object], problems: list[EscapeProblem]) -> int:
    """Decode `\\u{H...}` starting at ``raw[i] == '\\\\'``; return the index after it."""
    n = len(raw)
    j = i + 2
    if j >= n or raw[j] != "{":
        end = min(j + 1, n)
        problems.append(
            EscapeProblem(i, end, f"invalid escape `{_show(raw[i:end])}`: expected `\\u{{...}}`")
        )
        return end
    j += 1
    digits: list[str] = []
    while j < n and raw[j] != "}":
        c = raw[j]
        if c == "_" and digits:
            j += 1
            continue
        if c not in _HEX:
            end = j + 1
            problems.append(
                EscapeProblem(i, end, f"invalid escape `{_show(raw[i:end])}`: expected hex digits")
            )
            return end
        digits.append(c)
        j += 1
    if j >= n:
        problems.append(
            EscapeProblem(i, j, f"invalid escape `{_show(raw[i:j])}`: missing closing `}}`")
        )
        return j
    j += 1  # the closing brace
    text = raw[i:j]
    if not digits:
        problems.append(EscapeProblem(i, j, f"invalid escape `{text}`: no hex digits"))
        return j
    if len(digits) > 6:
        problems.append(EscapeProblem(i, j, f"invalid escape `{text}`: more than six hex digits"))
        return j
    value = int("".join(digits), 16)
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        problems.append(EscapeProblem(i, j, f"invalid escape `{text}`: not a Unicode scalar value"))
        return j
    out.append(chr(value))
    return j


def unescape_string(raw: str) -> tuple[str, list[EscapeProblem]]:
    """Decode the contents of a string literal (the text between the quotes).

    Returns:
        The decoded string and the problems found (empty when the literal is valid).
    """
    if "\\" not in raw and "\r" not in raw:
        return raw, []
    problems: list[EscapeProblem] = []
    decoded = _decode(raw, False, problems)
    return "".join(decoded), problems  # type: ignore[arg-type]


def unescape_pattern(raw: str) -> tuple[tuple[str | Wildcard, ...], list[EscapeProblem]]:
    """Decode the contents of a `like` pattern literal.

    Adjacent literal characters are merged into one string; each `*` becomes a `Wildcard`.

    Returns:
        The pattern parts and the problems found (empty when the literal is valid).
    """
    problems: list[EscapeProblem] = []
    if "\\" not in raw and "\r" not in raw:
        items: list[object] = list(raw)
    else:
        items = _decode(raw, True, problems)
    parts: list[str | Wildcard] = []
    buffer: list[str] = []
    for item in items:
        if item == "*":
            if buffer:
                parts.append("".join(buffer))
                buffer.clear()
            parts.append(_WILDCARD)
        elif item is _STAR_MARK:
            buffer.append("*")
        else:
            buffer.append(item)  # type: ignore[arg-type]
    if buffer:
        parts.append("".join(buffer))
    return tuple(parts), problems
