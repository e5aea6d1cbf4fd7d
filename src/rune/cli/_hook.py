"""`rune hook claude-code` without click: the work of the command, and a fast path.

Claude Code starts the hook once per tool call, so start-up time is the hook's latency.
`rune.cli.main` sends `rune hook claude-code ...` here before importing click, rich or
any other command (`-h`/`--help` still go through click). The options are few and fixed;
anything this parser does not understand is a misconfigured hook, answered — like every
other failure — with a deny (exit 2, which Claude Code treats as blocking).

With `--bundle`, a hook process loads the bundle from its compiled copy in RUNE's cache
directory when none of its files changed (`rune.bundle.cache`), and takes the code RUNE
and `dataclasses` generate from the same directory (`rune._internal.code_cache`): the
first call after a change pays for compiling, the others do not. `--no-cache` (or no
usable cache directory) loads everything from source. The answer is printed first; the
caches are written after it.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rune.bundle.loader import Bundle

__all__ = ["HookCaches", "claude_code", "fast_path"]

_OPTIONS = ("--bundle", "--url", "--state", "--principal", "--timeout")
_FLAGS = ("--no-cache",)
_READ_LIMIT = 16 * 1024 * 1024 + 1


class _UsageError(Exception):
    """A command line the hook cannot run with."""


def _parse(args: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name, equals, value = arg.partition("=")
        if name in _FLAGS and not equals:
            if name in values:
                raise _UsageError(f"`{name}` is given twice")
            values[name] = ""
            i += 1
            continue
        if name not in _OPTIONS:
            raise _UsageError(f"unknown argument `{arg[:80]}`")
        if not equals:
            i += 1
            if i == len(args):
                raise _UsageError(f"`{name}` needs a value")
            value = args[i]
        if name in values:
            raise _UsageError(f"`{name}` is given twice")
        values[name] = value
        i += 1
    return values


def fast_path(args: list[str]) -> int | None:
    """Run `rune hook claude-code ARGS`; None to let click handle them (help)."""
    if any(a in ("-h", "--help") for a in args):
        return None
    try:
        values = _parse(args)
        timeout = float(values["--timeout"]) if "--timeout" in values else 5.0
    except (_UsageError, ValueError) as error:
        return _misconfigured(str(error))
    # Before anything that defines a data class is imported: see `HookCaches`.
    caches = None
    if "--bundle" in values and "--no-cache" not in values:
        try:
            caches = HookCaches.open()
        except Exception:  # no cache is a slower hook, never a failed one
            caches = None
    try:
        return claude_code(bundle=values.get("--bundle"), url=values.get("--url"),
                           state=values.get("--state"), principal=values.get("--principal"),
                           timeout=timeout, caches=caches)
    finally:
        if caches is not None:
            caches.close()


class HookCaches:
    """A hook process's compiled bundle and generated code, kept in RUNE's cache directory
    (`rune.bundle.cache`, `rune._internal.code_cache`).

    Opening it activates the code cache for this process, `dataclasses` included, so open
    it before importing what a decision needs; `close` gives the process back its own
    compiling. Made only by the command line: a process that lives for one decision.
    """

    def __init__(self, directory: Any) -> None:
        from rune._internal import code_cache

        self.code = code_cache.CodeCache(directory)
        code_cache.activate(self.code)
        try:
            from rune.bundle.cache import BundleCache

            self.bundles = BundleCache(directory)
        except BaseException:
            code_cache.deactivate()
            raise
        self._loaded: Bundle | None = None

    @classmethod
    def open(cls, directory: str | None = None) -> HookCaches | None:
        """The caches in ``directory`` (default: RUNE's cache directory); None when there
        is no directory this user alone controls."""
        from rune._internal.cache_files import open_cache_directory

        found = open_cache_directory(directory)
        return None if found is None else cls(found)

    def load(self, path: str) -> Bundle:
        """The bundle at ``path``, from its compiled copy when that is valid.

        Raises:
            BundleError: the bundle does not load.
        """
        self._loaded = self.bundles.load(path)
        return self._loaded

    def save(self) -> None:
        """Write what this process compiled: the bundle it loaded from its files (once it
        has served, with what was compiled on first use) and the code it generated."""
        if self._loaded is not None:
            self.bundles.store(self._loaded)
            self._loaded = None
        self.code.save()

    def close(self) -> None:
        """Stop serving compiled code from the cache, and release the directory."""
        from rune._internal import code_cache

        code_cache.deactivate()
        self.bundles.close()


def _misconfigured(reason: str) -> int:
    from rune.integrations.claude_code import refusal

    # The payload is not read: the answer is the generic deny, and exit 2 blocks.
    result = refusal(None, f"the hook is misconfigured: {reason}")
    sys.stdout.write(result.to_json_text() + "\n")
    sys.stderr.write(result.message + "\n")
    return 2


def _engine(bundle: str | None, url: str | None, state: str | None,
            timeout: float, caches: HookCaches | None = None) -> tuple[Any, str | None]:
    """The engine to decide with, or None and why not."""
    if not (math.isfinite(timeout) and 0 < timeout <= 600):
        return None, "`--timeout` must be a number of seconds above 0, at most 600"
    if (bundle is None) == (url is None):
        return None, "give exactly one of `--bundle DIR` and `--url URL`"
    if url is not None:
        if state is not None:
            return None, "`--state` is for `--bundle`: a server keeps its own state"
        from rune.remote import RemoteEngine, RemoteError

        try:
            return RemoteEngine(url, token=os.environ.get("RUNE_API_TOKEN") or None,
                                admin_token=os.environ.get("RUNE_ADMIN_TOKEN") or None,
                                timeout=timeout), None
        except RemoteError as error:
            return None, error.message
    from rune.errors import RuneError

    try:
        if caches is not None:
            loaded = caches.load(str(bundle))
        else:
            from rune.bundle import load_bundle

            loaded = load_bundle(str(bundle))
        return _start(loaded, state, timeout), None
    except RuneError as error:
        first = error.diagnostics[0].message if error.diagnostics else error.message
        return None, f"the bundle `{bundle}` does not load: {first}"
    except OSError as error:
        return None, f"the bundle `{bundle}` cannot be read: {error.strerror or error}"


def _start(bundle: Bundle, state: str | None, timeout: float) -> Any:
    """`Engine.from_bundle`, waiting up to ``timeout`` seconds for a state file another
    hook process holds (one process at a time per state file; Claude Code runs the hooks
    of parallel tool calls at once, and each holds the file for a moment)."""
    from rune.engine import Engine
    from rune.errors import RuneError

    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            return Engine.from_bundle(bundle, state=state)
        except RuneError as error:
            if error.code != "state-in-use" or time.monotonic() + pause > deadline:
                raise
        import random  # (only when waiting)

        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 0.05)


def claude_code(*, bundle: str | None, url: str | None, state: str | None,
                principal: str | None, timeout: float = 5.0, stdin: IO[bytes] | None = None,
                stdout: IO[str] | None = None, stderr: IO[str] | None = None,
                caches: HookCaches | None = None) -> int:
    """Answer the Claude Code hook payload on ``stdin``; the exit code. With ``caches``,
    the bundle is loaded through them, and they are saved after the answer is written."""
    from rune.hooks.claude_code import HookInputError, parse_payload, request_of
    from rune.integrations.claude_code import answer, refusal

    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    engine: Any = None
    try:
        raw = stdin.read(_READ_LIMIT)
        try:
            request_of(parse_payload(raw), principal)
        except HookInputError:
            result = answer(raw, None, principal=principal)  # the input error, as a deny
        else:
            engine, unavailable = _engine(bundle, url, state, timeout, caches)
            result = answer(raw, engine, principal=principal, unavailable=unavailable)
    except Exception as error:  # INVARIANT: whatever fails, a deny is printed
        result = refusal(None, f"internal error ({type(error).__name__})")
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # the answer matters; closing is best effort
                close()
    stdout.write(result.to_json_text() + "\n")
    stdout.flush()
    if result.message:
        stderr.write(result.message + "\n")
    if caches is not None:
        with contextlib.suppress(Exception):  # the answer is out; caching is best effort
            caches.save()
    return result.exit_code
