"""A bundle's data: entities (`entities/*.json`), rules (`rules/*.dl`) and facts
(`facts/<relation>.facts`), each problem reported at its file and place in it."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rune.bundle._files import Report
from rune.cedar.entities import Entities, entity_entry_paths
from rune.cedar.json_format import EntityData
from rune.cedar.values import EntityUID
from rune.errors import RuneError, SourceSpan

if TYPE_CHECKING:
    from rune.bundle._reuse import LoadedParts
    from rune.bundle.settings import Settings
    from rune.cedar.schema import Schema

__all__ = ["read_entities", "read_facts", "read_rules"]

_PRELUDE_FILE = "<rune prelude>"
# A file of a million bad lines needs a few examples, not all of them.
_MAX_FACT_ERRORS = 20  # per facts file
_MAX_DUPLICATES = 20  # conflicting entity entries, per bundle


def read_entities(files: list[Path], schema: Schema | None, settings: Settings,
                  report: Report, old: LoadedParts | None = None,
                  parts: LoadedParts | None = None) -> dict[EntityUID, EntityData]:
    """Every entity of ``files`` (read as ``schema`` directs) by uid.

    An entity given twice with different data is an error at the JSON path of the second
    entry, naming the first; an identical repeat (the schema's actions, which come with
    every file) is not. More than `max_entities` entities stop the reading.

    A file whose name and text ``old`` read with the same schema object is not parsed
    again; when none changed, the result is ``old``'s mapping itself. ``parts`` keeps
    what this load read.
    """
    entities: dict[EntityUID, EntityData] = {}
    origin: dict[EntityUID, Path] = {}  # the file of each uid's first entry
    duplicates = _Duplicates(report)
    texts: list[tuple[str, str]] = []
    for file in files:
        text = report.read(file, keep=False)
        if text is None:
            continue
        key = (str(file), text)
        texts.append(key)
        known = old.entities.get(key) if old is not None else None
        if known is not None and known[0] is schema:
            items = known[1]
        else:
            try:
                items = tuple(Entities.parse_json(text, schema))
            except RuneError as error:
                report.add(error, file)
                continue
        if parts is not None:
            parts.entities[key] = (schema, items)
        repeats: dict[EntityUID, int] = {}  # entries before this one, in this file
        for item in items:
            uid = item.uid
            first = origin.get(uid)
            if first is None:
                origin[uid] = file
                entities[uid] = item
                continue
            repeat = repeats[uid] = repeats.get(uid, 1 if first == file else 0) + 1
            if entities[uid] == item:
                continue
            duplicates.add(uid, first, file, repeat - 1)
        if len(entities) > settings.max_entities:
            report.error("too-many-entities", f"the bundle has more entities than `[limits] "
                         f"max_entities` ({settings.max_entities}), counting `{file}`", file)
            break
    duplicates.close(files[0].parent if files else Path("entities"))
    if parts is not None and not report.errors:
        whole = (tuple(texts), schema, settings.max_entities)
        before = old.all_entities if old is not None else None
        if before is not None and before[0] == whole[0] and before[1] is schema \
                and before[2] == whole[2]:
            entities = before[3]  # INVARIANT: equal inputs, equal mapping: share it
        parts.all_entities = (*whole, entities)
    return entities


class _Duplicates:
    """Reports conflicting entity entries at the JSON paths of both (a few of them: each
    costs a scan of its files, read and decoded again since their texts are not kept)."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.count = 0
        self.decoded: dict[Path, Any] = {}

    def data(self, file: Path) -> Any:
        if file not in self.decoded:
            import json

            try:
                self.decoded[file] = json.loads(Report().read(file) or "[]")
            except ValueError:
                self.decoded[file] = []
        return self.decoded[file]

    def add(self, uid: EntityUID, first: Path, file: Path, repeat: int) -> None:
        """Report the ``repeat``-th entry (from 0) for ``uid`` in ``file`` as a duplicate
        of the first entry for it, in ``first``."""
        self.count += 1
        if self.count > _MAX_DUPLICATES:
            return
        first_paths = entity_entry_paths(self.data(first), uid)
        paths = entity_entry_paths(self.data(file), uid)
        where = f"{first}: {first_paths[0]}" if first_paths else str(first)
        self.report.error("duplicate-entity", f"entity `{uid}` is defined twice with "
                          f"different data; the first definition is at `{where}`", file,
                          path=paths[repeat] if repeat < len(paths) else "$")

    def close(self, directory: Path) -> None:
        if self.count > _MAX_DUPLICATES:
            self.report.error("duplicate-entity", f"{self.count - _MAX_DUPLICATES} more "
                              "entities are defined twice with different data", directory)
        self.decoded.clear()


