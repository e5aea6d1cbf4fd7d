"""Hot reload over HTTP: the server watches its bundle; under load no request fails while
versions change; a bundle with errors keeps the running version serving, logs each error
with file:line:column and counts it in /metrics."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.server.conftest import CERTIFICATION, Server, copy_bundle

GOOD = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
        "resource": {"type": "record", "id": "record-1"}}
PURGE = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "purge"},
         "resource": {"type": "record", "id": "record-1"}}
NEW_POLICY = ('@id("purge")\npermit(principal in group::"users", action == Action::"purge", '
              "resource is record);\n")


def metric(client: httpx.Client, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", client.get("/metrics").text, re.M)
    return float(match.group(1)) if match else 0.0


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_reloads_under_load_fail_no_request(tmp_path: Path) -> None:
    root = copy_bundle(CERTIFICATION, tmp_path / "b")
    server = Server(root)
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.post("/access/v1/evaluation", json=GOOD)
                    if response.status_code != 200 or response.json() != {"decision": True}:
                        failures.append(response.text)
                    answered[0] += 1
                except httpx.HTTPError as error:
                    failures.append(repr(error))

    workers = [threading.Thread(target=load) for _ in range(4)]
    try:
        for worker in workers:
            worker.start()
        with server.client() as client:
            wait_for(lambda: answered[0] > 50)
            for round_ in range(3):
                (root / "policies" / "extra.cedar").write_text(
                    NEW_POLICY + f"// round {round_}\n")
                wait_for(lambda r=round_: metric(client, "rune_reloads_total") >= r + 1)
            assert client.post("/access/v1/evaluation", json=PURGE).json() == {"decision": True}
            assert metric(client, "rune_bundle_version") >= 4
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        server.stop()
    assert failures == [] and answered[0] > 100


def test_a_broken_bundle_keeps_the_running_version(tmp_path: Path) -> None:
    root = copy_bundle(CERTIFICATION, tmp_path / "b")
    server = Server(root)
    try:
        with server.client() as client:
            (root / "policies" / "broken.cedar").write_text(
                'permit(principal, action, resource)\nwhen { principal.level > };\n')
            wait_for(lambda: metric(client, "rune_reload_failures_total") >= 1)
            assert client.post("/access/v1/evaluation", json=GOOD).json() == {"decision": True}
            assert metric(client, "rune_bundle_version") == 1
            assert client.get("/ready").status_code == 200
            (root / "policies" / "broken.cedar").write_text(NEW_POLICY)
            wait_for(lambda: metric(client, "rune_reloads_total") >= 1)
            assert client.post("/access/v1/evaluation", json=PURGE).json() == {"decision": True}
            # Files the bundle does not load trigger nothing.
            (root / "README.md").write_text("notes\n")
            (root / "policies" / ".swap.cedar").write_text("garbage")
            time.sleep(1.0)
            assert metric(client, "rune_reloads_total") == 1
            assert metric(client, "rune_reload_failures_total") == 1
    finally:
        server.stop()
    output = server.output()
    assert "the bundle was not reloaded" in output
    assert re.search(r"policies/broken\.cedar:2:\d+", output), output
