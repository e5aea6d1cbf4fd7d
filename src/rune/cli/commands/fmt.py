"""`rune fmt`: canonical Cedar formatting (`rune.cedar.format_policies`), in place.

`rune fmt FILE...` rewrites each file (a directory: every `*.cedar` under it); `-` reads
standard input and writes standard output; `--check` changes nothing and exits 1 when a
file would change. A file that does not parse is reported (every error, located) and
left alone; exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rune.cli._common import CliError
from rune.cli.main import ExitCode

__all__ = ["command"]


@click.command("fmt")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True,
              help="change nothing; exit 1 and list the files that would change")
@click.option("--width", type=click.IntRange(40, 200), default=80, show_default=True,
              help="the line width to fit")
def command(files: tuple[Path, ...], check: bool, width: int) -> int:
    """Format Cedar policy FILES in place (`-` for stdin to stdout)."""
    from rune.cedar import format_policies
    from rune.errors import RuneError

    failed = False
    changed: list[Path] = []
    for path in files:
        if str(path) == "-":
            text = sys.stdin.read()
            try:
                out = format_policies(text, "<stdin>", width=width)
            except RuneError as error:
                click.echo(error.render(), err=True)
                failed = True
                continue
            if check:
                if out != text:
                    changed.append(path)
            else:
                sys.stdout.write(out)
            continue
        for file in _cedar_files(path):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                click.echo(f"error: cannot read `{file}`: {error}", err=True)
                failed = True
                continue
            try:
                out = format_policies(text, str(file), width=width)
            except RuneError as error:
                click.echo(error.render(), err=True)
                failed = True
                continue
            if out == text:
                continue
            changed.append(file)
            if not check:
                file.write_text(out, encoding="utf-8")
    for file in changed:
        click.echo(f"{'would reformat' if check else 'reformatted'} {file}",
                   err=not check and str(file) == "-")
    if failed or (check and changed):
        return int(ExitCode.WOULD_CHANGE if not failed else ExitCode.ERROR)
    return int(ExitCode.OK)


def _cedar_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*.cedar") if p.is_file())
    if not path.exists():
        raise CliError(f"`{path}` does not exist")
    return [path]
