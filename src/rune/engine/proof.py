"""Datalog proofs of the derived facts a decision used, ready to print or serialize.

`ProofSearch(snapshot, result).proof(relation, row)` justifies a tuple of ``result`` (the
rules' result for one request) as an engine-level `Proof`: an input fact, labelled with
where it comes from (an entity, the request, recorded history, a user fact, a fact
written in the rules), or a rule with a proof of each body literal, including the
comparisons that held with their values (`l >= 3` as `3 >= 3`).

Proof trees come from the Datalog engine's explainer (`Result.explain`), which picks
derivations that are well-founded by construction. Should it be unavailable or fail on
a fact, a small search of our own takes over for that fact: it looks for a rule whose
body matches tuples of the same result, proving each in turn and never using a fact
inside its own proof (it tracks the current path), trying first the rule the
evaluation recorded as the tuple's origin when it did. The search is bounded in depth
and in work; a fact it cannot justify within the bounds is shown as unproved, never
guessed. `fallbacks` lists the facts the search had to prove.

Body literals are evaluated here with the engine's semantics for the expressions rules
use (wrapping arithmetic, `cat`, `strlen`, `substr`, conversions, `min`/`max`,
comparisons, `match`/`contains`, negation and the aggregates `count`, `sum`, `min`,
`max`, `mean`). `ord`, `$` and `range` are not re-evaluated: a comparison using them is
shown as not checked.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rune.cedar.values import EntityUID
from rune.datalog import Absent, AggregateValue
from rune.datalog import Proof as DatalogProof
from rune.datalog import ast as dl
from rune.datalog.codegen import constant_value
from rune.datalog.runtime import RuntimeFailure, runtime_namespace
from rune.store.mapping import ENTITY_RELATIONS, entity_facts, parse_uid_text
from rune.store.prelude import HISTORY_RELATIONS, REQUEST_RELATIONS

if TYPE_CHECKING:
    from rune.engine.snapshot import Snapshot
    from rune.errors import SourceSpan

__all__ = ["Proof", "ProofSearch", "source_location", "span_json"]

_MAX_DEPTH = 64  # longest chain of rules a proof may follow
_MAX_STEPS = 100_000  # body literals the search may try per `ProofSearch`
_MAX_AGGREGATED = 20  # facts listed under one aggregate

_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}
_BITWISE: dict[str, Callable[[Any, Any], Any]] = {
    "band": operator.and_, "bor": operator.or_, "bxor": operator.xor,
}
_SHIFTS = {"bshl": "_shl_s", "bshr": "_shr_s", "bshru": "_shru_s"}  # runtime helper names


@dataclass(frozen=True, slots=True, kw_only=True)
class Proof:
    """How one fact holds: an input, or a rule applied to proved body facts.

    Attributes:
        statement: the fact (`rel("a", 1)`) or body literal (`l >= 3`) proved here.
        source: "input", "fact" (a fact written in the rules), "rule", "constraint",
            "negation", "aggregate" or "unproved".
        relation: the relation, for a fact; "" for constraints.
        row: the fact's values; () for constraints.
        note: for inputs where they come from; for constraints the values compared;
            for unproved facts why.
        rule: the rule's text, for "rule" and "fact".
        span: where the rule is written.
        premises: the proofs of the rule's body literals, in body order (for an
            aggregate: the facts it ranged over).
    """

    statement: str
    source: str
    relation: str = ""
    row: tuple[Any, ...] = ()
    note: str = ""
    rule: str = ""
    span: SourceSpan | None = None
    premises: tuple[Proof, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (premises nested)."""
        out: dict[str, Any] = {"statement": self.statement, "source": self.source}
        if self.relation:
            out["relation"] = self.relation
            out["row"] = list(self.row)
        if self.note:
            out["note"] = self.note
        if self.rule:
            out["rule"] = self.rule
            out["span"] = span_json(self.span, "<rules>")
        if self.premises:
            out["premises"] = [p.to_json() for p in self.premises]
        return out

    def to_lines(self, shown: set[tuple[str, tuple[Any, ...]]] | None = None) -> list[str]:
        """The proof as an indented tree, one line per node.

        A fact whose derivation is already in ``shown`` (facts listed by earlier calls
        sharing the set) is printed once, as "proved above"; the set is updated.
        """
        key = (self.relation, self.row)
        if shown is not None and self.premises and self.relation:
            if key in shown:
                return [f"{self.statement}  <- proved above"]
            shown.add(key)
        lines = [f"{self.statement}  <- {self._how()}"]
        if self.rule:
            lines.append(("│  " if self.premises else "   ") + self.rule)
        for i, premise in enumerate(self.premises):
            last = i == len(self.premises) - 1
            inner = premise.to_lines(shown)
            lines.append(("└─ " if last else "├─ ") + inner[0])
            lines.extend(("   " if last else "│  ") + line for line in inner[1:])
        return lines

    def _how(self) -> str:
        if self.source == "rule":
            return f"rule at {source_location(self.span, '<rules>')}"
        if self.source == "fact":
            return f"fact at {source_location(self.span, '<rules>')}"
        if self.note:
            return f"{self.source}: {self.note}"
        return self.source


