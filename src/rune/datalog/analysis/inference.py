"""Declarations inferred for relations a program uses without `.decl` (opt-in).

Soufflé requires every relation to be declared. RUNE's rule files may leave that out
(`Program.parse(..., infer_declarations=True)`): each relation used but not declared gets
a declaration whose arity is that of its first use and whose column types come from

* **use**: a variable in a column of a declared relation (`attr_num(a, "level", l)` makes
  `l` a number), a string literal (symbol), a float literal (float), a fixed-type functor
  (`cat` gives a symbol, `count` a number), arithmetic (numeric), a comparison with
  another typed term; and through shared variables, from one undeclared relation to the
  next (`path(a, c) :- path(a, b), edge(b, c)` gives `path` the types of `edge`);
* **facts**: inline facts of the program, and sample rows the caller gives
  (``fact_samples``: a TOML `[data]` table, say): a `str` is a symbol, an `int` a number
  (or whatever numeric type use asks for), a `float` a float.

Only a relation something can fill is declared: one with a rule or a fact, sample rows
(even none: a bundle's `facts/<relation>.facts` file), or an `.input` directive. A
relation only ever read (a typo, most likely) stays undeclared, and is reported so.

A column whose type nothing determines is a symbol (any text can be one); one only used
with whole numbers is a `number`. Two pieces of evidence that disagree (a column that one
rule fills with a symbol and another with a number) are an error naming both, at the
place of each; nothing is guessed. The inferred declarations then go through every
ordinary check, exactly as if they had been written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rune.datalog.analysis.scoping import scope_clause
from rune.datalog.analysis.typing import FUNCTOR_SIGNATURES, SHIFT_OPERATORS
from rune.datalog.ast import (
    Aggregate,
    Atom,
    Attribute,
    BinaryOp,
    BooleanLiteral,
    Clause,
    Comparison,
    Counter,
    Expr,
    FunctorCall,
    Literal,
    Negation,
    NumberConstant,
    ProgramAst,
    RelationDecl,
    StringConstant,
    TypeCast,
    UnaryOp,
    Variable,
    Wildcard,
    walk_expression,
)
from rune.datalog.errors import ErrorCode
from rune.datalog.types import Kind, TypeEnvironment, build_type_environment
from rune.errors import Diagnostic, SourceSpan

__all__ = ["infer_declarations"]



@dataclass(frozen=True, slots=True)
class _Evidence:
    """Why a term has a type: what says so, and where."""

    what: str
    span: SourceSpan | None


@dataclass(frozen=True, slots=True)
class _Typed:
    """A term whose type is known by itself (a literal, a functor's result)."""

    kind: Kind
    evidence: _Evidence


@dataclass(frozen=True, slots=True)
class _Numeric:
    """A term that is some numeric type (a whole-number literal, arithmetic)."""

    evidence: _Evidence


_Term = int | _Typed | _Numeric | None  # an int is a union-find node


class _Classes:
    """Union-find over columns of undeclared relations and variables, each class with the
    evidence gathered for its type."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.kinds: list[dict[Kind, _Evidence]] = []
        self.numeric: list[_Evidence | None] = []

    def new(self) -> int:
        self.parent.append(len(self.parent))
        self.kinds.append({})
        self.numeric.append(None)
        return len(self.parent) - 1

    def find(self, node: int) -> int:
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a == b:
            return
        if len(self.kinds[a]) < len(self.kinds[b]):
            a, b = b, a
        self.parent[b] = a
        for kind, evidence in self.kinds[b].items():
            self.kinds[a].setdefault(kind, evidence)
        if self.numeric[a] is None:
            self.numeric[a] = self.numeric[b]

    def add(self, node: int, term: _Term) -> None:
        """Say that the class of ``node`` and ``term`` are the same type."""
        if term is None:
            return
        if isinstance(term, int):
            self.union(node, term)
            return
        root = self.find(node)
        if isinstance(term, _Typed):
            self.kinds[root].setdefault(term.kind, term.evidence)
        elif self.numeric[root] is None:
            self.numeric[root] = term.evidence


def infer_declarations(
    ast: ProgramAst, fact_samples: Mapping[str, Iterable[Sequence[Any]]] | None = None
) -> tuple[ProgramAst, tuple[RelationDecl, ...], list[Diagnostic]]:
    """Declare every relation ``ast`` uses without declaring it (see the module docstring).

    Args:
        ast: the parsed program.
        fact_samples: rows of input facts by relation (Python values), as evidence.

    Returns:
        The program with the inferred declarations added after its own, the inferred
        declarations, and a diagnostic for every column whose evidence conflicts (its
        declaration is still added, with the first type found, so that later checks run).
    """
    types, _ = build_type_environment(ast.types)  # type errors are reported by `analyse`
    declared: dict[str, tuple[Kind | None, ...]] = {}
    for decl in ast.relations:
        declared.setdefault(decl.name, tuple(types.kind_of(a.type_name)
                                             for a in decl.attributes))
    inference = _Inference(declared, types)
    for clause in ast.clauses:
        inference.clause(clause)
    for name, rows in (fact_samples or {}).items():
        if isinstance(name, str) and name not in declared:
            inference.samples(name, rows)
    for directive in ast.directives:
        inference.mention(directive.relation, directive.span)
        if directive.kind == "input":
            inference.defined.add(directive.relation)
    decls, diagnostics = inference.declarations()
    if not decls:
        return ast, (), diagnostics
    return replace(ast, relations=(*ast.relations, *decls)), decls, diagnostics


class _Inference:
    def __init__(self, declared: Mapping[str, tuple[Kind | None, ...]],
                 types: TypeEnvironment) -> None:
        self.declared = declared
        self.types = types
        self.classes = _Classes()
        # Each undeclared relation: its columns' nodes and where it is first used.
        self.columns: dict[str, list[int]] = {}
        self.first_use: dict[str, SourceSpan | None] = {}
        self.variables: dict[str, int] = {}  # of the clause being read
        # Relations something can fill: a rule or fact, input rows, an `.input`.
        self.defined: set[str] = set()

    # -- relations ---------------------------------------------------------------------
    def relation(self, name: str, arity: int, span: SourceSpan | None) -> list[int] | None:
        """The column nodes of an undeclared relation (made at its first use), or None
        when it is declared or used here with another arity (`analyse` reports that)."""
        if name in self.declared:
            return None
        columns = self.columns.get(name)
        if columns is None:
            columns = self.columns[name] = [self.classes.new() for _ in range(arity)]
            self.first_use[name] = span
        return columns if len(columns) == arity else None

    def mention(self, name: str, span: SourceSpan | None) -> None:
        """A directive names the relation: it is undeclared too, if its arity is known."""
        if name not in self.declared and name not in self.first_use:
            self.first_use.setdefault(name, span)

    # -- clauses -------------------------------------------------------------------------
    def clause(self, clause: Clause) -> None:
        self.variables = {}
        self.defined.add(clause.head.relation)
        scoped = clause
        if not any(_nested_aggregate(e) for e in _clause_expressions(clause)):
            scoped, _ = scope_clause(clause)  # aggregate-local variables get their own names
        self.atom(scoped.head, in_head=True)
        for literal in scoped.body:
            self.literal(literal)

    def literal(self, literal: Literal) -> None:
        if isinstance(literal, Atom):
            self.atom(literal)
        elif isinstance(literal, Negation):
            self.atom(literal.atom)
        elif isinstance(literal, Comparison):
            if literal.op in ("match", "contains", "not_match", "not_contains"):
                for side in (literal.left, literal.right):
                    self.expect(side, Kind.SYMBOL, f"an operand of `{literal.op}`")
                return
            left, right = self.term(literal.left), self.term(literal.right)
            if isinstance(left, int):
                self.classes.add(left, right)
            elif isinstance(right, int):
                self.classes.add(right, left)
        else:
            assert isinstance(literal, BooleanLiteral)

    def atom(self, atom: Atom, *, in_head: bool = False) -> None:
        kinds = self.declared.get(atom.relation)
        columns = self.relation(atom.relation, len(atom.args), atom.span)
        for position, arg in enumerate(atom.args):
            if columns is not None:
                self.classes.add(columns[position], self.term(arg))
            elif kinds is not None and position < len(kinds) and kinds[position] is not None:
                kind = kinds[position]
                assert kind is not None
                self.expect(arg, kind, f"column {position + 1} of `{atom.relation}`")
            else:
                self.term(arg)

    def expect(self, expr: Expr, kind: Kind, what: str) -> None:
        """``expr`` has type ``kind`` because of ``what``."""
        term = self.term(expr)
        if isinstance(term, int):
            self.classes.add(term, _Typed(kind, _Evidence(what, expr.span)))

    # -- expressions ------------------------------------------------------------------------
    def term(self, expr: Expr) -> _Term:
        """The type term of ``expr``, constraining the variables inside it on the way."""
        if isinstance(expr, Variable):
            node = self.variables.get(expr.name)
            if node is None:
                node = self.variables[expr.name] = self.classes.new()
            return node
        if isinstance(expr, Wildcard):
            return None
        if isinstance(expr, NumberConstant):
            evidence = _Evidence(f"`{expr.value}`", expr.span)
            if expr.literal == "float":
                return _Typed(Kind.FLOAT, evidence)
            if expr.literal == "unsigned":
                return _Typed(Kind.UNSIGNED, evidence)
            return _Numeric(evidence)
        if isinstance(expr, StringConstant):
            return _Typed(Kind.SYMBOL, _Evidence(f'`"{_short(expr.value)}"`', expr.span))
        if isinstance(expr, Counter):
            return _Typed(Kind.NUMBER, _Evidence("`$`", expr.span))
        if isinstance(expr, TypeCast):
            self.term(expr.value)
            kind = self.types.kind_of(expr.type_name)
            return None if kind is None else _Typed(kind, _Evidence(
                f"`as(..., {expr.type_name})`", expr.span))
        if isinstance(expr, FunctorCall):
            return self.functor(expr)
        if isinstance(expr, UnaryOp):
            return self.numeric(expr, [expr.operand], f"operator `{expr.op}`")
        if isinstance(expr, BinaryOp):
            if expr.op in SHIFT_OPERATORS:
                self.numeric(expr, [expr.right], f"operator `{expr.op}`")
                return self.numeric(expr, [expr.left], f"operator `{expr.op}`")
            return self.numeric(expr, [expr.left, expr.right], f"operator `{expr.op}`")
        assert isinstance(expr, Aggregate)
        for literal in expr.body:
            self.literal(literal)
        evidence = _Evidence(f"the `{expr.op}` aggregate", expr.span)
        if expr.op == "count":
            return _Typed(Kind.NUMBER, evidence)
        if expr.op == "mean":
            if expr.target is not None:
                self.numeric(expr, [expr.target], "`mean`")
            return _Typed(Kind.FLOAT, evidence)
        if expr.target is None:
            return None
        if expr.op == "sum":
            return self.numeric(expr, [expr.target], "`sum`")
        return self.term(expr.target)

    def functor(self, call: FunctorCall) -> _Term:
        signature = FUNCTOR_SIGNATURES.get(call.name)
        if signature is None:
            # `min`, `max`, `range`...: the result has the type of the arguments.
            node = self.classes.new()
            for arg in call.args:
                self.classes.add(node, self.term(arg))
            if call.name == "range":
                self.classes.add(node, _Numeric(_Evidence("`range`", call.span)))
            return node
        result, arguments = signature
        for position, arg in enumerate(call.args):
            kind = (arguments[position] if arguments is not None and position < len(arguments)
                    else Kind.SYMBOL if arguments is None else None)
            if kind is None:
                self.term(arg)
            else:
                self.expect(arg, kind, f"an argument of `{call.name}`")
        return _Typed(result, _Evidence(f"`{call.name}(...)`", call.span))

    def numeric(self, expr: Expr, operands: list[Expr], what: str) -> _Term:
        """Arithmetic: the operands and the result are one numeric type."""
        node = self.classes.new()
        self.classes.add(node, _Numeric(_Evidence(what, expr.span)))
        for operand in operands:
            self.classes.add(node, self.term(operand))
        return node

    # -- facts -------------------------------------------------------------------------------
    def samples(self, name: str, rows: Iterable[Sequence[Any]]) -> None:
        self.defined.add(name)
        for row in rows:
            if isinstance(row, str | bytes) or not isinstance(row, Sequence):
                continue  # the facts' own check reports it
            columns = self.relation(name, len(row), None)
            if columns is None:
                continue
            for node, value in zip(columns, row, strict=True):
                what = f"the value `{_short(repr(value))}` in the facts of `{name}`"
                if isinstance(value, bool):
                    continue
                if isinstance(value, str):
                    self.classes.add(node, _Typed(Kind.SYMBOL, _Evidence(what, None)))
                elif isinstance(value, int):
                    self.classes.add(node, _Numeric(_Evidence(what, None)))
                elif isinstance(value, float):
                    self.classes.add(node, _Typed(Kind.FLOAT, _Evidence(what, None)))

    # -- results -----------------------------------------------------------------------------
    def declarations(self) -> tuple[tuple[RelationDecl, ...], list[Diagnostic]]:
        decls: list[RelationDecl] = []
        diagnostics: list[Diagnostic] = []
        for name, columns in self.columns.items():
            if name not in self.defined:
                continue  # nothing can fill it: a typo, reported as undeclared
            span = self.first_use.get(name)
            attributes = []
            for position, node in enumerate(columns, 1):
                kind, problem = self.resolve(node, name, position)
                if problem is not None:
                    diagnostics.append(Diagnostic(ErrorCode.TYPE_MISMATCH, problem,
                                                  _problem_span(self.classes, node, span)))
                attributes.append(Attribute(f"c{position}", kind.value, span))
            decls.append(RelationDecl(name, tuple(attributes), frozenset(), span))
        return tuple(decls), diagnostics

    def resolve(self, node: int, name: str, position: int) -> tuple[Kind, str | None]:
        root = self.classes.find(node)
        kinds = self.classes.kinds[root]
        numeric = self.classes.numeric[root]
        found = list(kinds.items())
        if len(found) > 1:
            (first, why), (second, other) = found[0], found[1]
            return first, (f"cannot infer the type of column {position} of `{name}`: it is a "
                           f"{first} ({_describe(why)}) and a {second} ({_describe(other)}); "
                           f"declare `{name}` with `.decl` or make them agree")
        if found:
            kind, why = found[0]
            if kind is Kind.SYMBOL and numeric is not None:
                return kind, (f"cannot infer the type of column {position} of `{name}`: it is "
                              f"a symbol ({_describe(why)}) and a number "
                              f"({_describe(numeric)}); declare `{name}` with `.decl` or "
                              "make them agree")
            return kind, None
        return (Kind.NUMBER if numeric is not None else Kind.SYMBOL), None


def _problem_span(classes: _Classes, node: int, default: SourceSpan | None
                 ) -> SourceSpan | None:
    """Where to report a conflict: the first located evidence, else the first use."""
    root = classes.find(node)
    for evidence in classes.kinds[root].values():
        if evidence.span is not None:
            return evidence.span
    numeric = classes.numeric[root]
    if numeric is not None and numeric.span is not None:
        return numeric.span
    return default


def _describe(evidence: _Evidence) -> str:
    if evidence.span is None:
        return evidence.what
    return f"{evidence.what} at {evidence.span}"


def _short(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:37]}..."


def _clause_expressions(clause: Clause) -> Iterator[Expr]:
    yield from clause.head.args
    for literal in clause.body:
        if isinstance(literal, Atom):
            yield from literal.args
        elif isinstance(literal, Negation):
            yield from literal.atom.args
        elif isinstance(literal, Comparison):
            yield literal.left
            yield literal.right


def _nested_aggregate(expr: Expr) -> bool:
    """Whether an aggregate holds another (`scope_clause` needs them flat)."""
    for node in walk_expression(expr):
        if isinstance(node, Aggregate):
            inner = [node.target] if node.target is not None else []
            for literal in node.body:
                if isinstance(literal, Atom):
                    inner.extend(literal.args)
                elif isinstance(literal, Negation):
                    inner.extend(literal.atom.args)
                elif isinstance(literal, Comparison):
                    inner.extend((literal.left, literal.right))
            if any(isinstance(n, Aggregate) for e in inner for n in walk_expression(e)):
                return True
    return False
