"""Global rate limits and budgets: allowances leased from a JetStream KV bucket.

"5 per minute per agent" must mean 5 across every node, yet a decision must not wait
for the network. Each node holds *leases*: a slice of a limit granted to it by a
compare-and-set on one KV key per limit (``RUNE_<cluster>_kv``, key ``lease.<hash>``).
A decision spends from the node's leases in memory; only when they run dry does the
node take a new lease (one KV round trip, then many decisions without one).

The KV value lists the grants still relevant: ``[granted_at, amount]`` pairs. A grant
is made only when the grants of the last ``window + lease_seconds`` plus the new one
stay within the limit, and a node spends a lease only within ``lease_seconds`` of its
grant (what is left then is forgotten, never carried over). So the admissions of any
window of ``window`` seconds come from grants of one span of ``window + lease_seconds``
seconds, which the compare-and-set kept within the limit: **while connected, the nodes
together never admit more than the limit**. The price is some under-admission: a lease
left unspent when it expires is lost for its window, and the extra ``lease_seconds`` of
accounting make the limit a little stricter (leases are small near the limit: a quarter
of what is left, at most a sixteenth of the limit, so the last units go one at a time).

During a partition (NATS unreachable) a node spends only the leases it holds (at most
``lease_seconds`` more), then denies every request a limit applies to, with the
limit's usual reason: limits fail closed, and over-admission stays zero. A decision
that needs a new lease waits for the bucket at most ``timeout`` (1 s; at once when the
connection is known to be down), and only decisions under a limit ever wait. The only
over-admission is from clock skew between nodes: grant times are the granting node's
clock, so with clocks ``s`` seconds apart up to the grants of ``s`` seconds at a
window's edge may be counted in the wrong window. Keep clocks in sync (NTP).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import Any

from rune.cluster.connection import Connection

__all__ = ["LeasedLimits"]

_log = logging.getLogger("rune.cluster")
_ATTEMPTS = 32  # compare-and-set retries under contention before the request is denied


class _Leases:
    __slots__ = ("grants", "lock", "spent_until")

    def __init__(self) -> None:
        self.grants: list[list[float]] = []  # [granted_at, remaining], oldest first
        self.lock = threading.Lock()
        # The limit is spent cluster-wide until then (grants only leave by time): no
        # need to ask again before.
        self.spent_until = 0.0


class LeasedLimits:
    """A `rune.engine.limits.Limiter` shared by every node of a cluster.

    Args:
        connection: the node's NATS connection.
        cluster: the cluster's name (the bucket is ``RUNE_<cluster>_kv``).
        replicas: the bucket's replicas when this node creates it.
        lease_seconds: how long a node may spend a lease after it was granted.
        timeout: the deadline of one KV round trip, in seconds (then the request is
            denied).
    """

    def __init__(self, connection: Connection, *, cluster: str, replicas: int = 1,
                 lease_seconds: float = 1.0, timeout: float = 1.0) -> None:
        self.connection = connection
        self.bucket = f"RUNE_{cluster}_kv"
        self.replicas = replicas
        self.lease_seconds = lease_seconds
        self.timeout = timeout
        self._leases: dict[str, _Leases] = {}
        self._kv: Any = None
        self._warned = False
        self.round_trips = 0  # KV round trips made (for tests and metrics)

    def kv(self) -> Any:
        """The coordination bucket (created when missing)."""
        if self._kv is None:
            from nats.js.api import KeyValueConfig, StorageType

            js = self.connection.jetstream
            self._kv = self.connection.run(js.create_key_value(KeyValueConfig(
                bucket=self.bucket, history=1, storage=StorageType.FILE,
                replicas=self.replicas)))
        return self._kv

    # -- the Limiter protocol ----------------------------------------------------------------
    def try_acquire(self, key: str, limit: int, window_seconds: float, now: float,
                    amount: int = 1) -> bool:
        """Spend ``amount`` of ``limit`` from this node's leases, leasing more when they
        run dry; False when the cluster has no more to give (or cannot be reached)."""
        if amount > limit:
            return False
        if amount <= 0:
            return True
        leases = self._leases.get(key)
        if leases is None:
            leases = self._leases.setdefault(key, _Leases())
        with leases.lock:
            grants = leases.grants
            while grants and grants[0][0] + self.lease_seconds <= now:
                grants.pop(0)  # INVARIANT: a lease is spent only within lease_seconds
            if sum(g[1] for g in grants) < amount:
                if now < leases.spent_until:
                    return False
                granted, spent_until = self._lease(key, limit, window_seconds, now, amount,
                                                   grants)
                if not granted:
                    leases.spent_until = spent_until
                    return False
                grants.append([now, granted])
            left: float = amount
            for grant in grants:
                take = min(left, grant[1])
                grant[1] -= take
                left -= take
                if not left:
                    break
            while grants and grants[0][1] <= 0 and len(grants) > 1:
                grants.pop(0)
            return True

    def release(self, key: str, now: float, amount: int = 1) -> None:
        """Give back ``amount`` taken by `try_acquire` (to this node's newest lease)."""
        leases = self._leases.get(key)
        if leases is None:
            return
        with leases.lock:
            if leases.grants:
                leases.grants[-1][1] += amount

    # -- leasing -----------------------------------------------------------------------------
    def _lease(self, key: str, limit: int, window: float, now: float, amount: int,
               held: list[list[float]]) -> tuple[int, float]:
        """Lease at least ``amount`` more (what the node holds is kept), by compare-and-
        set on the limit's key: (the size granted, 0.0), or (0, until when the limit is
        spent) when it is, or (0, 0.0) when NATS cannot be reached."""
        try:
            # INVARIANT: a decision waits at most `timeout` for the bucket, then is denied.
            return self.connection.run(self._cas(key, limit, window, now, amount),
                                       timeout=self.timeout)
        except Exception as exc:  # fail closed: no lease, the request is denied
            if not self._warned:
                self._warned = True
                _log.warning("cannot lease from the limits bucket (%s: %s): requests under "
                             "a rate limit or budget are denied until NATS is back",
                             type(exc).__name__, exc)
            return 0, 0.0

    async def _cas(self, key: str, limit: int, window: float, now: float, amount: int
                   ) -> tuple[int, float]:
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        kv = self._kv if self._kv is not None else await self._create()
        name = "lease." + hashlib.sha256(
            f"{key}\x00{limit}\x00{window!r}".encode()).hexdigest()[:40]
        horizon = now - window - self.lease_seconds
        for _ in range(_ATTEMPTS):
            self.round_trips += 1
            revision = 0
            grants: list[list[float]] = []
            try:
                entry = await kv.get(name)
                revision = entry.revision
                grants = [g for g in json.loads(entry.value or b"[]") if g[0] > horizon]
            except KeyNotFoundError:
                pass
            used = sum(g[1] for g in grants)
            left = int(limit - used)
            if left < amount:
                self._warned = False  # NATS answers: the next failure is worth a warning
                return 0, _spent_until(grants, amount - left, window + self.lease_seconds)
            size = int(min(max(amount, min(limit // 16, left // 4)), left))
            grants.append([now, size])
            value = json.dumps(grants, separators=(",", ":")).encode()
            try:
                if revision:
                    await kv.update(name, value, last=revision)
                else:
                    await kv.create(name, value)
            except KeyWrongLastSequenceError:
                continue  # another node leased first: read again
            self._warned = False
            return size, 0.0
        return 0, 0.0

    async def _create(self) -> Any:
        from nats.js.api import KeyValueConfig, StorageType

        js = self.connection.jetstream
        self._kv = await js.create_key_value(KeyValueConfig(
            bucket=self.bucket, history=1, storage=StorageType.FILE, replicas=self.replicas))
        return self._kv


def _spent_until(grants: list[list[float]], needed: float, span: float) -> float:
    """When enough of ``grants`` leave the accounting span to free ``needed``."""
    freed = 0.0
    for granted_at, amount in sorted(grants):
        freed += amount
        if freed >= needed:
            return granted_at + span
    return 0.0