# -- the search -------------------------------------------------------------------------

class _Unsupported(Exception):
    """An expression the proof search does not evaluate (`ord`, `$`, `range`)."""


@dataclass(frozen=True, slots=True)
class _FactUse:
    """A body atom matched by a tuple, still to be proved."""

    relation: str
    row: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Check:
    """A body literal that held for the chosen values (comparison, negation, aggregate)."""

    source: str
    statement: str
    note: str
    facts: tuple[_FactUse, ...] = ()


_Use = _FactUse | _Check
_Bindings = dict[str, Any]


class ProofSearch:
    """Proofs of tuples of one result of the rules (see the module docstring).

    Proofs found are kept and shared between the facts that need them, so proving many
    facts of one result costs little more than proving the first.

    Args:
        snap: the snapshot the result belongs to (its rules, entities and facts tell
            input facts apart from derived ones).
        result: the `rune.datalog.Result` to search, e.g. the per-request result.
        use_datalog_explain: take proofs from `Result.explain` when it is available
            (False: always use the search of this module).
    """

    def __init__(self, snap: Snapshot, result: Any, *, use_datalog_explain: bool = True
                 ) -> None:
        self.snap = snap
        self.result = result
        self.use_datalog_explain = use_datalog_explain
        self.fallbacks: list[str] = []  # facts the Datalog explainer could not prove
        self.program = snap.rules
        self.runtime: Mapping[str, Any] = runtime_namespace(self.program.number_bits)
        self.rules: dict[str, list[Any]] = {}
        for rule in self.program.analysed.rules:
            self.rules.setdefault(rule.head, []).append(rule)
        self.proved: dict[tuple[str, tuple[Any, ...]], Proof] = {}
        self.entity_rows: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
        self.steps = 0
        self.exhausted = False

    # -- queries -------------------------------------------------------------------------
    def rows(self, relation: str) -> Any:
        """The tuples of a relation in the result (empty if it has no such relation)."""
        try:
            return self.result[relation]
        except KeyError:
            return frozenset()

    def rows_matching(self, relation: str, key: str) -> list[tuple[Any, ...]]:
        """The tuples of a relation whose first column is ``key``, sorted."""
        return sorted((row for row in self.rows(relation) if row[0] == key), key=repr)

    def lookup(self, relation: str, pattern: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Indexed lookup: the tuples matching ``pattern`` (None matches anything)."""
        return self.result.query(relation, pattern)  # type: ignore[no-any-return]

    # -- proofs --------------------------------------------------------------------------
    def proof(self, relation: str, row: tuple[Any, ...]) -> Proof:
        """A proof of a tuple of the result, or an "unproved" node."""
        explain_row = getattr(self.result, "explain", None)
        if self.use_datalog_explain and explain_row is not None:
            try:
                return self._convert(explain_row(relation, row), 0)
            except Exception as exc:  # any failure of the explainer: prove it ourselves
                self.fallbacks.append(f"{_fact_text(relation, row)}: {exc}")
        found = self._prove(relation, row, frozenset())
        if found is not None:
            return found
        return Proof(statement=_fact_text(relation, row), source="unproved", relation=relation,
                     row=row, note="no derivation found within the search bounds")

    # -- proofs from the Datalog explainer -----------------------------------------------
    def _convert(self, proof: DatalogProof, depth: int) -> Proof:
        """The engine-level form of a `rune.datalog.Proof` (shared sub-proofs shared)."""
        relation, row = proof.relation, tuple(proof.row)
        key = (relation, row)
        done = self.proved.get(key)
        if done is not None:
            return done
        if proof.rule is None:
            converted = self._input(relation, row) or Proof(
                statement=_fact_text(relation, row), source="input", relation=relation,
                row=row, note="input fact")
        elif depth >= _MAX_DEPTH:
            return Proof(statement=_fact_text(relation, row), source="unproved",
                         relation=relation, row=row,
                         note=f"the proof goes deeper than {_MAX_DEPTH} steps")
        else:
            rule = self.program.analysed.rules[proof.rule.index]
            converted = Proof(
                statement=_fact_text(relation, row), source="rule", relation=relation,
                row=row, rule=" ".join(proof.rule.text.split()), span=proof.rule.span,
                premises=tuple(self._convert_premises(rule, row, proof.premises, depth)))
        self.proved[key] = converted
        return converted

    def _convert_premises(self, rule: Any, row: tuple[Any, ...], given: Sequence[Any],
                          depth: int) -> list[Proof]:
        """One node per body literal, in body order: the explainer's premises (atoms,
        negations, aggregates) matched to the literals they prove, plus the comparisons
        evaluated with the values those premises bind."""
        clause: dl.Clause = rule.scoped
        bindings: _Bindings = {}
        _unify(clause.head.args, row, bindings)
        nodes: list[Proof | dl.Comparison] = []
        aggregated: dict[int, list[tuple[dl.Aggregate, Any]]] = {}
        position = 0
        for literal in clause.body:
            premise = given[position] if position < len(given) else None
            if isinstance(literal, dl.Atom):
                if isinstance(premise, DatalogProof) and premise.relation == literal.relation:
                    position += 1
                    _unify(literal.args, premise.row, bindings)
                    nodes.append(self._convert(premise, depth + 1))
            elif isinstance(literal, dl.Negation):
                if isinstance(premise, Absent) and premise.relation == literal.atom.relation:
                    position += 1
                    shown = ", ".join("_" if v is None else _value_text(v)
                                      for v in premise.pattern)
                    nodes.append(Proof(statement=_literal_text(literal, {}), source="negation",
                                       note=f"no fact {premise.relation}({shown})"))
            elif isinstance(literal, dl.Comparison):
                aggregates = [e for side in (literal.left, literal.right)
                              for e in dl.walk_expression(side) if isinstance(e, dl.Aggregate)]
                values: list[tuple[dl.Aggregate, Any]] = []
                for aggregate in aggregates:
                    premise = given[position] if position < len(given) else None
                    if isinstance(premise, AggregateValue):
                        position += 1
                        values.append((aggregate, premise.value))
                        for target, other in ((literal.left, literal.right),
                                              (literal.right, literal.left)):
                            if other is aggregate and isinstance(target, dl.Variable):
                                bindings.setdefault(target.name, premise.value)
                if values:
                    aggregated[len(nodes)] = values
                nodes.append(literal)  # evaluated below, once the atoms bound its values
        for i, values in aggregated.items():
            comparison = nodes[i]
            assert isinstance(comparison, dl.Comparison)
            nodes[i] = self._aggregate_node(comparison, values, bindings, rule)
        # Comparisons in body order, again while assignments (`x = e`) bind new values.
        pending = [i for i, node in enumerate(nodes) if isinstance(node, dl.Comparison)]
        while pending:
            progress = False
            for i in list(pending):
                comparison = nodes[i]
                assert isinstance(comparison, dl.Comparison)
                if not self._ready(comparison, bindings, rule):
                    continue
                pending.remove(i)
                progress = True
                checked = next(self._comparison(comparison, bindings, rule), None)
                if checked is not None:
                    bindings, use = checked
                    assert isinstance(use, _Check)
                    nodes[i] = Proof(statement=use.statement, source="constraint", note=use.note)
                else:
                    nodes[i] = Proof(statement=_literal_text(comparison, {}), source="constraint")
            if not progress:
                for i in pending:
                    comparison = nodes[i]
                    assert isinstance(comparison, dl.Comparison)
                    nodes[i] = Proof(statement=_literal_text(comparison, {}), source="constraint")
                break
        out = [node for node in nodes if isinstance(node, Proof)]
        for premise in given[position:]:  # premises no literal claimed: keep them as given
            if isinstance(premise, DatalogProof):
                out.append(self._convert(premise, depth + 1))
        return out

    def _aggregate_node(self, comparison: dl.Comparison,
                        values: list[tuple[dl.Aggregate, Any]], bindings: _Bindings,
                        rule: Any) -> Proof:
        """A node for a comparison with aggregates, listing the facts each ranged over
        when evaluating it here gives the explainer's value."""
        notes: list[str] = []
        facts: list[_FactUse] = []
        for aggregate, value in values:
            note = f"{aggregate.op} = {_value_text(value)}"
            try:
                found: list[_FactUse] = []
                if self._aggregate(aggregate, dict(bindings), rule, found) == value:
                    facts += found
                    note += f" over {len(found)} fact(s)" if found else " over no facts"
            except Exception:  # the value stands, without the facts behind it
                pass
            notes.append(note)
        premises = [self.proof(f.relation, f.row) for f in facts[:_MAX_AGGREGATED]]
        if len(facts) > _MAX_AGGREGATED:
            notes.append(f"first {_MAX_AGGREGATED} of {len(facts)} facts shown")
        return Proof(statement=_literal_text(comparison, {}), source="aggregate",
                     note="; ".join(notes), premises=tuple(premises))

    # -- our own search -----------------------------------------------------------------
    def _prove(self, relation: str, row: tuple[Any, ...],
               path: frozenset[tuple[str, tuple[Any, ...]]]) -> Proof | None:
        key = (relation, row)
        done = self.proved.get(key)
        if done is not None:
            return done
        leaf = self._input(relation, row)
        if leaf is not None:
            self.proved[key] = leaf
            return leaf
        if key in path or len(path) >= _MAX_DEPTH:
            return None
        inner = path | {key}
        for rule in self._rules_for(relation, row):
            for _bindings, uses in self._match(rule, row):
                premises = self._premises(uses, inner)
                if premises is None:
                    continue
                # A proof built while avoiding `path` is well-founded on its own, so it
                # may be reused wherever the same fact is needed.
                proof = self._rule_proof(rule, relation, row, premises)
                self.proved[key] = proof
                return proof
        return None

    def _premises(self, uses: Sequence[_Use], path: frozenset[tuple[str, tuple[Any, ...]]]
                  ) -> list[Proof] | None:
        premises: list[Proof] = []
        for use in uses:
            if isinstance(use, _FactUse):
                sub = self._prove(use.relation, use.row, path)
                if sub is None:
                    return None
                premises.append(sub)
                continue
            facts = [self._prove(f.relation, f.row, path) or Proof(
                statement=_fact_text(f.relation, f.row), source="unproved",
                relation=f.relation, row=f.row, note="not proved here")
                for f in use.facts[:_MAX_AGGREGATED]]
            note = use.note
            if len(use.facts) > _MAX_AGGREGATED:
                note += f" (first {_MAX_AGGREGATED} of {len(use.facts)} facts shown)"
            premises.append(Proof(statement=use.statement, source=use.source, note=note,
                                  premises=tuple(facts)))
        return premises

    def _rules_for(self, relation: str, row: tuple[Any, ...]) -> list[Any]:
        """The rules deriving ``relation``, the one recorded as the tuple's origin first."""
        rules = self.rules.get(relation, [])
        origin = None
        if getattr(self.result.stats, "origins", None) is not None:
            origin = self.result.origin(relation, row)
        if origin is None:
            return rules
        return sorted(rules, key=lambda rule: rule.clause != origin)

    def _rule_proof(self, rule: Any, relation: str, row: tuple[Any, ...],
                    premises: list[Proof]) -> Proof:
        clause = rule.clause
        source = "fact" if rule.is_fact else "rule"
        return Proof(statement=_fact_text(relation, row), source=source, relation=relation,
                     row=row, rule=self._clause_text(clause), span=clause.span,
                     premises=tuple(premises))

    def _clause_text(self, clause: dl.Clause) -> str:
        span = clause.span
        if span is not None:
            source = self.program.sources.get(span.file)
            if source is not None and 0 <= span.offset < span.end_offset <= len(source):
                return " ".join(source[span.offset:span.end_offset].split())
        body = ", ".join(_literal_text(lit, {}) for lit in clause.body)
        head = _literal_text(clause.head, {})
        return f"{head} :- {body}." if body else f"{head}."

    def _input(self, relation: str, row: tuple[Any, ...]) -> Proof | None:
        """A leaf when the tuple is an input fact (not derived by a rule)."""
        statement = _fact_text(relation, row)
        if relation in REQUEST_RELATIONS:
            return Proof(statement=statement, source="input", relation=relation, row=row,
                         note="the request")
        facts = self.snap.facts.get(relation)
        if facts is not None and row in facts:
            note = "recorded history" if relation in HISTORY_RELATIONS else "input fact"
            return Proof(statement=statement, source="input", relation=relation, row=row,
                         note=note)
        if relation in ENTITY_RELATIONS and row and isinstance(row[0], str):
            uid = parse_uid_text(row[0])
            if uid is not None and row in self._entity_rows(row[0], uid).get(relation, ()):
                return Proof(statement=statement, source="input", relation=relation, row=row,
                             note=f"entity {uid}")
        for rule in self.rules.get(relation, ()):
            if rule.is_fact and next(self._match(rule, row), None) is not None:
                return self._rule_proof(rule, relation, row, [])
        if relation not in self.rules:
            return Proof(statement=statement, source="input", relation=relation, row=row,
                         note="input fact")
        return None

    def _entity_rows(self, text: str, uid: EntityUID) -> dict[str, list[tuple[Any, ...]]]:
        rows = self.entity_rows.get(text)
        if rows is None:
            data = self.snap.entity_data.get(uid)
            rows = entity_facts([data]) if data is not None else {}
            self.entity_rows[text] = rows
        return rows

    # -- matching a rule against a tuple -------------------------------------------------
    def _match(self, rule: Any, row: tuple[Any, ...]) -> Iterator[tuple[_Bindings, list[_Use]]]:
        """Each way the rule's body matches the result with its head equal to ``row``."""
        clause: dl.Clause = rule.scoped
        bindings: _Bindings = {}
        later: list[tuple[dl.Expr, Any]] = []
        for arg, value in zip(clause.head.args, row, strict=False):
            if isinstance(arg, dl.Variable):
                if arg.name in bindings and bindings[arg.name] != value:
                    return
                bindings[arg.name] = value
            elif isinstance(arg, dl.StringConstant | dl.NumberConstant):
                if constant_value(arg, None, self.program.number_bits) != value:
                    return
            elif not isinstance(arg, dl.Wildcard):
                later.append((arg, value))
        pending = list(enumerate(clause.body))
        for solution, uses in self._solve(pending, bindings, rule):
            try:
                if all(self._value(arg, solution, rule) == value for arg, value in later):
                    yield solution, [use for _, use in sorted(uses, key=lambda u: u[0])]
            except (_Unsupported, RuntimeFailure, KeyError, TypeError, ValueError):
                continue

    def _solve(self, pending: list[tuple[int, dl.Literal]], bindings: _Bindings, rule: Any
               ) -> Iterator[tuple[_Bindings, list[tuple[int, _Use]]]]:
        if not pending:
            yield bindings, []
            return
        self.steps += 1
        if self.steps > _MAX_STEPS:
            self.exhausted = True
            return
        choice = self._choose(pending, bindings, rule)
        if choice is None:
            return  # nothing can be evaluated with what is bound
        position, literal = pending[choice]
        rest = pending[:choice] + pending[choice + 1:]
        for extended, use in self._literal(literal, bindings, rule):
            for solution, uses in self._solve(rest, extended, rule):
                yield solution, [(position, use), *uses] if use is not None else uses

    def _choose(self, pending: list[tuple[int, dl.Literal]], bindings: _Bindings, rule: Any
                ) -> int | None:
        """The next literal: a test that can run now, else the best-bound atom."""
        best: tuple[int, int] | None = None
        for i, (_, literal) in enumerate(pending):
            if isinstance(literal, dl.Atom):
                if any(not isinstance(a, dl.Variable | dl.Wildcard)
                       and not _bound(_variables(a, rule), bindings) for a in literal.args):
                    continue
                bound = sum(1 for a in literal.args if not isinstance(a, dl.Wildcard)
                            and _bound(_variables(a, rule), bindings))
                if best is None or bound > best[1]:
                    best = (i, bound)
            elif self._ready(literal, bindings, rule):
                return i
        return None if best is None else best[0]

    def _ready(self, literal: dl.Literal, bindings: _Bindings, rule: Any) -> bool:
        if isinstance(literal, dl.BooleanLiteral):
            return True
        if isinstance(literal, dl.Negation):
            return all(_bound(_variables(a, rule), bindings) for a in literal.atom.args)
        assert isinstance(literal, dl.Comparison)
        left = _bound(_variables(literal.left, rule), bindings)
        right = _bound(_variables(literal.right, rule), bindings)
        if left and right:
            return True
        if literal.op != "=":
            return False
        return (left and _assignable(literal.right, bindings)) or (
            right and _assignable(literal.left, bindings))

    def _literal(self, literal: dl.Literal, bindings: _Bindings, rule: Any
                 ) -> Iterator[tuple[_Bindings, _Use | None]]:
        if isinstance(literal, dl.Atom):
            yield from self._atom(literal, bindings, rule)
            return
        if isinstance(literal, dl.BooleanLiteral):
            if literal.value:
                yield bindings, None
            return
        if isinstance(literal, dl.Negation):
            statement = _literal_text(literal, {})
            try:
                pattern = self._pattern(literal.atom, bindings, rule)
            except (_Unsupported, RuntimeFailure, KeyError, TypeError, ValueError):
                return
            if literal.atom.relation not in self.result or not self.lookup(
                    literal.atom.relation, pattern):
                shown = _literal_text(literal.atom, bindings)
                yield bindings, _Check("negation", statement, f"no fact {shown}")
            return
        yield from self._comparison(literal, bindings, rule)

    def _atom(self, atom: dl.Atom, bindings: _Bindings, rule: Any
              ) -> Iterator[tuple[_Bindings, _Use | None]]:
        if "@" in atom.relation:
            yield bindings, None  # a magic-set demand filter: it only narrows the search
            return
        if atom.relation not in self.result:
            return
        try:
            pattern = self._pattern(atom, bindings, rule)
        except (_Unsupported, RuntimeFailure, KeyError, TypeError, ValueError):
            return
        for row in self.lookup(atom.relation, pattern):
            extended = dict(bindings)
            consistent = True
            for arg, value in zip(atom.args, row, strict=False):
                if isinstance(arg, dl.Variable):
                    if arg.name in extended and extended[arg.name] != value:
                        consistent = False
                        break
                    extended[arg.name] = value
            if consistent:
                yield extended, _FactUse(atom.relation, tuple(row))

    def _pattern(self, atom: dl.Atom, bindings: _Bindings, rule: Any) -> list[Any]:
        pattern: list[Any] = []
        for arg in atom.args:
            if isinstance(arg, dl.Wildcard):
                pattern.append(None)
            elif isinstance(arg, dl.Variable):
                pattern.append(bindings.get(arg.name))
            else:
                pattern.append(self._value(arg, bindings, rule))
        return pattern

    def _comparison(self, literal: dl.Comparison, bindings: _Bindings, rule: Any
                    ) -> Iterator[tuple[_Bindings, _Use | None]]:
        statement = _literal_text(literal, {})
        extended = dict(bindings)
        try:
            if literal.op == "=" and (_assignable(literal.left, bindings)
                                      or _assignable(literal.right, bindings)):
                target, expr = ((literal.left, literal.right)
                                if _assignable(literal.left, bindings)
                                else (literal.right, literal.left))
                assert isinstance(target, dl.Variable)
                value, facts = self._value_with_facts(expr, extended, rule)
                extended[target.name] = value
                left = right = value
                shown = f"{_display_name(target.name)} = {_value_text(value)}"
            else:
                left, left_facts = self._value_with_facts(literal.left, extended, rule)
                right, right_facts = self._value_with_facts(literal.right, extended, rule)
                facts = left_facts + right_facts
                if not _compare(literal.op, left, right, self.runtime):
                    return
                shown = _literal_text(replace(literal, left=_constant(left),
                                              right=_constant(right)), {})
        except _Unsupported:
            yield bindings, _Check("constraint", statement, "not checked (unsupported "
                                   "expression)")
            return
        except (RuntimeFailure, KeyError, TypeError, ValueError):
            return
        for side, value in ((literal.left, left), (literal.right, right)):
            if isinstance(side, dl.Aggregate):
                counted = f"{len(facts)} fact(s)" if facts else "no facts"
                note = f"{side.op} = {_value_text(value)} over {counted}"
                yield extended, _Check("aggregate", statement, note, facts)
                return
        source = "aggregate" if facts else "constraint"
        yield extended, _Check(source, statement, shown, facts)

    # -- expressions ---------------------------------------------------------------------
    def _value(self, expr: dl.Expr, bindings: _Bindings, rule: Any) -> Any:
        return self._value_with_facts(expr, dict(bindings), rule)[0]

    def _value_with_facts(self, expr: dl.Expr, bindings: _Bindings, rule: Any
                          ) -> tuple[Any, tuple[_FactUse, ...]]:
        """An expression's value, and the facts any aggregate in it ranged over.

        Witness variables of a `min`/`max` aggregate are added to ``bindings``.
        """
        facts: list[_FactUse] = []
        value = self._eval(expr, bindings, rule, facts)
        return value, tuple(facts)

    def _eval(self, expr: dl.Expr, bindings: _Bindings, rule: Any,
              facts: list[_FactUse]) -> Any:
        rt = self.runtime
        if isinstance(expr, dl.Variable):
            return bindings[expr.name]
        if isinstance(expr, dl.StringConstant | dl.NumberConstant):
            return constant_value(expr, None, self.program.number_bits)
        if isinstance(expr, dl.TypeCast):
            return self._eval(expr.value, bindings, rule, facts)
        if isinstance(expr, dl.Aggregate):
            return self._aggregate(expr, bindings, rule, facts)
        if isinstance(expr, dl.UnaryOp):
            value = self._eval(expr.operand, bindings, rule, facts)
            if expr.op == "-":
                return -value if isinstance(value, float) else rt["_ws"](-value)
            if expr.op == "bnot":
                return ~value
            return 0 if value else 1
        if isinstance(expr, dl.BinaryOp):
            left = self._eval(expr.left, bindings, rule, facts)
            right = self._eval(expr.right, bindings, rule, facts)
            return _binary(expr.op, left, right, rt)
        if isinstance(expr, dl.FunctorCall):
            args = [self._eval(a, bindings, rule, facts) for a in expr.args]
            return _functor(expr.name, args, rt)
        raise _Unsupported(type(expr).__name__)

    def _aggregate(self, expr: dl.Aggregate, bindings: _Bindings, rule: Any,
                   facts: list[_FactUse]) -> Any:
        scope = rule.scopes.get(expr)
        witnesses = scope.witnesses if scope is not None else frozenset()
        inner = {k: v for k, v in bindings.items() if "#" not in k and k not in witnesses}
        values: list[tuple[Any, _Bindings]] = []
        for solution, uses in self._solve(list(enumerate(expr.body)), inner, rule):
            value = (None if expr.target is None
                     else self._eval(expr.target, solution, rule, []))
            values.append((value, solution))
            for _, use in uses:
                if isinstance(use, _FactUse) and use not in facts:
                    facts.append(use)
        if expr.op == "count":
            return len(values)
        if expr.op == "sum":
            return sum(v for v, _ in values)
        if not values:
            raise ValueError("empty aggregate")
        if expr.op == "mean":
            return sum(v for v, _ in values) / len(values)
        pick = min if expr.op == "min" else max
        value, solution = pick(values, key=lambda item: item[0])
        for name in witnesses:
            if name in solution:
                bindings[name] = solution[name]
        return value


