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
    context, as JSON. Contexts describe a request (a path, an amount, a ticket), not the
    data it carries.
    ``max_context_depth`` (integer > 0, default 32): how deeply records and sets may nest
    in a context; evaluating a value recurses once per level.

``[validation]``
    ``mode`` (`"strict"`, the default, `"warn"` or `"off"`): when the bundle has a
    schema, its policies are validated against it in Cedar's strict mode at load. A
    policy that does not validate (`principal.suspendd`, a typo) would otherwise load and
    silently never apply. `"strict"` refuses the bundle with every validation error;
    `"warn"` loads it and reports them as warnings (`Bundle.warnings`, and the
    `rune.bundle` logger); `"off"` skips validation. Entities are always read as the
    schema directs, and facts as their relations' column types direct.

``[server]`` (what `rune serve` reads; the command line and the environment override it)
    ``host`` (string, default `"127.0.0.1"`): the address the server binds. Loopback, so
    that a server started to try a bundle is not reachable from the network until its
    operator says so (`"0.0.0.0"` or `"::"` for every interface).
    ``port`` (integer from 1 to 65535, default 8180): the TCP port.
    ``api_token`` (string, default none: decision routes are open): the bearer token the
    decision routes (AuthZEN evaluation and search, access requests, `/v1/decide`)
    require. `RUNE_API_TOKEN` overrides it; keeping the token in the environment keeps it
    out of the bundle. At least 16 visible ASCII characters: a short token can be guessed.
    ``admin_token`` (string, default none: the admin routes answer 404): the bearer token
    of the admin routes (writes, records, approvals, reload, queries, explanations).
    `RUNE_ADMIN_TOKEN` overrides it. Same form as ``api_token``. Without one no route
    reveals policies, rules or entity data.
    ``tls_cert`` and ``tls_key`` (paths, default none: plain HTTP): a PEM certificate
    chain and its private key, relative to the bundle unless absolute; the server speaks
    only TLS (1.3) when both are given. One without the other is refused.
    ``max_body_bytes`` (integer > 0, default 1 MiB): the largest request body; a larger
    one is answered 413 before it is read. A batch of a thousand evaluations fits in a
    few hundred kilobytes.
    ``watch`` (boolean, default true): reload the bundle when its files change. A bundle
    with errors keeps the running version serving.
    ``public_url`` (string, default none: the scheme and `Host` of each request): the
    PDP's base URL as the AuthZEN metadata advertises it. Set it behind a proxy, or to
    stop a client-chosen `Host` header from naming the endpoints.
    ``access_request_ttl_seconds`` (number > 0, default 600): how long a requestable
    denial (an "ask" decision) can be turned into an access request. Ten minutes is
    enough for a client to submit it and short enough that a stale denial is not.

``[server.decision_log]``
    ``path`` (string, default none: no decision log): the file that receives one JSON
    line per decision, relative to the bundle unless absolute; rotated files get `.1`,
    `.2`, ... appended.
    ``sync`` (`"batched"`, the default, or `"always"`): with `"always"` a decision's line
    is written and fsynced before its response is sent, so no client ever holds a
    decision whose line a crash could lose (concurrent decisions share one fsync). With
    `"batched"` lines are written by a background thread every ``flush_seconds``: a
    crash loses at most the decisions answered in the last ``flush_seconds``.
    ``flush_seconds`` (number > 0, default 0.2): the batched writer's period, and so the
    bound on what a crash can lose in that mode.
    ``max_bytes`` (integer > 0, default 64 MiB): the size at which the file is rotated.
    ``keep`` (integer > 0, default 10): rotated files kept; older ones are deleted.
    ``mask`` (array of JSON paths, default none): request fields written as `"***"`,
    such as `"$.context.password"` or `"$.subject.properties.*"` (`*` is any key or
    element). The request is logged as evaluated: `subject`, `action`, `resource`,
    `context`.
    ``max_backlog`` (integer > 0, default 100,000): lines waiting for the writer; past
    it decisions wait for the disk instead of the log growing without bound or dropping
    lines.
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

__all__ = ["DecisionLogSync", "Settings", "StateSync", "ValidationMode"]

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


class DecisionLogSync(StrEnum):
    """When decision log lines reach the disk (see `[server.decision_log] sync`)."""

    BATCHED = "batched"
    ALWAYS = "always"


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
    server_host: str = "127.0.0.1"
    server_port: int = 8180
    # Secrets: never part of a repr (settings are logged and printed in errors).
    server_api_token: str | None = field(default=None, repr=False)
    server_admin_token: str | None = field(default=None, repr=False)
    server_tls_cert: Path | None = None
    server_tls_key: Path | None = None
    server_max_body_bytes: int = 1 << 20
    server_watch: bool = True
    server_public_url: str | None = None
    server_access_request_ttl_seconds: float = 600.0
    decision_log_path: Path | None = None
    decision_log_sync: DecisionLogSync = DecisionLogSync.BATCHED
    decision_log_flush_seconds: float = 0.2
    decision_log_max_bytes: int = 64 << 20
    decision_log_keep: int = 10
    decision_log_mask: tuple[str, ...] = ()
    decision_log_max_backlog: int = 100_000
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        problems: list[Diagnostic] = []
        for key in _KEYS:
            value = getattr(self, key.field)
            if value is None and key.field in _OPTIONAL:
                continue
            try:
                object.__setattr__(self, key.field, key.check(value))
            except _Invalid as bad:
                problems.append(Diagnostic("invalid-setting", f"`{key.field}` {bad}",
                                           path=key.field))
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        if (self.server_tls_cert is None) != (self.server_tls_key is None):
            given, missing = (("server_tls_cert", "server_tls_key")
                              if self.server_tls_key is None
                              else ("server_tls_key", "server_tls_cert"))
            problems.append(Diagnostic("invalid-setting", f"`{given}` needs `{missing}` too: "
                                       "TLS takes a certificate and its key", path=missing))
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
        for field_name in _PATHS:
            path = values.get(field_name)
            if isinstance(path, Path) and not path.is_absolute():
                values[field_name] = Path(base) / path
        if not problems and (("server_tls_cert" in values) != ("server_tls_key" in values)):
            given, missing = (("tls_cert", "tls_key") if "server_tls_cert" in values
                              else ("tls_key", "tls_cert"))
            span = _locate(text, "server", given, name)
            problems.append(Diagnostic(
                "invalid-setting", f"`[server] {given}` needs `{missing}` too: TLS takes a "
                "certificate and its key", span, None if span else f"{name}: server.{given}",
                source=text))
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


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"must be `true` or `false`, not {_show(value)}")
    return value


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise _Invalid(f"must be a port number from 1 to 65535, not {_show(value)}")
    return int(value)


