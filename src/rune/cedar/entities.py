"""The entity store: entities in Cedar's JSON format with the `in` relation closed at load."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from rune.cedar.errors import EntitiesError
from rune.cedar.json_format import (
    EntityData,
    EntitySharing,
    entities_data_from_json,
    entity_uid_from_json,
    value_to_json,
)
from rune.cedar.values import CedarRecord, EntityUID

if TYPE_CHECKING:
    from rune.cedar.schema import Schema

__all__ = ["Entities", "Entity", "entity_entry_paths"]

_EMPTY: frozenset[EntityUID] = frozenset()
# An entity's ancestors: a tuple when there are few (a set of 5-16 members takes 728+
# bytes, a tuple about 100, and scanning a few interned uids costs about as much as a
# hash lookup), a frozenset beyond. Either answers `in`; set operations use `frozenset(..)`.
_TUPLE_ANCESTORS_MAX = 16
Ancestors = frozenset[EntityUID] | tuple[EntityUID, ...]

# How many levels of parents a store accepts. Each entity keeps its ancestors closed (so
# `in` costs one lookup on the request path), and a chain of n levels holds n*(n-1)/2
# ancestor references: 256 levels cost about 2 MB, 1,000 about 30 MB, 10,000 would cost
# gigabytes. Real hierarchies (org charts, folder trees, group nesting) stay under a few
# dozen levels; deeper input is refused at once with `hierarchy-too-deep`. Bundles set it
# with `[limits] max_hierarchy_depth`.
MAX_HIERARCHY_DEPTH = 256


class Entity:
    """One entity: uid, attributes, direct parents, all ancestors and tags.

    ``ancestors`` is the transitive closure of ``parents``, computed once when the
    store is built, so `in` needs no walk on the request path (see `Ancestors`).
    """

    # Direct parents are kept as written (a tuple, shared among entities with the same
    # parents); `ancestors`, which the request path reads, is closed.
    __slots__ = ("ancestors", "attrs", "parent_uids", "tags", "uid")

    def __init__(
        self,
        uid: EntityUID,
        attrs: CedarRecord,
        parents: Iterable[EntityUID],
        tags: CedarRecord,
        ancestors: Ancestors = _EMPTY,
    ) -> None:
        self.uid = uid
        self.attrs = attrs
        self.parent_uids = tuple(parents)  # the same tuple when given one
        self.tags = tags
        self.ancestors = ancestors

    @property
    def parents(self) -> frozenset[EntityUID]:
        """The direct parents."""
        return frozenset(self.parent_uids)

    def data(self) -> EntityData:
        """The entity as read from JSON (parents in the order written)."""
        return EntityData(self.uid, self.attrs, self.parent_uids, self.tags)

    def __repr__(self) -> str:
        return f"Entity({self.uid}, attrs={self.attrs!r}, parents={sorted(map(str, self.parents))})"

    def to_json(self) -> dict[str, Any]:
        """The entity in Cedar's JSON format."""
        out: dict[str, Any] = {
            "uid": self.uid.to_json(),
            "attrs": {k: value_to_json(v) for k, v in self.attrs.items()},
            "parents": [p.to_json() for p in sorted(self.parents, key=str)],
        }
        if self.tags:
            out["tags"] = {k: value_to_json(v) for k, v in self.tags.items()}
        return out


