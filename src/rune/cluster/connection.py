"""One NATS connection driven from synchronous code: an asyncio loop in its own thread.

The engine is synchronous and decides on the caller's thread; nats-py is asyncio. A
`Connection` owns an event loop running in a daemon thread and the `nats` client on it;
`run` submits a coroutine and waits for its result with a deadline. Nothing on the
decision path goes through here except a lease refill (see `rune.cluster.leases`).

The client reconnects forever (every `reconnect_seconds`) and buffers nothing while
disconnected (``pending_size=0``): a publish during an outage fails at once instead of
being sent later, so a write either is acknowledged or fails, never lands after its
caller was told it failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from rune.cluster.errors import ClusterError

__all__ = ["Connection"]

_log = logging.getLogger("rune.cluster")
T = TypeVar("T")


class Connection:
    """A NATS connection for synchronous callers.

    Args:
        servers: ``nats://host:port`` URLs (one server, or several of one cluster).
        name: the client name the server shows (the node id).
        timeout: the default deadline of `run`, in seconds.
        reconnect_seconds: the pause between reconnection attempts.

    Raises:
        ClusterError: (`nats-unavailable`) no server answered.
    """

    def __init__(self, servers: str | Sequence[str], *, name: str = "rune",
                 timeout: float = 5.0, reconnect_seconds: float = 0.25) -> None:
        import nats

        self.servers = [servers] if isinstance(servers, str) else list(servers)
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"rune-nats-{name}")
        self._thread.start()
        self.connected = threading.Event()

        self._closing = False

        async def disconnected() -> None:
            self.connected.clear()
            if not self._closing:
                _log.warning("node %s: disconnected from NATS", name)

        async def reconnected() -> None:
            self.connected.set()
            _log.warning("node %s: reconnected to NATS", name)

        async def error(exc: Exception) -> None:
            _log.debug("node %s: NATS: %s", name, exc)

        try:
            self.client: Any = self.run(nats.connect(
                servers=self.servers, name=name, connect_timeout=2,
                reconnect_time_wait=reconnect_seconds, max_reconnect_attempts=-1,
                allow_reconnect=True, pending_size=0, disconnected_cb=disconnected,
                reconnected_cb=reconnected, error_cb=error), timeout=max(timeout, 5.0))
        except Exception as exc:
            self._stop_loop()
            raise ClusterError(f"cannot connect to NATS at `{', '.join(self.servers)}`: "
                               f"{_describe(exc)}", code="nats-unavailable") from None
        self.connected.set()
        self.jetstream: Any = self.client.jetstream(timeout=timeout)

    def run(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``work`` on the connection's loop and return its result.

        Raises:
            TimeoutError: it took longer than ``timeout`` (the default when None).
            Exception: whatever ``work`` raised.
        """
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(self.timeout if timeout is None else timeout)
        except TimeoutError:
            future.cancel()
            raise

    def submit(self, work: Coroutine[Any, Any, Any]) -> None:
        """Start ``work`` on the loop without waiting for it."""
        asyncio.run_coroutine_threadsafe(work, self._loop)

    def close(self) -> None:
        """Close the connection and stop the loop."""
        self._closing = True
        with contextlib.suppress(Exception):  # closing a broken connection: best effort
            self.run(self.client.close(), timeout=2.0)
        with contextlib.suppress(Exception):
            self.run(_cancel_tasks(), timeout=2.0)
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self._loop.close()


async def _cancel_tasks() -> None:
    """Cancel what the client left running (a consumer's heartbeat checks, say)."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
