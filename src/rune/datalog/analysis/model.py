"""What the analyses hand to the planner: typed relations, scoped rules and strata."""

from __future__ import annotations

from dataclasses import dataclass, field

from rune.datalog.analysis.scoping import AggregateScope, contains_aggregate
from rune.datalog.ast import Aggregate, Clause, Directive, RelationDecl
from rune.datalog.types import Kind, TypeEnvironment
from rune.errors import Diagnostic

__all__ = ["AnalysedProgram", "AnalysedRule", "RelationInfo", "Stratum"]


@dataclass(frozen=True, slots=True)
class RelationInfo:
    """A declared relation with the kind of each column (``None`` where the type is broken)."""

    decl: RelationDecl
    kinds: tuple[Kind | None, ...]

    @property
    def name(self) -> str:
        """The relation's name."""
        return self.decl.name

    @property
    def arity(self) -> int:
        """The number of columns."""
        return len(self.kinds)


@dataclass(frozen=True, slots=True)
class AnalysedRule:
    """One clause that passed every check.

    ``scoped`` is the clause with aggregate-local variables renamed `name#k` (so that no
    two scopes share a name); ``scopes`` says which variables each aggregate imports and
    exports; ``variable_kinds`` gives the kind of every variable in it.
    """

    index: int
    clause: Clause
    scoped: Clause
    scopes: dict[Aggregate, AggregateScope] = field(compare=False)
    variable_kinds: dict[str, Kind] = field(compare=False)

    @property
    def head(self) -> str:
        """The relation the rule derives into."""
        return self.clause.head.relation

    @property
    def is_fact(self) -> bool:
        """Whether the clause is a fact (no body, no aggregate in the head)."""
        return self.clause.is_fact and not any(
            contains_aggregate(arg) for arg in self.clause.head.args
        )


@dataclass(frozen=True, slots=True)
class Stratum:
    """One strongly connected component of the dependency graph, evaluated as a unit.

    ``rules`` are indexes into `AnalysedProgram.rules` of the non-fact rules deriving into
    the stratum's relations; ``recursive`` says whether semi-naive iteration is needed.
    """

    index: int
    relations: tuple[str, ...]
    rules: tuple[int, ...]
    recursive: bool


@dataclass(frozen=True, slots=True)
class AnalysedProgram:
    """A program that passed every static check, ready to plan, with its warnings."""

    relations: dict[str, RelationInfo]
    rules: tuple[AnalysedRule, ...]
    strata: tuple[Stratum, ...]
    directives: tuple[Directive, ...]
    types: TypeEnvironment
    warnings: tuple[Diagnostic, ...] = ()
