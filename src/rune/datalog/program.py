"""The public face of the engine: `Program` (parse once, evaluate many) and `Result`.

Arguments are checked (see `rune.datalog.facts`): a bad one raises `DatalogError` with
code `invalid-input` naming it and what was expected, never a raw `TypeError` or
`ValueError`. ``result[name]`` alone raises `KeyError` for an unknown relation, as a
`Mapping` must.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rune.datalog._cache import derived_from, restore_derived
from rune.datalog.analysis import AnalysedProgram, RelationInfo
from rune.datalog.ast import Clause, ProgramAst, RelationDecl
from rune.datalog.compiler import CompiledProgram, compile_program
from rune.datalog.engine import Engine, EvaluationStats
from rune.datalog.errors import DatalogError, ErrorCode, render_warning
from rune.datalog.facts import check_facts, check_pattern, check_text, convert_rows
from rune.datalog.limits import Limits
from rune.datalog.relation import Relation, Row
from rune.datalog.types import Kind
from rune.errors import Diagnostic, shown

if TYPE_CHECKING:
    from rune.datalog.explain import Proof
    from rune.datalog.scoped import ScopedRules

__all__ = ["Program", "RelationView", "Result"]

Facts = Mapping[str, Iterable[Sequence[Any]]]



def _named(relation: object) -> str:
    """A relation name as messages show it: its repr, bounded (a caller may pass any
    object, even one whose repr is megabytes long or recurses)."""
    return shown(repr(relation) if isinstance(relation, str) else relation, 100)

class Program:
    """A parsed, checked and compiled Datalog program.

    Parsing, analysis, planning and code generation happen once, in `parse`/`load`;
    `evaluate` only runs the compiled rules. Integers are 64-bit by default; pass
    ``number_bits=32`` for Soufflé's default build (wrap-around at 32 bits).
    """

    def __init__(
        self,
        ast: ProgramAst,
        sources: dict[str | None, str],
        *,
        number_bits: int = 64,
        file: str | None = None,
        infer_declarations: bool = False,
        fact_samples: Facts | None = None,
    ) -> None:
        if type(number_bits) is not int or number_bits not in (32, 64):
            raise DatalogError(
                f"`number_bits` must be 32 or 64, not {number_bits!r}",
                code=ErrorCode.INVALID_INPUT,
            )
        self.inferred: tuple[RelationDecl, ...] = ()
        if infer_declarations:
            ast, self.inferred = _with_inferred_declarations(ast, sources, fact_samples)
        self.ast = ast
        self.sources = sources
        self.file = file
        self.number_bits = number_bits
        self.compiled: CompiledProgram = compile_program(ast, sources, number_bits)
        self.analysed: AnalysedProgram = self.compiled.analysed
        self.engine = Engine(self.compiled.strata)

    def __getstate__(self) -> dict[str, Any]:
        """The program with what was derived from it on first use (`rune.datalog._cache`:
        scoped plans, maintenance plans), so that a pickled copy (`rune.bundle.cache`)
        plans nothing its original had planned."""
        state = dict(self.__dict__)
        state["_derived"] = derived_from(self)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        derived = state.pop("_derived", {})
        self.__dict__.update(state)
        restore_derived(self, derived)

    # -- construction --------------------------------------------------------------------

    @classmethod
    def parse(
        cls,
        text: str,
        file: str | None = None,
        *,
        number_bits: int = 64,
        include_dirs: Sequence[str | Path] = (),
        infer_declarations: bool = False,
        fact_samples: Facts | None = None,
    ) -> Program:
        """Parse, check and compile a program.

        Args:
            text: the program text (Soufflé syntax), a `str`.
            file: the file name errors report, and the base for relative `#include`s.
            number_bits: the width of `number` and `unsigned` (64, or 32 like Soufflé).
            include_dirs: extra directories searched by `#include`.
            infer_declarations: declare the relations the program uses without `.decl`,
                with column types inferred from use and facts
                (`rune.datalog.analysis.inference`); they are listed in `inferred`.
            fact_samples: input rows by relation, as evidence for the inferred types.

        Raises:
            DatalogError: every syntax or static error, each with file:line:column;
                (`invalid-input`) an argument of the wrong type, e.g. `bytes` text;
                (`program-too-large`, `nesting-too-deep`, `rule-too-large`) a resource
                limit of `rune.datalog.limits`.
        """
        check_text(text)
        if file is not None and not isinstance(file, str):
            raise DatalogError(
                f"`file` must be a str or None, not {type(file).__name__}",
                code=ErrorCode.INVALID_INPUT,
            )
        if isinstance(include_dirs, str | bytes) or not all(
            isinstance(d, str | Path) for d in include_dirs
        ):
            raise DatalogError(
                "`include_dirs` must be a sequence of str or Path", code=ErrorCode.INVALID_INPUT
            )
        from rune.datalog.parser import parse_program  # (a program from a cache parses nothing)

        parsed = parse_program(text, file, include_dirs=include_dirs)
        return cls(parsed.ast, parsed.sources, number_bits=number_bits, file=file,
                   infer_declarations=infer_declarations, fact_samples=fact_samples)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        number_bits: int = 64,
        include_dirs: Sequence[str | Path] = (),
    ) -> Program:
        """Read a program file (and the files it includes), then `parse` it."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise DatalogError(
                f"cannot read program `{path}`: {error.strerror or error}", code=ErrorCode.IO
            ) from None
        return cls.parse(text, str(path), number_bits=number_bits, include_dirs=include_dirs)

    # -- introspection -------------------------------------------------------------------

    @property
    def relation_names(self) -> tuple[str, ...]:
        """Every declared relation, in declaration order."""
        return tuple(name for name in self.analysed.relations if "@" not in name)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Relations marked `.input`."""
        return _directive_relations(self.analysed, "input")

    @property
    def outputs(self) -> tuple[str, ...]:
        """Relations marked `.output`."""
        return _directive_relations(self.analysed, "output")

    def arity(self, relation: str) -> int:
        """The number of columns of a declared relation (`invalid-input` if there is none)."""
        return self._relation_info(relation).arity

    def kinds(self, relation: str) -> tuple[Kind | None, ...]:
        """The kind of each column of a declared relation (`invalid-input` if none)."""
        return self._relation_info(relation).kinds

    def _relation_info(self, relation: str) -> RelationInfo:
        info = self.analysed.relations.get(relation) if isinstance(relation, str) else None
        if info is None or "@" in relation:
            raise DatalogError(f"no relation named {_named(relation)}",
                               code=ErrorCode.INVALID_INPUT)
        return info

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Likely mistakes found while checking (unused variables, undefined relations)."""
        return self.analysed.warnings

    def render_warnings(self) -> str:
        """The warnings, one per line with a caret snippet, like errors are rendered."""
        return "\n".join(render_warning(w, self.sources) for w in self.warnings)

    @property
    def generated_source(self) -> str:
        """The Python source generated for the rules (for debugging and profiling)."""
        return self.compiled.source

    # -- evaluation ----------------------------------------------------------------------

    def evaluate(
        self,
        facts: Facts | None = None,
        *,
        fact_dir: str | Path | None = None,
        limits: Limits | None = None,
        track_origins: bool = False,
    ) -> Result:
        """Compute every relation of the program.

        Args:
            facts: input rows by relation name, each row a tuple or list with an int,
                str or float per column as its kind asks (see `rune.datalog.facts`:
                out-of-range integers and bools are refused); they are added to the
                program's inline facts.
            fact_dir: when given, each `.input` relation is also read from its file there
                (`<rel>.facts`, tab-separated, unless the directive says otherwise).
            limits: bounds on iterations, tuples and time (defaults: `Limits()`).
            track_origins: record which rule first derived each tuple (see
                `Result.origin`); makes evaluation somewhat slower.

        Raises:
            DatalogError: (`invalid-input`) bad input facts or arguments naming the
                relation and row, (`io-error`/`invalid-facts`) unreadable fact files,
                (`derivation-limit`) a bound was hit, (`evaluation-error`) a rule failed
                (e.g. division by zero).
        """
        if facts is not None:
            check_facts(facts)
        if limits is not None and not isinstance(limits, Limits):
            raise DatalogError(
                f"`limits` must be a Limits or None, not {type(limits).__name__}",
                code=ErrorCode.INVALID_INPUT,
            )
        relations = {
            name: Relation(name, info.arity, self.compiled.facts[name])
            for name, info in self.analysed.relations.items()
        }
        try:
            if facts:
                for name, rows in facts.items():
                    relations_entry = relations.get(name) if "@" not in name else None
                    if name in self.compiled.demand_driven:
                        raise DatalogError(
                            f"relation `{name}` is computed on demand (magic-set pragma) and "
                            "cannot take input facts",
                            code=ErrorCode.INVALID_INPUT,
                        )
                    if relations_entry is None:
                        raise DatalogError(
                            f"input facts for undeclared relation `{name}`",
                            code=ErrorCode.INVALID_INPUT,
                        )
                    relations_entry.add(self._validate(name, rows))
            if fact_dir is not None:
                self._read_inputs(relations, Path(fact_dir))
            for rule in self.compiled.fact_rules:
                new: set[Row] = set()
                rule.function(None, new, relations[rule.head].tuples)
                relations[rule.head].add(new)
            # Hook for incremental updates (rune.datalog.incremental): keep the input facts
            # of relations that rules also derive into, to tell them from derived rows.
            base_facts = {
                rule.head: frozenset(relations[rule.head].tuples)
                for rule in self.analysed.rules
                if not rule.is_fact and relations[rule.head].tuples
            }
            stats = self.engine.run(relations, limits or Limits(), track_origins=track_origins)
        except DatalogError as error:
            raise self._with_sources(error) from None
        return Result(self, relations, stats, base_facts=base_facts)

    def _read_inputs(self, relations: dict[str, Relation], fact_dir: Path) -> None:
        from rune.datalog.io import read_facts  # (Soufflé's files: the command line's)

        for directive in self.analysed.directives:
            if directive.kind != "input":
                continue
            io = (directive.parameter("IO") or "file").lower()
            if io != "file":
                raise DatalogError(
                    f"unsupported input `IO={io}` for `{directive.relation}`",
                    code=ErrorCode.UNSUPPORTED,
                    span=directive.span,
                )
            kinds = self.analysed.relations[directive.relation].kinds
            rows = read_facts(directive, fact_dir, kinds, self.number_bits)
            relations[directive.relation].add(rows)

    def _validate(self, name: str, rows: Iterable[Sequence[Any]]) -> set[Row]:
        return convert_rows(name, self.analysed.relations[name], rows, self.number_bits)

    def _with_sources(self, error: DatalogError) -> DatalogError:
        if error.sources or all(d.span is None for d in error.diagnostics):
            return error
        return DatalogError(
            error.message, code=error.code, diagnostics=error.diagnostics, sources=self.sources
        )

    def write_outputs(self, result: Result, output_dir: str | Path | None) -> list[Path]:
        """Write every `.output` relation like Soufflé does.

        Each goes to `<output_dir>/<rel>.csv` (or its `filename=`), tab-separated and
        sorted; ``output_dir`` of ``None`` or ``"-"``, or `IO=stdout`, prints to stdout.
        Returns the files written.
        """
        from rune.datalog.io import output_path, write_rows

        written: list[Path] = []
        to_stdout = output_dir is None or str(output_dir) == "-"
        for directive in self.analysed.directives:
            if directive.kind == "printsize":
                sys.stdout.write(f"{directive.relation}\t{len(result[directive.relation])}\n")
                continue
            if directive.kind != "output":
                continue
            info = self.analysed.relations[directive.relation]
            rows = result.relation(directive.relation).tuples
            delimiter = directive.parameter("delimiter") or "\t"
            header = None
            if (directive.parameter("headers") or "false").lower() == "true":
                header = [a.name for a in info.decl.attributes]
            io = (directive.parameter("IO") or "file").lower()
            if to_stdout or io == "stdout":
                _print_framed(sys.stdout, directive.relation, rows, info.kinds, delimiter)
                continue
            assert output_dir is not None
            path = output_path(directive, Path(output_dir))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                rfc4180 = (directive.parameter("rfc4180") or "false").lower() == "true"
                with path.open("w", encoding="utf-8", newline="") as handle:
                    write_rows(
                        handle,
                        rows,
                        info.kinds,
                        delimiter=delimiter,
                        header=header,
                        rfc4180=rfc4180,
                    )
            except OSError as error:
                raise DatalogError(
                    f"cannot write `{path}`: {error.strerror or error}", code=ErrorCode.IO
                ) from None
            written.append(path)
        return written


