"""Warnings: likely mistakes that do not stop a program (Soufflé reports the same ones)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rune.datalog.analysis.model import RelationInfo
from rune.datalog.analysis.scoping import expression_variables, literal_variables
from rune.datalog.ast import Clause, Directive, Variable
from rune.errors import Diagnostic

__all__ = ["SINGLETON_VARIABLE", "UNDEFINED_RELATION", "find_warnings"]

SINGLETON_VARIABLE = "singleton-variable"
UNDEFINED_RELATION = "no-rules"


def find_warnings(
    relations: dict[str, RelationInfo],
    clauses: Sequence[Clause],
    directives: Sequence[Directive],
) -> list[Diagnostic]:
    """Relations with no rules, facts or `.input`, and named variables used only once.

    A variable whose name starts with `_` is meant to be used once and is not reported.
    Clauses expanded from one disjunctive rule are reported once per variable position.
    """
    warnings: list[Diagnostic] = []
    inputs = {d.relation for d in directives if d.kind == "input"}
    defined = {clause.head.relation for clause in clauses}
    for name, info in relations.items():
        if name not in defined and name not in inputs and "@" not in name:
            warnings.append(
                Diagnostic(
                    UNDEFINED_RELATION,
                    f"no rules, facts or `.input` for relation `{name}`",
                    info.decl.span,
                )
            )
    # A rule with several heads was split into clauses sharing one body: count that
    # body once and each head separately (as Soufflé does).
    groups: dict[tuple[str | None, int], list[Clause]] = {}
    for clause in clauses:
        key = (clause.span.file, clause.span.offset) if clause.span else (None, id(clause))
        groups.setdefault(key, []).append(clause)
    reported: set[tuple[str | None, int]] = set()
    for group in groups.values():
        shared_body = len(group) > 1 and all(c.body == group[0].body for c in group)
        units = [group] if shared_body else [[clause] for clause in group]
        for unit in units:
            occurrences: list[Variable] = []
            for literal in unit[0].body:
                occurrences.extend(literal_variables(literal))
            for clause in unit:
                for arg in clause.head.args:
                    occurrences.extend(expression_variables(arg))
            counts = Counter(v.name for v in occurrences)
            for variable in occurrences:
                if counts[variable.name] != 1 or variable.name.startswith("_"):
                    continue
                span = variable.span
                key = (span.file, span.offset) if span is not None else (None, -1)
                if key in reported:
                    continue
                reported.add(key)
                warnings.append(
                    Diagnostic(
                        SINGLETON_VARIABLE,
                        f"variable `{variable.name}` occurs only once (use `_` if intended)",
                        span,
                    )
                )
    return warnings
