"""RUNE: authorization (Cedar) and configuration (Datalog) for AI agents.

```python
import rune
engine = rune.Engine(policies=cedar_text, entities=entity_json_list, rules=datalog_text)
d = engine.authorize('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"})
d.decision, d.allowed, d.reasons, d.errors, d.config, d.obligations, d.version, d.explain()
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rune.bundle.settings import Settings
    from rune.engine import Decision, Engine, EngineError, Obligation, Snapshot, Verdict
    from rune.errors import Diagnostic, RuneError, SourceSpan
    from rune.guarding import ApprovalRequired, Denied, guard
    from rune.remote import RemoteDecision, RemoteEngine, RemoteError

__all__ = [
    "ApprovalRequired",
    "Decision",
    "Denied",
    "Diagnostic",
    "Engine",
    "EngineError",
    "Obligation",
    "RemoteDecision",
    "RemoteEngine",
    "RemoteError",
    "RuneError",
    "Settings",
    "Snapshot",
    "SourceSpan",
    "Verdict",
    "__version__",
    "guard",
]

__version__ = "0.1.0"

# Every name is imported on first use: a process that needs one part of RUNE (a hook
# that asks a server, once per tool call) does not pay for the others' imports.
_WHERE = {
    "ApprovalRequired": "rune.guarding", "Denied": "rune.guarding", "guard": "rune.guarding",
    "Decision": "rune.engine", "Engine": "rune.engine", "EngineError": "rune.engine",
    "Obligation": "rune.engine", "Snapshot": "rune.engine", "Verdict": "rune.engine",
    "Diagnostic": "rune.errors", "RuneError": "rune.errors", "SourceSpan": "rune.errors",
    "RemoteDecision": "rune.remote", "RemoteEngine": "rune.remote",
    "RemoteError": "rune.remote", "Settings": "rune.bundle.settings",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rune' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
