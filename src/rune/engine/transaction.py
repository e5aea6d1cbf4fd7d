"""Atomic batches of writes: `with engine.transaction() as tx: ...`.

A transaction collects writes, records and approvals, each checked when it is made (a
bad one raises at once, with its JSON path), and publishes them as one version when the
`with` block ends. An exception inside the block publishes nothing; so does a batch the
engine refuses as a whole (the rules fail on it, say). Readers never see part of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rune.engine.errors import EngineError

if TYPE_CHECKING:
    from rune.engine.engine import Engine
    from rune.store.changes import Change

__all__ = ["Transaction"]


class Transaction:
    """A batch of changes to one engine, published at the end of its `with` block.

    Attributes:
        version: the version the batch was published as (None until then, or when the
            block raised).
    """

    __slots__ = ("_changes", "_engine", "_state", "version")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._changes: list[Change] = []
        self._state = "new"
        self.version: int | None = None

    def __enter__(self) -> Transaction:
        if self._state != "new":
            raise EngineError("a transaction can be used once", code="transaction-reused")
        self._state = "open"
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._state = "closed"
        if kind is None:
            self.version = self._engine._commit(self._changes)
        self._changes = []

    def _add(self, changes: Iterable[Change]) -> None:
        if self._state != "open":
            raise EngineError("the transaction is not open: use `with engine.transaction() "
                              "as tx:`", code="transaction-closed")
        self._changes.extend(changes)

    def __len__(self) -> int:
        """The number of changes collected so far."""
        return len(self._changes)

    def write(self, *, entities: Any = None, remove_entities: Iterable[Any] = (),
              facts: Mapping[str, Iterable[Sequence[Any]]] | None = None,
              retract: Mapping[str, Iterable[Sequence[Any]]] | None = None) -> None:
        """Add the changes of `Engine.write` to the batch."""
        self._add(self._engine._write_changes(entities, remove_entities, facts, retract))

    def record(self, principal: Any, action: Any, resource: Any, *,
               at: float | None = None, amount: int | None = None) -> None:
        """Add the record of `Engine.record` to the batch."""
        self._add((self._engine._record_change(principal, action, resource, at, amount),))

    def approve(self, principal: Any, action: Any, resource: Any, *,
                ttl_seconds: float | None = None) -> None:
        """Add the approval of `Engine.approve` to the batch."""
        self._add((self._engine._approval_change(principal, action, resource, ttl_seconds),))

    def link(self, template_id: str, link_id: str, *, principal: Any = None,
             resource: Any = None) -> None:
        """Add the link of `Engine.link` to the batch."""
        self._add((self._engine._link_change(template_id, link_id, principal, resource,
                                             self._changes),))

    def unlink(self, link_id: str) -> None:
        """Add the removal of `Engine.unlink` to the batch."""
        self._add((self._engine._unlink_change(link_id, self._changes),))
