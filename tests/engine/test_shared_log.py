"""Engines sharing one change log (`Engine.share` / `apply_entries`), in one process: every
engine applies every batch in the log's order exactly once, its own writes included."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import rune
from rune.engine.errors import EngineError
from rune.store import MemoryChangeLog, SQLiteChangeLog
from rune.store.changelog import LogEntry

EXAMPLE = Path(__file__).parents[2] / "examples" / "coding-agent"
RULES = """
.decl limited(p: symbol)
limited(p) :- performed(p, _, _, _, _).
"""


class Follower:
    """Feeds a shared memory log to an engine from a thread (as a cluster node does)."""

    def __init__(self, engine: rune.Engine, log: MemoryChangeLog) -> None:
        self.engine, self.log = engine, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.engine.apply_entries(self.log.replay(self.engine.position))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def cluster() -> Iterator[tuple[MemoryChangeLog, list[rune.Engine]]]:
    log = MemoryChangeLog(clock=lambda: 1_000_000.0)
    engines = [rune.Engine.load(EXAMPLE, clock=lambda: 1_000_000.0) for _ in range(3)]
    followers = []
    for engine in engines:
        engine.share(log, apply_timeout=5)
        followers.append(Follower(engine, log))
    yield log, engines
    for follower in followers:
        follower.stop()


def test_a_write_on_one_engine_is_applied_by_all(cluster: tuple[MemoryChangeLog,
                                                                  list[rune.Engine]]) -> None:
    log, engines = cluster
    request = ('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"', {"env": "prod"})
    assert engines[0].authorize(*request).decision == "ask"
    engines[1].approve(*request[:3], ttl_seconds=600)
    assert engines[1].authorize(*request).decision == "allow"  # its own write, read back
    final = log.replay(0)
    last = max(entry.position for entry in final)
    for engine in engines:
        engine.apply_entries(log.replay(engine.position))
        assert engine.position == last
        assert engine.authorize(*request).decision == "allow"


def test_concurrent_records_get_the_same_numbers_everywhere(
        cluster: tuple[MemoryChangeLog, list[rune.Engine]]) -> None:
    log, engines = cluster
    threads = [threading.Thread(target=lambda e=e: [e.record(
        'Agent::"a1"', 'Action::"read_file"', 'File::"x"', at=999_990) for _ in range(20)])
        for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.apply_entries(log.replay(engine.position))
    rows = [engine.query("performed(p, a, r, at, seq)") for engine in engines]
    assert len(rows[0]) == 60
    assert rows[0] == rows[1] == rows[2]


def test_an_entry_is_applied_once() -> None:
    engine = rune.Engine.load(EXAMPLE)
    entry = LogEntry(5, (), time=1.0)
    version = engine.apply_entries([entry])
    from rune.engine.inputs import record_change

    record = record_change('Agent::"a1"', 'Action::"read_file"', 'File::"x"', at=10,
                           amount=None)
    batch = LogEntry(6, (record,), time=20.0)
    assert engine.apply_entries([batch, batch]) == version + 1
    assert engine.apply_entries([batch]) == version + 1
    assert engine.position == 6


def test_a_batch_that_does_not_apply_is_refused_by_every_engine_and_its_writer() -> None:
    log = MemoryChangeLog(clock=lambda: 1.0)
    engines = [rune.Engine(policies="permit(principal, action, resource);") for _ in range(2)]
    followers = []
    for engine in engines:
        engine.share(log, apply_timeout=5)
        followers.append(Follower(engine, log))
    try:
        engines[0].write(entities=[{"uid": {"type": "G", "id": "a"}, "attrs": {},
                                    "parents": [{"type": "G", "id": "b"}]}])
        # Both writes are valid where they are made; in the log's order, the second
        # closes a cycle and every engine refuses it.
        with pytest.raises(rune.RuneError):
            engines[1].write(entities=[{"uid": {"type": "G", "id": "b"}, "attrs": {},
                                        "parents": [{"type": "G", "id": "a"}]}])
        for engine in engines:
            engine.apply_entries(log.replay(engine.position))
            assert engine.position == 2
            assert engine.snapshot.entities.get(rune.cedar.EntityUID("G", "b")) is None
    finally:
        for follower in followers:
            follower.stop()


def test_a_write_nobody_applies_says_so() -> None:
    engine = rune.Engine(policies="permit(principal, action, resource);")
    engine.share(MemoryChangeLog(), apply_timeout=0.05)
    with pytest.raises(EngineError) as caught:
        engine.write(facts=None, entities=[{"uid": {"type": "A", "id": "a"}, "attrs": {},
                                            "parents": []}])
    assert caught.value.code == "write-not-applied"


def test_the_state_file_mirrors_the_shared_log(tmp_path: Path) -> None:
    log = MemoryChangeLog(clock=lambda: 1_000_000.0)
    state = SQLiteChangeLog(tmp_path / "node.db", bundle="coding-agent@test")
    engine = rune.Engine.load(EXAMPLE, state=state, clock=lambda: 1_000_000.0)
    engine.share(log)
    follower = Follower(engine, log)
    try:
        engine.record('Agent::"a1"', 'Action::"read_file"', 'File::"x"', at=999_999)
        engine.approve('Agent::"a1"', 'Action::"write_file"', 'File::"src/app.py"')
    finally:
        follower.stop()
    expected = engine.query("performed(p, a, r, at, seq)")
    engine.close()
    state = SQLiteChangeLog(tmp_path / "node.db", bundle="coding-agent@test")
    again = rune.Engine.load(EXAMPLE, state=state, clock=lambda: 1_000_000.0)
    assert again.position == 2
    assert again.query("performed(p, a, r, at, seq)") == expected
    # A checkpoint of one engine starts another in the same state.
    fresh = rune.Engine.load(EXAMPLE, clock=lambda: 1_000_000.0)
    fresh.apply_entries([again.checkpoint()])
    assert fresh.position == 2
    assert fresh.query("performed(p, a, r, at, seq)") == expected
    again.close()
