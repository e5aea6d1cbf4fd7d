"""Building a version of the store from scratch, and the pieces writes share with it.

A version is built whole when an engine starts or reloads: the rules are evaluated over
the written entities and facts, what they derive is materialized into the Cedar entity
store, and the policies are prepared. Writes (`rune.engine.writes`) change a version
incrementally through the same per-entity functions (`derived_data`, `materialize`,
`conform`), so both paths give identical versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from rune.cedar import Entities, EntityUID, PolicySet
from rune.cedar.entities import MAX_HIERARCHY_DEPTH
from rune.cedar.json_format import EntityData
from rune.cedar.values import CedarRecord
from rune.engine.errors import EngineError
from rune.engine.snapshot import FactsView, Snapshot, WrittenEntities

if TYPE_CHECKING:
    from rune.cedar.index import PreparedPolicySet
    from rune.cedar.schema import Schema

__all__ = ["RulesInfo", "build_snapshot", "conform", "derived_data", "materialize",
           "rules_info"]

Row = tuple[Any, ...]
# The relations through which rules feed Cedar (see `rune.store.mapping`).
DERIVED = ("derived_parent", *(f"derived_{place}{suffix}" for place in ("attr", "tag")
                               for suffix in ("", "_num", "_bool", "_entity", "_ext")))


@dataclass(frozen=True, slots=True)
class RulesInfo:
    """What the engine needs to know about a rule set, worked out once per program.

    Attributes:
        request_scoped: some rule reads the request (`request`, `context`, `now`).
        cacheable: decisions depend only on the request and the version (no output
            depends on both the request and the time).
        feeds_history: some rule reads `performed` or `spent`; when none does, recorded
            history is kept beside the rules' result rather than in it, and a record costs
            nothing there.
    """

    request_scoped: bool
    cacheable: bool
    feeds_history: bool


def rules_info(program: Any) -> RulesInfo:
    """Analyse ``program`` (a `rune.datalog.Program` over the prelude).

    Raises:
        EngineError: rules derive entity data from the request.
    """
    from rune.datalog.analysis.dependencies import clause_dependencies
    from rune.store.prelude import HISTORY_RELATIONS, REQUEST_RELATIONS

    readers: dict[str, set[str]] = {}  # body relation -> heads reading it
    for rule in program.analysed.rules:
        for dep in clause_dependencies(rule.clause):
            readers.setdefault(dep.body, set()).add(dep.head)

    def closure(roots: Iterable[str], edges: Mapping[str, set[str]]) -> set[str]:
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            for nxt in edges.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    request_dependent = closure(REQUEST_RELATIONS, readers)
    bad = sorted(set(DERIVED) & request_dependent)
    if bad:
        raise EngineError(
            f"`{bad[0]}` depends on the request: entity data derived by rules must not "
            "read `request`, `context` or `now`", code="request-dependent-entity-data")
    time_dependent = closure(("now", *HISTORY_RELATIONS), readers)
    return RulesInfo(
        request_scoped=bool(request_dependent),
        cacheable=not (request_dependent & time_dependent),
        feeds_history=any(name in readers for name in HISTORY_RELATIONS),
    )


# -- derived entity data -------------------------------------------------------------------

@dataclass(slots=True)
class Derived:
    """What rules derive for one entity: parents, attributes and tags."""

    parents: set[EntityUID]
    attrs: dict[str, Any]
    tags: dict[str, Any]


def _uid_of(text: str, relation: str) -> EntityUID:
    from rune.store.mapping import parse_uid_text

    uid = parse_uid_text(text)
    if uid is None:
        raise EngineError(f"`{relation}` names `{text}`, which is not an entity uid "
                          "(write it as Type::\"id\")", code="invalid-derived-uid")
    return uid


def derived_data(rows: Mapping[str, Iterable[Row]]) -> dict[EntityUID, Derived]:
    """Group the rows of the `derived_*` relations by entity, each value of its kind.

    Raises:
        EngineError: a row names something that is not a uid, holds a value that is not of
            its relation's kind, or rules derive two values for one attribute or tag.
    """
    from rune.store.mapping import derived_value, name_of, text_of

    out: dict[EntityUID, Derived] = {}

    def slot(text: str, relation: str) -> Derived:
        uid = _uid_of(text, relation)
        found = out.get(uid)
        if found is None:
            found = out[uid] = Derived(set(), {}, {})
        return found

    for child, parent in rows.get("derived_parent", ()):
        slot(child, "derived_parent").parents.add(_uid_of(parent, "derived_parent"))
    for relation in DERIVED[1:]:
        place, suffix = ("attrs", relation[len("derived_attr"):]) \
            if relation.startswith("derived_attr") else ("tags", relation[len("derived_tag"):])
        for row in rows.get(relation, ()):
            target = getattr(slot(row[0], relation), place)
            name = name_of(text_of(row[1]))
            try:
                value = derived_value(suffix, row[2:])
            except ValueError as exc:
                raise EngineError(f"`{relation}` derives `{_uid_of(row[0], relation)}`.{name}"
                                  f": {exc}", code="invalid-derived-value") from None
            if name in target and (target[name] != value
                                   or target[name].__class__ is not value.__class__):
                raise EngineError(f"`{relation}` derives two values for "
                                  f"`{_uid_of(row[0], relation)}`.{name}",
                                  code="conflicting-derived-value")
            target[name] = value
    return out


def materialize(uid: EntityUID, written: EntityData | None, derived: Derived | None
                ) -> EntityData | None:
    """The entity as Cedar sees it: as written plus what rules derive for it (None when
    neither exists).

    Raises:
        EngineError: rules derive an attribute the entity already sets to another value.
    """
    if derived is None:
        return written
    base = written or EntityData(uid, CedarRecord(), (), CedarRecord())
    attrs = CedarRecord(base.attrs)
    for name, value in derived.attrs.items():
        old = base.attrs.get(name, _ABSENT)
        if old is not _ABSENT and (old != value or old.__class__ is not value.__class__):
            raise EngineError(f"rules derive `{uid}`.{name}, which the entity already "
                              "sets to another value", code="conflicting-derived-value")
        attrs[name] = value
    tags = CedarRecord(base.tags)
    tags.update(derived.tags)
    parents = tuple(dict.fromkeys((*base.parents, *sorted(derived.parents))))
    return EntityData(uid, attrs, parents, tags)


def conform(items: list[EntityData], schema: Schema) -> list[EntityData]:
    """``items`` checked against ``schema`` as Cedar's entity parser does (derived data
    included). Action entities among them are checked against the schema's and left
    out, as are the schema's own action entities.

    Raises:
        EntitiesError: an entity does not conform (with its JSON path).
    """
    from rune.cedar.schema.typed_json import is_action_type

    plain = sum(1 for d in items if not is_action_type(d.uid.type))
    # The parser returns the other entities in order, then the schema's actions.
    return schema.parse_entities(_json_items(items))[:plain]


def store_of(materialized: Mapping[EntityUID, EntityData], schema: Schema | None,
             max_depth: int) -> Entities:
    """The Cedar entity store of ``materialized`` (checked against ``schema``, whose
    action entities it then holds too), at most ``max_depth`` levels deep."""
    if schema is None:
        return Entities.from_data(materialized.values(), max_depth=max_depth)
    return Entities.from_data(schema.parse_entities(_json_items(materialized.values())),
                              schema=schema, max_depth=max_depth)


def _json_items(items: Iterable[EntityData]) -> list[dict[str, Any]]:
    from rune.cedar.json_format import value_to_json

    return [{"uid": d.uid.to_json(),
             "attrs": {k: value_to_json(v) for k, v in d.attrs.items()},
             "parents": [p.to_json() for p in d.parents],
             "tags": {k: value_to_json(v) for k, v in d.tags.items()}}
            for d in items]


_ABSENT = object()


# -- whole versions --------------------------------------------------------------------------

def written_view(written: Mapping[EntityUID, EntityData], store: Entities, *, exact: bool
                 ) -> WrittenEntities:
    """The entities as written, read through ``store`` where it holds the same data
    (``exact``: the store was built from exactly these entities)."""
    if exact:
        return WrittenEntities(store)
    differs: dict[EntityUID, EntityData | None] = {}
    for uid, entity in store._by_uid.items():
        data = written.get(uid)
        if data is None or data != entity.data():
            differs[uid] = data
    return WrittenEntities(store, differs)


def fact_relations(facts: Mapping[str, Iterable[Row]], arities: Mapping[str, int]
                   ) -> dict[str, Any]:
    """User facts and history as versioned relations (`rune.datalog.relation.Relation`),
    by name; relations without rows are left out."""
    from rune.datalog.relation import Relation

    out: dict[str, Any] = {}
    for name, rows in facts.items():
        rows = set(rows)
        if rows:
            out[name] = Relation(name, arities.get(name, len(next(iter(rows)))), rows)
    return out


def build_snapshot(*, version: int, policies: PolicySet, schema: Schema | None,
                   entities: Mapping[EntityUID, EntityData],
                   facts: Mapping[str, Iterable[Row]], rules: Any,
                   approvals: Mapping[Any, float],
                   prepared: PreparedPolicySet | None = None,
                   info: RulesInfo | None = None,
                   max_depth: int = MAX_HIERARCHY_DEPTH,
                   rule_limits: Any = None) -> Snapshot:
    """Evaluate the rules over the store, materialize derived entity data, compile.

    ``entities`` are the entities as written, ``facts`` the rules' input facts by
    relation (recorded history included). ``prepared`` and ``info`` reuse what an
    earlier version of the same policies and rules already worked out. ``rule_limits``
    (a `rune.datalog.Limits`) bounds the request rules of each decision.

    Raises:
        RuneError: the rules fail, derive invalid entity data, or the entities do not
            conform to the schema.
    """
    result = None
    materialized: Mapping[EntityUID, EntityData] = entities
    relations: dict[str, Any] = {}
    if rules is not None:
        from rune.engine.request_rules import RequestRules
        from rune.store.mapping import entity_facts
        from rune.store.prelude import HISTORY_RELATIONS

        info = info or rules_info(rules)
        relations = fact_relations(facts, {n: rules.arity(n) for n in facts
                                           if n in rules.relation_names})
        inputs: dict[str, list[Row]] = dict(entity_facts(entities.values()))
        for name, relation in relations.items():
            if name in HISTORY_RELATIONS and not info.feeds_history:
                continue  # no rule reads history: it stays beside the result
            inputs.setdefault(name, []).extend(relation.tuples)
        result = rules.evaluate(inputs)
        derived = derived_data({name: result[name] for name in DERIVED})
        if derived:
            out = dict(entities)
            for uid, found in derived.items():
                data = materialize(uid, entities.get(uid), found)
                assert data is not None
                out[uid] = data
            materialized = out
    elif facts:
        relations = fact_relations(facts, {})
    store = store_of(materialized, schema, max_depth)
    return Snapshot(
        version=version, policies=policies,
        prepared=prepared if prepared is not None else policies.prepared(), schema=schema,
        entity_data=written_view(entities, store, exact=schema is None and rules is None),
        entities=store, facts=FactsView(relations), rules=rules, result=result,
        approvals=MappingProxyType(dict(approvals)),
        request_scoped=info.request_scoped if info is not None else False,
        cacheable=info.cacheable if info is not None else True,
        request_rules=None if result is None or info is None
        else RequestRules(result, info.request_scoped, rule_limits),
        ask_policies=MappingProxyType({
            p.id: p.annotations["ask"] for p in policies if "ask" in p.annotations}),
        info=info,
    )
