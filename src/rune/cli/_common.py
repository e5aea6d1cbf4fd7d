"""What several subcommands share: the bundle argument, request options, the clock, JSON
output, and decisions as text and as JSON."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from rune.cli.main import ExitCode

if TYPE_CHECKING:
    import rune

__all__ = [
    "CliError",
    "bundle_argument",
    "clock_option",
    "decision_exit_code",
    "decision_json",
    "decision_lines",
    "diagnostic_json",
    "echo_json",
    "format_option",
    "load_engine",
    "parse_context",
    "parse_time",
    "request_options",
    "state_option",
]

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """A user error a command reports as `error: ...` (exit 1)."""

    exit_code = int(ExitCode.ERROR)

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


# -- options --------------------------------------------------------------------------------

def bundle_argument(function: F) -> F:
    """The BUNDLE argument: a bundle directory or a single-file `.rune` bundle."""
    return click.argument("bundle", type=click.Path(path_type=Path))(function)


def format_option(function: F) -> F:
    """`--format human|json`."""
    return click.option("--format", "output_format", type=click.Choice(["human", "json"]),
                        default="human", show_default=True,
                        help="human-readable text, or JSON (documented, stable)")(function)


def clock_option(function: F) -> F:
    """`--now`: a fixed time for the decisions (what rules see as `now`)."""
    return click.option("--now", "now", metavar="TIME",
                        help="decide at this time: seconds since the epoch or ISO 8601 "
                             "(`2025-03-04T03:00:00Z`); default: the current time")(function)


def state_option(function: F) -> F:
    """`--state FILE`: the engine's state file."""
    return click.option("--state", type=click.Path(path_type=Path), default=None,
                        help="a state file (approvals, history) to read and write; "
                             "default: the bundle's `[state] path`, else none")(function)


def request_options(function: F) -> F:
    """`--principal/--action/--resource/--context`."""
    for option in reversed([
        click.option("--principal", "-p", metavar="UID", help='e.g. \'Agent::"a1"\''),
        click.option("--action", "-a", metavar="UID", help='e.g. \'Action::"read_file"\''),
        click.option("--resource", "-r", metavar="UID", help='e.g. \'File::"src/app.py"\''),
        click.option("--context", "-c", metavar="JSON", default=None,
                     help='the context as a JSON object, e.g. \'{"env": "dev"}\''),
    ]):
        function = option(function)
    return function


# -- parsing ----------------------------------------------------------------------------------

def parse_context(text: str | None) -> dict[str, Any] | None:
    """The `--context` JSON object (None when not given)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as bad:
        raise CliError(f"`--context` is not valid JSON: {bad}") from None
    if not isinstance(value, dict):
        raise CliError("`--context` must be a JSON object such as `{\"env\": \"dev\"}`")
    return value


def parse_time(value: Any, what: str) -> float:
    """Seconds since the epoch from a number, an ISO 8601 text, or a YAML date/time."""
    if isinstance(value, bool):
        raise CliError(f"{what} must be a time, not `{value}`")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    elif isinstance(value, date):
        seconds = datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise CliError(f"{what} `{value}` is not a time: give seconds since the "
                               "epoch or ISO 8601 such as `2025-03-04T03:00:00Z`") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = moment.timestamp()
    else:
        raise CliError(f"{what} must be a time, not {type(value).__name__}")
    if not math.isfinite(seconds):
        raise CliError(f"{what} must be a finite time")
    return seconds


def load_engine(bundle: Path, *, now: str | None = None, state: Path | None = None
                ) -> rune.Engine:
    """The engine of ``bundle`` (a `RuneError` with every problem when it does not load)."""
    import rune

    if not bundle.exists():
        raise CliError(f"bundle `{bundle}` does not exist")
    if now is None:
        return rune.Engine.load(bundle, state=state)
    fixed = parse_time(now, "`--now`")
    return rune.Engine.load(bundle, clock=lambda: fixed, state=state)


# -- output -------------------------------------------------------------------------------------

def echo_json(document: Any) -> None:
    """Print ``document`` as indented JSON (keys in the order given)."""
    click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, frozenset | set | tuple):
        return list(value)
    return str(value)


_CODES = {"allow": ExitCode.OK, "deny": ExitCode.DENY, "ask": ExitCode.ASK}


def decision_exit_code(verdicts: list[str]) -> ExitCode:
    """One decision's exit code; for several, the most severe: error, deny, ask, allow."""
    if "error" in verdicts:
        return ExitCode.ERROR
    for verdict in ("deny", "ask"):
        if verdict in verdicts:
            return _CODES[verdict]
    return ExitCode.OK