class Entities(Mapping[EntityUID, Entity]):
    """An immutable set of entities, indexed by uid, with the hierarchy closed.

    Build with `Entities.from_json` (Cedar's JSON entity format) or `Entities.from_data`.
    """

    __slots__ = ("_by_uid", "_children", "_max_depth", "schema")

    def __init__(self, by_uid: dict[EntityUID, Entity], schema: Schema | None = None) -> None:
        self._by_uid = by_uid
        self.schema = schema
        # parent uid -> the uids naming it as a direct parent (dangling parents included),
        # and the count of stale edges it lists: see `_children_index`. Built on the first
        # `patched` call and carried from version to version after.
        self._children: tuple[dict[EntityUID, tuple[EntityUID, ...]], int] | None = None
        self._max_depth = MAX_HIERARCHY_DEPTH

    # -- construction -------------------------------------------------------------------
    @classmethod
    def empty(cls) -> Entities:
        """A store with no entities."""
        return cls({})

    @classmethod
    def from_json(cls, data: Any, schema: Schema | None = None) -> Entities:
        """Load entities from Cedar's JSON format: a list of entity objects, or its JSON text.

        With a ``schema``, attribute values are parsed and checked against the declared
        types (implicit `__entity`/`__extn` escapes allowed) and the schema's action
        entities are added.

        Raises:
            EntitiesError: malformed JSON, a malformed entity, a duplicate uid, or (with a
                schema) an entity that does not conform; the error names the JSON path
                (of both entries, for a duplicate).
        """
        try:
            return cls.from_data(cls.parse_json(data, schema), schema=schema)
        except _DuplicateEntity as duplicate:
            raise duplicate.located(data) from None

    @staticmethod
    def parse_json(data: Any, schema: Schema | None = None) -> list[EntityData]:
        """Parse Cedar's JSON entity format (a list, or its JSON text) into entity data,
        without building a store; with a ``schema`` its action entities are included.

        Raises:
            EntitiesError: as `from_json` describes (every bad entity of the list).
        """
        try:
            return Entities._parse_json(data, schema)
        except RecursionError:
            raise EntitiesError("entity data is nested too deeply", code="nesting-too-deep",
                                path="$") from None
        except EntitiesError:
            raise
        except ValueError as error:  # json's limit on the digits of an integer, for one
            reason = str(error)
            raise EntitiesError(f"invalid JSON: {reason[:1].lower()}{reason[1:]}",
                                code="invalid-json", path="$") from None

    @staticmethod
    def _parse_json(data: Any, schema: Schema | None) -> list[EntityData]:
        if data.__class__ is str and schema is None:
            try:
                return entities_data_from_json(_json_list_items(data))
            except (json.JSONDecodeError, _NotAJsonList):
                pass  # json.loads below reports the problem as it always has
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise EntitiesError(
                    f"invalid JSON: {exc.msg}", code="invalid-json",
                    path=f"line {exc.lineno} column {exc.colno}",
                ) from None
        if not isinstance(data, list):
            raise EntitiesError("entities must be a JSON list", code="invalid-entities", path="$")
        if schema is None:
            return entities_data_from_json(data)
        return list(schema.parse_entities(data))

    @classmethod
    def from_data(cls, items: Iterable[EntityData], schema: Schema | None = None, *,
                  max_depth: int = MAX_HIERARCHY_DEPTH) -> Entities:
        """Build a store from parsed entity data, closing the parent relation.

        Raises:
            EntitiesError: a duplicate uid, a cycle, or a hierarchy deeper than
                ``max_depth`` levels (`hierarchy-too-deep`, see `MAX_HIERARCHY_DEPTH`).
        """
        by_uid: dict[EntityUID, Entity] = {}
        shared = EntitySharing()
        repeats: dict[EntityUID, int] = {}  # touched only by duplicates
        for item in items:
            if item.uid in by_uid:
                previous = by_uid[item.uid]
                repeat = repeats[item.uid] = repeats.get(item.uid, 0) + 1
                # Cedar accepts an identical duplicate (e.g. an action listed both in the
                # schema and in the data) but rejects conflicting ones.
                if (previous.attrs == item.attrs and previous.parents == frozenset(item.parents)
                        and previous.tags == item.tags):
                    continue
                raise _DuplicateEntity(item.uid, repeat)
            uid = shared.uid(item.uid)
            by_uid[uid] = Entity(uid, shared.record(item.attrs), shared.parents(item.parents),
                                 shared.record(item.tags))
        _close_ancestors(by_uid, max_depth=max_depth)
        store = cls(by_uid, schema)
        store._max_depth = max_depth
        return store

    def patched(self, changes: Mapping[EntityUID, EntityData | None]
                ) -> tuple[Entities, frozenset[EntityUID]]:
        """A new store with ``changes`` applied (None removes the entity), leaving this
        one unchanged; and the uids whose `Entity` object differs between the two.

        Costs what the change touches: the uid table is copied (a C-level copy), changed
        entities are rebuilt, and ancestors are recomputed only for entities whose own
        parents changed and their descendants (adding or removing an entity changes its
        descendants' ancestors too).

        Raises:
            EntitiesError: the change closes a cycle in the hierarchy.
        """
        by_uid = dict(self._by_uid)
        children, stale = self._children_index()
        added: dict[EntityUID, tuple[EntityUID, ...]] = {}
        shared = EntitySharing()
        rehome: set[EntityUID] = set()  # entities whose ancestors must be recomputed
        touched: set[EntityUID] = set()
        for uid, data in changes.items():
            old = by_uid.get(uid)
            if data is None:
                if old is None:
                    continue
                del by_uid[uid]
                stale += len(old.parent_uids)
                touched.add(uid)
                rehome.update(children.get(uid, ()))
                continue
            uid = shared.uid(uid)
            entity = Entity(uid, shared.record(data.attrs), shared.parents(data.parents),
                            shared.record(data.tags))
            old_parents = old.parent_uids if old is not None else ()
            if old is None or old_parents != entity.parent_uids:
                for parent in entity.parent_uids:
                    if parent not in old_parents:
                        added[parent] = (*added.get(parent, children.get(parent, ())), uid)
                stale += sum(1 for parent in old_parents if parent not in entity.parent_uids)
                rehome.add(uid)
            else:
                entity.ancestors = old.ancestors
            if old is None:
                # Entities that named it as a dangling parent now reach its ancestors.
                rehome.update(children.get(uid, ()))
            by_uid[uid] = entity
            touched.add(uid)
        if added:
            children = {**children, **added}
        if rehome:
            touched |= _reclose_ancestors(by_uid, children, rehome, self._max_depth)
        store = Entities(by_uid, self.schema)
        store._max_depth = self._max_depth
        if stale <= len(by_uid):
            store._children = (children, stale)
        # else: too many stale edges; the next patch indexes the new store afresh
        return store, frozenset(touched)

    def _children_index(self) -> tuple[dict[EntityUID, tuple[EntityUID, ...]], int]:
        """parent -> the uids that name it as a direct parent, and how many stale edges
        the lists hold. INVARIANT: every real edge is listed; an edge removed since the
        index was built may still be (it is counted as stale), and readers check an edge
        against the child's parents before following it."""
        found = self._children
        if found is None:
            lists: dict[EntityUID, list[EntityUID]] = {}
            for uid, entity in self._by_uid.items():
                for parent in entity.parent_uids:
                    lists.setdefault(parent, []).append(uid)
            found = self._children = ({p: tuple(kids) for p, kids in lists.items()}, 0)
        return found

    # -- Mapping protocol ---------------------------------------------------------------
    def __getitem__(self, uid: EntityUID) -> Entity:
        return self._by_uid[uid]

    def __iter__(self) -> Iterator[EntityUID]:
        return iter(self._by_uid)

    def __len__(self) -> int:
        return len(self._by_uid)

    def __contains__(self, uid: object) -> bool:
        return uid in self._by_uid

    def get(self, uid: EntityUID, default: Any = None) -> Any:
        return self._by_uid.get(uid, default)

    def ancestors(self, uid: EntityUID) -> frozenset[EntityUID]:
        """All entities `uid` is transitively `in` (excluding itself)."""
        entity = self._by_uid.get(uid)
        return frozenset(entity.ancestors) if entity is not None else _EMPTY

    def is_descendant(self, uid: EntityUID, ancestor: EntityUID) -> bool:
        """Cedar's `uid in ancestor` for two entity references."""
        if uid == ancestor:
            return True
        entity = self._by_uid.get(uid)
        return entity is not None and ancestor in entity.ancestors

    def to_json(self) -> list[dict[str, Any]]:
        """All entities in Cedar's JSON format."""
        return [e.to_json() for e in self._by_uid.values()]

    def __repr__(self) -> str:
        return f"Entities({len(self._by_uid)} entities)"


