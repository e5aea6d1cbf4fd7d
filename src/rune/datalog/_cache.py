"""Values derived from a `Program`, built once per program and dropped with it."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from rune.datalog.program import Program

__all__ = ["ProgramCache", "derived_from", "restore_derived"]

V = TypeVar("V")

# Every cache by name, so that what was derived from a program can travel with it.
_CACHES: dict[str, ProgramCache[Any]] = {}


class ProgramCache(Generic[V]):
    """``build(program, key)`` once per (program, key); the entries of a program go when
    the program is garbage. Thread-safe: concurrent first uses build once.

    ``name`` (unique) lets a pickled program carry its entries (`derived_from`).
    """

    def __init__(self, build: Callable[[Program, Hashable], V], name: str) -> None:
        self._build = build
        self._entries: weakref.WeakKeyDictionary[Program, dict[Hashable, V]] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()
        _CACHES[name] = self

    def get(self, program: Program, key: Hashable = None) -> V:
        per_program = self._entries.get(program)
        if per_program is not None and key in per_program:
            return per_program[key]
        with self._lock:
            per_program = self._entries.setdefault(program, {})
            if key not in per_program:
                per_program[key] = self._build(program, key)
            return per_program[key]


def derived_from(program: Program) -> dict[str, dict[Hashable, Any]]:
    """What every cache holds for ``program``, by cache name (for pickling it)."""
    found = {}
    for name, cache in _CACHES.items():
        entries = cache._entries.get(program)
        if entries:
            found[name] = dict(entries)
    return found


def restore_derived(program: Program, derived: dict[str, dict[Hashable, Any]]) -> None:
    """Put back what `derived_from` returned (for a program just unpickled). A value is a
    pure function of its program and key, so an entry is the value a first use builds."""
    for name, entries in derived.items():
        cache = _CACHES.get(name)
        if cache is not None:
            with cache._lock:
                cache._entries.setdefault(program, {}).update(entries)
