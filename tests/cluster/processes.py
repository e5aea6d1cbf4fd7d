"""Cluster nodes as separate processes (`node_process.py`), driven from a test."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["NodeProcess"]

ROOT = Path(__file__).parents[2]


class NodeProcess:
    """One node process: its events (JSON lines) are collected as they come."""

    def __init__(self, node_id: str, nats: list[str], *, state: Path | None = None,
                 write_load: bool = False, decide_load: bool = False,
                 replicas: int = 1) -> None:
        args = [sys.executable, "-m", "tests.cluster.node_process", "--id", node_id]
        for url in nats:
            args += ["--nats", url]
        if state is not None:
            args += ["--state", str(state)]
        if write_load:
            args.append("--write-load")
        if decide_load:
            args.append("--decide-load")
        args += ["--replicas", str(replicas)]
        self.node_id = node_id
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.acks: list[str] = []  # resources of acknowledged writes
        self.write_errors: list[str] = []
        self.process = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "ack":
                self.acks.append(event["resource"])
            elif event.get("event") == "write-error":
                self.write_errors.append(event["code"])
            else:
                self.events.put(event)

    def wait(self, kind: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or (self.process.poll() is not None and self.events.empty()):
                raise TimeoutError(f"node {self.node_id}: no `{kind}` event")
            try:
                event = self.events.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if event.get("event") == kind:
                return event

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def state(self) -> dict[str, Any]:
        self.send("state")
        return self.wait("state")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        self._reader.join(timeout=5)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.send("stop")
                self.process.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._close_pipes()
