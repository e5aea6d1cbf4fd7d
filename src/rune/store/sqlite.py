"""The embedded change log: an engine's written state in one SQLite file.

The file holds the *folded* state (see `rune.store.overlay`), not every batch: the last
word on each entity and fact, the recorded actions inside the retention horizon, and the
approvals. Appending a batch updates those rows in one transaction, so a write costs
what it changes and the file stays as large as the state, however long the engine runs;
`replay()` returns the whole state as one checkpoint entry.

Durability (`sync`):

* ``"full"`` (the default): SQLite in WAL mode with ``synchronous=FULL``. `append`
  returns after the transaction is fsynced: an acknowledged change survives a process
  crash and a power loss.
* ``"normal"``: ``synchronous=NORMAL``. An acknowledged change survives a crash of the
  process (it is in the operating system's cache), but a power loss or kernel crash may
  lose the last transactions. The file is never corrupted either way.

One process at a time: the file is opened in exclusive locking mode, so a second engine
on the same file fails at once with a clear error instead of interleaving its writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from rune.store.changelog import LogEntry
from rune.store.changes import (
    Approve,
    AssertFact,
    Change,
    ExpireHistory,
    Link,
    PutEntity,
    Record,
    RemoveEntity,
    RetractFact,
    StoreError,
    Unlink,
    change_from_json,
    change_to_json,
)

__all__ = ["FORMAT", "FORMAT_VERSION", "SQLiteChangeLog"]

FORMAT = "rune-state"
FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE rune_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE rune_entity (uid TEXT PRIMARY KEY, change TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE rune_fact (relation TEXT NOT NULL, row TEXT NOT NULL, change TEXT NOT NULL,
                        PRIMARY KEY (relation, row)) WITHOUT ROWID;
CREATE TABLE rune_record (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, change TEXT NOT NULL);
CREATE INDEX rune_record_at ON rune_record (at);
CREATE TABLE rune_approval (key TEXT PRIMARY KEY, expires REAL NOT NULL, change TEXT NOT NULL)
    WITHOUT ROWID;
CREATE TABLE rune_link (link_id TEXT PRIMARY KEY, position INTEGER NOT NULL,
                        change TEXT NOT NULL) WITHOUT ROWID;
"""

_TABLES = {"rune_meta", "rune_entity", "rune_fact", "rune_record", "rune_approval",
           "rune_link"}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)


