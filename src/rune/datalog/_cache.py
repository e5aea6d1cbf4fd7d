"""Values derived from a `Program`, built once per program and dropped with it."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from rune.datalog.program import Program

__all__ = ["ProgramCache"]

V = TypeVar("V")


class ProgramCache(Generic[V]):
    """``build(program, key)`` once per (program, key); the entries of a program go when
    the program is garbage. Thread-safe: concurrent first uses build once."""

    def __init__(self, build: Callable[[Program, Hashable], V]) -> None:
        self._build = build
        self._entries: weakref.WeakKeyDictionary[Program, dict[Hashable, V]] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()

    def get(self, program: Program, key: Hashable = None) -> V:
        per_program = self._entries.get(program)
        if per_program is not None and key in per_program:
            return per_program[key]
        with self._lock:
            per_program = self._entries.setdefault(program, {})
            if key not in per_program:
                per_program[key] = self._build(program, key)
            return per_program[key]
