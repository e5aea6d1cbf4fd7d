"""The MCP gateway example runs: the demo script, through the real console script, prints
what alice and bob may see and do; the saved tool list is the example server's."""

from __future__ import annotations

import runpy

import pytest

from tests.conftest import REPO


def test_mcp_gateway_demo(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(REPO / "examples" / "mcp_gateway_demo.py"), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "alice: tools read_file, write_file, get_customer, copy_file"
    assert [line.split()[0] for line in out[1:6]] == ["ALLOW", "ALLOW", "DENY", "DENY",
                                                      "ERROR"]
    assert out[6] == "bob: tools read_file, get_customer, copy_file"
    assert [line.split()[0] for line in out[7:]] == ["ALLOW", "DENY", "DENY", "DENY", "ERROR"]
    assert "(no-deletes)" in out[3] and "[-32602] COAZ mapping error" in out[5]
