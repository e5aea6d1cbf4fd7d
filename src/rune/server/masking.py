"""Masking request fields by JSON path before a decision is logged.

A path is `$` followed by steps: `.name` (an object member), `[3]` (an array element),
`.*` or `[*]` (every member or element). `$.context.password` masks one member;
`$.subject.properties.*` every property of the subject. A masked value is replaced by
`"***"` whatever it was (an object or array included); a path that does not match
leaves the request as it is. The request is copied along masked paths only: the parsed
body, which other evaluations of a batch share, is never modified.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["MASK", "Masker"]

MASK = "***"
_WILDCARD = object()
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\.\*|\[(\d+)\]|\[\*\]")


def _steps(path: str) -> tuple[Any, ...]:
    if not path.startswith("$"):
        raise ValueError(f"a JSON path starts with `$`: `{path}`")
    steps: list[Any] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise ValueError(f"cannot read the JSON path `{path}` at column {position + 1}")
        if match.group(1) is not None:
            steps.append(match.group(1))
        elif match.group(2) is not None:
            steps.append(int(match.group(2)))
        else:
            steps.append(_WILDCARD)
        position = match.end()
    if not steps:
        raise ValueError("`$` alone would mask the whole request")
    return tuple(steps)


class Masker:
    """Masks the fields of JSON values named by a fixed set of paths.

    Raises:
        ValueError: a path that cannot be read (settings check them first).
    """

    __slots__ = ("_paths",)

    def __init__(self, paths: Sequence[str]) -> None:
        self._paths = tuple(_steps(p) for p in paths)

    def __bool__(self) -> bool:
        return bool(self._paths)

    def mask(self, value: Any) -> Any:
        """``value`` with every field the paths name replaced by `MASK` (a copy along the
        masked paths; ``value`` itself is not modified)."""
        for steps in self._paths:
            value = _mask(value, steps)
        return value


def _mask(value: Any, steps: tuple[Any, ...]) -> Any:
    step, rest = steps[0], steps[1:]
    if isinstance(value, dict):
        if step is _WILDCARD:
            keys = list(value)
        elif isinstance(step, str) and step in value:
            keys = [step]
        else:
            return value
        copy = dict(value)
        for key in keys:
            copy[key] = MASK if not rest else _mask(copy[key], rest)
        return copy
    if isinstance(value, list):
        if step is _WILDCARD:
            indexes = range(len(value))
        elif isinstance(step, int) and step < len(value):
            indexes = range(step, step + 1)
        else:
            return value
        items = list(value)
        for i in indexes:
            items[i] = MASK if not rest else _mask(items[i], rest)
        return items
    return value
