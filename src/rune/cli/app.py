"""The click group behind `rune`: finds the subcommands and turns every failure into a
message and an exit code (never a traceback)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback

import click

from rune.cli.main import ExitCode

__all__ = ["build_cli", "run"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 80}


def build_cli() -> click.Group:
    """The `rune` group with every module of `rune.cli.commands` registered."""
    from rune import __version__
    from rune.cli import commands

    @click.group(context_settings=_CONTEXT)
    @click.version_option(__version__, "-V", "--version", prog_name="rune",
                          message="%(prog)s %(version)s")
    def cli() -> None:
        """RUNE: authorization (Cedar) and configuration (Datalog) for AI agents.

        Exit codes: 0 success or allow, 1 error (or a failed test, or a file `fmt
        --check` would change), 2 deny, 3 validation failure (`check`), 4 ask.
        """

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"rune.cli.commands.{info.name}")
        cli.add_command(module.command)
    return cli


def run(argv: list[str], *, debug: bool = False) -> int:
    """Run `rune` with ``argv``; returns the exit code."""
    from rune.errors import RuneError

    cli = build_cli()
    _quiet_logs()
    try:
        result = cli.main(argv, prog_name="rune", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        # Usage errors exit 1 here, not click's 2: 2 means "deny".
        error.show()
        return int(ExitCode.ERROR)
    except click.Abort:
        sys.stderr.write("aborted\n")
        return int(ExitCode.ERROR)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except RuneError as error:
        sys.stderr.write(error.render().rstrip("\n") + "\n")
        return int(ExitCode.ERROR)
    except OSError as error:
        sys.stderr.write(f"error: {_os_error(error)}\n")
        return int(ExitCode.ERROR)
    except Exception as error:  # a bug: say so plainly, without a traceback
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"internal error: {type(error).__name__}: {error}\n"
                         "(set RUNE_DEBUG=1 for the traceback, and please report it)\n")
        return int(ExitCode.ERROR)
    if result is None:
        return int(ExitCode.OK)
    return int(result)


def _os_error(error: OSError) -> str:
    reason = (error.strerror or str(error)).lower()
    if error.filename is not None:
        return f"`{error.filename}`: {reason}"
    return reason


def _quiet_logs() -> None:
    """The engine logs a policy's first run-time failure for long-running services; a
    command shows every decision's errors itself. Bundle warnings print as `warning:`."""
    import logging

    logging.getLogger("rune.engine").setLevel(logging.CRITICAL)
    bundle = logging.getLogger("rune.bundle")
    if not bundle.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        bundle.addHandler(handler)
        bundle.propagate = False
