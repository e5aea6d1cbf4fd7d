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

from rune.bundle.settings import Settings
from rune.engine import Decision, Engine, EngineError, Obligation, Snapshot, Verdict
from rune.errors import Diagnostic, RuneError, SourceSpan

if TYPE_CHECKING:
    from rune.remote import RemoteDecision, RemoteEngine, RemoteError

__all__ = [
    "Decision",
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
]

__version__ = "0.1.0"

# `rune.RemoteEngine` (a client of `rune serve`) loads http.client, which costs a process
# that only decides in-process (a hook runs once per tool call): import it on first use.
_REMOTE = frozenset({"RemoteDecision", "RemoteEngine", "RemoteError"})


def __getattr__(name: str) -> object:
    if name in _REMOTE:
        from rune import remote

        return getattr(remote, name)
    raise AttributeError(f"module 'rune' has no attribute {name!r}")
