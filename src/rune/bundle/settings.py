"""Bundle settings (`rune.toml`): every key, its default and why, parsed and checked.

Every key is optional. A number that bounds security (a lifetime, a retention, a budget,
a size limit) must be finite and in range, or the bundle does not load: `nan`, `inf`,
zero, negative values and `true` are refused, each with its file:line:column. So is an
unknown key in a known table, since a typo in a security setting must not pass silently
(`approval_ttl = 60` would leave the default of an hour), and a known key written outside
its table. Other top-level keys and tables are kept, unchecked, in `Settings.extra` for
tools that share the file.

``[engine]``
    ``approval_ttl_seconds`` (number > 0, default 3600): how long an approval given with
    `Engine.approve` lets the approved request through, unless `approve` is given its own
    lifetime. An hour is long enough for one task and short enough that a forgotten
    approval does not stand for good.

``[history]``
    ``retention_seconds`` (number > 0, default 86400): recorded actions (the `performed`
    and `spent` relations) older than this are dropped. Rules that count history over a
    window longer than this undercount, so keep it at least as long as the longest
    rate-limit or budget window the rules use; a day covers hourly and daily limits.

``[state]``
    ``path`` (string, default none: state is kept in memory): the file that keeps
    approvals and history across restarts, relative to the bundle directory unless
    absolute (`~` is not expanded).
    ``sync`` (`"full"`, the default, or `"normal"`): with `"full"` every acknowledged
    change is on disk (fsynced) before the call returns. `"normal"` (SQLite's WAL with
    `synchronous=NORMAL`) is faster; a process crash still loses nothing, but a power loss
    may lose the last transactions (an approval, a recorded action).

``[limits]``
    ``rule_max_tuples`` (integer > 0, default 10000) and ``rule_max_seconds`` (number > 0,
    default 0.05): the budget of one request's request-scoped rules, in derived tuples
    and in seconds; a request over budget is denied. Configuration rules derive tens of
    tuples per request in microseconds: the defaults leave room for that a hundredfold
    and keep one request from stalling the others.
    ``max_policy_bytes`` (integer > 0, default 8 MiB): the total size of the bundle's
    `policies/*.cedar` files, checked before they are read. Tens of thousands of policies
    fit; more would take seconds and hundreds of megabytes to compile at every load.
    ``max_entities`` (integer > 0, default 1,000,000): the entities of `entities/*.json`,
    the schema's actions included (about a gigabyte of memory at a kilobyte each); the
    files after the one that crosses it are not read.
    ``max_hierarchy_depth`` (integer > 0, default 256, `MAX_HIERARCHY_DEPTH`): the longest
    chain of parents an entity may have. Real organizations and folder trees are a few
    dozen levels deep at most; a deep chain is a mistake or an attack, and every level
    costs memory in each entity's closed ancestor set (a chain of n levels holds about
    n*n/2 references: 256 levels about 2 MB, 10,000 would be gigabytes).
    ``max_context_bytes`` (integer > 0, default 1 MiB): the size of one request's
    context, as JSON (one per value and per key, plus the characters of every string and
    key). Contexts describe a request (a path, an amount, a ticket), not the data it
    carries. A larger one is refused (`context-too-large`, with the JSON path where the
    limit was crossed).
    ``max_context_depth`` (integer > 0, default 32): how deeply records and sets may nest
    in a context, the context itself being level 1; deeper is refused
    (`nesting-too-deep`, with the path). Real contexts are a few levels deep; an agent
    that writes the context should not choose how much work reading it takes.

``[validation]``
    ``mode`` (`"strict"`, the default, `"warn"` or `"off"`): when the bundle has a
    schema, its policies are validated against it in Cedar's strict mode at load. A
    policy that does not validate (`principal.suspendd`, a typo) would otherwise load and
    silently never apply. `"strict"` refuses the bundle with every validation error;
    `"warn"` loads it and reports them as warnings (`Bundle.warnings`, and the
    `rune.bundle` logger); `"off"` skips validation. Entities are always read as the
    schema directs, and facts as their relations' column types direct.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from rune.bundle.errors import BundleError
from rune.cedar.entities import MAX_HIERARCHY_DEPTH
from rune.errors import Diagnostic, SourceSpan

__all__ = ["Settings", "StateSync", "ValidationMode"]

_MAX_INT = (1 << 63) - 1  # a TOML integer is 64-bit; tomllib itself does not check


class ValidationMode(StrEnum):
    """What loading does with policies that do not validate against the bundle's schema."""

    STRICT = "strict"
    WARN = "warn"
    OFF = "off"