def read_rules(root: Path, files: list[Path], report: Report,
               old: LoadedParts | None = None, parts: LoadedParts | None = None
               ) -> tuple[Any, bool]:
    """The rules of ``files`` compiled into one program with the built-in relations,
    or None when there are none; and whether every rule file loaded.

    Each file is parsed on its own, under its own name, so every diagnostic names the
    file, line and column it is about; the built-in relations come first, so a file
    that declares one again is the one blamed.

    When ``old`` compiled the same files (names and texts, none including another) with
    the same facts files, its program is the result. ``parts`` keeps this one.
    """
    if not files:
        return None, True
    from rune.datalog import Program
    from rune.datalog.ast import ProgramAst
    from rune.datalog.parser import ParsedProgram, parse_program

    read = [(file, report.read(file)) for file in files]
    texts = tuple((str(file), text) for file, text in read if text is not None)
    # Declarations are inferred from the rules and from which relations have facts files.
    filled_names = tuple(_fact_relations(root))
    key = (str(root), texts, filled_names)
    if old is not None and old.rules is not None and old.rules[0] == key:
        if parts is not None:
            parts.rules = old.rules
        return old.rules[1], True
    parsed: list[ParsedProgram] = [_parsed_prelude()]
    loaded = len(texts) == len(files)
    for file, text in read:
        if text is None:
            continue
        try:
            parsed.append(parse_program(text, str(file), read_file=_read_include))
        except RuneError as error:
            report.add(error, file)
            loaded = False
        except RecursionError:
            report.error("nesting-too-deep", "a rule is nested too deeply", file)
            loaded = False
    if not loaded:
        return None, False
    ast = ProgramAst(
        relations=tuple(r for p in parsed for r in p.ast.relations),
        types=tuple(t for p in parsed for t in p.ast.types),
        clauses=tuple(c for p in parsed for c in p.ast.clauses),
        directives=tuple(d for p in parsed for d in p.ast.directives),
        pragmas=tuple(g for p in parsed for g in p.ast.pragmas),
    )
    sources = {name: text for p in parsed for name, text in p.sources.items()}
    try:
        # Relations used without `.decl` are declared with inferred types; a relation with
        # a facts file counts as filled (its rows are read once the types are known).
        filled: dict[str, list[tuple[Any, ...]]] = {name: [] for name in filled_names}
        program = Program(ast, sources, file=str(root / "rules"), infer_declarations=True,
                          fact_samples=filled)
        # A program that includes other files is made again each time: those files are
        # not part of the key.
        if parts is not None and len(sources) == len(texts) + 1 and loaded:
            parts.rules = (key, program)
        return program, True
    except RuneError as error:
        report.add(error, root / "rules")
    except RecursionError:
        report.error("nesting-too-deep", "a rule is nested too deeply", root / "rules")
    return None, False


@functools.lru_cache(maxsize=1)
def _parsed_prelude() -> Any:
    """The built-in relations, parsed once per process: the text never changes, and the
    parsed program (a frozen AST and its source text) is only read. A bundle reload (a
    node swapping a published bundle, say) then parses only the bundle's own rules."""
    from rune.datalog.parser import parse_program
    from rune.store.prelude import prelude

    return parse_program(prelude(), _PRELUDE_FILE)


def _fact_relations(root: Path) -> list[str]:
    """The relations `facts/` has a file for (the loader lists them again to read them)."""
    try:
        names = os.listdir(root / "facts")
    except OSError:
        return []
    return [n[: -len(".facts")] for n in names
            if n.endswith(".facts") and len(n) > len(".facts") and not n.startswith(".")]