def _print_framed(
    handle: TextIO, name: str, rows: set[Row], kinds: Sequence[Kind | None], delimiter: str
) -> None:
    from rune.datalog.io import write_rows

    handle.write("---------------\n")
    handle.write(f"{name}\n===============\n")
    write_rows(handle, rows, kinds, delimiter=delimiter)
    handle.write("===============\n")


def _directive_relations(analysed: AnalysedProgram, kind: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for directive in analysed.directives:
        if directive.kind == kind:
            seen.setdefault(directive.relation)
    return tuple(seen)


@dataclass(frozen=True, slots=True, eq=False)
class RelationView(AbstractSet[Row]):
    """The tuples of one relation in a `Result`: a read-only set with indexed queries."""

    name: str
    _relation: Relation

    def __contains__(self, row: object) -> bool:
        return row in self._relation.tuples

    def __iter__(self) -> Iterator[Row]:
        return iter(self._relation.tuples)

    def __len__(self) -> int:
        return len(self._relation.tuples)

    def __repr__(self) -> str:
        return f"RelationView({self.name!r}, {len(self)} tuples)"

    @property
    def tuples(self) -> frozenset[Row]:
        """The tuples as a frozenset (a copy)."""
        return frozenset(self._relation.tuples)

    def sorted(self) -> list[Row]:
        """The tuples in sorted order."""
        return sorted(self._relation.tuples)

    def query(self, pattern: Sequence[Any]) -> list[Row]:
        """Tuples matching ``pattern``: a value per column, ``None`` for any value.

        Uses (and keeps) a hash index on the bound columns, so repeated queries with the
        same columns bound cost one lookup each.

        Raises:
            DatalogError: (`invalid-input`) ``pattern`` is not a tuple or list of the
                relation's arity.
        """
        check_pattern(self.name, self._relation.arity, pattern)
        columns = tuple(i for i, value in enumerate(pattern) if value is not None)
        if not columns:
            return list(self._relation.tuples)
        if len(columns) == len(pattern):
            row = tuple(pattern)
            return [row] if row in self._relation.tuples else []
        key = pattern[columns[0]] if len(columns) == 1 else tuple(pattern[i] for i in columns)
        return list(self._relation.lookup(columns, key))


class Result(Mapping[str, RelationView]):
    """Every relation of an evaluated program, by name.

    ``result["path"]`` is a set-like `RelationView`; ``result.query("path", (1, None))``
    returns the matching tuples through an index.
    """

    def __init__(
        self,
        program: Program,
        relations: dict[str, Relation],
        stats: EvaluationStats,
        *,
        base_facts: Mapping[str, frozenset[Row]] | None = None,
    ) -> None:
        self.program = program
        self.stats = stats
        self._relations = relations
        # Relations named with `@` are internal (magic sets); they are not shown.
        self._views = {
            name: RelationView(name, r) for name, r in relations.items() if "@" not in name
        }
        self._base_facts: Mapping[str, frozenset[Row]] = base_facts or {}
        # For a result made by `update`: each changed relation's (added, removed) rows.
        self.changes: Mapping[str, tuple[AbstractSet[Row], AbstractSet[Row]]] = {}
        # Data derived on demand from this result (explanations' derivation ranks).
        self._memo: dict[str, Any] = {}

    def __getitem__(self, name: str) -> RelationView:
        try:
            return self._views[name]
        except KeyError:
            raise KeyError(f"no relation named {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def relation(self, name: str) -> Relation:
        """The engine's `Relation` object (shared, not a copy; do not mutate)."""
        return self._relations[name]

    def query(self, relation: str, pattern: Sequence[Any]) -> list[Row]:
        """Tuples of ``relation`` matching ``pattern`` (``None`` matches anything).

        Raises:
            DatalogError: (`invalid-input`) no such relation, or a pattern that is not a
                tuple or list of its arity.
        """
        view = self._views.get(relation) if isinstance(relation, str) else None
        if view is None:
            raise DatalogError(f"no relation named {_named(relation)}",
                               code=ErrorCode.INVALID_INPUT)
        return view.query(pattern)

    def origin(self, relation: str, row: Sequence[Any]) -> Clause | None:
        """The rule that first derived ``row``, when evaluated with ``track_origins``.

        ``None`` for facts, inputs and rows not in the relation.

        Raises:
            DatalogError: (`invalid-input`) the evaluation did not track origins, or
                ``row`` is not a tuple or list.
        """
        if type(row) not in (tuple, list):
            raise DatalogError(
                f"`row` must be a tuple or a list, not {type(row).__name__}",
                code=ErrorCode.INVALID_INPUT,
            )
        origins = self.stats.origins
        if origins is None:
            raise DatalogError(
                "origins were not tracked: evaluate with `track_origins=True`",
                code=ErrorCode.INVALID_INPUT,
            )
        index = origins.get(relation, {}).get(tuple(row))
        return None if index is None else self.program.analysed.rules[index].clause

    # -- hooks: incremental updates (rune.datalog.incremental) and explanations
    #    (rune.datalog.explain), imported when used because they import this module --------

    @property
    def base_facts(self) -> Mapping[str, frozenset[Row]]:
        """The input facts of relations that rules also derive into, by relation."""
        return self._base_facts

    def update(
        self,
        insert: Facts | None = None,
        retract: Facts | None = None,
        *,
        limits: Limits | None = None,
    ) -> Result:
        """A new result with input facts inserted and retracted, maintained incrementally.

        This result stays valid and unchanged; see `rune.datalog.incremental`. Rows are
        checked as `Program.evaluate` checks them.

        Raises:
            DatalogError: (`invalid-input`) bad facts, naming the relation and row,
                (`derivation-limit`) a bound of ``limits`` was hit, (`evaluation-error`)
                a rule failed.
        """
        from rune.datalog.incremental import update_result

        return update_result(self, insert, retract, limits)

    def extended(self, facts: Facts, *, limits: Limits | None = None) -> Result:
        """A new result with ``facts`` added, evaluating only the strata that read them.

        For per-request facts on a large base; see `rune.datalog.incremental`. Raises
        like `update`.
        """
        from rune.datalog.incremental import extend_result

        return extend_result(self, facts, limits)

    def scoped(
        self,
        inputs: Iterable[str],
        outputs: Iterable[str] | None = None,
        *,
        limits: Limits | None = None,
    ) -> ScopedRules:
        """The rules that read ``inputs``, bound to this result, to evaluate per call.

        ``scoped.evaluate(facts)[name]`` holds what ``self.extended(facts)[name]`` holds
        for each of ``outputs`` (default: every relation), at a fraction of the cost; see
        `rune.datalog.scoped`. ``limits`` bound every call (a call may pass its own to
        `ScopedRules.evaluate`); a service should pass a small per-request budget, e.g.
        ``Limits(max_tuples=10_000, max_seconds=0.05)``.

        Raises:
            DatalogError: (`invalid-input`) ``inputs`` or ``outputs`` is a str, not a
                collection of relation names, or an output is not a relation.
        """
        from rune.datalog.scoped import ScopedRules

        return ScopedRules(self, inputs, outputs, limits)

    def explain(self, relation: str, row: Sequence[Any]) -> Proof:
        """A proof tree of ``row`` down to input facts; see `rune.datalog.explain`."""
        from rune.datalog.explain import explain

        return explain(self, relation, row)

    def _derive(
        self,
        changed: Mapping[str, Relation],
        stats: EvaluationStats,
        base_facts: Mapping[str, frozenset[Row]],
        changes: Mapping[str, tuple[AbstractSet[Row], AbstractSet[Row]]] | None = None,
    ) -> Result:
        """A result sharing every relation but ``changed`` with this one, in O(changed);
        ``changes`` holds the rows each relation gained and lost (see `changes`)."""
        derived = Result.__new__(Result)
        # INVARIANT: sets every attribute `__init__` sets.
        derived.program = self.program
        derived.stats = stats
        derived._relations = {**self._relations, **changed}
        derived._views = dict(self._views)
        for name, relation in changed.items():
            if "@" not in name:
                derived._views[name] = RelationView(name, relation)
        derived._base_facts = base_facts
        derived.changes = changes if changes is not None else {}
        derived._memo = {}
        return derived

    @property
    def outputs(self) -> dict[str, RelationView]:
        """The relations marked `.output`."""
        return {name: self[name] for name in self.program.outputs}

    def write_outputs(self, output_dir: str | Path | None) -> list[Path]:
        """Write the `.output` relations (see `Program.write_outputs`)."""
        return self.program.write_outputs(self, output_dir)


def _with_inferred_declarations(
    ast: ProgramAst, sources: dict[str | None, str], samples: Facts | None
) -> tuple[ProgramAst, tuple[RelationDecl, ...]]:
    """``ast`` with the relations it uses undeclared declared; a conflict is reported
    together with every other problem of the program."""
    from rune.datalog.analysis.inference import infer_declarations

    if samples is not None and not isinstance(samples, Mapping):
        raise DatalogError("`fact_samples` must map relation names to rows",
                           code=ErrorCode.INVALID_INPUT)
    extended, inferred, conflicts = infer_declarations(ast, samples)
    if conflicts:
        others: list[Diagnostic] = []
        try:
            compile_program(extended, sources, 64)
        except DatalogError as error:
            # A type error where a conflict is reported says the same thing again.
            places = {(d.span.file, d.span.offset) for d in conflicts if d.span is not None}
            others = [d for d in error.diagnostics if d not in conflicts and not (
                d.span is not None and (d.span.file, d.span.offset) in places)]
        raise DatalogError.from_diagnostics([*conflicts, *others], sources)
    return extended, inferred
