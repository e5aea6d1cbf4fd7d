"""The unified decision engine: Cedar authorization plus Datalog configuration."""

from __future__ import annotations

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
