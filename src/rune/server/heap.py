"""The server's heap and the cyclic garbage collector: what is loaded once is frozen.

A loaded engine is tens of thousands of long-lived objects, some of them large
containers (entity indexes, fact sets) whose traversal visits every member. CPython's
oldest-generation collection walks all of them: about 12 ms for the benchmark's small
bundle on an idle core (`benchmarks/server.py`), every few thousand requests, and
every request in flight waits for it: the p99 latency is that pause. Freezing the heap
once the engine is loaded (`gc.freeze`) moves those objects to a permanent generation
that collections skip, so a collection walks only what requests allocated since.

Frozen objects are never collected, so a reload that replaces the engine unfreezes
first, collects the previous version's cycles, and freezes the new one
(`refreeze_heap`): the pause is paid once per reload, not every few thousand requests.
Objects the engine creates after the freeze (writes, a cluster node's new versions)
stay in the ordinary generations and are collected as usual; what the freeze can keep
is at most one loaded version's cyclic garbage.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_heap", "refreeze_heap"]


def freeze_heap() -> None:
    """Collect the garbage of loading, then freeze every object that survives, so that
    the collections serving requests skip them."""
    gc.collect()
    gc.freeze()


def refreeze_heap() -> None:
    """After a reload: when the heap was frozen (`freeze_heap`), unfreeze it, collect
    what the previous version left, and freeze again; else do nothing."""
    if gc.get_freeze_count():
        gc.unfreeze()
        freeze_heap()
