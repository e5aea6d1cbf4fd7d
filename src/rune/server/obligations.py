"""RUNE's obligations in the AuthZEN obligations profile's format.

Every obligation of a decision becomes an Obligation object in the response
`context.obligations`, with an id unique in the response (`obl-1`, `obl-2`, ...):

* an `obligation(kind, detail)` fact whose kind is a type the profile registers
  (`step-up`, `notification`, `session_termination`) and whose detail is a JSON object
  is that type, with the object as its `properties` (`obligation("notification",
  "{\\"to\\": \\"ops@x\\", \\"body\\": \\"...\\"}")`);
* everything else is a `custom` obligation whose properties say what RUNE means:
  `{"vendor": "rune", "kind": ...}` plus the obligation's fields (`key`, `limit`,
  `window_seconds`, `amount`, `detail`) — rate limits and budgets (which the engine
  enforces itself and reports), approvals, and other custom facts.

The metadata advertises `supported_obligations`: the four types above.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rune.engine import Obligation

__all__ = ["SUPPORTED_OBLIGATIONS", "obligation_objects"]

_REGISTERED = frozenset({"step-up", "notification", "session_termination"})
SUPPORTED_OBLIGATIONS = ("custom", "notification", "session_termination", "step-up")


def _registered(obligation: Obligation) -> dict[str, Any] | None:
    """The properties of an obligation of a registered type, or None."""
    if obligation.kind not in _REGISTERED or not obligation.detail.startswith("{"):
        return None
    try:
        properties = json.loads(obligation.detail)
    except ValueError:
        return None
    return properties if isinstance(properties, dict) else None


def obligation_objects(obligations: Sequence[Obligation]) -> list[dict[str, Any]]:
    """The profile's Obligation objects for ``obligations``, in order."""
    out: list[dict[str, Any]] = []
    for number, obligation in enumerate(obligations, 1):
        properties = _registered(obligation)
        if properties is not None:
            out.append({"id": f"obl-{number}", "type": obligation.kind,
                        "properties": properties})
            continue
        custom: dict[str, Any] = {"vendor": "rune"}
        custom.update(obligation.to_json())
        out.append({"id": f"obl-{number}", "type": "custom", "properties": custom})
    return out
