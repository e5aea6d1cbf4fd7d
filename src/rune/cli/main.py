"""The `rune` command: dispatches to the subcommand modules in `rune.cli.commands`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from enum import IntEnum

__all__ = ["ExitCode", "main"]


class ExitCode(IntEnum):
    """Process exit codes shared by every subcommand."""

    OK = 0  # success, or an `allow` decision
    ERROR = 1  # bad input or an internal failure
    DENY = 2  # a `deny` decision
    VALIDATION_FAILED = 3  # policies or entities do not validate


def _subcommand_modules() -> list[object]:
    from rune.cli import commands

    return [
        importlib.import_module(f"rune.cli.commands.{info.name}")
        for info in pkgutil.iter_modules(commands.__path__)
        if not info.name.startswith("_")
    ]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="rune", description="RUNE authorization and configuration"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _subcommand_modules():
        module.add_parser(sub)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `rune` command and return its exit code."""
    from rune.errors import RuneError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except RuneError as exc:
        print(exc.render(), file=sys.stderr)
        return int(ExitCode.ERROR)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(ExitCode.ERROR)


if __name__ == "__main__":
    sys.exit(main())