class SQLiteChangeLog:
    """A `ChangeLog` kept in a SQLite file (created when it does not exist).

    Args:
        path: the state file.
        bundle: the name of the bundle the state belongs to; a file written for another
            bundle is refused.
        sync: ``"full"`` or ``"normal"`` (see the module docstring).

    Raises:
        StoreError: the file is not a SQLite database, is corrupt or truncated, is not a
            RUNE state file, belongs to another bundle, or is in use by another process.
    """

    def __init__(self, path: str | os.PathLike[str], *, bundle: str,
                 sync: Literal["full", "normal"] = "full") -> None:
        if sync not in ("full", "normal"):
            raise StoreError(f"unknown sync mode `{sync}` (use `full` or `normal`)",
                             code="invalid-sync")
        self.path = Path(path)
        self.bundle = bundle
        self.sync = sync
        if not self.path.exists():
            self._create()
        self._position = 0
        self._db = self._open()

    # -- opening -----------------------------------------------------------------------------

    def _fail(self, message: str, code: str) -> StoreError:
        return StoreError(f"state file `{self.path}`: {message}", code=code, path=str(self.path))

    def _create(self) -> None:
        """Create and initialize the file under a temporary name, then move it into place,
        so a crash never leaves a half-initialized state file behind."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        temp.unlink(missing_ok=True)
        try:
            db = sqlite3.connect(temp, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
                db.executemany("INSERT INTO rune_meta VALUES (?, ?)", [
                    ("format", FORMAT), ("format_version", str(FORMAT_VERSION)),
                    ("bundle", self.bundle), ("position", "0")])
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                db.close()
            # INVARIANT: never replace a state file another process created meanwhile
            # (two engines starting on a new path at once, such as parallel hook
            # processes): the file is linked into place only if none is there yet.
            try:
                os.link(temp, self.path)
            except FileExistsError:
                pass  # another process created it first: open that one
            except OSError:  # a file system without hard links
                if not self.path.exists():
                    os.replace(temp, self.path)
            temp.unlink(missing_ok=True)
            _fsync_directory(self.path.parent)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise self._fail(f"cannot be created: {exc.strerror or exc}",
                             "state-unwritable") from None

    def _open(self) -> sqlite3.Connection:
        try:
            if self.path.is_dir():
                raise self._fail("is a directory", "state-not-a-file")
            if self.path.stat().st_size == 0:
                # SQLite would take an empty file for a new database: here it can only be
                # a truncated state file (new files are created whole, see `_create`).
                raise self._fail("is empty (truncated?); the state it held is lost, "
                                 "remove the file to start over", "state-truncated")
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                 timeout=0.0)
        except OSError as exc:
            raise self._fail(f"cannot be opened: {exc.strerror or exc}",
                             "state-unreadable") from None
        except sqlite3.Error as exc:
            raise self._fail(f"cannot be opened: {exc}", "state-unreadable") from None
        try:
            # Read before writing anything: a foreign file must be left exactly as it was
            # (switching it to WAL mode would rewrite its header).
            db.execute("PRAGMA query_only=ON")
            self._check(db)
            db.execute("PRAGMA query_only=OFF")
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise self._fail(f"cannot use WAL mode (got `{mode}`)", "state-unwritable")
            db.execute(f"PRAGMA synchronous={'FULL' if self.sync == 'full' else 'NORMAL'}")
            db.execute("BEGIN EXCLUSIVE")  # takes the lock now: one process per file
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            db.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise self._fail("is in use by another process", "state-in-use") from None
            raise self._classify(exc) from None
        except sqlite3.DatabaseError as exc:
            db.close()
            raise self._classify(exc) from None
        except StoreError:
            db.close()
            raise
        return db

    def _classify(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "not a database" in text:
            return self._fail("is not a RUNE state file (not a SQLite database)",
                              "state-foreign")
        if "malformed" in text or "corrupt" in text:
            return self._fail(f"is corrupt ({text}); restore it from a backup",
                              "state-corrupt")
        return self._fail(f"cannot be read ({text})", "state-unreadable")

    def _check(self, db: sqlite3.Connection) -> None:
        """Verify the file is an intact RUNE state file for this bundle; read its position.

        Raises:
            StoreError: it is not (sqlite3 errors are classified by the caller).
        """
        check = db.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            problems = "; ".join(str(row[0]) for row in check[:3])
            raise self._fail(f"is corrupt ({problems}); restore it from a backup",
                             "state-corrupt")
        tables = {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables >= _TABLES:
            raise self._fail("is a SQLite database but not a RUNE state file", "state-foreign")
        meta = dict(db.execute("SELECT key, value FROM rune_meta").fetchall())
        if meta.get("format") != FORMAT:
            raise self._fail("is a SQLite database but not a RUNE state file", "state-foreign")
        if meta.get("format_version") != str(FORMAT_VERSION):
            raise self._fail(f"has format version {meta.get('format_version')}, this RUNE "
                             f"reads version {FORMAT_VERSION}", "state-version")
        if meta.get("bundle") != self.bundle:
            raise self._fail(f"belongs to the bundle `{meta.get('bundle')}`, not "
                             f"`{self.bundle}`", "state-wrong-bundle")
        try:
            self._position = int(meta.get("position", ""))
        except ValueError:
            raise self._fail("has no valid position", "state-corrupt") from None

    # -- the ChangeLog protocol ---------------------------------------------------------------

    @property
    def position(self) -> int:
        """The position of the last batch appended."""
        return self._position

    def append(self, changes: Sequence[Change], *, position: int | None = None,
               checkpoint: bool = False) -> int:
        """Store one batch (see `ChangeLog.append`).

        Args:
            changes: the batch.
            position: the position to store it at, for a file that mirrors a shared log
                (the shared log's sequence number); the next position when None.
            checkpoint: the batch replaces the whole state (it rebuilds the written state
                from the bundle alone, as a shared log's snapshot does).

        Raises:
            StoreError: the batch was not stored, or ``position`` is not after the last.
        """
        db = self._db
        if position is None:
            position = self._position + 1
        elif position <= self._position:
            raise self._fail(f"position {position} is not after the last ({self._position})",
                             "state-position")
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                if checkpoint:
                    for table in sorted(_TABLES - {"rune_meta"}):
                        db.execute(f"DELETE FROM {table}")
                    db.execute("DELETE FROM rune_meta WHERE key = 'horizon'")
                for change in changes:
                    self._apply(db, change, position)
                db.execute("UPDATE rune_meta SET value = ? WHERE key = 'position'",
                           (str(position),))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._fail(f"the change was not stored ({exc})", "state-write-failed") \
                from None
        self._position = position
        return position

    @staticmethod
    def _apply(db: sqlite3.Connection, change: Change, position: int) -> None:
        cls = change.__class__
        text = _dumps(change_to_json(change))
        if cls is Record:
            assert isinstance(change, Record)
            db.execute("INSERT OR REPLACE INTO rune_record VALUES (?, ?, ?)",
                       (change.seq, change.at, text))
        elif cls is PutEntity or cls is RemoveEntity:
            uid = change.entity.uid if isinstance(change, PutEntity) else change.uid  # type: ignore[union-attr]
            db.execute("INSERT OR REPLACE INTO rune_entity VALUES (?, ?)",
                       (_dumps(uid.to_json()), text))
        elif cls is AssertFact or cls is RetractFact:
            assert isinstance(change, AssertFact | RetractFact)
            db.execute("INSERT OR REPLACE INTO rune_fact VALUES (?, ?, ?)",
                       (change.relation, _dumps(list(change.row)), text))
        elif cls is Link or cls is Unlink:
            # Links keep the order they were made in (a link's id is its own key).
            link_id = change.link_id  # type: ignore[union-attr]
            db.execute("INSERT OR REPLACE INTO rune_link VALUES (?, ?, ?)",
                       (link_id, position, text))
        elif cls is Approve:
            assert isinstance(change, Approve)
            key = _dumps([change.principal.to_json(), change.action.to_json(),
                          change.resource.to_json()])
            db.execute("INSERT OR REPLACE INTO rune_approval VALUES (?, ?, ?)",
                       (key, change.expires, text))
        else:
            assert isinstance(change, ExpireHistory)
            db.execute("DELETE FROM rune_record WHERE at < ?", (change.before,))
            db.execute("DELETE FROM rune_approval WHERE expires < ?", (change.before,))
            db.execute("INSERT INTO rune_meta VALUES ('horizon', ?) ON CONFLICT(key) DO "
                       "UPDATE SET value = max(CAST(value AS INTEGER), excluded.value)",
                       (str(change.before),))

    def replay(self, after: int = 0) -> Iterator[LogEntry]:
        """The whole state as one checkpoint entry, unless ``after`` is already the
        current position (positions before it are compacted into the state)."""
        if after >= self._position:
            return iter(())
        return iter((LogEntry(self._position, tuple(self._read()), checkpoint=True),))

    def _read(self) -> Iterator[Change]:
        db = self._db
        try:
            horizon = db.execute(
                "SELECT value FROM rune_meta WHERE key = 'horizon'").fetchone()
            queries = ("SELECT change FROM rune_entity", "SELECT change FROM rune_fact",
                       "SELECT change FROM rune_record ORDER BY seq",
                       "SELECT change FROM rune_approval",
                       "SELECT change FROM rune_link ORDER BY position, link_id")
            rows = [text for query in queries for (text,) in db.execute(query)]
        except sqlite3.DatabaseError as exc:
            raise self._classify(exc) from None
        if horizon is not None:
            try:
                yield ExpireHistory(int(horizon[0]))
            except ValueError:
                raise self._fail("has an invalid history horizon", "state-corrupt") from None
        for number, text in enumerate(rows):
            try:
                data = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                raise self._fail(f"holds an unreadable change (#{number + 1})",
                                 "state-corrupt") from None
            try:
                yield change_from_json(data)
            except StoreError as exc:
                raise self._fail(f"holds an invalid change (#{number + 1}): {exc.message} "
                                 f"at {exc.path}", "state-corrupt") from None

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteChangeLog({str(self.path)!r}, position={self._position})"


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
