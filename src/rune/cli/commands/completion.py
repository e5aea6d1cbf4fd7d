"""`rune completion`: the shell completion script for bash, zsh or fish.

    eval "$(rune completion bash)"     # in ~/.bashrc
"""

from __future__ import annotations

import click

from rune.cli.main import ExitCode

__all__ = ["command"]


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def command(shell: str) -> int:
    """Print the completion script for SHELL (source it from your shell's profile)."""
    from click.shell_completion import get_completion_class

    from rune.cli.app import build_cli

    completion_class = get_completion_class(shell)
    assert completion_class is not None
    script = completion_class(build_cli(), {}, "rune", "_RUNE_COMPLETE").source()
    click.echo(script)
    return int(ExitCode.OK)
