"""The replicated change log: one NATS JetStream stream that every node appends to.

A cluster named ``C`` keeps one stream, ``RUNE_C``, with two subjects:

* ``rune.C.changes``: one message per batch of changes (`rune.store.changes` JSON);
* ``rune.C.bundle``: one message per published bundle version (the bundle's archive,
  see `rune.cluster.bundles`).

Both share the stream's sequence, so bundle swaps and writes have one total order:
every node applies both in that order and reaches the same state at each position. The
stream's sequence is the `LogEntry.position`, and the time JetStream stored a message
is its `LogEntry.time`.

Acknowledged means JetStream acknowledged the message: it is stored on the stream's
file storage, on a majority of its replicas (R3: two of three servers), before the ack
is sent. With the default file storage a server flushes to the operating system at once
and fsyncs every two minutes (`sync_interval`), so an acknowledged batch survives the
crash of a node, of a server process, and (with R3) the loss of one server; it can be
lost only if a majority of the stream's servers lose power within the sync interval.

Snapshots (`put_snapshot`, `snapshot`) live in an object store, ``RUNE_C_snapshots``: the
whole written state at a position, so a node that starts empty, or finds the stream
truncated before its position, catches up from the snapshot and then the tail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rune.cluster.connection import Connection
from rune.cluster.errors import ClusterError
from rune.store.changelog import LogEntry
from rune.store.changes import Change, StoreError, change_from_json, change_to_json

__all__ = ["BundleVersion", "JetStreamLog", "StreamItem", "cluster_name"]

_log = logging.getLogger("rune.cluster")
FORMAT_VERSION = 1
_NODE_HEADER = "Rune-Node"
_DIGEST_HEADER = "Rune-Bundle-Digest"


@dataclass(frozen=True, slots=True)
class BundleVersion:
    """A bundle version published to the stream (the archive of `rune.cluster.bundles`)."""

    position: int
    digest: str
    archive: bytes
    time: float


StreamItem = LogEntry | BundleVersion


@dataclass(frozen=True, slots=True)
class _Message:
    """A pushed message in the shape `_parse` reads."""

    subject: str
    seq: int
    data: bytes
    headers: dict[str, str] | None
    seconds: int


def cluster_name(name: str) -> str:
    """``name`` checked as a cluster name (letters, digits, `-` and `_`).

    Raises:
        ClusterError: (`invalid-cluster-name`) it is not one.
    """
    if not name or len(name) > 64 or not all(c.isascii() and (c.isalnum() or c in "-_")
                                             for c in name):
        raise ClusterError(f"invalid cluster name `{name}`: use 1 to 64 letters, digits, "
                           "`-` or `_`", code="invalid-cluster-name")
    return name


class JetStreamLog:
    """A `rune.store.ChangeLog` on a JetStream stream, shared by every node of a cluster.

    Args:
        connection: the node's NATS connection.
        cluster: the cluster's name (the stream is ``RUNE_<cluster>``).
        replicas: the stream's replicas when this log creates it (1, or 3 on a
            three-server JetStream cluster).
        node_id: written on each batch (for operators reading the stream).
        timeout: how long an append waits for the acknowledgement, in seconds.
    """

    def __init__(self, connection: Connection, *, cluster: str = "rune", replicas: int = 1,
                 node_id: str = "", timeout: float = 5.0) -> None:
        self.connection = connection
        self.cluster = cluster_name(cluster)
        self.stream = f"RUNE_{self.cluster}"
        self.changes_subject = f"rune.{self.cluster}.changes"
        self.bundle_subject = f"rune.{self.cluster}.bundle"
        self.snapshots = f"RUNE_{self.cluster}_snapshots"
        self.replicas = replicas
        self.node_id = node_id
        self.timeout = timeout
        self._snapshot_store: Any = None

    # -- the stream --------------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the stream when it does not exist (its configuration is kept if it does).

        Raises:
            ClusterError: JetStream is not enabled or unreachable.
        """
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        js = self.connection.jetstream

        async def ensure() -> None:
            try:
                await js.stream_info(self.stream)
                return
            except NotFoundError:
                pass
            config = StreamConfig(
                name=self.stream, subjects=[self.changes_subject, self.bundle_subject],
                storage=StorageType.FILE, num_replicas=self.replicas,
                duplicate_window=120.0)
            await js.add_stream(config)

        self._call(ensure(), "the stream cannot be used")

    def last_position(self) -> int:
        """The sequence of the last message stored (0 when none)."""
        return int(self._info().state.last_seq or 0)

    def first_position(self) -> int:
        """The sequence of the first message still stored (1 when none was removed)."""
        info = self._info()
        return int(info.state.first_seq or 1)

    def _info(self) -> Any:
        return self._call(self.connection.jetstream.stream_info(self.stream),
                          "the stream cannot be read")

    # -- the ChangeLog protocol --------------------------------------------------------------
    def append(self, changes: Sequence[Change]) -> int:
        """Append one batch; return its stream sequence once JetStream acknowledged it.

        Raises:
            ClusterError: `nats-unavailable` (NATS cannot be reached: nothing was sent),
                `write-unacknowledged` (sent, but no acknowledgement came in time: the
                batch may or may not be stored, and will then be applied), or
                `write-refused` (JetStream refused it, or it is larger than NATS allows).
        """
        payload = json.dumps({"v": FORMAT_VERSION, "changes": [change_to_json(c)
                                                               for c in changes]},
                             separators=(",", ":"), allow_nan=False).encode()
        return self._publish(self.changes_subject, payload, {_NODE_HEADER: self.node_id})

    def publish_bundle(self, archive: bytes, digest: str) -> int:
        """Append a bundle version (see `rune.cluster.bundles.publish`); its sequence.

        Raises:
            ClusterError: as `append`.
        """
        return self._publish(self.bundle_subject, archive,
                             {_NODE_HEADER: self.node_id, _DIGEST_HEADER: digest})

    def _publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> int:
        import nats.errors
        import nats.js.errors

        client = self.connection.client
        if len(payload) > client.max_payload:
            raise ClusterError(f"the message is {len(payload)} bytes, more than NATS allows "
                               f"({client.max_payload}); nothing was stored",
                               code="write-refused")
        js = self.connection.jetstream
        try:
            ack = self.connection.run(js.publish(subject, payload, timeout=self.timeout,
                                                 stream=self.stream, headers=headers),
                                      timeout=self.timeout + 1.0)
        except (nats.errors.OutboundBufferLimitError, nats.errors.ConnectionClosedError,
                nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError) as exc:
            raise ClusterError(f"NATS cannot be reached, nothing was stored: "
                               f"{type(exc).__name__}", code="nats-unavailable") from None
        except (TimeoutError, nats.errors.TimeoutError):
            raise ClusterError(f"no acknowledgement from JetStream within {self.timeout:g} "
                               "s: the write may or may not be stored (if it is, every node "
                               "applies it)", code="write-unacknowledged") from None
        except nats.js.errors.APIError as exc:
            raise ClusterError(f"JetStream refused the write: {exc.description}",
                               code="write-refused") from None
        return int(ack.seq)

    def replay(self, after: int = 0) -> Iterator[LogEntry]:
        """The batches stored after ``after`` up to the end of the stream now (a bundle
        version is an empty batch here: it changes no written state).

        Raises:
            ClusterError: the stream cannot be read, or no longer holds ``after + 1``.
        """
        last = self.last_position()
        if after + 1 < self.first_position() and after < last:
            raise ClusterError(f"the stream no longer holds position {after + 1} (start "
                               "from a snapshot)", code="stream-truncated")
        for position in range(after + 1, last + 1):
            item = self.item(position)
            if item is None:
                break
            yield item if isinstance(item, LogEntry) else LogEntry(position, (),
                                                                   time=item.time)

    def close(self) -> None:
        """Nothing to release: the connection belongs to the node."""

    # -- reading messages --------------------------------------------------------------------
    def item(self, position: int) -> StreamItem | None:
        """The message at ``position``, or None when none is stored there yet.

        Raises:
            ClusterError: the stream cannot be read, or the message is not RUNE's.
        """
        from nats.js.errors import NotFoundError

        js = self.connection.jetstream

        async def get() -> Any:
            try:
                return await js.get_msg(self.stream, seq=position)
            except NotFoundError:
                return None

        message = self._call(get(), "the stream cannot be read")
        if message is None:
            return None
        return self._parse(message)

    def _parse(self, message: Any) -> StreamItem:
        position = int(message.seq)
        # Whole seconds, read alike from a pushed message and a fetched one: engines
        # expire history by this time, so every node must see the same value.
        when = float(message.seconds) if isinstance(message, _Message) else \
            float(int(message.time.timestamp())) if message.time is not None else None
        data = message.data or b""
        if message.subject == self.bundle_subject:
            digest = (message.headers or {}).get(_DIGEST_HEADER, "")
            return BundleVersion(position, str(digest), data, when or 0.0)
        try:
            body = json.loads(data)
            if body.__class__ is not dict or body.get("v") != FORMAT_VERSION \
                    or body.get("changes").__class__ is not list:
                raise ValueError("not a batch")
            changes = tuple(change_from_json(c, f"$.changes[{i}]")
                            for i, c in enumerate(body["changes"]))
        except (ValueError, RecursionError, StoreError) as exc:
            # A message no RUNE node wrote: every node skips it alike (an empty batch).
            _log.error("stream %s: message %d is not a RUNE batch and is skipped: %s",
                       self.stream, position, exc)
            changes = ()
        return LogEntry(position, changes, time=when)

    def bundle_at(self, position: int) -> BundleVersion | None:
        """The last bundle version published at or before ``position``, if any.

        Raises:
            ClusterError: the stream cannot be read.
        """
        from nats.js.errors import NotFoundError

        js = self.connection.jetstream

        async def scan() -> Any:
            found = None
            start = 1
            while start <= position:
                try:
                    message = await js.get_msg(self.stream, seq=start,
                                               subject=self.bundle_subject, next=True)
                except NotFoundError:
                    break
                if message.seq > position:
                    break
                found = message
                start = message.seq + 1
            return found

        message = self._call(scan(), "the stream cannot be read")
        if message is None:
            return None
        item = self._parse(message)
        assert isinstance(item, BundleVersion)
        return item

    def watch(self, deliver: Callable[[StreamItem | None], None], start: int) -> None:
        """Push every message from position ``start`` on to ``deliver`` as it is stored
        (an ordered JetStream consumer, on the connection's thread): the fast path of a
        node. It may skip or repeat messages across reconnections, so a node applies by
        position and reads any gap with `item`; ``deliver(None)`` says a message came
        that could not be read (a prompt to read the stream)."""
        from nats.js.api import ConsumerConfig, DeliverPolicy

        async def on_message(message: Any) -> None:
            try:
                deliver(self._pushed(message))
            except Exception:  # a message no RUNE node wrote: read it from the stream
                deliver(None)

        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                opt_start_seq=max(start, 1))
        self._call(self.connection.jetstream.subscribe(
            f"rune.{self.cluster}.*", stream=self.stream, ordered_consumer=True,
            config=config, idle_heartbeat=1.0, cb=on_message),
            "cannot follow the stream")

    def _pushed(self, message: Any) -> StreamItem:
        """A message an ordered consumer delivered, read as `item` reads it."""
        tokens = message.reply.split(".")
        if len(tokens) == 9:  # the reply subject without a domain
            position, nanoseconds = int(tokens[5]), int(tokens[7])
        else:
            position, nanoseconds = int(tokens[7]), int(tokens[9])
        return self._parse(_Message(message.subject, position, message.data,
                                    message.headers, nanoseconds // 1_000_000_000))

    # -- snapshots ---------------------------------------------------------------------------
    def put_snapshot(self, entry: LogEntry) -> None:
        """Store a checkpoint entry (`Engine.checkpoint`) as the latest snapshot.

        Raises:
            ClusterError: it could not be stored.
        """
        body = json.dumps({"v": FORMAT_VERSION, "position": entry.position,
                           "changes": [change_to_json(c) for c in entry.changes]},
                          separators=(",", ":"), allow_nan=False).encode()

        async def put() -> None:
            store = await self._store()
            await store.put("latest", body)

        self._call(put(), "the snapshot was not stored", timeout=max(self.timeout, 30.0))

    def snapshot(self) -> LogEntry | None:
        """The latest snapshot as a checkpoint entry, or None when there is none.

        Raises:
            ClusterError: the snapshot cannot be read, or is not one.
        """
        from nats.js.errors import ObjectNotFoundError

        async def get() -> bytes | None:
            store = await self._store()
            try:
                found = await store.get("latest")
            except ObjectNotFoundError:
                return None
            return bytes(found.data or b"")

        body = self._call(get(), "the snapshot cannot be read", timeout=max(self.timeout, 30.0))
        if body is None:
            return None
        try:
            data = json.loads(body)
            changes = tuple(change_from_json(c) for c in data["changes"])
            position = data["position"]
            if position.__class__ is not int or data.get("v") != FORMAT_VERSION:
                raise ValueError("bad position")
        except (ValueError, KeyError, TypeError, RecursionError, StoreError) as exc:
            raise ClusterError(f"the snapshot in `{self.snapshots}` is not valid: {exc}",
                               code="snapshot-invalid") from None
        return LogEntry(position, changes, checkpoint=True)

    async def _store(self) -> Any:
        if self._snapshot_store is None:
            from nats.js.api import ObjectStoreConfig, StorageType

            js = self.connection.jetstream
            self._snapshot_store = await js.create_object_store(
                self.snapshots, config=ObjectStoreConfig(
                    storage=StorageType.FILE, replicas=self.replicas))
        return self._snapshot_store

    # -- errors ------------------------------------------------------------------------------
    def _call(self, work: Any, what: str, *, timeout: float | None = None) -> Any:
        try:
            return self.connection.run(work, timeout=timeout or self.timeout)
        except ClusterError:
            raise
        except Exception as exc:
            raise ClusterError(f"{what}: {type(exc).__name__}: {exc}".rstrip(": "),
                               code="nats-unavailable") from None
