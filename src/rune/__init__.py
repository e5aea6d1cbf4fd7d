"""RUNE: authorization (Cedar) and configuration (Datalog) for AI agents.

```python
import rune
engine = rune.Engine(policies=cedar_text, entities=entity_json_list, rules=datalog_text)
d = engine.authorize('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"})
d.decision, d.allowed, d.reasons, d.errors, d.config, d.obligations, d.version, d.explain()
```
"""

from __future__ import annotations

from rune.bundle.settings import Settings
from rune.engine import Decision, Engine, EngineError, Obligation, Snapshot, Verdict
from rune.errors import Diagnostic, RuneError, SourceSpan

__all__ = [
    "Decision",
    "Diagnostic",
    "Engine",
    "EngineError",
    "Obligation",
    "RuneError",
    "Settings",
    "Snapshot",
    "SourceSpan",
    "Verdict",
    "__version__",
]

__version__ = "0.1.0"
