"""The `rune` command: exit codes, and the dispatch to the subcommands of `rune.cli.commands`.

The command line needs the `cli` extra (click, rich, PyYAML); the library does not. When
the extra is missing, `rune` says how to install it instead of failing on an import.

Nothing escapes as a traceback: a `RuneError` is rendered with its diagnostics, an
`OSError` as one line, and anything else as an internal error (set `RUNE_DEBUG=1` to see
the traceback).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence
from enum import IntEnum

__all__ = ["ExitCode", "main"]


class ExitCode(IntEnum):
    """Process exit codes shared by every subcommand (see the README's table)."""

    OK = 0  # success, or an `allow` decision
    ERROR = 1  # bad input, a failed test, a file `fmt --check` would change, or a bug
    DENY = 2  # a `deny` decision
    VALIDATION_FAILED = 3  # `rune check`: the bundle does not load or validate
    ASK = 4  # an `ask` decision: allowed once a human approves
    # Aliases, so that each command says what it means.
    TEST_FAILED = 1  # `rune test`: a case failed
    WOULD_CHANGE = 1  # `rune fmt --check`: a file is not formatted


_MISSING_EXTRA = (
    "error: the `rune` command needs the `cli` extra ({missing} is not installed):\n"
    "    pip install 'rune[cli]'\n"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `rune` command with ``argv`` (default: the process's) and return its exit
    code; the console script exits with it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:2] == ["hook", "claude-code"]:
        # One process per tool call: answer before importing click, rich or the commands.
        if argv is None:
            # The console script's own process lives for one payload and ends with
            # `os._exit`: the cyclic collector would only scan, again and again, the
            # modules and the unpickled bundle it keeps to the end (a tenth of its life).
            gc.disable()
        from rune.cli._hook import fast_path

        code = fast_path(args[2:])
        if code is not None:
            if argv is None:  # the console script's own process, which has nothing left
                _exit_now(code)
            return code
    try:
        import click  # noqa: F401
        import rich  # noqa: F401
        import yaml  # noqa: F401
    except ImportError as missing:
        sys.stderr.write(_MISSING_EXTRA.format(missing=missing.name or "a dependency"))
        return int(ExitCode.ERROR)
    from rune.cli.app import run

    return run(args, debug=bool(os.environ.get("RUNE_DEBUG")))


def _exit_now(code: int) -> None:
    """End this process with ``code`` once its output is flushed, without tearing the
    interpreter down: freeing the hundreds of modules and objects of a hook process
    costs a sixth of its life, and a hook has written, committed and closed everything
    by then (no `atexit` handler of RUNE's is left to run)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or int(ExitCode.ERROR)  # the answer may be lost: not a success
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
