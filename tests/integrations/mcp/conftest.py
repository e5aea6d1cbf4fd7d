"""Fixtures of the MCP gateway's end-to-end tests: the real `rune` console script, the
tests' MCP servers, and loopback ports for `rune serve` and streamable HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
BUNDLE = ROOT / "examples" / "mcp-gateway"
SERVER = HERE / "server.py"
BROKEN = HERE / "broken_server.py"
RUNE = str(Path(sys.executable).parent / "rune")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def pdp_url() -> Iterator[str]:
    """A real `rune serve` of the example bundle on a loopback port."""
    port = free_port()
    process = subprocess.Popen([RUNE, "serve", str(BUNDLE), "--port", str(port),
                                "--no-watch"], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/ready", process)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    """The tests' MCP server over streamable HTTP on a loopback port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), "--http", str(port)],
                               stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/mcp", process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(process)
