"""What every fuzz target shares: the per-input watchdog, the rule on which exceptions may
escape, the atheris driver and the byte-derived Python values hostile callers pass.

A target is a module with ``check(data: bytes) -> None`` that raises `FuzzFailure` (or
lets any non-RUNE exception escape) when RUNE misbehaves, and ``main()`` that hands it to
atheris. The checks import without atheris, so `tests/fuzz` replays what the fuzzers
found under plain pytest.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rune.errors import RuneError

__all__ = [
    "TIME_LIMIT_SECONDS",
    "FuzzFailure",
    "Hang",
    "calls",
    "main",
    "odd_text",
    "odd_value",
    "watchdog",
]

TIME_LIMIT_SECONDS = float(os.environ.get("RUNE_FUZZ_TIME_LIMIT", "2"))
"""How long one public call may take on one fuzz input before it counts as a hang."""


class FuzzFailure(AssertionError):
    """RUNE broke a promise on an input: a raw exception, a hang, or an unsafe decision."""


class Hang(BaseException):
    """Raised by the watchdog's alarm inside the call that overran.

    A `BaseException`, so RUNE's own `except Exception` handlers cannot turn a hang into
    an ordinary error and hide it.
    """


_watching = False  # a watched call is running (the calls inside it share its alarm)
_deadline = 0.0  # when the watched call's time is up (time.monotonic)


def _alarm(signum: int, frame: Any) -> None:
    # Only our own timer, once the call's time is up: a SIGALRM that atheris' timer sent
    # just before the watchdog took the signal over is not a hang.
    if _watching and time.monotonic() >= _deadline - 0.05:
        raise Hang


@contextlib.contextmanager
def watchdog(seconds: float = TIME_LIMIT_SECONDS) -> Iterator[None]:
    """Fail with `FuzzFailure` when the block runs longer than ``seconds`` (wall clock).

    Inside another watched block (a transaction's body) the outer alarm covers this one.
    atheris keeps a SIGALRM timer of its own for libFuzzer's `-timeout`; it is put back,
    with the time it had left, when the block ends.
    """
    global _watching, _deadline
    if _watching:
        yield
        return
    # atheris' timer is paused before the handler changes hands, so that its alarm can
    # never reach ours (or ours reach atheris').
    remaining, interval = signal.setitimer(signal.ITIMER_REAL, 0)
    handler = signal.signal(signal.SIGALRM, _alarm)
    started = time.monotonic()
    _deadline = started + seconds
    _watching = True
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Hang:
        raise FuzzFailure(f"a call took more than {seconds} s") from None
    finally:
        _watching = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, handler if handler is not None else signal.SIG_DFL)
        if remaining > 0:
            left = max(remaining - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def calls(function: Callable[..., Any], *args: Any, argument_types: bool = False,
          **kwargs: Any) -> tuple[Any, RuneError | TypeError | None]:
    """Call ``function`` under the watchdog; return (result, None) or (None, the error).

    Only a `RuneError` may escape a public call, or, when ``argument_types`` says the
    caller passed Python values of any type, the documented `TypeError` whose message
    names the argument (in backticks). Anything else is a `FuzzFailure`.
    """
    name = getattr(function, "__qualname__", repr(function))
    try:
        with watchdog():
            return function(*args, **kwargs), None
    except RuneError as error:
        str(error)  # rendering must work too (snippets, paths)
        return None, error
    except TypeError as error:
        if argument_types and "`" in str(error):
            return None, error
        raise FuzzFailure(f"{name} raised {error!r}") from error
    except (FuzzFailure, Hang):
        raise
    except RecursionError as error:
        raise FuzzFailure(f"{name} recursed too deeply") from error
    except Exception as error:
        raise FuzzFailure(f"{name} raised {error!r}") from error


# -- byte-derived Python values ------------------------------------------------------------

_ODD_CHARACTERS = ('"', "\\", "'", "\x00", "\n", "::", " ", "\u202e", "é", "\U0001f600",
                   "\ud800", "*", "\t", "{", "}", "__entity", "__extn", "$")
_ODD_INTS = (0, 1, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30, -(10**400))
_ODD_FLOATS = (math.nan, math.inf, -math.inf, -0.0, 0.5, 1e308, 3.0)
_UID_TYPES = ("Agent", "Action", "File", "Team", "User", "Api", "Document", "Tool",
              "Ns::Agent", "true", "__cedar", "A B", "")


def odd_text(fdp: Any, max_length: int = 24) -> str:
    """Text mixing ordinary characters with ones that break naive code."""
    parts: list[str] = []
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        if fdp.ConsumeBool():
            parts.append(fdp.PickValueInList(list(_ODD_CHARACTERS)))
        else:
            parts.append(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, max_length)))
    return "".join(parts)


def odd_uid(fdp: Any) -> Any:
    """An entity uid as callers write it, well-formed or not."""
    kind = fdp.ConsumeIntInRange(0, 5)
    type_name = fdp.PickValueInList(list(_UID_TYPES))
    ident = odd_text(fdp) if fdp.ConsumeBool() else fdp.PickValueInList(
        ["a1", "a2", "write_file", "read_file", "call_api", "src/app.py", "coding", "llm"])
    if kind <= 2:
        escaped = ident.replace("\\", "\\\\").replace('"', '\\"')
        return f'{type_name}::"{escaped}"'
    if kind == 3:
        return {"type": type_name, "id": ident}
    if kind == 4:
        return {"__entity": {"type": type_name, "id": ident}}
    return odd_value(fdp, depth=1)


def odd_value(fdp: Any, depth: int = 3) -> Any:
    """Any Python value a hostile caller might pass: JSON-like values, huge and odd
    numbers, NaN, bytes, None, tuples, sets, non-string keys, and (rarely) a structure
    nested thousands of levels deep (built without recursion)."""
    kind = fdp.ConsumeIntInRange(0, 15)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeIntInRange(-1000, 1000)
    if kind == 3:
        return fdp.PickValueInList(list(_ODD_INTS))
    if kind == 4:
        return fdp.PickValueInList(list(_ODD_FLOATS))
    if kind == 5:
        return odd_text(fdp)
    if kind == 6:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8))
    if kind == 7:
        return odd_uid(fdp)
    if kind == 8:
        depth_wanted = fdp.PickValueInList([40, 600, 3000, 20000])
        value: Any = fdp.PickValueInList([1, "x", None, 1.5])
        as_list = fdp.ConsumeBool()
        for _ in range(depth_wanted):
            value = [value] if as_list else {"a": value}
        return value
    if depth <= 0:
        return fdp.ConsumeIntInRange(0, 9)
    size = fdp.ConsumeIntInRange(0, 4)
    if kind in (9, 10):
        return [odd_value(fdp, depth - 1) for _ in range(size)]
    if kind == 11:
        return tuple(odd_value(fdp, depth - 1) for _ in range(size))
    if kind == 12:
        return {odd_key(fdp): odd_value(fdp, depth - 1) for _ in range(size)}
    if kind == 13:
        return {"__extn": {"fn": fdp.PickValueInList(["ip", "decimal", "datetime",
                                                      "duration", "nope"]),
                           "arg": odd_value(fdp, 0)}}
    if kind == 14:
        return frozenset(fdp.ConsumeIntInRange(0, 9) for _ in range(size))
    return {"a": odd_value(fdp, depth - 1), "n": fdp.ConsumeIntInRange(-5, 5)}


def odd_key(fdp: Any) -> Any:
    """A record key: usually text, sometimes a value JSON objects cannot have as a key."""
    if fdp.ConsumeIntInRange(0, 7) == 0:
        return fdp.PickValueInList([1, None, 1.5, True, b"k", (1, 2)])
    return odd_text(fdp, 8)


# -- the atheris driver ------------------------------------------------------------------

_seen_failures: set[str] = set()


def _keep(check: Callable[[bytes], None], findings: Path) -> Callable[[bytes], None]:
    """``check`` that writes each new kind of failure to ``findings`` and goes on, so one
    long run collects every distinct crash instead of stopping at the first."""

    def one_input(data: bytes) -> None:
        try:
            check(data)
        except Exception as error:  # FuzzFailure, or anything the check let through
            trace = traceback.format_exception(error)
            tail = traceback.extract_tb(error.__traceback__)[-1:]
            origin = error.__cause__ if error.__cause__ is not None else error
            cause_tail = traceback.extract_tb(origin.__traceback__)[-1:]
            key = f"{type(origin).__name__}:{cause_tail}:{tail}"
            if key in _seen_failures:
                return
            _seen_failures.add(key)
            findings.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha1(data).hexdigest()[:16]
            (findings / f"crash-{name}").write_bytes(data)
            (findings / f"crash-{name}.txt").write_text("".join(trace)[-20000:])
            print(f"\n== new failure {name}: {type(origin).__name__}: "
                  f"{str(origin)[:300]}", file=sys.stderr, flush=True)

    return one_input


def _instrument_modules(atheris: Any, prefixes: tuple[str, ...]) -> None:
    """Instrument every function and method defined in the loaded modules whose names
    start with one of ``prefixes`` (`atheris.instrument_all` does every module)."""
    import types

    def instrument(value: Any, module: str) -> None:
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        elif isinstance(value, property):
            for part in (value.fget, value.fset, value.fdel):
                instrument(part, module)
            return
        if isinstance(value, types.FunctionType) and value.__module__ == module:
            atheris.instrument_func(value)

    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(prefixes):
            continue
        if name.startswith("fuzz._"):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == name:
                for member in list(vars(value).values()):
                    instrument(member, name)
            else:
                instrument(value, name)


def main(module_name: str, check: Callable[[bytes], None]) -> None:
    """Run ``check`` under atheris with libFuzzer's arguments from the command line.

    Every `rune` module is imported and instrumented first, so coverage guides the
    search through all of RUNE (modules RUNE imports lazily included).
    ``RUNE_FUZZ_INSTRUMENT`` chooses what is instrumented: ``rune`` (the default), ``all``
    (RUNE and the standard library it calls: about seven times slower to start), or
    ``target`` (only the target module: starts at once, for short CI runs that mostly
    replay the corpus). With ``RUNE_FUZZ_FINDINGS=dir`` failures are written there and
    the run goes on.
    """
    import importlib
    import pkgutil

    import atheris

    import rune

    # Run as `python -m fuzz.<target>`, the target module is `__main__`: name it by file.
    target = module_name.rsplit(".", 1)[-1]
    if target == "__main__":
        target = Path(sys.argv[0]).stem
    for info in pkgutil.walk_packages(rune.__path__, "rune."):
        importlib.import_module(info.name)
    # The targets imported RUNE before atheris was loaded, so instrument what is loaded
    # now rather than hooking imports.
    scope = os.environ.get("RUNE_FUZZ_INSTRUMENT", "rune")
    if scope == "all":
        atheris.instrument_all()
    else:
        prefixes = ("__main__",) if scope == "target" else ("rune", "fuzz", "__main__")
        _instrument_modules(atheris, prefixes)
    one_input = check
    findings = os.environ.get("RUNE_FUZZ_FINDINGS")
    if findings:
        one_input = _keep(check, Path(findings) / target)
    # The per-call watchdog reports slow calls; libFuzzer's (atheris') timeout is only a
    # backstop for a hang outside any call, e.g. in C code that signals cannot interrupt.
    argv = list(sys.argv)
    if not any(arg.startswith("-timeout=") for arg in argv):
        argv.append("-timeout=60")
    if not any(arg.startswith("-artifact_prefix=") for arg in argv):
        artifacts = Path(".fuzz") / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        argv.append(f"-artifact_prefix={artifacts}/{target}-")
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
