"""Single-file bundles: one TOML file (`*.rune`) holding what a bundle directory holds.

::

    version = "rune/1.0"
    [metadata]
    name = "coding-agent"                  # the name state files are bound to
    [data]                                 # input facts for the rules
    environment = "production"             # a scalar: the fact environment("production")
    rate_tier = [["alice", "free"], ["bob", "pro"]]   # an array of arrays: the tuples
    regions = ["eu", "us"]                 # an array of scalars: one-column tuples
    [rules]
    text = '''config("tier", t) :- ...'''  # RUNE's Datalog; declarations may be omitted
    [policies]
    text = '''permit(...);'''              # Cedar policies (required)
    [schema]
    text = '''entity Agent;'''             # optional: a Cedar schema (human form)
    [entities]
    list = [{uid = {type = "Agent", id = "bob"}, attrs = {}, parents = []}]  # optional
    [engine] / [history] / [state] / [limits] / [validation]   # as in rune.toml

A string in `[data]` is the text a rule sees: the TOML string `"Agent::\\"bob\\""` is the
uid rules see for the entity `Agent::"bob"` (`rune.store.mapping.symbol`); `true` and
`false` are the symbols `"true"` and `"false"`, as `attr_bool` holds them. Relations of
`[data]` and those the rules derive need no `.decl`: their types are inferred (see
`rune.datalog.analysis.inference`), and a declared relation's rows are checked against
its declaration.

Write the Cedar and Datalog texts as TOML literal strings (`'''...'''`): their text is
then exactly the file's, and every error is reported at its line and column in the
`.rune` file. (A basic string with escapes is read too; its errors point into it.)
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from rune.bundle._files import Report
from rune.bundle.errors import BundleError
from rune.bundle.loader import Bundle, _validate, named_policies
from rune.bundle.settings import Settings, ValidationMode, _locate
from rune.cedar.json_format import EntityData
from rune.cedar.policy_set import PolicySet
from rune.cedar.values import EntityUID
from rune.errors import RuneError

__all__ = ["FORMAT_VERSION", "load_single_file"]

FORMAT_VERSION = "rune/1.0"
_PRELUDE_FILE = "<rune prelude>"
_KNOWN = {"version", "metadata", "data", "rules", "policies", "schema", "entities", "bundle",
          "engine", "history", "state", "limits", "validation"}
_MAX_INT = (1 << 63) - 1


def load_single_file(path: str | Path) -> Bundle:
    """Load and check a `.rune` file.

    Raises:
        BundleError: every problem of the file at once, each at its line and column.
    """
    file = Path(path)
    report = Report()
    text = report.read(file)
    if text is None:
        raise BundleError(f"bundle `{file}` has {len(report.errors)} error(s)",
                          diagnostics=report.errors)
    try:
        settings = Settings.from_toml(text, file=str(file), base=file.parent)
    except BundleError as error:
        raise BundleError(f"bundle `{file}` has {len(error.diagnostics)} error(s)",
                          diagnostics=error.diagnostics) from None
    import tomllib

    document = tomllib.loads(text)  # it parsed just above
    reader = _Reader(file, text, document, report)
    reader.check_layout()
    settings = reader.named(settings)
    policies, numbered = reader.policies(settings)
    schema = reader.schema()
    if schema is not None and settings.validation_mode is not ValidationMode.OFF:
        _validate(numbered, schema, settings.validation_mode, report)
    entities = reader.entities(schema)
    data = reader.data()
    rules = reader.rules(data)
    facts = reader.facts(data, rules)
    if report.errors:
        raise BundleError(f"bundle `{file}` has {len(report.errors)} error(s)",
                          diagnostics=report.errors, source=None)
    return Bundle(path=file, policies=policies, schema=schema, entities=entities,
                  rules=rules, facts=facts, settings=settings, warnings=tuple(report.warnings))


class _Reader:
    """Reads the parts of one `.rune` document, adding every problem to ``report``."""

    def __init__(self, file: Path, text: str, document: dict[str, Any], report: Report
                 ) -> None:
        self.file, self.text, self.document, self.report = file, text, document, report
        self.name = str(file)

    # -- problems -----------------------------------------------------------------------
    def error(self, code: str, message: str, table: str | None, key: str | None = None
              ) -> None:
        span = _locate(self.text, table, key, self.name)
        where = ".".join(p for p in (table, key) if p)
        self.report.error(code, message, self.file, span=span,
                          path=None if span else where, source=self.text)

    def table(self, name: str) -> dict[str, Any] | None:
        value = self.document.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.error("invalid-bundle", f"`{name}` must be a table (`[{name}]`)", None, name)
            return None
        return value

    def check_layout(self) -> None:
        version = self.document.get("version")
        if version is not None and version != FORMAT_VERSION:
            self.error("unsupported-version", f"unsupported version `{version}`: this RUNE "
                       f"reads `{FORMAT_VERSION}`", None, "version")
        for name in self.document:
            if name not in _KNOWN:
                span = _locate(self.text, name, None, self.name) or _locate(
                    self.text, None, name, self.name)
                self.report.warn("ignored-key", f"`{name}` is not part of a bundle and is "
                                 "ignored", self.file, span=span, path=None if span else name)

    def named(self, settings: Settings) -> Settings:
        """The settings, bound to `[metadata] name` (for state files) when it is given."""
        metadata = self.table("metadata")
        name = metadata.get("name") if metadata else None
        if name is None:
            return settings
        if not isinstance(name, str) or not name:
            self.error("invalid-bundle", "`name` must be a non-empty string", "metadata",
                       "name")
            return settings
        extra = dict(settings.extra)
        bundle = extra.get("bundle")
        if not isinstance(bundle, dict) or "name" not in bundle:
            extra["bundle"] = {**(bundle if isinstance(bundle, dict) else {}), "name": name}
        return replace(settings, extra=extra)

    def text_of(self, table: str, key: str, *, required: bool = False) -> str | None:
        """The text of `[table] key`, padded so that offsets, lines and columns are those
        of the `.rune` file (when the TOML string holds the text as written)."""
        values = self.table(table)
        if values is None:
            if required:
                self.report.error("no-policies", f"the bundle has no `[{table}]` with "
                                  f"`{key}`", self.file)
            return None
        value = values.get(key)
        unknown = sorted(k for k in values if k != key)
        for other in unknown:
            self.error("invalid-bundle", f"unknown key `{other}` in `[{table}]` (the "
                       f"text goes in `{key}`)", table, other)
        if not isinstance(value, str):
            self.error("invalid-bundle", f"`[{table}] {key}` must be a string (a TOML "
                       "literal string `'''...'''` keeps the text as written)", table,
                       key if key in values else None)
            return None
        start = _value_start(self.text, table, key)
        if start is not None and self.text[start : start + len(value)] == value:
            return re.sub(r"[^\n]", " ", self.text[:start]) + value
        return value

    # -- parts -----------------------------------------------------------------------------
    def policies(self, settings: Settings) -> tuple[PolicySet, PolicySet]:
        text = self.text_of("policies", "text", required=True)
        if text is None:
            return PolicySet(), PolicySet()
        if len(text.encode("utf-8")) > settings.max_policy_bytes:
            self.error("policies-too-large", "the policies are larger than `[limits] "
                       f"max_policy_bytes` ({settings.max_policy_bytes} bytes)", "policies",
                       "text")
            return PolicySet(), PolicySet()
        self.report.sources[self.name] = self.text
        try:
            parsed = PolicySet.from_str(text, file=self.name)
        except RuneError as error:
            self.report.add(error, self.file)
            return PolicySet(), PolicySet()
        except RecursionError:
            self.error("nesting-too-deep", "a policy is nested too deeply", "policies", "text")
            return PolicySet(), PolicySet()
        policies = list(parsed)
        if not policies and not list(parsed.templates):
            self.error("no-policies", "`[policies] text` holds no policy", "policies", "text")
        for template in parsed.templates:
            self.report.error("template-in-bundle", "a single-file bundle cannot link "
                              "templates: this policy has `?principal` or `?resource` "
                              "slots and would never apply", self.file, span=template.span)
        numbered = PolicySet.from_policies([p.with_id(f"policy{i}")
                                            for i, p in enumerate(policies)])
        try:
            return named_policies(numbered, sources=self.report.sources), numbered
        except RuneError as error:
            self.report.add(error, self.file)
            return PolicySet(), numbered

    def schema(self) -> Any:
        if self.table("schema") is None:
            return None
        text = self.text_of("schema", "text")
        if text is None:
            return None
        from rune.cedar.schema import Schema

        try:
            return Schema.from_str(text, file=self.name)
        except RuneError as error:
            self.report.add(error, self.file)
        except RecursionError:
            self.error("nesting-too-deep", "the schema is nested too deeply", "schema", "text")
        return None

    def entities(self, schema: Any) -> dict[EntityUID, EntityData]:
        table = self.table("entities")
        if table is None:
            return {}
        items = table.get("list", [])
        for other in sorted(k for k in table if k != "list"):
            self.error("invalid-bundle", f"unknown key `{other}` in `[entities]` (entities "
                       "go in `list`)", "entities", other)
        if not isinstance(items, list):
            self.error("invalid-bundle", "`[entities] list` must be an array of entities",
                       "entities", "list")
            return {}
        from rune.cedar.entities import Entities

        try:
            parsed = Entities.parse_json(_json_ready(items), schema)
        except RuneError as error:
            for d in error.diagnostics:
                where = (d.path or "$").replace("$", "entities.list", 1)
                self.report.error(d.code, d.message, self.file, path=where)
            return {}
        out: dict[EntityUID, EntityData] = {}
        for item in parsed:
            if item.uid in out and out[item.uid] != item:
                self.error("duplicate-entity", f"entity `{item.uid}` is defined twice with "
                           "different data", "entities", "list")
            out.setdefault(item.uid, item)
        return out

    def data(self) -> dict[str, list[tuple[Any, ...]]]:
        """`[data]` as rows by relation, strings as the symbols rules see."""
        from rune.store.mapping import symbol

        table = self.table("data")
        out: dict[str, list[tuple[Any, ...]]] = {}
        for name, value in (table or {}).items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                self.error("invalid-fact", f"`{name}` is not a relation name", "data", name)
                continue
            if isinstance(value, list):
                nested = [isinstance(v, list) for v in value]
                if any(nested) and not all(nested):
                    self.error("invalid-fact", f"`{name}` mixes arrays and values: give an "
                               "array of arrays (rows) or of values (one column)", "data", name)
                    continue
                rows = value if value and all(nested) else [[v] for v in value]
            else:
                rows = [[value]]
            converted: list[tuple[Any, ...]] = []
            bad = False
            for row in rows:
                cells: list[Any] = []
                for cell in row:
                    if isinstance(cell, bool):
                        cells.append("true" if cell else "false")
                    elif isinstance(cell, str):
                        cells.append(symbol(cell))
                    elif isinstance(cell, int | float) and not (
                            isinstance(cell, float) and not math.isfinite(cell)):
                        cells.append(cell)
                    else:
                        kind = "a table" if isinstance(cell, dict) else \
                            "an array" if isinstance(cell, list) else \
                            "a date or time" if isinstance(cell, date | time | datetime) \
                            else f"`{cell}`"
                        self.error("invalid-fact", f"a value of `{name}` is {kind}: facts "
                                   "hold strings, numbers and booleans", "data", name)
                        bad = True
                        break
                else:
                    converted.append(tuple(cells))
                if bad:
                    break
            if not bad:
                out[name] = converted
        return out

    def rules(self, data: dict[str, list[tuple[Any, ...]]]) -> Any:
        text = self.text_of("rules", "text") if self.table("rules") is not None else None
        if text is None and not data:
            return None
        from rune.datalog import Program
        from rune.datalog.ast import ProgramAst
        from rune.datalog.parser import parse_program
        from rune.store.prelude import prelude

        try:
            parsed = [parse_program(prelude(), _PRELUDE_FILE)]
            if text is not None:
                parsed.append(parse_program(text, self.name))
            ast = ProgramAst(
                relations=tuple(r for p in parsed for r in p.ast.relations),
                types=tuple(t for p in parsed for t in p.ast.types),
                clauses=tuple(c for p in parsed for c in p.ast.clauses),
                directives=tuple(d for p in parsed for d in p.ast.directives),
                pragmas=tuple(g for p in parsed for g in p.ast.pragmas),
            )
            sources = {name: source for p in parsed for name, source in p.sources.items()}
            sources[self.name] = self.text  # the snippets show the file as it is
            return Program(ast, sources, file=self.name, infer_declarations=True,
                           fact_samples=data)
        except RuneError as error:
            self.report.add(error, self.file)
        except RecursionError:
            self.error("nesting-too-deep", "a rule is nested too deeply", "rules", "text")
        return None

    def facts(self, data: dict[str, list[tuple[Any, ...]]], rules: Any
              ) -> dict[str, frozenset[tuple[Any, ...]]]:
        from rune.datalog import Kind
        from rune.store.prelude import REQUEST_RELATIONS

        out: dict[str, frozenset[tuple[Any, ...]]] = {}
        if rules is None:
            return out
        for name, rows in data.items():
            if name in REQUEST_RELATIONS:
                self.error("reserved-relation", f"`{name}` describes the request being "
                           "decided: it cannot be given as facts", "data", name)
                continue
            if name not in rules.relation_names:
                # No row and no rule says what it is: an empty array nothing uses.
                self.report.warn("unused-data", f"`{name}` has no rows and no rule uses it",
                                 self.file, span=_locate(self.text, "data", name, self.name))
                continue
            kinds = rules.kinds(name)
            checked: set[tuple[Any, ...]] = set()
            for row in rows:
                problem = _row_problem(row, kinds, Kind)
                if problem is not None:
                    self.error("invalid-fact", f"`{name}`: {problem}", "data", name)
                    break
                checked.add(tuple(float(v) if k is Kind.FLOAT else v
                                  for v, k in zip(row, kinds, strict=True)))
            else:
                out[name] = frozenset(checked)
        return out


def _row_problem(row: tuple[Any, ...], kinds: tuple[Any, ...], kind_type: Any) -> str | None:
    if len(row) != len(kinds):
        return f"the relation has {len(kinds)} column(s), a row {len(row)}"
    for index, (value, kind) in enumerate(zip(row, kinds, strict=True), 1):
        if kind is kind_type.SYMBOL:
            ok = isinstance(value, str)
        elif kind is kind_type.FLOAT:
            ok = isinstance(value, int | float)
        elif kind is kind_type.UNSIGNED:
            ok = isinstance(value, int) and 0 <= value <= 2 * _MAX_INT + 1
        else:
            ok = isinstance(value, int) and -_MAX_INT - 1 <= value <= _MAX_INT
        if not ok:
            return f"column {index} is a {kind}, not `{value}`"
    return None


def _value_start(text: str, table: str, key: str) -> int | None:
    """Where the content of the string `[table] key = ...` starts in ``text``."""
    span = _locate(text, table, key, "")
    if span is None:
        return None
    match = re.compile(r"\s*=\s*('''|\"\"\"|'|\")").match(text, span.end_offset)
    if match is None:
        return None
    start = match.end()
    if match.group(1) in ("'''", '"""'):  # TOML drops a newline right after the quotes
        if text.startswith("\r\n", start):
            start += 2
        elif text.startswith("\n", start):
            start += 1
    return start


def _json_ready(value: Any) -> Any:
    """TOML values as JSON would give them (entities are read as Cedar's JSON)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, date | time | datetime):
        return value.isoformat()
    return value