# -- evaluating Datalog expressions -----------------------------------------------------

def _binary(op: str, left: Any, right: Any, rt: Mapping[str, Any]) -> Any:
    floats = isinstance(left, float) or isinstance(right, float)
    if op in ("+", "-", "*"):
        value = left + right if op == "+" else left - right if op == "-" else left * right
        return value if floats or isinstance(value, str) else rt["_ws"](value)
    if op == "/":
        return rt["_div_f"](left, right) if floats else rt["_div_s"](left, right)
    if op == "%":
        return rt["_mod_f"](left, right) if floats else rt["_mod_s"](left, right)
    if op == "^":
        return rt["_pow_f"](left, right) if floats else rt["_pow_s"](left, right)
    if op in _BITWISE:
        return _BITWISE[op](left, right)
    if op in _SHIFTS:
        return rt[_SHIFTS[op]](left, right)
    if op == "land":
        return 1 if left and right else 0
    if op == "lor":
        return 1 if left or right else 0
    if op == "lxor":
        return 1 if bool(left) != bool(right) else 0
    raise _Unsupported(op)


def _functor(name: str, args: list[Any], rt: Mapping[str, Any]) -> Any:
    if name == "cat":
        return "".join(args)
    if name in ("min", "max"):
        return min(args) if name == "min" else max(args)
    if name == "strlen":
        return len(args[0])
    if name == "substr":
        return rt["_substr"](*args)
    if name == "to_string":
        return rt["_to_string"](args[0])
    if name in ("to_number", "ftoi", "utoi"):
        value = args[0]
        if isinstance(value, str):
            return rt["_to_number"](value)
        return rt["_ftoi"](value) if isinstance(value, float) else value
    if name in ("to_float", "itof", "utof"):
        return rt["_to_float"](args[0]) if isinstance(args[0], str) else float(args[0])
    raise _Unsupported(name)


