"""RUNE's command line: one module per subcommand under `rune.cli.commands`."""

from __future__ import annotations

from rune.cli.main import ExitCode, main

__all__ = ["ExitCode", "main"]
