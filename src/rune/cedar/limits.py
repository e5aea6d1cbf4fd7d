"""Resource limits of the Cedar front end: how much hostile policy text can ask for.

Every limit is a module attribute read when a call starts, so a process may change one
(`rune.cedar.limits.MAX_POLICY_TEXT_LENGTH = 4 << 20`); the functions that read text also
take a per-call override (`PolicySet.from_str(text, max_length=...)`). A text beyond a
limit is a `ParseError` with a kebab-case code and a span, never a hang, a crash or a
raw Python exception.

``MAX_POLICY_TEXT_LENGTH`` = 1,048,576 characters (1 Mi), error `policy-text-too-large`
    The most policy text one `PolicySet.from_str`, `parse_policies` or `iter_policies`
    call reads (`parse_expression` and the uid and type parsers too). Every later stage
    (lexing, parsing, compiling, indexing) is linear in the text, so this bounds the time
    and memory of a load: a megabyte of policies loads in a few seconds. Real policy
    files are far smaller (the 1,000-policy benchmark set is 180 KB); split a larger
    set into several files or raise the limit.

``MAX_NESTING_DEPTH`` = 2,000 levels, error `nesting-too-deep`
    How deeply expressions may nest: each parenthesis, set or record literal, function
    or method argument list, attribute index and `if` branch opens a level inside the
    one around it. Chains that do not nest (`a || b || ...`, `a + b + ...`,
    `x.a.b.c...`, `e has a.b.c...`, `x.offset(d).offset(d)...`) have no limit beyond the
    text size. cedar-policy 4.12 (through cedarpy, on an 8 MiB stack) parses 573 to 660
    levels of parentheses, `!(`, `-(`, `(if`, sets and records and crashes with a stack
    overflow beyond; bare `if ... then if ...` nesting it parses further and evaluates
    to about 1,700 levels (then "recursion limit reached"). RUNE parses, compiles and
    evaluates every construct to 2,000 levels without using Python's call stack for
    the nesting, and reports `nesting-too-deep` beyond.

``MAX_CONTEXT_SIZE`` = 1,048,576 (1 Mi), error `context-too-large`
    The largest request context `Request` accepts, counted as JSON is written: one per
    value and per record key, plus the characters of every string and key (so a
    context of 1 MiB of JSON text is within it). A context describes a request (a
    path, an amount, a ticket), not the data it carries; evaluation (`like`,
    `containsAll`, equality) costs time in its size.

``MAX_CONTEXT_DEPTH`` = 2,000 levels, error `nesting-too-deep`
    How deeply records and sets (and `__entity`/`__extn` escapes, as JSON objects)
    may nest in a request context, the context record itself being level 1: as deep as
    an expression may reach into it (`MAX_NESTING_DEPTH`). Both context limits are
    checked by a loop over the context before anything else reads it, so a context
    nested a million levels (or containing itself) is refused, not recursed into, with
    the JSON path where the limit was crossed. `Request` takes both as arguments; an
    engine passes its bundle's `rune.toml` `[limits] max_context_bytes` (default 1 MiB)
    and `max_context_depth` (default 32: real contexts are a few levels deep, and an
    agent that controls a context should not choose how deep it is).

``MAX_REPORTED_ERRORS`` = 100 problems, then one `too-many-errors`
    The most diagnostics one `ParseError` carries. Parsing goes on to the end of the text
    (it is linear), but a text with a problem on every token would otherwise build, sort
    and render hundreds of thousands of diagnostics, each with a snippet of its line.
"""

from __future__ import annotations

from rune.cedar.errors import ParseError
from rune.errors import SourceSpan

__all__ = [
    "MAX_CONTEXT_DEPTH",
    "MAX_CONTEXT_SIZE",
    "MAX_NESTING_DEPTH",
    "MAX_POLICY_TEXT_LENGTH",
    "MAX_REPORTED_ERRORS",
    "checked_text",
]

MAX_POLICY_TEXT_LENGTH = 1 << 20
"""The most characters of Cedar text one parse call reads (see the module docstring)."""

MAX_NESTING_DEPTH = 2_000
"""The deepest nesting of Cedar expressions accepted (see the module docstring)."""

MAX_CONTEXT_SIZE = 1 << 20
"""The largest request context accepted, in JSON units (see the module docstring)."""

MAX_CONTEXT_DEPTH = MAX_NESTING_DEPTH
"""The deepest nesting of records and sets in a request context (see the docstring)."""

MAX_REPORTED_ERRORS = 100
"""The most diagnostics one `ParseError` reports (see the module docstring)."""


def checked_text(text: object, function: str, *, max_length: int | None = None,
                 file: str | None = None) -> str:
    """``text``, once it is known to be a `str` no longer than the limit.

    Args:
        text: what the caller was given as Cedar text.
        function: the public function's name, for the message (`PolicySet.from_str`).
        max_length: the limit for this call; `MAX_POLICY_TEXT_LENGTH` when None.
        file: the file name for the span of the error.

    Raises:
        TypeError: ``text`` is not a `str` (bytes must be decoded by the caller, who
            knows their encoding); the message names the argument and the type given.
        ParseError: `policy-text-too-large`, at the first character beyond the limit.
    """
    if text.__class__ is not str and not isinstance(text, str):
        raise TypeError(
            f"{function}: argument `text` must be a str, not {type(text).__name__}"
        )
    limit = MAX_POLICY_TEXT_LENGTH if max_length is None else max_length
    if len(text) > limit:
        span = SourceSpan.from_offsets(text, limit, limit + 1, file)
        raise ParseError(
            f"policy text is too large: {len(text):,} characters, more than the limit of "
            f"{limit:,} (`rune.cedar.limits.MAX_POLICY_TEXT_LENGTH`)",
            code="policy-text-too-large",
            span=span,
        )
    return text
