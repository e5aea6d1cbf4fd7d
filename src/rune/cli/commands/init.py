"""`rune init`: a new bundle from a template (policies, rules, schema, entities, facts,
settings and a test suite that passes). The templates are the example bundles (the
coding-agent one with a schema), shipped inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from rune.cli._common import CliError
from rune.cli.main import ExitCode

__all__ = ["TEMPLATES", "command"]

TEMPLATES = ("coding-agent", "data-access-agent", "infra-agent")


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--template", "-t", type=click.Choice(TEMPLATES), default="coding-agent",
              show_default=True, help="the bundle to start from")
def command(directory: Path, template: str) -> int:
    """Create a new bundle in DIRECTORY (which must not exist, or be empty)."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise CliError(f"`{directory}` already exists and is not an empty directory")
    source = resources.files("rune.cli").joinpath("templates", template)
    written = _copy(source, directory)
    click.echo(f"created {directory} from the {template} template ({written} files)")
    click.echo(f"next: rune check {directory} && rune test {directory}")
    return int(ExitCode.OK)


def _copy(source: resources.abc.Traversable, target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            count += _copy(entry, target / entry.name)
        else:
            (target / entry.name).write_bytes(entry.read_bytes())
            count += 1
    return count
