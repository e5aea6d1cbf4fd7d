"""Real servers for the server's tests: `rune serve` in a subprocess on a loopback port,
spoken to over real HTTP with httpx, started and stopped by the tests themselves."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO

EXAMPLES = REPO / "examples"
CERTIFICATION = EXAMPLES / "authzen-certification"
CODING = EXAMPLES / "coding-agent"
API_TOKEN = "api-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
JSON = {"content-type": "application/json"}


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rune_command() -> list[str]:
    """How to run `rune` from this test environment."""
    script = Path(sys.executable).parent / "rune"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from rune.cli.main import main; "
            "sys.exit(main())"]


class Server:
    """A `rune serve` process: its base URL, its output, and how to stop it."""

    def __init__(self, bundle: Path, *args: str, env: dict[str, str] | None = None,
                 port: int | None = None, scheme: str = "http", wait: bool = True) -> None:
        self.port = port or free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.bundle = bundle
        environment = {k: v for k, v in os.environ.items()
                       if k not in ("RUNE_API_TOKEN", "RUNE_ADMIN_TOKEN")}
        environment.update(env or {})
        self.log_path = _log_path(self.port)
        self.log = open(self.log_path, "w+b")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [*rune_command(), "serve", str(bundle), "--port", str(self.port), *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=environment)
        if wait:
            self.wait_ready(scheme)

    def wait_ready(self, scheme: str = "http", timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rune serve exited ({self.process.returncode}):\n"
                                   f"{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"rune serve did not start:\n{self.output()}")

    def output(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_bytes().decode(errors="replace")

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0, **kwargs)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


def _log_path(port: int) -> Path:
    directory = Path(os.environ.get("TMPDIR", "/tmp")) / "rune-server-tests"
    directory.mkdir(exist_ok=True)
    return directory / f"serve-{port}.log"


def copy_bundle(source: Path, target: Path) -> Path:
    """A private copy of an example bundle (tests that write or reload change it)."""
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="module")
def certification_server() -> Iterator[Server]:
    server = Server(CERTIFICATION, "--no-watch")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(certification_server: Server) -> Iterator[httpx.Client]:
    with certification_server.client() as client:
        yield client
