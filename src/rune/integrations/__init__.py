"""RUNE in front of agent frameworks: one module per framework or protocol.

Each module takes an engine (`rune.Engine`) or a server's URL (`rune.RemoteEngine`) and
fails closed. A module that needs a framework lives behind that framework's extra
(`pip install 'rune[langchain]'` for `rune.integrations.langchain`, `rune[mcp]` for
`rune.integrations.mcp`); none is imported here.
"""

from __future__ import annotations

__all__: list[str] = []
