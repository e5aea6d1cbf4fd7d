"""The magic-set transformation, enabled by `.pragma "magic-transform" "*"` (or a list).

Rules are specialised to the bindings their callers supply: a use `r(1, y)` of a
transformed relation becomes `r@bf(1, y)`, computed by copies of r's rules guarded by a
*magic* relation `@magic_r@bf` that holds the first arguments actually asked for. The
magic relations are fed by the literals preceding each use (left-to-right sideways
information passing). The result is equivalent for every relation used by the rest of
the program, but only the demanded part of a transformed relation is computed: a
transformed relation that nothing uses unadorned is left empty (as in Soufflé, where the
transformation is an optimisation for output relations).

Relations that are inputs or outputs, used under negation or in aggregates, or whose
rules contain aggregates or `$`, and every relation those read, are left alone. If the
transformed program does not pass the static checks, the original program is used.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from rune.datalog.analysis.model import AnalysedProgram
from rune.datalog.ast import (
    Aggregate,
    Atom,
    Attribute,
    Clause,
    Comparison,
    Counter,
    Expr,
    Literal,
    Negation,
    NumberConstant,
    ProgramAst,
    RelationDecl,
    StringConstant,
    Variable,
    literal_expressions,
    walk_expression,
)

__all__ = ["MagicProgram", "magic_targets", "magic_transform"]


def magic_targets(ast: ProgramAst) -> set[str] | None:
    """The relations the program's pragmas ask to transform (``None``: no pragma)."""
    targets: set[str] = set()
    found = False
    for pragma in ast.pragmas:
        if pragma.key == "magic-transform":
            found = True
            targets |= {name.strip() for name in pragma.value.split(",") if name.strip()}
    if not found:
        return None
    if "*" in targets:
        return {decl.name for decl in ast.relations}
    return targets


@dataclass(frozen=True, slots=True)
class MagicProgram:
    """A transformed program, and the relations it no longer computes in full (empty)."""

    ast: ProgramAst
    demand_driven: frozenset[str]


def magic_transform(
    ast: ProgramAst, analysed: AnalysedProgram, targets: set[str]
) -> MagicProgram | None:
    """The magic-set transformed program, or ``None`` when nothing can be transformed."""
    transformable = _transformable(ast, analysed, targets)
    if not transformable:
        return None
    transformer = _Transformer(ast, transformable)
    transformed = transformer.run()
    if transformed is None:
        return None
    return MagicProgram(transformed, frozenset(transformable - transformer.kept_whole))


def _transformable(ast: ProgramAst, analysed: AnalysedProgram, targets: set[str]) -> set[str]:
    # Relations with no rule reading an atom hold given data (facts, inputs): keep them.
    derived = {clause.head.relation for clause in ast.clauses if clause.body}
    excluded: set[str] = set(analysed.relations) - derived
    excluded |= {decl.name for decl in ast.relations if "eqrel" in decl.qualifiers}
    for clause in ast.clauses:
        expressions = [*clause.head.args]
        for literal in clause.body:
            expressions.extend(literal_expressions(literal))
            if isinstance(literal, Negation):
                excluded.add(literal.atom.relation)
        for expr in expressions:
            for node in walk_expression(expr):
                if isinstance(node, Aggregate):
                    excluded.add(clause.head.relation)
                    for inner in node.body:
                        atom = inner.atom if isinstance(inner, Negation) else inner
                        if isinstance(atom, Atom):
                            excluded.add(atom.relation)
                elif isinstance(node, Counter):
                    excluded.add(clause.head.relation)
    # Whatever an excluded relation reads must stay complete too (this keeps negation
    # stratified and avoids demand-driven copies of relations computed in full anyway).
    depends_on: dict[str, set[str]] = {}
    for clause in ast.clauses:
        reads = depends_on.setdefault(clause.head.relation, set())
        for literal in clause.body:
            atom = literal.atom if isinstance(literal, Negation) else literal
            if isinstance(atom, Atom):
                reads.add(atom.relation)
        for expr in (
            *clause.head.args,
            *(e for lit in clause.body for e in literal_expressions(lit)),
        ):
            for node in walk_expression(expr):
                if isinstance(node, Aggregate):
                    for inner in node.body:
                        atom = inner.atom if isinstance(inner, Negation) else inner
                        if isinstance(atom, Atom):
                            reads.add(atom.relation)
    work = list(excluded)
    while work:
        for dependency in depends_on.get(work.pop(), ()):
            if dependency not in excluded:
                excluded.add(dependency)
                work.append(dependency)
    excluded |= {directive.relation for directive in ast.directives}
    return (targets & set(analysed.relations)) - excluded


