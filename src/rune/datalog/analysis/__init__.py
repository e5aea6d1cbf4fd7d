"""Static analyses of a parsed program, run as an ordered list of passes.

Every pass runs even when an earlier one found problems (so all errors are reported at
once), but clauses with structural errors are left out of the later per-clause passes so
that no error is reported twice in different words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rune.datalog.analysis.model import AnalysedProgram, AnalysedRule, RelationInfo, Stratum
from rune.datalog.ast import Counter, Directive, ProgramAst, walk_expression
from rune.datalog.errors import DatalogError, ErrorCode
from rune.datalog.types import build_type_environment
from rune.errors import Diagnostic

if TYPE_CHECKING:
    from rune.datalog.analysis.typing import KindInference

__all__ = [
    "AnalysedProgram",
    "AnalysedRule",
    "KindInference",
    "RelationInfo",
    "Stratum",
    "analyse",
]


def analyse(ast: ProgramAst, sources: dict[str | None, str]) -> AnalysedProgram:
    """Check a parsed program and prepare it for planning.

    Passes, in order (each needs the ones before it):
      1. types: resolve `.type` declarations to kinds;
      2. declarations: index `.decl`s, resolving attribute types;
      3. directives: IO directives must name declared relations;
      4. structure: per clause, undeclared relations, arities, facts, underscores;
      5. scoping: rename aggregate-local variables (structurally sound clauses only);
      6. safety: groundedness and mutually dependent aggregates;
      7. typing: kinds of variables and expressions;
      8. stratification: strata, and cycles through negation or aggregation;
      9. counters: `$` must not occur in recursive rules;
     10. warnings: relations never defined, variables used once (not errors).

    Raises:
        DatalogError: every problem found, sorted by position.
    """
    # The passes are imported here: a program loaded compiled (`rune.bundle.cache`) is
    # never analysed again, and a process that lives for one decision pays every import.
    from rune.datalog.analysis.declarations import check_clause, declare_relations, is_fact
    from rune.datalog.analysis.safety import check_groundedness, check_mutual_aggregates
    from rune.datalog.analysis.scoping import scope_clause
    from rune.datalog.analysis.stratification import stratify
    from rune.datalog.analysis.typing import infer_clause_kinds
    from rune.datalog.analysis.warnings import find_warnings

    diagnostics: list[Diagnostic] = []
    types, type_errors = build_type_environment(ast.types)
    diagnostics.extend(type_errors)
    relations, declaration_errors = declare_relations(ast.relations, types)
    diagnostics.extend(declaration_errors)
    for directive in ast.directives:
        if directive.relation not in relations:
            diagnostics.append(
                Diagnostic(
                    ErrorCode.UNDECLARED_RELATION,
                    f"undeclared relation `{directive.relation}` in `.{directive.kind}`",
                    directive.span,
                )
            )
        diagnostics.extend(_check_directive(directive))
    for name, info in relations.items():
        if "eqrel" in info.decl.qualifiers and (
            info.arity != 2
            or info.decl.attributes[0].type_name != info.decl.attributes[1].type_name
        ):
            diagnostics.append(
                Diagnostic(
                    ErrorCode.TYPE_MISMATCH,
                    f"equivalence relation `{name}` must have two columns of the same type",
                    info.decl.span,
                )
            )

    sound: list[tuple[int, bool]] = []
    for index, clause in enumerate(ast.clauses):
        problems = check_clause(clause, relations)
        diagnostics.extend(problems)
        if not problems:
            sound.append((index, is_fact(clause)))

    rules: list[AnalysedRule] = []
    for index, fact in sound:
        clause = ast.clauses[index]
        scoped, scopes = (clause, {}) if fact else scope_clause(clause)
        clause_errors: list[Diagnostic] = []
        if not fact:
            clause_errors.extend(check_mutual_aggregates(clause))
            clause_errors.extend(check_groundedness(scoped, scopes))
        kinds, type_errors = infer_clause_kinds(scoped, relations, types)
        clause_errors.extend(type_errors)
        diagnostics.extend(clause_errors)
        if not clause_errors:
            rules.append(AnalysedRule(len(rules), clause, scoped, scopes, kinds))

    strata, strata_errors = stratify(
        relations, [(rule.index, rule.clause, rule.is_fact) for rule in rules]
    )
    diagnostics.extend(strata_errors)
    recursive = {name for stratum in strata if stratum.recursive for name in stratum.relations}
    for rule in rules:
        if rule.is_fact or rule.head not in recursive:
            continue
        for counter in _counters(rule):
            diagnostics.append(
                Diagnostic(
                    ErrorCode.COUNTER_IN_RECURSION,
                    f"auto-increment `$` in a recursive rule for `{rule.head}`",
                    counter.span,
                )
            )

    if diagnostics:
        raise DatalogError.from_diagnostics(diagnostics, sources)
    warnings = find_warnings(relations, ast.clauses, ast.directives)
    return AnalysedProgram(relations, tuple(rules), strata, ast.directives, types, tuple(warnings))


_IO_VALUES = {"input": {"file"}, "output": {"file", "stdout"}}


def _check_directive(directive: Directive) -> list[Diagnostic]:
    """IO options RUNE does not implement are refused rather than ignored."""
    problems: list[str] = []
    if directive.kind == "limitsize":
        problems.append("unsupported directive `.limitsize`")
    io = directive.parameter("IO")
    allowed = _IO_VALUES.get(directive.kind)
    if io is not None and allowed is not None and io.lower() not in allowed:
        problems.append(f"unsupported `IO={io}` for `.{directive.kind}`")
    if (directive.parameter("compress") or "false").lower() == "true":
        problems.append("unsupported IO option `compress=true`")
    return [Diagnostic(ErrorCode.UNSUPPORTED, problem, directive.span) for problem in problems]


def _counters(rule: AnalysedRule) -> list[Counter]:
    from rune.datalog.ast import literal_expressions

    found: list[Counter] = []
    expressions = list(rule.clause.head.args)
    for literal in rule.clause.body:
        expressions.extend(literal_expressions(literal))
    for expr in expressions:
        found.extend(node for node in walk_expression(expr) if isinstance(node, Counter))
    return found


def __getattr__(name: str) -> Any:
    # `KindInference` (the typing pass) on first use, for the code generators.
    if name == "KindInference":
        from rune.datalog.analysis.typing import KindInference

        return KindInference
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
