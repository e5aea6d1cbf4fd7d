"""Stratification: order the components of the dependency graph and refuse programs whose
negation or aggregation goes through recursion (they have no stratified model)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from rune.datalog.analysis.dependencies import (
    Dependency,
    DependencyKind,
    clause_dependencies,
    strongly_connected_components,
)
from rune.datalog.analysis.model import RelationInfo, Stratum
from rune.datalog.ast import Clause
from rune.datalog.errors import ErrorCode
from rune.errors import Diagnostic

__all__ = ["stratify"]


def stratify(
    relations: dict[str, RelationInfo],
    clauses: Sequence[tuple[int, Clause, bool]],
) -> tuple[tuple[Stratum, ...], list[Diagnostic]]:
    """Group relations into strata, dependencies first.

    Args:
        relations: every declared relation (each gets a stratum, even without rules).
        clauses: ``(rule index, clause, is_fact)`` for every clause that passed the
            structural checks.

    Returns:
        The strata in evaluation order, and one diagnostic per component whose cycle goes
        through a negation or an aggregate, naming the cycle.
    """
    edges: dict[str, set[str]] = {name: set() for name in relations}
    dependencies: list[Dependency] = []
    rules_by_head: dict[str, list[int]] = {name: [] for name in relations}
    for index, clause, fact in clauses:
        if fact:
            continue
        rules_by_head[clause.head.relation].append(index)
        for dependency in clause_dependencies(clause):
            if dependency.body in relations:
                edges[dependency.head].add(dependency.body)
                dependencies.append(dependency)

    components = strongly_connected_components(list(relations), edges)
    component_of = {name: i for i, members in enumerate(components) for name in members}
    diagnostics: list[Diagnostic] = []
    reported: set[int] = set()
    for dependency in dependencies:
        if dependency.kind is DependencyKind.POSITIVE:
            continue
        component = component_of[dependency.head]
        if component != component_of[dependency.body] or component in reported:
            continue
        reported.add(component)
        cycle = _cycle(dependency, edges, set(components[component]))
        members = ", ".join(f"`{m}`" for m in sorted(components[component]))
        path = " -> ".join(f"`{name}`" for name in cycle)
        if dependency.kind is DependencyKind.NEGATIVE:
            code = ErrorCode.UNSTRATIFIABLE_NEGATION
            what = f"`{dependency.head}` negates `{dependency.body}`"
            kind = "negation"
        else:
            code = ErrorCode.UNSTRATIFIABLE_AGGREGATION
            what = f"`{dependency.head}` aggregates over `{dependency.body}`"
            kind = "aggregation"
        diagnostics.append(
            Diagnostic(
                code,
                f"cannot stratify {members}: {what} in the recursive cycle {path} "
                f"({kind} through recursion)",
                dependency.atom.span,
            )
        )

    strata = []
    for number, component_members in enumerate(components):
        member_set = set(component_members)
        ordered = tuple(name for name in relations if name in member_set)
        rules = tuple(sorted(i for name in ordered for i in rules_by_head[name]))
        first = component_members[0]
        recursive = len(component_members) > 1 or first in edges[first]
        strata.append(Stratum(number, ordered, rules, recursive))
    return tuple(strata), diagnostics


def _cycle(dependency: Dependency, edges: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest dependency cycle through ``dependency`` (head -> body -> ... -> head)."""
    start, goal = dependency.body, dependency.head
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        if current == goal:
            break
        for successor in sorted(edges[current] & component):
            if successor not in previous:
                previous[successor] = current
                queue.append(successor)
    path: list[str] = []
    node: str | None = goal
    while node is not None:
        path.append(node)
        node = previous.get(node)
    path.reverse()
    return [goal, *path] if path and path[0] == start else [goal, start, goal]
