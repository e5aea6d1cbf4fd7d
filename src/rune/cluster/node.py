"""A RUNE node: an engine kept in step with every other node of a cluster through JetStream.

`Node` starts an `Engine` from the node's local state (a SQLite file holding the written
state at the last stream position it applied), catches up with the stream, and then
follows it: a thread applies every message in stream order, exactly once by sequence —
batches of changes through `Engine.apply_entries` (the same delta path as a local
write), bundle versions through `Engine.reload` (validated first; a bundle that does not
load, or that the writes do not apply to, is refused by every node alike and the
running version stays). Writes on this node (`node.engine.write(...)`, `record`,
`approve`, transactions) are appended to the stream and return once applied here.

A node that starts with no local state, or whose position the stream no longer holds,
starts from the latest snapshot in JetStream, then the tail. One node in the cluster
stores a snapshot every ``snapshot_every`` positions (elected by a KV create).

Decisions never touch the network: they read the engine's current version. Rate limits
and budgets are global through `rune.cluster.leases` (a KV round trip only when a
node's lease runs dry).
"""

from __future__ import annotations

import logging
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rune.cluster.bundles import unpack
from rune.cluster.connection import Connection
from rune.cluster.errors import ClusterError
from rune.cluster.leases import LeasedLimits
from rune.cluster.log import BundleVersion, JetStreamLog, StreamItem
from rune.engine import Engine
from rune.errors import RuneError
from rune.store.changelog import LogEntry

__all__ = ["Node"]

_log = logging.getLogger("rune.cluster")

Observer = Callable[[int, str], None]


