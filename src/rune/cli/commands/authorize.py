"""`rune authorize`: decide requests against a bundle (Cedar and its rules), replay a
requests file, or compare two bundles on the same requests (impact analysis).

Exit codes: 0 allow, 2 deny, 4 ask, 1 error; for several requests the most severe one
(error, then deny, then ask). With `--against`, 0 unless a request could not be decided.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from rune.cli._common import (
    CliError,
    bundle_argument,
    clock_option,
    decision_exit_code,
    decision_json,
    decision_lines,
    echo_json,
    format_option,
    load_engine,
    parse_context,
    request_options,
    state_option,
)
from rune.cli._requests import RequestLine, read_requests
from rune.cli._tables import percentile, print_table, progress
from rune.cli.main import ExitCode

__all__ = ["command", "decide"]

_COMPARED = ("decision", "reasons", "config", "obligations")


@click.command("authorize")
@bundle_argument
@request_options
@click.option("--requests", "requests_file", type=click.Path(path_type=Path),
              help="decide every request of FILE (JSON Lines, or a JSON array; `-` for "
                   "stdin)")
@click.option("--output", "-o", "output_file", type=click.Path(path_type=Path),
              help="also write one decision per line (JSON Lines) to FILE")
@click.option("--against", type=click.Path(path_type=Path), metavar="OTHER_BUNDLE",
              help="impact analysis: the requests whose decision would change from "
                   "OTHER_BUNDLE (as deployed) to BUNDLE")
@format_option
@clock_option
@state_option
def command(bundle: Path, principal: str | None, action: str | None, resource: str | None,
            context: str | None, requests_file: Path | None, output_file: Path | None,
            against: Path | None, output_format: str, now: str | None,
            state: Path | None) -> int:
    """Decide requests against BUNDLE: the decision, its reasons (policy @ids), the
    configuration and the obligations its rules derive.

    One request with --principal/--action/--resource [--context], or many with
    --requests FILE (a progress bar on a terminal, one decision per line, a summary).
    """
    lines = _requests(principal, action, resource, context, requests_file)
    engine = load_engine(bundle, now=now, state=state)
    if against is not None:
        baseline = load_engine(against, now=now)
        return _impact(baseline, engine, lines, against, bundle, output_format, output_file)
    decided = [_timed(engine, line) for line in progress(lines, "deciding")]
    items = [item for item, _ in decided]
    if output_file is not None:
        _write_lines(output_file, items)
    summary = _summary(items, [t for _, t in decided])
    if output_format == "json":
        echo_json({"decisions": items, "summary": summary})
    elif requests_file is None and items[0]["decision"] == "error":
        click.echo(f"error: {items[0]['error']['message']}", err=True)
    else:
        for item in items:
            click.echo("\n".join(_item_lines(item)))
        if requests_file is not None:
            _print_summary(summary)
    return int(decision_exit_code([i["decision"] for i in items]))


def _requests(principal: str | None, action: str | None, resource: str | None,
              context: str | None, requests_file: Path | None) -> list[RequestLine]:
    given = [name for name, value in (("--principal", principal), ("--action", action),
                                      ("--resource", resource), ("--context", context))
             if value is not None]
    if requests_file is not None:
        if given:
            raise CliError(f"give either {', '.join(given)} or `--requests`, not both")
        return read_requests(requests_file)
    missing = [name for name, value in (("--principal", principal), ("--action", action),
                                        ("--resource", resource)) if value is None]
    if missing:
        raise CliError(f"missing {', '.join(f'`{m}`' for m in missing)} (or give "
                       "`--requests FILE`)")
    return [RequestLine(0, principal, action, resource, parse_context(context))]


def decide(engine: Any, line: RequestLine) -> dict[str, Any]:
    """One request's decision as JSON, or its error (`decision` is then "error")."""
    from rune.errors import RuneError

    request = line.request_json()
    out: dict[str, Any] = {"line": line.line} if line.line else {}
    if line.error is not None:
        out.update(request=request, decision="error",
                   error={"code": "invalid-request", "message": line.error})
        return out
    try:
        decision = engine.authorize(line.principal, line.action, line.resource, line.context)
    except RuneError as error:
        first = error.diagnostics[0]
        where = f" (at `{first.path}`)" if first.path else ""
        out.update(request=request, decision="error",
                   error={"code": error.code, "message": f"{first.message}{where}"})
        return out
    out.update(decision_json(decision, request))
    return out


def _timed(engine: Any, line: RequestLine) -> tuple[dict[str, Any], float]:
    start = time.perf_counter_ns()
    item = decide(engine, line)
    return item, (time.perf_counter_ns() - start) / 1000.0