def _read_include(path: Path) -> str:
    """The text of a file a rule file `#include`s; `OSError` (which the parser reports
    at the `#include`) when it cannot be read."""
    report = Report()
    text = report.read(path)
    if text is None:
        raise OSError(report.errors[0].message)
    return text


def read_facts(files: list[Path], rules: Any, rules_loaded: bool, report: Report,
               old: LoadedParts | None = None, parts: LoadedParts | None = None
               ) -> dict[str, frozenset[tuple[Any, ...]]]:
    """The rows of each `facts/<relation>.facts`, parsed by the relation's column types.

    Lines are tab-separated fields (Soufflé's default); blank lines are skipped. Every
    bad line is reported (up to a few per file) at the line and column of its bad field.

    A file whose name and text ``old`` parsed for the same program object is not parsed
    again; when none changed, the result is ``old``'s mapping itself. ``parts`` keeps
    what this load read.
    """
    from rune.store.prelude import REQUEST_RELATIONS

    facts: dict[str, frozenset[tuple[Any, ...]]] = {}
    texts: list[tuple[str, str]] = []
    for file in files:
        name = file.name[: -len(".facts")]
        if rules is None:
            if rules_loaded:  # else the rule files' errors say why
                report.error("unknown-relation", f"no rule declares the relation `{name}`",
                             file)
            continue
        if name not in rules.relation_names:
            report.error("unknown-relation", f"no rule declares the relation `{name}`", file)
            continue
        if name in REQUEST_RELATIONS:
            # The engine states these for each request; a fact here would hold for all.
            report.error("reserved-relation", f"`{name}` describes the request being "
                         "decided: it cannot be given as facts", file)
            continue
        text = report.read(file, keep=False)
        if text is None:
            continue
        key = (str(file), text)
        texts.append(key)
        known = old.facts.get(key) if old is not None else None
        rows = known[1] if known is not None and known[0] is rules else \
            _parse_facts(file, name, text, rules, report)
        if rows is not None:
            facts[name] = rows
            if parts is not None:
                parts.facts[key] = (rules, rows)
    if parts is not None and not report.errors:
        before = old.all_facts if old is not None else None
        if before is not None and before[0] == tuple(texts) and before[1] is rules:
            facts = before[2]  # INVARIANT: equal inputs, equal mapping: share it
        parts.all_facts = (tuple(texts), rules, facts)
    return facts


def _parse_facts(file: Path, name: str, text: str, rules: Any, report: Report
                 ) -> frozenset[tuple[Any, ...]] | None:
    from rune.datalog.io import value_parser

    kinds = rules.kinds(name)
    parsers = [value_parser(kind, rules.number_bits) for kind in kinds]
    arity = len(kinds)
    rows: set[tuple[Any, ...]] = set()
    errors = 0
    offset = 0
    for number, raw in enumerate(text.split("\n"), 1):
        line_offset, offset = offset, offset + len(raw) + 1
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip():
            continue
        if arity == 0:
            rows.add(())
            continue
        cells = line.split("\t")
        problem: tuple[str, str, int, int] | None = None
        if len(cells) != arity:
            problem = ("arity-mismatch", f"`{name}` has {arity} column(s), this line "
                       f"{len(cells)}", 0, len(line))
        else:
            row: list[Any] = []
            column = 0
            for index, (cell, parse, kind) in enumerate(zip(cells, parsers, kinds,
                                                            strict=True)):
                try:
                    row.append(parse(cell))
                except ValueError as bad:
                    detail = str(bad) if "out of range" in str(bad) else \
                        f"`{cell}` is not a {kind}"
                    problem = ("invalid-fact", f"{detail} (column {index + 1} of `{name}`)",
                               column, column + len(cell))
                    break
                column += len(cell) + 1
            else:
                rows.add(tuple(row))
        if problem is None:
            continue
        errors += 1
        if errors > _MAX_FACT_ERRORS:
            continue
        code, message, start, end = problem
        span = SourceSpan(number, start + 1, number, end + 1, line_offset + start,
                          line_offset + end, str(file))
        report.error(code, message, file, span=span, source=text)
    if errors > _MAX_FACT_ERRORS:
        report.error("invalid-fact", f"{errors - _MAX_FACT_ERRORS} more line(s) of `{name}` "
                     "are not valid facts", file)
    return None if errors else frozenset(rows)
