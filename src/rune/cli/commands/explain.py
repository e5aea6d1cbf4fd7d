"""`rune explain`: why a request is decided as it is: the determining policies, the
condition that was false (with its source span) for each relevant policy that did not
apply, the engine's own reasons, and the Datalog proof of every derived fact used.

Exit 0 (whatever the decision), 1 on an error.
"""

from __future__ import annotations

from pathlib import Path

import click

from rune.cli._common import (
    CliError,
    bundle_argument,
    clock_option,
    echo_json,
    format_option,
    load_engine,
    parse_context,
    request_options,
    state_option,
)
from rune.cli.main import ExitCode

__all__ = ["command"]


@click.command("explain")
@bundle_argument
@request_options
@format_option
@clock_option
@state_option
def command(bundle: Path, principal: str | None, action: str | None, resource: str | None,
            context: str | None, output_format: str, now: str | None,
            state: Path | None) -> int:
    """Explain the decision on one request against BUNDLE."""
    missing = [f"`--{n}`" for n, v in (("principal", principal), ("action", action),
                                       ("resource", resource)) if v is None]
    if missing:
        raise CliError(f"missing {', '.join(missing)}")
    parsed = parse_context(context)
    engine = load_engine(bundle, now=now, state=state)
    explanation = engine.authorize(principal, action, resource, parsed).explain()
    if output_format == "json":
        echo_json(explanation.to_json())
    else:
        click.echo(explanation.to_text(), nl=False)
    return int(ExitCode.OK)