def _host(value: Any) -> str:
    if (not isinstance(value, str) or not value or len(value) > 255
            or not all(c.isascii() and (c.isalnum() or c in ".-:_[]%") for c in value)):
        raise _Invalid(f"must be a host name or an IP address, not {_show(value)}")
    return value


_TOKEN_MIN = 16


def _token(value: Any) -> str:
    # The value itself is a secret: a message never shows it.
    if not isinstance(value, str):
        raise _Invalid(f"must be a string, not {_show(value)}")
    if not _TOKEN_MIN <= len(value) <= 4096 or not all("!" <= c <= "~" for c in value):
        raise _Invalid(f"must be {_TOKEN_MIN} to 4096 visible ASCII characters (no spaces)")
    return value


def _url(value: Any) -> str:
    if (not isinstance(value, str) or not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value)):
        raise _Invalid(f"must be an `http://` or `https://` URL without query or fragment, not "
                       f"{_show(value)}")
    return value.rstrip("/")


def _json_paths(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _Invalid(f"must be an array of JSON paths such as `\"$.context.password\"`, not "
                       f"{_show(value)}")
    for item in value:
        if not isinstance(item, str) or not _JSON_PATH.fullmatch(item):
            raise _Invalid(f"must be an array of JSON paths such as `\"$.context.password\"` "
                           f"(`$`, then `.name`, `[index]` or `.*` steps), not {_show(item)}")
    return tuple(value)


_JSON_PATH = re.compile(r"\$(\.([A-Za-z_][A-Za-z0-9_\-]*|\*)|\[(\d+|\*)\])+")


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
    _Key("server", "host", "server_host", _host),
    _Key("server", "port", "server_port", _port),
    _Key("server", "api_token", "server_api_token", _token),
    _Key("server", "admin_token", "server_admin_token", _token),
    _Key("server", "tls_cert", "server_tls_cert", _path),
    _Key("server", "tls_key", "server_tls_key", _path),
    _Key("server", "max_body_bytes", "server_max_body_bytes", _count),
    _Key("server", "watch", "server_watch", _flag),
    _Key("server", "public_url", "server_public_url", _url),
    _Key("server", "access_request_ttl_seconds", "server_access_request_ttl_seconds",
         _seconds),
    _Key("server.decision_log", "path", "decision_log_path", _path),
    _Key("server.decision_log", "sync", "decision_log_sync", _choice(DecisionLogSync)),
    _Key("server.decision_log", "flush_seconds", "decision_log_flush_seconds", _seconds),
    _Key("server.decision_log", "max_bytes", "decision_log_max_bytes", _count),
    _Key("server.decision_log", "keep", "decision_log_keep", _count),
    _Key("server.decision_log", "mask", "decision_log_mask", _json_paths),
    _Key("server.decision_log", "max_backlog", "decision_log_max_backlog", _count),
)
# Fields that may be None (absent); the others always hold a checked value.
_OPTIONAL = frozenset({"state_path", "server_api_token", "server_admin_token",
                       "server_tls_cert", "server_tls_key", "server_public_url",
                       "decision_log_path"})
# Path fields, resolved against the bundle directory when relative.
_PATHS = ("state_path", "server_tls_cert", "server_tls_key", "decision_log_path")
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
    misplaced: dict[str, _Key] = {}
    for key in _KEYS:
        if "." not in key.table:
            misplaced.setdefault(key.name, key)  # (the first table a name is known in)

    def report(code: str, message: str, table: str | None, key: str | None) -> None:
        span = _locate(text, table, key, file)
        where = ".".join(part for part in (table, key) if part)
        problems.append(Diagnostic(code, message, span, None if span else f"{file}: {where}",
                                   source=text))

    def read(name: str, table: dict[str, Any]) -> None:
        known = _TABLES[name]
        for key_name, value in table.items():
            inner = f"{name}.{key_name}"
            if inner in _TABLES:  # a sub-table such as `[server.decision_log]`
                if isinstance(value, dict):
                    read(inner, value)
                else:
                    report("invalid-setting", f"`{inner}` must be a table (`[{inner}]`), not "
                           f"{_show(value)}", name, key_name)
                continue
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

    for name, table in data.items():
        if name not in _TABLES or "." in name:
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
        read(name, table)


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