class StateSync(StrEnum):
    """How durably state changes are written (see `[state] sync`)."""

    FULL = "full"
    NORMAL = "normal"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """A bundle's settings; see the module docstring for every key, its default and why.

    Construct with keywords to give an engine its settings in code; every value is
    checked as it would be in `rune.toml` (`state_path` is resolved, strings name enum
    members).

    Raises:
        BundleError: (`invalid-settings`) one diagnostic per bad value.
    """

    approval_ttl_seconds: float = 3600.0
    history_retention_seconds: float = 86400.0
    state_path: Path | None = None
    state_sync: StateSync = StateSync.FULL
    rule_max_tuples: int = 10_000
    rule_max_seconds: float = 0.05
    max_policy_bytes: int = 8 << 20
    max_entities: int = 1_000_000
    max_hierarchy_depth: int = MAX_HIERARCHY_DEPTH
    max_context_bytes: int = 1 << 20
    max_context_depth: int = 32
    validation_mode: ValidationMode = ValidationMode.STRICT
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        problems: list[Diagnostic] = []
        for key in _KEYS:
            value = getattr(self, key.field)
            if value is None and key.field == "state_path":
                continue
            try:
                object.__setattr__(self, key.field, key.check(value))
            except _Invalid as bad:
                problems.append(Diagnostic("invalid-setting", f"`{key.field}` {bad}",
                                           path=key.field))
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        if problems:
            raise BundleError("invalid settings", code="invalid-settings",
                              diagnostics=problems)

    @classmethod
    def from_toml(cls, text: str, file: str | Path | None = None, *,
                  base: str | Path | None = None) -> Settings:
        """Parse and check the text of a `rune.toml`.

        Args:
            text: the TOML text.
            file: the file name diagnostics report (`rune.toml` when None).
            base: the directory a relative `[state] path` is resolved against; by default
                the directory of ``file`` (the bundle's), else the working directory.

        Raises:
            BundleError: (`invalid-settings`) every problem, each located at its key.
        """
        name = str(file) if file is not None else "rune.toml"
        if base is None:
            base = Path(file).parent if file is not None else Path.cwd()
        problems: list[Diagnostic] = []
        data = _load_toml(text, name, problems)
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if data is not None:
            _read_tables(data, text, name, problems, values, extra)
        path = values.get("state_path")
        if isinstance(path, Path) and not path.is_absolute():
            values["state_path"] = Path(base) / path
        if problems:
            raise BundleError(f"`{name}` has {len(problems)} error(s)", code="invalid-settings",
                              diagnostics=problems)
        return cls(**values, extra=extra)


class _Invalid(Exception):
    """A value a key does not accept; the message completes "`key` ..."."""


def _show(value: Any) -> str:
    """A value as TOML writes it, in backticks (or what it is, for a table or array)."""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, float):
        if math.isnan(value):
            return "`nan`"
        if math.isinf(value):
            return "`inf`" if value > 0 else "`-inf`"
        return f"`{value!r}`"
    if isinstance(value, int):
        digits = str(value) if abs(value) < 10 ** 30 else f"{str(value)[:20]}..."
        return f"`{digits}`"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else f"{value[:57]}..."
        return f'`"{shown}"`'
    if isinstance(value, dict | Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"must be a number of seconds, not {_show(value)}")
    try:
        seconds = float(value)
    except OverflowError:
        raise _Invalid(f"must be a finite number of seconds, not {_show(value)}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise _Invalid(f"must be a finite number of seconds greater than 0, not {_show(value)}")
    return seconds


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"must be an integer, not {_show(value)}")
    if not 0 < value <= _MAX_INT:
        raise _Invalid(f"must be an integer from 1 to {_MAX_INT}, not {_show(value)}")
    return int(value)


