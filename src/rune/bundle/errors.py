"""The error a bundle that does not load raises, with every problem as a diagnostic."""

from __future__ import annotations

from rune.errors import EngineError

__all__ = ["BundleError"]


class BundleError(EngineError):
    """A bundle (or its settings) that does not load; `diagnostics` holds every problem."""

    code = "bundle-error"