class _DuplicateEntity(EntitiesError):
    """Two entries for one uid with different data; ``repeat`` counts the entries for
    ``uid`` before the conflicting one (so 1 for the second entry)."""

    def __init__(self, uid: EntityUID, repeat: int) -> None:
        super().__init__(f"duplicate entity entry `{uid}` with different data",
                         code="duplicate-entity")
        self.uid = uid
        self.repeat = repeat

    def located(self, data: Any) -> EntitiesError:
        """The same error at the JSON path of the conflicting entry of ``data`` (the list
        the entities were read from), naming the path of the first."""
        paths = entity_entry_paths(data, self.uid)
        if self.repeat >= len(paths):  # not from the data (e.g. a schema's action)
            return EntitiesError(self.message, code=self.code)
        return EntitiesError(f"{self.message}: the first entry is `{paths[0]}`",
                             code=self.code, path=paths[self.repeat])


def entity_entry_paths(data: Any, uid: EntityUID) -> list[str]:
    """The JSON paths (`$[i]`) of the entries of ``data`` whose uid is ``uid``, in order.

    ``data`` is the JSON list of entities (or its text) that loaded without error; this
    is for locating duplicates after the fact, so it costs nothing until one is found.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            return []
    if not isinstance(data, list):
        return []
    paths: list[str] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "uid" not in item:
            continue
        try:
            if entity_uid_from_json(item["uid"], f"$[{i}].uid") == uid:
                paths.append(f"$[{i}]")
        except EntitiesError:
            continue
    return paths


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class _NotAJsonList(Exception):
    """The text is not a well-formed JSON list (json.loads says what is wrong)."""


def _skip_whitespace(text: str, i: int) -> int:
    match = _WHITESPACE.match(text, i)
    return i if match is None else match.end()


def _json_list_items(text: str) -> Iterator[Any]:
    """The items of the JSON list ``text``, decoded one at a time.

    Equivalent to iterating `json.loads(text)` for a well-formed list, but only one
    item's objects are alive at a time: decoding a large entity file whole would leave
    the interpreter's heap fragmented by the freed tree long after the entities are
    built. Malformed text raises `json.JSONDecodeError` or `_NotAJsonList`, possibly
    after some items; the caller then lets `json.loads` report it.
    """
    decode = _DECODER.raw_decode
    n = len(text)
    i = _skip_whitespace(text, 0)
    if i >= n or text[i] != "[":
        raise _NotAJsonList
    i = _skip_whitespace(text, i + 1)
    if i < n and text[i] == "]":
        i += 1
    else:
        while True:
            item, i = decode(text, i)
            yield item
            i = _skip_whitespace(text, i)
            if i < n and text[i] == ",":
                i = _skip_whitespace(text, i + 1)
            elif i < n and text[i] == "]":
                i += 1
                break
            else:
                raise _NotAJsonList
    if _skip_whitespace(text, i) != n:
        raise _NotAJsonList


def _reclose_ancestors(by_uid: dict[EntityUID, Entity],
                       children: Mapping[EntityUID, tuple[EntityUID, ...]],
                       roots: set[EntityUID], max_depth: int) -> set[EntityUID]:
    """Recompute the ancestors of ``roots`` and of all their descendants in ``by_uid``
    (replacing their `Entity` objects, which older stores still share); the others keep
    theirs, which cannot have changed: no changed parent edge lies above them. Returns
    the uids whose entity was replaced.

    Raises:
        EntitiesError: the hierarchy has a cycle.
    """
    stale: set[EntityUID] = set()
    stack = list(roots)
    while stack:
        uid = stack.pop()
        if uid in stale:
            continue
        stale.add(uid)
        for child in children.get(uid, ()):
            entity = by_uid.get(child)
            if entity is not None and uid in entity.parent_uids:  # the edge still exists
                stack.append(child)
    stale &= by_uid.keys()
    for uid in stale:
        old = by_uid[uid]
        fresh = Entity(uid, old.attrs, old.parent_uids, old.tags)
        by_uid[uid] = fresh
    _close_ancestors(by_uid, only=stale, max_depth=max_depth)
    return stale


def _close_ancestors(by_uid: dict[EntityUID, Entity],
                     only: set[EntityUID] | None = None,
                     max_depth: int = MAX_HIERARCHY_DEPTH) -> None:
    """Compute every entity's transitive ancestors (memoized iterative DFS); with
    ``only``, just those entities', reading the others' ancestors as already computed.

    Raises:
        EntitiesError: the parent relation has a cycle (Cedar rejects those too), or is
            deeper than ``max_depth`` levels.
    """
    done: dict[EntityUID, Ancestors] = {}
    depth: dict[EntityUID, int] = {}  # levels of parents above each entity done
    # Many entities share the same ancestors (agents of the same teams): keep one copy.
    # Small closures are deduplicated as sorted tuples, so no set per entity is ever
    # allocated (thousands of short-lived sets would leave the heap fragmented).
    shared_small: dict[tuple[EntityUID, ...], tuple[EntityUID, ...]] = {}
    shared_large: dict[frozenset[EntityUID], frozenset[EntityUID]] = {}
    for root in (by_uid if only is None else only):
        if root in done:
            continue
        # Iterative post-order DFS so deep hierarchies do not hit the recursion limit.
        stack: list[tuple[EntityUID, Iterator[EntityUID]]] = [
            (root, iter(by_uid[root].parent_uids))
        ]
        on_stack = {root}
        while stack:
            uid, it = stack[-1]
            advanced = False
            for parent in it:
                if parent in on_stack:
                    raise EntitiesError(
                        f"the entity hierarchy has a cycle containing `{parent}`",
                        code="hierarchy-cycle",
                    )
                if parent in done or parent not in by_uid or (
                        only is not None and parent not in only):
                    continue
                stack.append((parent, iter(by_uid[parent].parent_uids)))
                on_stack.add(parent)
                advanced = True
                break
            if advanced:
                continue
            stack.pop()
            on_stack.discard(uid)
            parents = by_uid[uid].parent_uids
            if not parents:
                done[uid] = _EMPTY
                depth[uid] = 0
                continue
            level = 1 + max(_depth_of(p, depth, by_uid, max_depth) for p in parents)
            if level > max_depth:
                raise EntitiesError(
                    f"the entity hierarchy is more than {max_depth} levels deep at `{uid}` "
                    "(the limit bounds the memory ancestors take; see MAX_HIERARCHY_DEPTH)",
                    code="hierarchy-too-deep")
            depth[uid] = level
            acc: set[EntityUID] = set(parents)
            for parent in parents:
                closed_above = done.get(parent)
                if closed_above is None:
                    found = by_uid.get(parent) if only is not None else None
                    closed_above = found.ancestors if found is not None else _EMPTY
                acc.update(closed_above)
            if len(acc) <= _TUPLE_ANCESTORS_MAX:
                small = tuple(sorted(acc))
                done[uid] = shared_small.setdefault(small, small)
            else:
                closed = frozenset(acc)
                done[uid] = shared_large.setdefault(closed, closed)
    for uid in (by_uid if only is None else only):
        by_uid[uid].ancestors = done[uid]


def _depth_of(uid: EntityUID, depth: dict[EntityUID, int], by_uid: Mapping[EntityUID, Entity],
              max_depth: int) -> int:
    """Levels of parents above ``uid``: computed already, 0 for an entity not in the store,
    else (an entity whose ancestors were closed before) bounded by its ancestor count and
    walked exactly only when that bound could pass ``max_depth``."""
    found = depth.get(uid)
    if found is not None:
        return found
    entity = by_uid.get(uid)
    if entity is None:
        return 0
    if len(entity.ancestors) < max_depth:
        return len(entity.ancestors)  # an upper bound, enough to stay under the limit
    # Exact: the longest chain of existing parents, by iterative post-order.
    stack: list[tuple[EntityUID, Iterator[EntityUID]]] = [(uid, iter(entity.parent_uids))]
    while stack:
        current, it = stack[-1]
        for parent in it:
            if parent not in depth and parent in by_uid:
                stack.append((parent, iter(by_uid[parent].parent_uids)))
                break
        else:
            stack.pop()
            depth[current] = 1 + max((depth.get(p, 0) for p in by_uid[current].parent_uids
                                      if p in by_uid), default=-1)
    return depth[uid]