def _path(value: Any) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise _Invalid(f"must be a path (a string), not {_show(value)}")
    text = os.fspath(value)
    if not isinstance(text, str) or not text or "\0" in text:
        raise _Invalid("must be a non-empty path without NUL characters")
    try:
        return Path(text).resolve()
    except (OSError, RuntimeError, ValueError) as error:  # a symlink loop, say
        raise _Invalid(f"cannot be resolved: {error}") from None


def _choice(choices: type[StrEnum]) -> Callable[[Any], StrEnum]:
    names = [f"`{c.value}`" for c in choices]
    listed = f"{', '.join(names[:-1])} or {names[-1]}"

    def check(value: Any) -> StrEnum:
        if isinstance(value, str) and value in choices._value2member_map_:
            return choices(value)
        raise _Invalid(f"must be {listed}, not {_show(value)}")

    return check


@dataclass(frozen=True, slots=True)
class _Key:
    """One `rune.toml` key: its table, its name there, its field and its check."""

    table: str
    name: str
    field: str
    check: Callable[[Any], Any]


_KEYS: tuple[_Key, ...] = (
    _Key("engine", "approval_ttl_seconds", "approval_ttl_seconds", _seconds),
    _Key("history", "retention_seconds", "history_retention_seconds", _seconds),
    _Key("state", "path", "state_path", _path),
    _Key("state", "sync", "state_sync", _choice(StateSync)),
    _Key("limits", "rule_max_tuples", "rule_max_tuples", _count),
    _Key("limits", "rule_max_seconds", "rule_max_seconds", _seconds),
    _Key("limits", "max_policy_bytes", "max_policy_bytes", _count),
    _Key("limits", "max_entities", "max_entities", _count),
    _Key("limits", "max_hierarchy_depth", "max_hierarchy_depth", _count),
    _Key("limits", "max_context_bytes", "max_context_bytes", _count),
    _Key("limits", "max_context_depth", "max_context_depth", _count),
    _Key("validation", "mode", "validation_mode", _choice(ValidationMode)),
)
_TABLES: dict[str, dict[str, _Key]] = {}
for _key in _KEYS:
    _TABLES.setdefault(_key.table, {})[_key.name] = _key
# INVARIANT: every field but `extra` is set from exactly one key.
assert {k.field for k in _KEYS} == {f.name for f in fields(Settings)} - {"extra"}

_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")


def _load_toml(text: str, file: str, problems: list[Diagnostic]) -> dict[str, Any] | None:
    """The decoded TOML, or None after adding the (located) syntax error to ``problems``."""
    import tomllib  # only bundles with settings pay for it

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = _TOML_POSITION.search(message)
        span = SourceSpan.from_offsets(text, len(text), len(text), file)
        if match is not None:
            message = message[: match.start()]
            if match.group(1) is not None:
                span = _span_at(text, int(match.group(1)), int(match.group(2)), file)
        message = message[:1].lower() + message[1:]
        problems.append(Diagnostic("invalid-toml", message, span, source=text))
    except RecursionError:
        problems.append(Diagnostic("invalid-toml", "arrays or tables are nested too deeply",
                                   path=f"{file}: $"))
    except ValueError as error:  # an integer of thousands of digits, for one
        reason = str(error)
        message = ("an integer has too many digits" if "digits" in reason
                   else f"unreadable value: {reason[:1].lower()}{reason[1:]}")
        problems.append(Diagnostic("invalid-toml", message, path=f"{file}: $"))
    return None


def _span_at(text: str, line: int, column: int, file: str) -> SourceSpan:
    offset = 0
    for _ in range(line - 1):
        newline = text.find("\n", offset)
        if newline < 0:
            break
        offset = newline + 1
    start = min(offset + column - 1, len(text))
    return SourceSpan.from_offsets(text, start, start + 1, file)