def _item_lines(item: dict[str, Any]) -> list[str]:
    where = f"line {item['line']}: " if "line" in item else ""
    if item["decision"] == "error":
        request = item["request"]
        return [f"ERROR  {where}{request.get('principal')} {request.get('action')} "
                f"{request.get('resource')}", f"  error:       {item['error']['message']}"]
    lines = decision_lines(item)
    if where:
        lines[0] = lines[0][:7] + where + lines[0][7:]
    return lines


def _write_lines(path: Path, items: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for item in items:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")


def _summary(items: Sequence[dict[str, Any]], micros: Sequence[float]) -> dict[str, Any]:
    verdicts = Counter(i["decision"] for i in items)
    policies = Counter(reason for i in items for reason in i.get("reasons", ()))
    ordered = sorted(micros)
    return {
        "requests": len(items),
        "decisions": {v: verdicts.get(v, 0) for v in ("allow", "deny", "ask", "error")},
        "reasons": dict(sorted(policies.items(), key=lambda kv: (-kv[1], kv[0]))),
        "latency_us": {"p50": round(percentile(ordered, 0.5), 1),
                       "p90": round(percentile(ordered, 0.9), 1),
                       "p99": round(percentile(ordered, 0.99), 1),
                       "max": round(ordered[-1], 1) if ordered else 0.0},
    }


def _print_summary(summary: dict[str, Any]) -> None:
    click.echo("")
    total = summary["requests"]
    print_table(f"{total} request(s)", ["decision", "count"],
                [(v, n) for v, n in summary["decisions"].items()], right=(1,))
    if summary["reasons"]:
        print_table("by reason", ["reason", "count"],
                    list(summary["reasons"].items()), right=(1,))
    latency = summary["latency_us"]
    print_table("latency (µs)", ["p50", "p90", "p99", "max"],
                [(latency["p50"], latency["p90"], latency["p99"], latency["max"])],
                right=(0, 1, 2, 3))


# -- impact analysis ----------------------------------------------------------------------------

def _impact(baseline: Any, candidate: Any, lines: list[RequestLine], against: Path,
            bundle: Path, output_format: str, output_file: Path | None) -> int:
    changes: list[dict[str, Any]] = []
    transitions: Counter[str] = Counter()
    fields: Counter[str] = Counter()
    errors = 0
    for line in progress(lines, "comparing"):
        before, after = decide(baseline, line), decide(candidate, line)
        if "error" in before or "error" in after:
            errors += 1
        changed = [f for f in _COMPARED if before.get(f) != after.get(f)]
        if "error" in before or "error" in after:
            changed = [f for f in ("decision", "error") if before.get(f) != after.get(f)]
        if not changed:
            continue
        fields.update(changed)
        transitions[f"{before['decision']} -> {after['decision']}"] += 1
        change = {"line": line.line, "request": line.request_json(), "changed": changed,
                  "before": _outcome(before), "after": _outcome(after)}
        changes.append(change)
    summary = {"requests": len(lines), "changed": len(changes),
               "transitions": dict(sorted(transitions.items())),
               "fields": {f: fields.get(f, 0) for f in (*_COMPARED, "error") if fields.get(f)},
               "errors": errors}
    if output_file is not None:
        _write_lines(output_file, changes)
    if output_format == "json":
        echo_json({"baseline": str(against), "candidate": str(bundle), "changes": changes,
                   "summary": summary})
    else:
        for change in changes:
            click.echo("\n".join(_change_lines(change)))
        _print_impact(summary, against, bundle)
    return int(ExitCode.ERROR if errors else ExitCode.OK)


def _outcome(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("line", "request")}


def _change_lines(change: dict[str, Any]) -> list[str]:
    request = change["request"]
    where = f"line {change['line']}: " if change["line"] else ""
    lines = [f"CHANGED  {where}{request['principal']} {request['action']} "
             f"{request['resource']}"]
    before, after = change["before"], change["after"]
    for field in change["changed"]:
        lines.append(f"  {field + ':':12} {_show(field, before.get(field))}")
        lines.append(f"  {'':12} -> {_show(field, after.get(field))}")
    return lines


def _show(field: str, value: Any) -> str:
    if value is None:
        return "(none)"
    if field == "decision":
        return str(value)
    if field == "reasons":
        return ", ".join(value) if value else "(none)"
    if field == "error":
        return str(value.get("message"))
    return json.dumps(value, ensure_ascii=False)


def _print_impact(summary: dict[str, Any], against: Path, bundle: Path) -> None:
    click.echo("")
    click.echo(f"{summary['changed']} of {summary['requests']} request(s) change from "
               f"{against} to {bundle}")
    if summary["transitions"]:
        click.echo("")
        print_table("decisions", ["before -> after", "requests"],
                    list(summary["transitions"].items()), right=(1,))
        print_table("what changed", ["field", "requests"], list(summary["fields"].items()),
                    right=(1,))
