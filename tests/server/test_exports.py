"""The server's public surface: sorted `__all__`, nothing private; and `import rune`
never imports the server (the core works without the server extra)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("name", ["rune.server", "rune.server.wire.authzen_v1",
                                  "rune.server.wire.rune_v1"])
def test_all_is_sorted_and_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    for item in exported:
        assert not item.startswith("_") and hasattr(module, item), item


def test_the_core_never_imports_the_server() -> None:
    script = ("import rune, sys\nrune.Engine('permit(principal, action, resource);')\n"
              "print('\\n'.join(sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    modules = set(done.stdout.split())
    assert not {m for m in modules if m.startswith(("rune.server", "granian", "orjson",
                                                    "prometheus_client", "watchfiles"))}