class _Transformer:
    def __init__(self, ast: ProgramAst, transformable: set[str]) -> None:
        self.ast = ast
        self.transformable = transformable
        self.declarations = {decl.name: decl for decl in ast.relations}
        self.clauses_of: dict[str, list[Clause]] = {}
        for clause in ast.clauses:
            self.clauses_of.setdefault(clause.head.relation, []).append(clause)
        self.requests: deque[tuple[str, str]] = deque()
        self.adorned: set[tuple[str, str]] = set()
        self.unadorned: deque[str] = deque()
        self.kept_whole: set[str] = set()
        self.new_declarations: list[RelationDecl] = []
        self.clauses: list[Clause] = []

    def run(self) -> ProgramAst | None:
        for clause in self.ast.clauses:
            if clause.head.relation not in self.transformable:
                self.clauses.append(self.adorn(clause, None, set()))
        while self.requests or self.unadorned:
            if self.requests:
                relation, pattern = self.requests.popleft()
                self.emit_adorned(relation, pattern)
            else:
                relation = self.unadorned.popleft()
                for clause in self.clauses_of.get(relation, []):
                    self.clauses.append(self.adorn(clause, None, set()))
        if not self.adorned:
            return None
        return ProgramAst(
            (*self.ast.relations, *self.new_declarations),
            self.ast.types,
            tuple(self.clauses),
            self.ast.directives,
            self.ast.pragmas,
        )

    def emit_adorned(self, relation: str, pattern: str) -> None:
        for clause in self.clauses_of.get(relation, []):
            head = clause.head
            bound_args = tuple(a for a, p in zip(head.args, pattern, strict=True) if p == "b")
            guard = Atom(_magic_name(relation, pattern), bound_args, head.span)
            bound = {a.name for a in bound_args if isinstance(a, Variable)}
            adorned = self.adorn(clause, guard, bound)
            new_head = Atom(_adorned_name(relation, pattern), head.args, head.span)
            self.clauses.append(Clause(new_head, adorned.body, clause.span))

    def adorn(self, clause: Clause, guard: Atom | None, bound: set[str]) -> Clause:
        """Adorn the transformable atoms of ``clause``'s body, left to right."""
        body: list[Literal] = [guard] if guard is not None else []
        bound = set(bound)
        for literal in clause.body:
            if isinstance(literal, Atom) and literal.relation in self.transformable:
                pattern = "".join("b" if _is_bound(a, bound) else "f" for a in literal.args)
                if "b" in pattern:
                    self.request(literal.relation, pattern)
                    seed_args = tuple(
                        a for a, p in zip(literal.args, pattern, strict=True) if p == "b"
                    )
                    seed_head = Atom(
                        _magic_name(literal.relation, pattern), seed_args, literal.span
                    )
                    self.clauses.append(Clause(seed_head, tuple(body), clause.span))
                    literal = Atom(
                        _adorned_name(literal.relation, pattern), literal.args, literal.span
                    )
                elif literal.relation not in self.kept_whole:
                    self.kept_whole.add(literal.relation)
                    self.unadorned.append(literal.relation)
            body.append(literal)
            _bind(literal, bound)
        return Clause(clause.head, tuple(body), clause.span)

    def request(self, relation: str, pattern: str) -> None:
        if (relation, pattern) in self.adorned:
            return
        self.adorned.add((relation, pattern))
        self.requests.append((relation, pattern))
        decl = self.declarations[relation]
        self.new_declarations.append(
            RelationDecl(_adorned_name(relation, pattern), decl.attributes, frozenset(), decl.span)
        )
        magic_attributes = tuple(
            Attribute(a.name, a.type_name, a.span)
            for a, p in zip(decl.attributes, pattern, strict=True)
            if p == "b"
        )
        self.new_declarations.append(
            RelationDecl(_magic_name(relation, pattern), magic_attributes, frozenset(), decl.span)
        )


def _is_bound(arg: Expr, bound: set[str]) -> bool:
    """Whether an argument passes a binding: a constant, or a variable already bound.

    Values computed by arithmetic are not passed on: `r(x+1)` in a rule for `r` would
    otherwise ask for ever new values (Soufflé treats them the same way).
    """
    if isinstance(arg, NumberConstant | StringConstant):
        return True
    return isinstance(arg, Variable) and arg.name in bound


def _bind(literal: Literal, bound: set[str]) -> None:
    if isinstance(literal, Atom):
        bound.update(a.name for a in literal.args if isinstance(a, Variable))
    elif isinstance(literal, Comparison) and literal.op == "=":
        sides: tuple[tuple[Expr, Expr], ...] = (
            (literal.left, literal.right),
            (literal.right, literal.left),
        )
        for side, other in sides:
            if isinstance(side, Variable) and _is_bound(other, bound):
                bound.add(side.name)


def _adorned_name(relation: str, pattern: str) -> str:
    return f"{relation}@{pattern}"


def _magic_name(relation: str, pattern: str) -> str:
    return f"@magic_{relation}@{pattern}"
