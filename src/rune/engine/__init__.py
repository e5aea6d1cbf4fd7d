"""The unified decision engine: Cedar authorization plus Datalog configuration."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rune.engine.decision import Decision, EngineRequest, Obligation, Verdict
    from rune.engine.engine import Engine, RuntimeErrors
    from rune.engine.errors import EngineError
    from rune.engine.snapshot import Snapshot

__all__ = [
    "Decision",
    "Engine",
    "EngineError",
    "EngineRequest",
    "Obligation",
    "RuntimeErrors",
    "Snapshot",
    "Verdict",
]

# Imported on first use: `rune.RemoteEngine` needs the decision types (`Verdict`,
# `Obligation`) without the engine itself, which loads the whole Cedar compiler.
_WHERE = {
    "Decision": "decision", "EngineRequest": "decision", "Obligation": "decision",
    "Verdict": "decision", "Engine": "engine", "RuntimeErrors": "engine",
    "EngineError": "errors", "Snapshot": "snapshot",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rune.engine.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
