"""Errors raised by a RUNE cluster: NATS unreachable, a stream that cannot be used, a
bundle that cannot be published or read."""

from __future__ import annotations

from rune.store.changes import StoreError

__all__ = ["ClusterError"]


class ClusterError(StoreError):
    """A cluster operation failed (a `StoreError`: a write that fails with it published
    nothing on this node)."""

    code = "cluster-error"
