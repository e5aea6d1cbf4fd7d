"""The decision log: line format, masking, rotation, and what survives a SIGKILL.

With `sync = "always"` no client ever holds a decision whose line is missing after the
server is killed; with the default (batched) the lines lost are at most those of the
decisions answered in the last `flush_seconds`.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from rune.bundle import DecisionLogSync
from rune.server import DecisionLog, DecisionLogSink, FileSink
from rune.server.masking import Masker
from tests.server.conftest import CERTIFICATION, Server, copy_bundle

GOOD = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
        "resource": {"type": "record", "id": "record-1"},
        "context": {"password": "hunter2", "ip": "10.0.0.1"}}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_lines_hold_the_whole_decision_with_masked_fields(tmp_path: Path) -> None:
    root = copy_bundle(CERTIFICATION, tmp_path / "b")
    log = tmp_path / "decisions.log"
    with (root / "rune.toml").open("a") as toml:
        toml.write(f'\n[server.decision_log]\npath = "{log}"\n'
                   'mask = ["$.context.password", "$.subject.properties.*"]\n')
    server = Server(root, "--no-watch")
    try:
        with server.client() as client:
            answer = client.post("/access/v1/evaluation", json={
                **GOOD, "subject": {"type": "user", "id": "alice",
                                    "properties": {"ssn": "123"}}}, headers={
                "x-request-id": "r-1"})
            decision_id = answer.headers["x-decision-id"]
            client.post("/v1/decide", json={"principal": 'user::"bob"',
                                            "action": 'Action::"write"',
                                            "resource": 'record::"record-1"'})
            client.post("/access/v1/evaluations", json={
                "subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
                "evaluations": [{"resource": {"type": "record", "id": "record-1"}},
                                {"resource": {"type": "record", "id": "record-2"}}]})
    finally:
        server.stop()  # writes out the batched lines
    first, second, *batch = lines(log)
    assert first["decision_id"] == decision_id and first["request_id"] == "r-1"
    assert first["api"] == "authzen" and first["decision"] == "allow"
    assert first["reasons"] == ["users-read-records"] and first["version"] == 1
    assert first["request"]["context"] == {"password": "***", "ip": "10.0.0.1"}
    assert first["request"]["subject"]["properties"] == {"ssn": "***"}
    assert first["time"].endswith("Z") and first["errors"] == [] and first["config"] == {}
    assert second["api"] == "rune" and second["decision"] == "deny"
    assert second["request"]["principal"] == 'user::"bob"'
    assert [line["request"]["resource"]["id"] for line in batch] == ["record-1", "record-2"]


def test_masking_copies_and_matches_paths() -> None:
    masker = Masker(["$.a.b", "$.list[*].secret", "$.list[0].x", "$.missing.path"])
    value = {"a": {"b": 1, "c": 2}, "list": [{"secret": 1, "x": 2}, {"secret": 3}]}
    masked = masker.mask(value)
    assert masked == {"a": {"b": "***", "c": 2},
                      "list": [{"secret": "***", "x": "***"}, {"secret": "***"}]}
    assert value["a"] == {"b": 1, "c": 2}  # the original is untouched
    with pytest.raises(ValueError):
        Masker(["a.b"])


def test_the_file_sink_rotates_by_size_and_keeps_n_files(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "log", max_bytes=100, keep=3)
    assert isinstance(sink, DecisionLogSink)
    for i in range(20):
        sink.write(f'{{"n": {i}, "pad": "{"x" * 30}"}}\n'.encode())
    sink.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["log", "log.1", "log.2", "log.3"]
    kept = [json.loads(line)["n"] for name in ("log.3", "log.2", "log.1", "log")
            for line in (tmp_path / name).read_text().splitlines()]
    assert kept == sorted(kept) and kept[-1] == 19 and len(kept) < 20
    assert all((tmp_path / n).stat().st_size <= 100 for n in names)


class FailingSink:
    def __init__(self) -> None:
        self.fail = True
        self.data = b""

    def write(self, data: bytes) -> None:
        if self.fail:
            raise OSError("disk full")
        self.data += data

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_failing_sink_refuses_decisions_in_always_mode() -> None:
    import asyncio

    sink = FailingSink()
    log = DecisionLog(sink, sync=DecisionLogSync.ALWAYS)
    log.start()

    async def run() -> None:
        future = log.record(log.next_id(), "rune", None, {"a": 1}, {"decision": "allow"})
        assert future is not None
        with pytest.raises(OSError):
            await asyncio.wait_for(future, 5)
        sink.fail = False
        future = log.record(log.next_id(), "rune", None, {"a": 2}, {"decision": "deny"})
        assert future is not None
        await asyncio.wait_for(future, 5)

    asyncio.run(run())
    log.close()
    assert b'"a":2' in sink.data and log.failures == 1


def hammer(server: Server, received: list[tuple[str, float]], stop: threading.Event) -> None:
    """Send evaluations until ``stop``, noting each decision id received and when."""
    with httpx.Client(base_url=server.url, timeout=5) as client:
        while not stop.is_set():
            try:
                response = client.post("/access/v1/evaluation", json=GOOD)
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                received.append((response.headers["x-decision-id"], time.monotonic()))


def kill_under_load(server: Server, after: int) -> tuple[list[tuple[str, float]], float]:
    received: list[tuple[str, float]] = []
    stop = threading.Event()
    workers = [threading.Thread(target=hammer, args=(server, received, stop))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 60
    while len(received) < after and time.monotonic() < deadline:
        time.sleep(0.01)
    killed_at = time.monotonic()
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    stop.set()
    for worker in workers:
        worker.join()
    server.stop()
    assert len(received) >= after
    return received, killed_at


@pytest.mark.parametrize("run", range(2))
def test_always_loses_no_acknowledged_decision_to_sigkill(tmp_path: Path, run: int) -> None:
    log = tmp_path / "decisions.log"
    server = Server(CERTIFICATION, "--no-watch", "--decision-log", str(log),
                    "--decision-log-sync", "always")
    received, _ = kill_under_load(server, after=400)
    logged = {line["decision_id"] for line in lines(log)}
    missing = [d for d, _ in received if d not in logged]
    assert missing == [], f"{len(missing)} of {len(received)} acknowledged decisions lost"


def test_batched_loses_at_most_the_last_flush_window(tmp_path: Path) -> None:
    root = copy_bundle(CERTIFICATION, tmp_path / "b")
    log = tmp_path / "decisions.log"
    flush = 0.5
    with (root / "rune.toml").open("a") as toml:
        toml.write(f'\n[server.decision_log]\npath = "{log}"\nflush_seconds = {flush}\n')
    server = Server(root, "--no-watch")
    received, killed_at = kill_under_load(server, after=1500)
    logged = {line["decision_id"] for line in lines(log)}
    missing = [(d, at) for d, at in received if d not in logged]
    # Everything answered before the last flush window is on disk. (A little slack for
    # the writer thread being scheduled late on a busy machine.)
    assert all(at >= killed_at - flush - 0.5 for _, at in missing), missing[:3]
    assert len(logged) >= len(received) // 2  # (the log is not empty: it was written)


def test_a_line_is_built_from_the_body_received_and_stays_one_line() -> None:
    sink = FailingSink()
    sink.fail = False
    log = DecisionLog(sink)
    decision = {"decision": "allow", "reasons": ["r"]}
    compact = b'{"subject":{"type":"user","id":"alice"},"context":{"k":"v"}}'
    spaced = b'{"subject": {"type": "user",\r\n "id": "alice"},\n "context": {"k": "v"}}'
    for body in (compact, spaced):
        line = log.line("d-1", 0.0, "authzen", 'r"1', body, decision)
        assert line.endswith(b"\n") and line.count(b"\n") == 1 and b"\r" not in line
        assert json.loads(line) == {
            "decision_id": "d-1", "time": "1970-01-01T00:00:00.000Z", "api": "authzen",
            "request_id": 'r"1', "request": {"subject": {"type": "user", "id": "alice"},
                                             "context": {"k": "v"}},
            "decision": "allow", "reasons": ["r"]}
    assert compact in log.line("d-2", 0.0, "authzen", None, compact, decision)
    # Masked fields are masked in a body received as bytes too; an empty decision
    # mapping still makes a JSON line.
    masked = DecisionLog(sink, mask=["$.context.k"])
    line = masked.line("d-3", 1.5, "authzen", None, compact, {})
    assert json.loads(line) == {"decision_id": "d-3", "time": "1970-01-01T00:00:01.500Z",
                                "api": "authzen", "request": {
                                    "subject": {"type": "user", "id": "alice"},
                                    "context": {"k": "***"}}}


def test_an_engine_decision_is_logged_whole_and_encoded_once(tmp_path: Path) -> None:
    from rune import Engine

    engine = Engine.load(CERTIFICATION)
    decision = engine.authorize('user::"alice"', 'Action::"read"', 'record::"record-1"')
    log = DecisionLog(FileSink(tmp_path / "log"))
    first = log.line("d-1", 0.0, "rune", None, {"a": 1}, decision)
    assert log.line("d-2", 0.0, "rune", None, {"a": 1}, decision).endswith(
        first[first.index(b',"decision":'):])
    assert json.loads(first) == {
        "decision_id": "d-1", "time": "1970-01-01T00:00:00.000Z", "api": "rune",
        "request": {"a": 1}, "decision": "allow", "reasons": ["users-read-records"],
        "errors": [], "version": decision.version, "config": {}, "obligations": []}
    log.close()


def test_a_batch_logs_each_item_as_evaluated_with_masks(tmp_path: Path) -> None:
    root = copy_bundle(CERTIFICATION, tmp_path / "b")
    log = tmp_path / "decisions.log"
    with (root / "rune.toml").open("a") as toml:
        toml.write(f'\n[server.decision_log]\npath = "{log}"\n'
                   'mask = ["$.subject.properties.*"]\n')
    server = Server(root, "--no-watch")
    shared = {"type": "user", "id": "alice", "properties": {"ssn": "123"}}
    try:
        with server.client() as client:
            answer = client.post("/access/v1/evaluations", json={
                "subject": shared, "action": {"name": "read"}, "context": {"ip": "1"},
                "evaluations": [{"resource": {"type": "record", "id": "record-1"}},
                                {"resource": {"type": "record", "id": "record-2"},
                                 "context": {"ip": "2"}}]})
            assert answer.status_code == 200
            client.post("/access/v1/evaluation", content=json.dumps({
                "subject": shared, "action": {"name": "read"},
                "resource": {"type": "record", "id": "record-1"}}, indent=2),
                headers={"content-type": "application/json"})
    finally:
        server.stop()
    first, second, single = lines(log)
    masked = {"type": "user", "id": "alice", "properties": {"ssn": "***"}}
    assert first["request"] == {"subject": masked, "action": {"name": "read"},
                                "resource": {"type": "record", "id": "record-1"},
                                "context": {"ip": "1"}}
    assert second["request"]["context"] == {"ip": "2"}
    assert single["request"] == {"subject": masked, "action": {"name": "read"},
                                 "resource": {"type": "record", "id": "record-1"}}
