"""Policy bundles: a directory of policies, rules, schema, entities, facts and settings."""

from __future__ import annotations

from rune.bundle.loader import Bundle, BundleError, load_bundle, named_policies

__all__ = ["Bundle", "BundleError", "load_bundle", "named_policies"]