def _compare(op: str, left: Any, right: Any, rt: Mapping[str, Any]) -> bool:
    if op in ("match", "not_match"):
        return bool(rt["_match"](left, right)) is (op == "match")
    if op in ("contains", "not_contains"):
        return (left in right) is (op == "contains")
    test = _COMPARISONS.get(op)
    if test is None:
        raise _Unsupported(op)
    return bool(test(left, right))


def _variables(expr: dl.Expr, rule: Any) -> set[str]:
    """The variables that must be bound before ``expr`` can be evaluated."""
    out: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, dl.Variable):
            out.add(node.name)
        elif isinstance(node, dl.Aggregate):
            # Only what the aggregate imports from the rule; its target is local.
            scope = rule.scopes.get(node)
            if scope is not None:
                out |= set(scope.injected)
            continue
        elif isinstance(node, dl.Counter) or (isinstance(node, dl.FunctorCall)
                                               and node.name in ("ord", "range")):
            out.add("$")  # never bound: a literal using these is not evaluated
        stack.extend(dl.expression_children(node))
    return out


def _unify(args: Sequence[dl.Expr], row: Sequence[Any], bindings: _Bindings) -> None:
    """Bind the atom's variables to the row's values (first binding wins)."""
    for arg, value in zip(args, row, strict=False):
        if isinstance(arg, dl.Variable):
            bindings.setdefault(arg.name, value)