def _read_tables(data: dict[str, Any], text: str, file: str, problems: list[Diagnostic],
                 values: dict[str, Any], extra: dict[str, Any]) -> None:
    """Check every known table and key of ``data`` into ``values``; keep the rest."""
    misplaced = {key.name: key for key in _KEYS}

    def report(code: str, message: str, table: str | None, key: str | None) -> None:
        span = _locate(text, table, key, file)
        where = ".".join(part for part in (table, key) if part)
        problems.append(Diagnostic(code, message, span, None if span else f"{file}: {where}",
                                   source=text))

    for name, table in data.items():
        known = _TABLES.get(name)
        if known is None:
            if name in misplaced and not isinstance(table, dict):
                home = misplaced[name].table
                report("misplaced-setting", f"`{name}` must be in the `[{home}]` table",
                       None, name)
            extra[name] = table
            continue
        if not isinstance(table, dict):
            report("invalid-setting", f"`{name}` must be a table (`[{name}]`), not "
                   f"{_show(table)}", None, name)
            continue
        for key_name, value in table.items():
            key = known.get(key_name)
            if key is None:
                report("unknown-setting", _unknown(name, key_name, known), name, key_name)
                continue
            # A relative path is resolved later, against the bundle directory.
            check = _relative_path if key.check is _path else key.check
            try:
                values[key.field] = check(value)
            except _Invalid as bad:
                report("invalid-setting", f"`[{name}] {key_name}` {bad}", name, key_name)


def _relative_path(value: Any) -> Path:
    """`[state] path` as written (resolved later, against the bundle directory)."""
    if not isinstance(value, str) or not value or "\0" in value:
        raise _Invalid(f"must be a non-empty path without NUL characters, not {_show(value)}")
    return Path(value)


def _unknown(table: str, key: str, known: Mapping[str, _Key]) -> str:
    import difflib

    message = f"unknown setting `{key}` in `[{table}]`"
    close = difflib.get_close_matches(key, list(known), n=1)
    if close:
        return f"{message}; did you mean `{close[0]}`?"
    return f"{message}; known: {', '.join(f'`{k}`' for k in known)}"


def _locate(text: str, table: str | None, key: str | None, file: str) -> SourceSpan | None:
    """Where ``key`` of ``table`` is written (best effort: headers, dotted keys, inline
    tables on one line), or where the table is when ``key`` is None."""
    header = re.compile(r"\s*\[\s*([^\[\]]*?)\s*\]\s*(?:#.*)?$")
    current: str | None = None
    offset = 0
    for line in text.split("\n"):
        match = header.match(line)
        if match is not None:
            current = _normal_key(match.group(1))
            if key is None and table is not None and current == table:
                return _span(text, offset + line.index("["), offset + len(line.rstrip()), file)
        else:
            found = _key_in_line(line, current, table, key)
            if found is not None:
                return _span(text, offset + found[0], offset + found[1], file)
        offset += len(line) + 1
    return None


def _key_in_line(line: str, current: str | None, table: str | None, key: str | None
                 ) -> tuple[int, int] | None:
    """The columns of ``key`` (of ``table``) in this line of the table ``current``."""
    assignment = re.match(r"\s*([A-Za-z0-9_\-.\"' ]+?)\s*=", line)
    if assignment is None:
        return None
    written = _normal_key(assignment.group(1))
    full = written if current is None else f"{current}.{written}"
    wanted = ".".join(part for part in (table, key) if part)
    if full == wanted:
        return assignment.start(1), assignment.end(1)
    if table is not None and key is not None and full == table:  # `table = { key = ... }`
        inner = re.search(rf"[{{,]\s*[\"']?({re.escape(key)})[\"']?\s*=", line)
        if inner is not None:
            return inner.start(1), inner.end(1)
    return None


def _normal_key(written: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in written.split("."))


def _span(text: str, start: int, end: int, file: str) -> SourceSpan:
    return SourceSpan.from_offsets(text, start, end, file)
