"""Policy bundles: a directory of policies, rules, schema, entities, facts and settings.

`load_bundle` reads one (see `rune.bundle.loader` for the layout and what is checked);
`Settings` are its `rune.toml` (see `rune.bundle.settings` for every key).
"""

from __future__ import annotations

from rune.bundle.errors import BundleError
from rune.bundle.loader import Bundle, load_bundle, named_policies
from rune.bundle.settings import DecisionLogSync, Settings, StateSync, ValidationMode

__all__ = [
    "Bundle",
    "BundleError",
    "DecisionLogSync",
    "Settings",
    "StateSync",
    "ValidationMode",
    "load_bundle",
    "named_policies",
]
