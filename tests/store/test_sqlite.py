"""The SQLite change log: folded state, positions, and every way a state file goes bad."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rune.cedar.json_format import EntityData
from rune.cedar.values import CedarRecord, EntityUID
from rune.store import ChangeLog, MemoryChangeLog, SQLiteChangeLog, StoreError
from rune.store.changes import (
    Approve,
    AssertFact,
    ExpireHistory,
    PutEntity,
    Record,
    RemoveEntity,
    RetractFact,
)
from rune.store.overlay import Overlay

A, B, C = EntityUID("Agent", "a"), EntityUID("Action", "go"), EntityUID("T", "x")


def entity(name: str, n: int) -> EntityData:
    return EntityData(EntityUID("Agent", name), CedarRecord({"n": n}), (), CedarRecord())


def folded(log: ChangeLog) -> Overlay:
    overlay = Overlay()
    for entry in log.replay(0):
        if entry.checkpoint:
            overlay = Overlay()
        overlay.apply(entry.changes)
    return overlay


def test_both_logs_are_change_logs(tmp_path: Path) -> None:
    assert isinstance(MemoryChangeLog(), ChangeLog)
    log = SQLiteChangeLog(tmp_path / "s.db", bundle="b")
    assert isinstance(log, ChangeLog)
    log.close()


def test_the_file_holds_the_folded_state(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    log = SQLiteChangeLog(path, bundle="b")
    batches = [
        [PutEntity(entity("a", 1)), AssertFact("r", ("x", 1))],
        [PutEntity(entity("a", 2)), RetractFact("r", ("x", 1)), AssertFact("r", ("y", 2.5))],
        [Record(A, B, C, 10, 1), Record(A, B, C, 20, 2, 5), Approve(A, B, C, 99.5)],
        [RemoveEntity(EntityUID("Agent", "gone")), ExpireHistory(15)],
    ]
    memory = MemoryChangeLog()
    for i, batch in enumerate(batches, 1):
        assert log.append(batch) == i
        memory.append(batch)
    log.close()
    reopened = SQLiteChangeLog(path, bundle="b")
    assert reopened.position == 4
    (entry,) = list(reopened.replay(0))
    assert entry.checkpoint and entry.position == 4
    assert list(reopened.replay(4)) == []
    expected, got = folded(memory), folded(reopened)
    assert (got.entities, got.facts, got.records, got.approvals, got.horizon) == (
        expected.entities, expected.facts, expected.records, expected.approvals,
        expected.horizon)
    assert list(got.records) == [2]
    reopened.close()
    # Expired history is deleted from the file, not kept beside the state.
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM rune_record").fetchone() == (1,)
    db.close()


@pytest.mark.parametrize("sync", ["full", "normal"])
def test_sync_modes(tmp_path: Path, sync: str) -> None:
    log = SQLiteChangeLog(tmp_path / "s.db", bundle="b", sync=sync)  # type: ignore[arg-type]
    log.append([AssertFact("r", (1,))])
    db = log._db
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA synchronous").fetchone() == (2 if sync == "full" else 1,)
    log.close()


def test_an_unknown_sync_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        SQLiteChangeLog(tmp_path / "s.db", bundle="b", sync="sometimes")  # type: ignore[arg-type]
    assert info.value.code == "invalid-sync"


def make_state(path: Path) -> None:
    log = SQLiteChangeLog(path, bundle="b")
    for i in range(50):
        log.append([PutEntity(entity(f"e{i}", i)), Record(A, B, C, 100 + i, i + 1)])
    log.close()


@pytest.mark.parametrize(("damage", "code"), [
    ("empty", "state-truncated"),
    ("garbage", "state-foreign"),
    ("truncated", "state-corrupt"),
    ("scribbled", "state-corrupt"),
    ("other-sqlite", "state-foreign"),
    ("other-bundle", "state-wrong-bundle"),
    ("directory", "state-not-a-file"),
    ("future-format", "state-version"),
])
def test_a_bad_state_file_is_named_and_never_dropped(tmp_path: Path, damage: str,
                                                     code: str) -> None:
    path = tmp_path / "state.db"
    if damage == "directory":
        path.mkdir()
    elif damage == "garbage":
        path.write_bytes(b"this is a text file, not a database\n" * 200)
    elif damage == "other-sqlite":
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE users (name TEXT)")
        db.commit()
        db.close()
    else:
        make_state(path)
        data = path.read_bytes()
        if damage == "empty":
            path.write_bytes(b"")
        elif damage == "truncated":
            path.write_bytes(data[: len(data) // 2])
        elif damage == "scribbled":
            page = 4096
            path.write_bytes(data[:page * 2] + b"\xa5" * page + data[page * 3:])
        elif damage == "future-format":
            db = sqlite3.connect(path)
            db.execute("UPDATE rune_meta SET value = '99' WHERE key = 'format_version'")
            db.commit()
            db.close()
    before = path.read_bytes() if path.is_file() else None
    bundle = "other" if damage == "other-bundle" else "b"
    with pytest.raises(StoreError) as info:
        SQLiteChangeLog(path, bundle=bundle)
    assert info.value.code == code, info.value
    assert str(path) in str(info.value)
    if before is not None:
        assert path.read_bytes() == before  # the file is left as it was


def test_one_process_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first = SQLiteChangeLog(path, bundle="b")
    with pytest.raises(StoreError) as info:
        SQLiteChangeLog(path, bundle="b")
    assert info.value.code == "state-in-use"
    first.close()
    SQLiteChangeLog(path, bundle="b").close()


def test_a_new_file_appears_whole(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "s.db"
    SQLiteChangeLog(path, bundle="b").close()
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_a_state_file_created_meanwhile_is_never_replaced(tmp_path: Path) -> None:
    # Two engines start on a new path at once (parallel hook processes): both find no
    # file and create one; the second must open the first's, not replace it (it did,
    # losing every change the first had stored).
    path = tmp_path / "state.db"
    first = SQLiteChangeLog(path, bundle="b")
    first.append([Record(A, B, C, 10, 1)])
    first.close()
    late = SQLiteChangeLog.__new__(SQLiteChangeLog)
    late.path, late.bundle, late.sync = path, "b", "full"
    late._create()  # as if it had checked for the file before the first created it
    reopened = SQLiteChangeLog(path, bundle="b")
    assert reopened.position == 1 and len(folded(reopened).records) == 1
    reopened.close()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".new")] == []
