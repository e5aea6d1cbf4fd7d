"""From a parsed program to compiled strata: the ordered list of compilation passes."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from rune.datalog.analysis import AnalysedProgram, AnalysedRule, analyse
from rune.datalog.ast import (
    Atom,
    Clause,
    Expr,
    NumberConstant,
    ProgramAst,
    StringConstant,
    Variable,
    Wildcard,
)
from rune.datalog.codegen import compile_plans, constant_value
from rune.datalog.engine import CompiledRule, StratumProgram
from rune.datalog.errors import DatalogError
from rune.datalog.plan import MAX_DELTA_VERSIONS, RulePlan, delta_atoms, plan_rule
from rune.datalog.relation import Row
from rune.errors import SourceSpan

__all__ = ["CompiledProgram", "compile_program"]


@dataclass(frozen=True, slots=True)
class CompiledProgram:
    """Everything evaluation needs, built once per program.

    Attributes:
        analysed: the checked (and possibly rewritten) program.
        facts: the rows of constant inline facts, by relation.
        fact_rules: compiled rules for facts whose arguments are constant expressions.
        strata: the compiled rules of each stratum, in evaluation order.
        source: the generated Python source of every rule.
        demand_driven: relations the magic-set transformation computes only in part (as
            demanded by other rules), so they stay empty in results and take no input.
    """

    analysed: AnalysedProgram
    facts: dict[str, frozenset[Row]]
    fact_rules: tuple[CompiledRule, ...]
    strata: tuple[StratumProgram, ...]
    source: str
    demand_driven: frozenset[str] = frozenset()


def compile_program(
    ast: ProgramAst, sources: dict[str | None, str], number_bits: int
) -> CompiledProgram:
    """Check and compile a parsed program.

    Passes, in order (each needs the ones before it):
      0. eqrel: add the reflexive, symmetric and transitive closure rules of every
         binary relation declared `eqrel`;
      1. analyse: every static check; raises `DatalogError` with all problems found;
      2. inline: substitute relations declared `inline` (the result is checked again);
      3. magic: the magic-set transformation where a pragma asks for it (checked again;
         dropped if the rewritten program would not pass);
      4. facts: rows of constant facts, converted to their columns' kinds;
      5. plan: a join plan per rule, one per delta version for recursive rules (one
         whole plan, evaluated naively, for a rule with too many recursive atoms);
      6. codegen: Python source for every plan, compiled in one `compile` call.
    """
    # (Imported here: a program loaded compiled, from `rune.bundle.cache`, needs neither.)
    from rune.datalog.inline import inline_relations
    from rune.datalog.magic import magic_targets, magic_transform

    ast = _add_equivalence_rules(ast)
    analysed = analyse(ast, sources)
    warnings = analysed.warnings  # about the program as written, not as rewritten below
    inlined = inline_relations(ast, analysed)
    if inlined is not None:
        ast = inlined
        analysed = analyse(ast, sources)
    demand_driven: frozenset[str] = frozenset()
    targets = magic_targets(ast)
    if targets:
        transformed = magic_transform(ast, analysed, targets)
        if transformed is not None:
            # Keep the untransformed program if the rewrite fails: it is equivalent.
            with contextlib.suppress(DatalogError):
                analysed = analyse(transformed.ast, sources)
                demand_driven = transformed.demand_driven

    analysed = dataclasses.replace(analysed, warnings=warnings)
    try:
        return _compile(analysed, sources, number_bits, demand_driven)
    except DatalogError as error:
        # (Out-of-range literals are found while converting facts and generating code.)
        raise _with_sources(error, sources) from None


def _compile(
    analysed: AnalysedProgram,
    sources: dict[str | None, str],
    number_bits: int,
    demand_driven: frozenset[str],
) -> CompiledProgram:
    """Passes 4-6 of `compile_program`."""
    facts: dict[str, set[Row]] = {name: set() for name in analysed.relations}
    fact_plans: list[RulePlan] = []
    for rule in analysed.rules:
        if not rule.is_fact:
            continue
        head = rule.clause.head
        kinds = analysed.relations[head.relation].kinds
        if all(isinstance(a, NumberConstant | StringConstant) for a in head.args):
            facts[head.relation].add(
                tuple(
                    constant_value(arg, kind, number_bits)  # type: ignore[arg-type]
                    for arg, kind in zip(head.args, kinds, strict=True)
                )
            )
        else:
            fact_plans.extend(_plan(rule, frozenset(), sources))

    plans: list[RulePlan] = list(fact_plans)
    per_stratum: list[tuple[list[RulePlan], list[RulePlan]]] = []
    for stratum in analysed.strata:
        members = frozenset(stratum.relations) if stratum.recursive else frozenset()
        initial: list[RulePlan] = []
        recursive: list[RulePlan] = []
        for index in stratum.rules:
            rule = analysed.rules[index]
            if members and delta_atoms(rule, members) > MAX_DELTA_VERSIONS:
                # One plan over the full relations, run again whenever the stratum grows
                # (see `Engine`): a delta version per atom would be too many plans.
                recursive.extend(_plan(rule, frozenset(), sources))
                continue
            for plan in _plan(rule, members, sources):
                (initial if plan.delta_atom is None else recursive).append(plan)
        plans.extend(initial)
        plans.extend(recursive)
        per_stratum.append((initial, recursive))

    module = compile_plans(plans, analysed, number_bits)
    compiled: Callable[[RulePlan], CompiledRule] = lambda plan: CompiledRule(  # noqa: E731
        plan, module.functions[plan.name]
    )
    strata = tuple(
        StratumProgram(
            stratum,
            tuple(compiled(p) for p in initial),
            tuple(compiled(p) for p in recursive),
        )
        for stratum, (initial, recursive) in zip(analysed.strata, per_stratum, strict=True)
    )
    return CompiledProgram(
        analysed,
        {name: frozenset(rows) for name, rows in facts.items()},
        tuple(compiled(p) for p in fact_plans),
        strata,
        module.source,
        demand_driven,
    )


def _add_equivalence_rules(ast: ProgramAst) -> ProgramAst:
    """`r(x, x) :- r(x, _)`, `r(x, x) :- r(_, x)`, `r(y, x) :- r(x, y)` and
    `r(x, z) :- r(x, y), r(y, z)` for each binary `eqrel` relation."""
    clauses = list(ast.clauses)
    for decl in ast.relations:
        if "eqrel" not in decl.qualifiers or decl.arity != 2:
            continue
        if decl.attributes[0].type_name != decl.attributes[1].type_name:
            continue  # reported by the analyses
        span = decl.span
        x, y, z, _ = Variable("x", span), Variable("y", span), Variable("z", span), Wildcard(span)

        def atom(a: Expr, b: Expr, name: str = decl.name, where: SourceSpan | None = span) -> Atom:
            return Atom(name, (a, b), where)

        clauses += [
            Clause(atom(x, x), (atom(x, _),), span),
            Clause(atom(x, x), (atom(_, x),), span),
            Clause(atom(y, x), (atom(x, y),), span),
            Clause(atom(x, z), (atom(x, y), atom(y, z)), span),
        ]
    if len(clauses) == len(ast.clauses):
        return ast
    return ProgramAst(ast.relations, ast.types, tuple(clauses), ast.directives, ast.pragmas)


def _plan(
    rule: AnalysedRule, members: frozenset[str], sources: dict[str | None, str]
) -> list[RulePlan]:
    try:
        return plan_rule(rule, members)
    except DatalogError as error:
        raise _with_sources(error, sources) from None


def _with_sources(error: DatalogError, sources: dict[str | None, str]) -> DatalogError:
    """``error`` rendering snippets of the program's files."""
    if error.sources:
        return error
    return DatalogError(
        error.message, code=error.code, diagnostics=error.diagnostics, sources=sources
    )