def _bound(names: set[str], bindings: _Bindings) -> bool:
    return all(name in bindings for name in names)


def _assignable(expr: dl.Expr, bindings: _Bindings) -> bool:
    return isinstance(expr, dl.Variable) and expr.name not in bindings


def _constant(value: Any) -> dl.Expr:
    if isinstance(value, str):
        return dl.StringConstant(value)
    return dl.NumberConstant(value)


# -- rendering ---------------------------------------------------------------------------

def _value_text(value: Any) -> str:
    """A value as Soufflé writes it (symbols keep their escapes, so they are quoted as is)."""
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _fact_text(relation: str, row: Sequence[Any]) -> str:
    return f"{relation}({', '.join(_value_text(v) for v in row)})"


def _display_name(name: str) -> str:
    return name.split("#", 1)[0]


def _expr_text(expr: dl.Expr, bindings: _Bindings) -> str:
    if isinstance(expr, dl.Variable):
        if expr.name in bindings:
            return _value_text(bindings[expr.name])
        return _display_name(expr.name)
    if isinstance(expr, dl.Wildcard):
        return "_"
    if isinstance(expr, dl.StringConstant):
        return f'"{expr.value}"'
    if isinstance(expr, dl.NumberConstant):
        return str(expr.value)
    if isinstance(expr, dl.Counter):
        return "$"
    if isinstance(expr, dl.UnaryOp):
        operand = _expr_text(expr.operand, bindings)
        return f"-{operand}" if expr.op == "-" else f"{expr.op} {operand}"
    if isinstance(expr, dl.BinaryOp):
        parts = []
        for side in (expr.left, expr.right):
            text = _expr_text(side, bindings)
            parts.append(f"({text})" if isinstance(side, dl.BinaryOp) else text)
        return f"{parts[0]} {expr.op} {parts[1]}"
    if isinstance(expr, dl.FunctorCall):
        return f"{expr.name}({', '.join(_expr_text(a, bindings) for a in expr.args)})"
    if isinstance(expr, dl.TypeCast):
        return f"as({_expr_text(expr.value, bindings)}, {expr.type_name})"
    body = ", ".join(_literal_text(lit, bindings) for lit in expr.body)
    target = "" if expr.target is None else " " + _expr_text(expr.target, bindings)
    return f"{expr.op}{target} : {{ {body} }}"


