"""The server's frozen heap: what a reload replaces is collected, not kept forever."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from rune.server.heap import freeze_heap, refreeze_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def thawed() -> Iterator[None]:
    """The test process's heap unfrozen again afterwards (the tests share it)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _cycle() -> weakref.ref[_Node]:
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return weakref.ref(first)


@pytest.mark.usefixtures("thawed")
def test_freeze_moves_the_loaded_heap_out_of_collections() -> None:
    freeze_heap()
    assert gc.get_freeze_count() > 0
    cycle = _cycle()
    gc.collect()
    assert cycle() is None  # what is made after the freeze is collected as usual


@pytest.mark.usefixtures("thawed")
def test_a_refreeze_collects_what_the_freeze_kept() -> None:
    cycle = _cycle()
    gc.freeze()  # (the cycle is garbage already: frozen, a collection skips it)
    gc.collect()
    assert cycle() is not None
    refreeze_heap()
    assert cycle() is None
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("thawed")
def test_refreeze_does_nothing_to_a_heap_never_frozen() -> None:
    refreeze_heap()
    assert gc.get_freeze_count() == 0
