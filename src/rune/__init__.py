"""RUNE: authorization (Cedar) and configuration (Datalog) for AI agents."""

from __future__ import annotations

from rune.errors import Diagnostic, RuneError, SourceSpan

__all__ = ["Diagnostic", "RuneError", "SourceSpan", "__version__"]

__version__ = "0.1.0"