def _literal_text(literal: dl.Literal | dl.Atom, bindings: _Bindings) -> str:
    if isinstance(literal, dl.Atom):
        return f"{literal.relation}({', '.join(_expr_text(a, bindings) for a in literal.args)})"
    if isinstance(literal, dl.Negation):
        return "!" + _literal_text(literal.atom, bindings)
    if isinstance(literal, dl.BooleanLiteral):
        return "true" if literal.value else "false"
    left = _expr_text(literal.left, bindings)
    right = _expr_text(literal.right, bindings)
    if literal.op in ("match", "contains"):
        return f"{literal.op}({left}, {right})"
    if literal.op in ("not_match", "not_contains"):
        return f"!{literal.op[4:]}({left}, {right})"
    return f"{left} {literal.op} {right}"


def source_location(span: SourceSpan | None, unnamed: str = "<policies>") -> str:
    """`file:line:column`, the file relative to the working directory when inside it
    (``unnamed`` for text given without a file name)."""
    if span is None:
        return "<unknown location>"
    file = span.file or unnamed
    if os.path.isabs(file):
        try:
            relative = os.path.relpath(file)
        except ValueError:
            relative = file
        if not relative.startswith(".."):
            file = relative
    return f"{file}:{span.line}:{span.column}"


def span_json(span: SourceSpan | None, unnamed: str = "<policies>"
               ) -> dict[str, Any] | None:
    if span is None:
        return None
    return {"file": span.file, "line": span.line, "column": span.column,
            "end_line": span.end_line, "end_column": span.end_column,
            "location": source_location(span, unnamed)}
