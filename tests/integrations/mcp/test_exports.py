"""The MCP integration's public surface: `__all__` sorted, importable, nothing private;
and importing RUNE (or the integrations package) never imports the MCP SDK."""

from __future__ import annotations

import subprocess
import sys

import rune.integrations.mcp as integration


def test_all_is_sorted_and_public() -> None:
    exported = list(integration.__all__)
    assert exported == sorted(exported)
    for name in exported:
        assert not name.startswith("_") and hasattr(integration, name), name


def test_the_sdk_is_imported_only_by_the_transports() -> None:
    script = ("import rune, rune.integrations, rune.integrations.mcp, sys; "
              "print(any(m == 'mcp' or m.startswith('mcp.') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
