"""The predicate dependency graph and its strongly connected components (Tarjan)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from rune.datalog.ast import (
    Aggregate,
    Atom,
    BooleanLiteral,
    Clause,
    Comparison,
    Expr,
    Literal,
    Negation,
    expression_children,
)

__all__ = ["Dependency", "DependencyKind", "clause_dependencies", "strongly_connected_components"]


class DependencyKind(StrEnum):
    """How a rule's head depends on a body relation."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    AGGREGATE = "aggregate"


@dataclass(frozen=True, slots=True)
class Dependency:
    """`head` depends on `body` through the atom ``atom`` of one clause."""

    head: str
    body: str
    kind: DependencyKind
    atom: Atom


def clause_dependencies(clause: Clause) -> Iterator[Dependency]:
    """Every dependency a clause creates, in source order (without recursion: expressions
    may be deeply nested)."""
    head = clause.head.relation
    # Work items: (a literal or an expression, whether it is inside an aggregate body).
    items: list[Literal | Expr] = [*clause.head.args, *clause.body]
    stack: list[tuple[Literal | Expr, bool]] = [(item, False) for item in reversed(items)]
    while stack:
        item, inside = stack.pop()
        if isinstance(item, Atom):
            kind = DependencyKind.AGGREGATE if inside else DependencyKind.POSITIVE
            yield Dependency(head, item.relation, kind, item)
            stack.extend((arg, inside) for arg in reversed(item.args))
        elif isinstance(item, Negation):
            yield Dependency(head, item.atom.relation, DependencyKind.NEGATIVE, item.atom)
            stack.extend((arg, inside) for arg in reversed(item.atom.args))
        elif isinstance(item, Comparison):
            stack.append((item.right, inside))
            stack.append((item.left, inside))
        elif isinstance(item, BooleanLiteral):
            continue
        else:
            # An aggregate's body is visited before its target (pushed last, popped first).
            stack.extend((child, inside) for child in reversed(expression_children(item)))
            if isinstance(item, Aggregate):
                stack.extend((literal, True) for literal in reversed(item.body))


def strongly_connected_components(
    nodes: Iterable[str], edges: dict[str, set[str]]
) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components come dependencies-first.

    ``edges[a]`` holds the nodes `a` depends on, so a component is listed only after every
    component it depends on. Nodes keep their given order within that constraint.
    """
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index_of:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges.get(root, ()))))]
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index_of:
                    index_of[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index_of[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components