class Node:
    """One node of a RUNE cluster (see the module docstring).

    Args:
        bundle: the bundle to start with until one is published to the cluster (a
            published bundle, from `rune publish`, always wins).
        nats: ``nats://host:port`` URL(s) of the NATS server or cluster.
        node_id: this node's name (letters, digits, `-`, `_`).
        state: the local state file (SQLite); None keeps it in memory (the node then
            catches up from a snapshot and the stream at each start).
        cluster: the cluster's name: nodes with the same name share a stream.
        replicas: the stream's replicas when this node creates it (3 on a three-server
            JetStream cluster).
        snapshot_every: store a snapshot every this many stream positions.
        apply_timeout: how long a write waits to be applied here, in seconds.
        lease_seconds: see `rune.cluster.leases`; None keeps limits per node.
        clock: the engine's clock.
        catch_up_timeout: how long the constructor waits to reach the stream's end.

    Raises:
        RuneError: NATS cannot be reached, the stream or state cannot be used, or the
            bundle does not load.
    """

    def __init__(self, bundle: str | Path, *, nats: str | Sequence[str], node_id: str,
                 state: str | Path | None = None, cluster: str = "rune", replicas: int = 1,
                 snapshot_every: int = 10_000, apply_timeout: float = 10.0,
                 lease_seconds: float | None = 1.0, clock: Callable[[], float] = time.time,
                 catch_up_timeout: float = 60.0) -> None:
        from rune.cluster.log import cluster_name

        self.node_id = cluster_name(node_id)
        self.snapshot_every = snapshot_every
        self._observers: list[Observer] = []
        self._stop = threading.Event()
        self._nudged = threading.Event()
        self._inbox: queue.SimpleQueue[StreamItem] = queue.SimpleQueue()
        self._data = Path(tempfile.mkdtemp(prefix=f"rune-node-{self.node_id}-"))
        self.bundle_position = 0
        self.bundle_digest: str | None = None
        self.bundle_failures = 0
        self._warm = False  # the write path is prepared for the running version
        try:
            self.connection = Connection(nats, name=self.node_id)
            self.log = JetStreamLog(self.connection, cluster=cluster, replicas=replicas,
                                    node_id=self.node_id)
            self.log.ensure()
            self.engine = self._start_engine(Path(bundle), state, clock)
            self.engine.share(self.log, apply_timeout=apply_timeout)
            self.limits: LeasedLimits | None = None
            if lease_seconds is not None:
                self.limits = LeasedLimits(self.connection, cluster=self.log.cluster,
                                           replicas=replicas, lease_seconds=lease_seconds)
                self.engine.set_limiter(self.limits)
            end = self.log.last_position()
            self._thread = threading.Thread(target=self._follow, daemon=True,
                                            name=f"rune-follow-{self.node_id}")
            self._thread.start()
            self.log.watch(self._pushed, self.engine.position + 1)
            if not self.wait_for(end, timeout=catch_up_timeout):
                raise ClusterError(f"node `{self.node_id}` did not catch up with the stream "
                                   f"(position {self.engine.position} of {end}) within "
                                   f"{catch_up_timeout:g} s", code="catch-up-timeout")
            self._prepare_writes()
        except BaseException:
            self.close()
            raise

    # -- starting ------------------------------------------------------------------------------
    def _start_engine(self, bundle: Path, state: str | Path | None,
                      clock: Callable[[], float]) -> Engine:
        local = None
        if state is not None:
            from rune.store.sqlite import SQLiteChangeLog

            # Bound to the cluster, not the bundle: bundles change under a node's state.
            # `normal` sync: the stream is the durable copy; a node that loses its last
            # local batches to a power loss reads them again from its stored position.
            local = SQLiteChangeLog(state, bundle=f"rune-cluster:{self.log.cluster}",
                                    sync="normal")
        position = local.position if local is not None else 0
        first, last = self.log.first_position(), self.log.last_position()
        snapshot = None
        if position > last:
            if local is not None:
                local.close()
            # Applying from here would skip the stream's first `position` messages.
            raise ClusterError(f"the state `{state}` is at stream position {position} but "
                               f"the stream `{self.log.stream}` ends at {last} (was it "
                               "deleted and made again?); remove the state file to start "
                               "from the stream", code="state-ahead-of-stream")
        if position + 1 < first and position < last:
            snapshot = self.log.snapshot()
            if snapshot is None or snapshot.position + 1 < first:
                if local is not None:
                    local.close()
                raise ClusterError(f"the stream starts at position {first}, after this "
                                   f"node's {position}, and no snapshot covers the gap",
                                   code="stream-truncated")
        elif last - position > self.snapshot_every:
            snapshot = self.log.snapshot()
            if snapshot is not None and snapshot.position <= position:
                snapshot = None
        start = snapshot.position if snapshot is not None else position
        published = self.log.bundle_at(start) if start else None
        path = bundle
        if published is not None:
            path = self._unpacked(published)
            self.bundle_position, self.bundle_digest = published.position, published.digest
        try:
            engine = Engine.load(path, clock=clock, state=local)
            if snapshot is not None:
                engine.apply_entries([snapshot])
        except BaseException:
            if local is not None:
                local.close()
            raise
        return engine

    # A published version is unpacked in the same place as the one before it, `running`,
    # so that its files have the names the running version's had: what did not change is
    # then taken from the running version instead of being parsed and compiled again
    # (`Engine.reload`; file names are part of what a compiled rule program holds).
    def _unpacked(self, version: BundleVersion) -> Path:
        """Unpack ``version`` as the running bundle's files, keeping the running
        version's files aside (`_settle` drops or restores them); the path to load."""
        incoming, running, previous = (self._data / name
                                       for name in ("incoming", "running", "previous"))
        shutil.rmtree(incoming, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)
        entry = unpack(version.archive, incoming).relative_to(incoming)
        if running.exists():
            running.rename(previous)
        incoming.rename(running)
        return running / entry

    def _settle(self, loaded: bool) -> None:
        """Drop the previous version's files once the new one is loaded, or put them
        back when it was refused (the running version is the previous one)."""
        running, previous = self._data / "running", self._data / "previous"
        if loaded:
            shutil.rmtree(previous, ignore_errors=True)
        elif previous.exists():
            shutil.rmtree(running, ignore_errors=True)
            previous.rename(running)

    def _prepare_writes(self) -> None:
        """Prepare the write path of the running version (see `Engine.prepare_writes`):
        once started, and after a swap once the stream is quiet."""
        try:
            self.engine.prepare_writes()
        except Exception:  # only an optimisation: the first write then prepares it
            _log.exception("node %s: preparing the write path failed", self.node_id)
        self._warm = True

    # -- following the stream ----------------------------------------------------------------
    def _pushed(self, item: StreamItem | None) -> None:
        """A message the stream pushed (on the connection's thread): queue it."""
        if item is not None:
            self._inbox.put(item)
        self._nudged.set()

    def _follow(self) -> None:
        """Apply the stream in order, one message at a time, until the node closes.

        Messages pushed by the stream are applied as they come when they are the next
        position; a gap, a quiet quarter second, or a failure sends the node to read
        the stream itself, position after position, to its end."""
        failing = False
        while not self._stop.is_set():
            nudged = self._nudged.wait(0.25)
            self._nudged.clear()
            if not nudged and not self._warm:
                # A quiet quarter second after a swap: prepare the new version's write
                # path now, rather than on a message (a burst of versions or writes
                # does not wait for it; the first write after it does not pay it).
                self._prepare_writes()
            try:
                if nudged and self._drain():
                    continue  # every pushed message applied, none missing
                while not self._stop.is_set():
                    item = self.log.item(self.engine.position + 1)
                    if item is None:
                        if self.engine.position + 1 < self.log.first_position():
                            self._restore()
                            continue
                        break
                    self._apply(item)
                if failing:
                    _log.warning("node %s: following the stream again at position %d",
                                 self.node_id, self.engine.position)
                failing = False
            except RuneError as exc:
                if not failing:
                    _log.warning("node %s: cannot follow the stream (%s); deciding from "
                                 "version %d until it can", self.node_id, exc.message,
                                 self.engine.version)
                failing = True
                self._stop.wait(0.25)
            except Exception:  # the follower must outlive any surprise; retry
                _log.exception("node %s: error while following the stream", self.node_id)
                failing = True
                self._stop.wait(0.5)

    def _drain(self) -> bool:
        """Apply the pushed messages; False when none came or one is missing (then the
        node reads the stream)."""
        complete, applied = True, False
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return complete and applied
            position = self.engine.position
            if item.position == position + 1:
                self._apply(item)
                applied = True
            elif item.position > position + 1:
                complete = False  # a gap: the stream is read from `position + 1`

    def _apply(self, item: StreamItem) -> None:
        if isinstance(item, BundleVersion):
            self._swap(item)
            self.engine.apply_entries([LogEntry(item.position, (), time=item.time)])
            kind = "bundle"
        else:
            self.engine.apply_entries([item])
            kind = "changes"
            if self.snapshot_every and item.position % self.snapshot_every == 0:
                self._snapshot(item.position)
        for observer in self._observers:
            observer(item.position, kind)

    def _swap(self, version: BundleVersion) -> None:
        """Load a published bundle version; keep the running one if it is refused."""
        try:
            path = self._unpacked(version)
            self.engine.reload(source=path)
        except BaseException as exc:
            self._settle(loaded=False)
            if not isinstance(exc, RuneError):
                raise
            self.bundle_failures += 1
            _log.error("node %s: bundle %s (position %d) refused, version %d keeps "
                       "serving: %s", self.node_id, version.digest[:12], version.position,
                       self.engine.version, exc)
            return
        self._settle(loaded=True)
        self._warm = False
        self.bundle_position, self.bundle_digest = version.position, version.digest
        _log.info("node %s: bundle %s (position %d) is version %d", self.node_id,
                  version.digest[:12], version.position, self.engine.version)

    def _restore(self) -> None:
        snapshot = self.log.snapshot()
        if snapshot is None or snapshot.position + 1 < self.log.first_position():
            raise ClusterError("the stream no longer holds this node's next position and "
                               "no snapshot covers it", code="stream-truncated")
        published = self.log.bundle_at(snapshot.position)
        if published is not None and published.digest != self.bundle_digest:
            self._swap(published)
        self.engine.apply_entries([snapshot])

    def _snapshot(self, position: int) -> None:
        """Store a snapshot at ``position`` if this node wins the election for it."""
        from nats.js.errors import KeyWrongLastSequenceError

        if self.limits is None:
            return
        try:
            kv = self.limits.kv()
            self.connection.run(kv.create(f"snapshot.{position}", self.node_id.encode()))
        except KeyWrongLastSequenceError:
            return  # another node stores this one
        except Exception as exc:
            _log.warning("node %s: no snapshot at %d: %s", self.node_id, position, exc)
            return
        entry = self.engine.checkpoint()
        try:
            self.log.put_snapshot(entry)
        except RuneError as exc:
            _log.warning("node %s: the snapshot at %d was not stored: %s", self.node_id,
                         entry.position, exc.message)

    # -- for callers -------------------------------------------------------------------------
    @property
    def position(self) -> int:
        """The stream position this node has applied."""
        return self.engine.position

    def observe(self, observer: Observer) -> None:
        """Call ``observer(position, kind)`` after each message is applied (on the
        follower's thread; ``kind`` is "changes" or "bundle")."""
        self._observers.append(observer)

    def wait_for(self, position: int, timeout: float = 10.0) -> bool:
        """Wait until this node has applied ``position``; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.engine.position < position:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def close(self) -> None:
        """Stop following, close the engine's state and the connection."""
        self._stop.set()
        self._nudged.set()
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join(timeout=5.0)
        engine: Any = getattr(self, "engine", None)
        if engine is not None:
            engine.close()
        connection = getattr(self, "connection", None)
        if connection is not None:
            connection.close()
        shutil.rmtree(self._data, ignore_errors=True)

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
