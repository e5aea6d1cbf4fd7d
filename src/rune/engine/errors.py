"""Errors raised by the unified engine (bundle and derivation problems)."""

from __future__ import annotations

from rune.errors import RuneError

__all__ = ["EngineError"]


class EngineError(RuneError, ValueError):
    """A problem with the engine's inputs: derived data that is not valid Cedar, a bad
    query, a bundle that does not load."""

    code = "engine-error"
