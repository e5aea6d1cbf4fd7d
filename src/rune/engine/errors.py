"""Errors raised by the unified engine (bundle and derivation problems)."""

from __future__ import annotations

from rune.errors import EngineError

__all__ = ["EngineError"]
