"""Load a bundle directory, reporting every error of every file at once.

Layout (every part optional except at least one policy file)::

    rune.toml              settings (see `Settings`)
    policies/*.cedar       Cedar policies; ids are the `@id("...")` annotation when present
    rules/*.dl             Datalog rules (the built-in relations are predeclared)
    schema.cedarschema     a Cedar schema (or schema.json, the JSON form)
    entities/*.json        entities in Cedar's JSON format
    facts/<relation>.facts tab-separated input facts for the rules, as Soufflé reads them

Nothing is half-loaded: a bundle with errors raises `BundleError` carrying every
diagnostic with file:line:column or file and JSON path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rune.cedar.entities import Entities
from rune.cedar.json_format import EntityData
from rune.cedar.policy_set import Policy, PolicySet
from rune.cedar.values import EntityUID
from rune.engine.errors import EngineError
from rune.errors import Diagnostic, RuneError

if TYPE_CHECKING:
    from rune.cedar.schema import Schema

__all__ = ["Bundle", "BundleError", "Settings", "load_bundle", "named_policies"]


class BundleError(EngineError):
    """A bundle that does not load; `diagnostics` holds every problem found."""

    code = "bundle-error"


@dataclass(frozen=True, slots=True)
class Settings:
    """`rune.toml`: `[engine] approval_ttl_seconds = 3600`."""

    approval_ttl_seconds: float = 3600.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Bundle:
    """Everything a bundle holds, parsed and checked."""

    path: Path
    policies: PolicySet
    schema: Schema | None
    entities: dict[EntityUID, EntityData]
    rules: Any  # rune.datalog.Program | None
    facts: dict[str, frozenset[tuple[Any, ...]]]
    settings: Settings


def named_policies(policies: PolicySet) -> PolicySet:
    """The same policies, each renamed to its `@id` annotation where it has one."""
    renamed: list[Policy] = []
    seen: set[str] = set()
    for p in policies:
        new_id = p.annotated_id or p.id
        if new_id in seen:
            raise EngineError(f"two policies have the id `{new_id}`", code="duplicate-policy-id")
        seen.add(new_id)
        renamed.append(p.with_id(new_id))
    return PolicySet.from_policies(renamed, tuple(policies.templates))


def load_bundle(path: str | Path) -> Bundle:
    """Load and check a bundle directory.

    Raises:
        BundleError: every problem in every file (the caller keeps what it had).
    """
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"bundle `{root}` is not a directory", code="bundle-not-found")
    problems: list[Diagnostic] = []

    def collect(error: RuneError, file: Path) -> None:
        for d in error.diagnostics:
            if d.span is not None:
                problems.append(Diagnostic(d.code, d.message, d.span, d.path,
                                           d.source or error.source))
            else:
                problems.append(Diagnostic(d.code, d.message, None, f"{file}: {d.path or '$'}"))

    settings = Settings()
    toml = root / "rune.toml"
    if toml.exists():
        import tomllib

        try:
            data = tomllib.loads(toml.read_text())
            engine = data.get("engine", {})
            settings = Settings(float(engine.get("approval_ttl_seconds", 3600.0)), data)
        except (tomllib.TOMLDecodeError, ValueError, TypeError) as exc:
            problems.append(Diagnostic("invalid-settings", str(exc), None, str(toml)))

    policies: list[Policy] = []
    files = sorted((root / "policies").glob("*.cedar")) if (root / "policies").is_dir() else []
    if not files:
        problems.append(Diagnostic("no-policies", "the bundle has no `policies/*.cedar` file",
                                   None, str(root)))
    for file in files:
        try:
            policies.extend(PolicySet.from_str(file.read_text(), file=str(file)))
        except RuneError as exc:
            collect(exc, file)
    policy_set = PolicySet()
    try:
        numbered = [p.with_id(f"policy{i}") for i, p in enumerate(policies)]
        policy_set = named_policies(PolicySet.from_policies(numbered))
    except RuneError as exc:
        collect(exc, root / "policies")

    schema: Schema | None = None
    for name in ("schema.cedarschema", "schema.json"):
        file = root / name
        if file.exists():
            from rune.cedar.schema import Schema

            try:
                text = file.read_text()
                schema = (Schema.from_json(text) if name.endswith(".json")
                          else Schema.from_str(text, file=str(file)))
            except RuneError as exc:
                collect(exc, file)

    entities: dict[EntityUID, EntityData] = {}
    entity_dir = root / "entities"
    for file in sorted(entity_dir.glob("*.json")) if entity_dir.is_dir() else []:
        try:
            for item in Entities.parse_json(file.read_text(), schema):
                uid = item.uid
                if uid in entities and entities[uid] == item:
                    continue  # e.g. the schema's action entities, added for every file
                if uid in entities:
                    problems.append(Diagnostic("duplicate-entity",
                                               f"entity `{uid}` is defined twice", None,
                                               str(file)))
                entities[uid] = item
        except RuneError as exc:
            collect(exc, file)

    rules = None
    rule_files = sorted((root / "rules").glob("*.dl")) if (root / "rules").is_dir() else []
    if rule_files:
        from rune.datalog import Program
        from rune.engine.prelude import prelude

        text = "".join(f'#include "{f.resolve()}"\n' for f in rule_files) + prelude()
        try:
            rules = Program.parse(text, file=str(root / "rules" / "<bundle>"))
        except RuneError as exc:
            collect(exc, root / "rules")

    facts: dict[str, frozenset[tuple[Any, ...]]] = {}
    fact_dir = root / "facts"
    for file in sorted(fact_dir.glob("*.facts")) if fact_dir.is_dir() else []:
        name = file.stem
        if rules is None or name not in rules.relation_names:
            problems.append(Diagnostic("unknown-relation",
                                       f"no rule declares the relation `{name}`", None, str(file)))
            continue
        numeric = [str(k) in ("number", "unsigned") for k in rules.kinds(name)]
        rows = []
        for n, line in enumerate(file.read_text().splitlines(), 1):
            if not line.strip():
                continue
            cells = line.split("\t")
            if len(cells) != len(numeric):
                problems.append(Diagnostic(
                    "arity-mismatch", f"`{name}` has {len(numeric)} columns, this line "
                    f"{len(cells)}", None, f"{file}:{n}"))
                continue
            try:
                rows.append(tuple(int(c) if num else c for c, num in zip(cells, numeric,
                                                                         strict=True)))
            except ValueError:
                problems.append(Diagnostic("invalid-number", f"`{line}` has a non-number in a "
                                           "number column", None, f"{file}:{n}"))
        facts[name] = frozenset(rows)

    if problems:
        message = f"bundle `{root}` has {len(problems)} error(s)"
        raise BundleError(message, diagnostics=problems, source=None)
    return Bundle(root, policy_set, schema, entities, rules, facts, settings)

