"""Integrations of RUNE with agent frameworks: one module per framework, each behind an
extra (`pip install 'rune[langchain]'` for `rune.integrations.langchain`).

The modules are not imported here: each needs its framework installed.
"""

from __future__ import annotations

__all__: list[str] = []