def request_json(principal: Any, action: Any, resource: Any, context: Any) -> dict[str, Any]:
    """A request as the JSON output shows it (uids as given)."""
    return {"principal": principal, "action": action, "resource": resource,
            "context": context if context is not None else {}}


def decision_json(decision: Any, request: Mapping[str, Any]) -> dict[str, Any]:
    """One decision in the JSON output: the request, then `Decision.to_json()`."""
    out: dict[str, Any] = {"request": dict(request)}
    out.update(decision.to_json())
    out["decision"] = str(decision.decision)
    return out


def decision_lines(item: Mapping[str, Any]) -> list[str]:
    """A decision (as `decision_json` gives it) as text lines of at most ~80 columns."""
    request = item["request"]
    head = f"{item['decision'].upper():5}  {_uid(request['principal'])} " \
           f"{_uid(request['action'])} {_uid(request['resource'])}"
    lines = [head]
    if request.get("context"):
        lines.append(f"  context:     {json.dumps(request['context'], ensure_ascii=False)}")
    reasons = item.get("reasons") or []
    lines.append(f"  reasons:     {', '.join(reasons) if reasons else '(none: denied by default)'}"
                 if item["decision"] == "deny" else
                 f"  reasons:     {', '.join(reasons) if reasons else '(none)'}")
    for error in item.get("errors") or []:
        lines.append(f"  error:       {error}")
    config = item.get("config") or {}
    if config:
        lines.append("  config:")
        lines.extend(f"    {key} = {json.dumps(value, ensure_ascii=False)}"
                     for key, value in config.items())
    obligations = item.get("obligations") or []
    if obligations:
        lines.append("  obligations:")
        lines.extend(f"    {obligation_text(o)}" for o in obligations)
    return lines


def obligation_text(obligation: Mapping[str, Any]) -> str:
    """`rate_limit api:Agent::"a1": 2 per 60s`, `budget ...`, `notify: text`."""
    kind = obligation.get("kind", "")
    key = obligation.get("key", "")
    parts = [kind + (f" {key}" if key else "")]
    limit, window = obligation.get("limit"), obligation.get("window_seconds")
    if limit is not None:
        per = f" per {window}s" if window is not None else ""
        parts.append(f"{limit}{per}")
    if obligation.get("amount") is not None:
        parts.append(f"amount {obligation['amount']}")
    if obligation.get("detail"):
        parts.append(str(obligation["detail"]))
    return ": ".join(parts[:1]) + (": " + ", ".join(parts[1:]) if parts[1:] else "")


def _uid(value: Any) -> str:
    if isinstance(value, Mapping) and "type" in value and "id" in value:
        return f'{value["type"]}::{json.dumps(str(value["id"]))}'
    return str(value)


def diagnostic_json(diagnostic: Any) -> dict[str, Any]:
    """A `Diagnostic` as JSON: code, message, and where (file, line, column, or path)."""
    out: dict[str, Any] = {"code": diagnostic.code, "message": diagnostic.message}
    span = diagnostic.span
    if span is not None:
        out.update(file=span.file, line=span.line, column=span.column,
                   end_line=span.end_line, end_column=span.end_column)
    if diagnostic.path is not None:
        out["path"] = diagnostic.path
    return out


def render_diagnostic(diagnostic: Any, *, warning: bool = False) -> str:
    """A diagnostic as the library renders it (file:line:column, caret snippet)."""
    text: str = diagnostic.render(diagnostic.source)
    if warning:
        text = text.replace(f"error[{diagnostic.code}]", f"warning[{diagnostic.code}]", 1)
    return text


def stderr_is_terminal() -> bool:
    """Whether progress bars may be drawn (never into a pipe or a file)."""
    return sys.stderr.isatty()
