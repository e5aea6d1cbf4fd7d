"""Compiled code of generated Python source, kept across processes.

RUNE generates Python and compiles it: each Cedar policy and scope plan, each Datalog
rule and plan (`compile_generated`). So does the standard `dataclasses` module, for the
`__init__`, `__eq__`, `__hash__`, `__repr__` and `__setattr__` of every data class as its
module is imported: RUNE defines about two hundred, and compiling their methods is about
half the time of importing RUNE's engine. A process that lives for one decision (`rune
hook claude-code`, started once per tool call) would pay all of it every time.

`CodeCache` keeps that code in one file of RUNE's cache directory (`rune._internal.
cache_files`), keyed by the exact source text and how it is compiled, in a file named
for the Python version and optimization level: the code found for a text is the code
compiling it would give. It is off unless a command activates it (`activate`): a
long-running process compiles once anyway, and a library must leave the `dataclasses`
module of the program that imports it alone.
"""

from __future__ import annotations

import marshal
import sys
from types import CodeType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rune._internal.cache_files import CacheDirectory

__all__ = ["CodeCache", "activate", "compile_generated", "deactivate"]

_FORMAT = 2  # (1: code objects; 2: each marshalled apart, read when asked for)
_MAX_FILE_BYTES = 64 << 20
_MAX_ENTRIES = 20_000  # beyond, a save keeps only what its process used
# How a text is compiled (part of its key): RUNE's generators compile from modules that
# use `from __future__ import annotations` and inherit it; `dataclasses` does not.
_RUNE = 0
_DATACLASSES = 1

Key = tuple[int, str, str]  # (how, filename, source)


class CodeCache:
    """Code objects by (how compiled, filename, source), loaded from and saved to
    ``directory``."""

    def __init__(self, directory: CacheDirectory) -> None:
        self._directory = directory
        self._name = (f"code-{sys.implementation.cache_tag}-{sys.hexversion:x}"
                      f"-O{sys.flags.optimize}.marshal")
        # Each entry's code stays marshalled until asked for: a process uses a part.
        self._stored = self._load()
        self._known: dict[Key, CodeType] = {}
        self._added = 0

    def _load(self) -> dict[Key, bytes]:
        data = self._directory.read(self._name, _MAX_FILE_BYTES)
        if data is None:
            return {}
        try:
            loaded = marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            return {}
        if not (isinstance(loaded, tuple) and len(loaded) == 2 and loaded[0] == _FORMAT
                and isinstance(loaded[1], dict)):
            return {}
        return loaded[1]

    def code(self, how: int, source: str, filename: str) -> CodeType:
        """The code of ``source`` compiled ``how`` (`_RUNE` or `_DATACLASSES`)."""
        key = (how, filename, source)
        code = self._known.get(key)
        if code is None:
            stored = self._stored.get(key)
            try:
                code = marshal.loads(stored) if stored.__class__ is bytes else None
            except (EOFError, ValueError, TypeError):
                code = None
            if code.__class__ is not CodeType:  # absent, or not code: compiled again
                if how == _RUNE:
                    code = compile(source, filename, "exec")
                else:
                    code = compile(source, filename, "exec", dont_inherit=True)
                self._added += 1
            self._known[key] = code  # type: ignore[assignment]
        return code  # type: ignore[return-value]

    def save(self) -> bool:
        """Write what this process compiled (with what other processes wrote meanwhile);
        True when there was nothing to write or it was written."""
        if not self._added:
            return True
        try:
            mine = {key: marshal.dumps(code) for key, code in self._known.items()}
        except ValueError:  # (a code object marshal cannot write: nothing is saved)
            return False
        merged = self._load()
        merged.update(mine)
        if len(merged) > _MAX_ENTRIES:
            merged = mine  # only what this process used
        data = marshal.dumps((_FORMAT, merged))
        if len(data) > _MAX_FILE_BYTES:
            return False
        self._added = 0
        return self._directory.write(self._name, data)


_active: CodeCache | None = None


def compile_generated(source: str, filename: str) -> CodeType:
    """``compile(source, filename, "exec")``, from the active cache when there is one."""
    cache = _active
    if cache is None:
        return compile(source, filename, "exec")
    return cache.code(_RUNE, source, filename)


def _exec_for_dataclasses(source: Any, globals: Any = None, locals: Any = None, /) -> None:  # noqa: A002
    """`exec` as the `dataclasses` module sees it while a cache is active: a text is
    compiled as `exec` would compile it there (no `__future__` flags), from the cache."""
    cache = _active
    if cache is not None and source.__class__ is str:
        source = cache.code(_DATACLASSES, source, "<string>")
    exec(source, globals, locals)


def _dataclasses_execs_text() -> bool:
    """Whether `dataclasses` compiles methods with a global `exec` of text, as CPython
    3.11 and 3.12 do (`_create_fn`); elsewhere it is left alone."""
    import dataclasses

    create = getattr(dataclasses, "_create_fn", None)
    code = getattr(create, "__code__", None)
    return isinstance(code, CodeType) and "exec" in code.co_names \
        and "exec" not in vars(dataclasses)


def activate(cache: CodeCache) -> None:
    """Serve `compile_generated`, and the `dataclasses` module's compiling, from
    ``cache`` (for a short-lived command's process; see the module docstring)."""
    global _active
    _active = cache
    if _dataclasses_execs_text():
        import dataclasses

        dataclasses.exec = _exec_for_dataclasses  # type: ignore[attr-defined]


def deactivate() -> None:
    """Compile directly again, and give `dataclasses` back its `exec`."""
    global _active
    _active = None
    import dataclasses

    if vars(dataclasses).get("exec") is _exec_for_dataclasses:
        del dataclasses.exec  # type: ignore[attr-defined]
