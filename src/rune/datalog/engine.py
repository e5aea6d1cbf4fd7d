"""Semi-naive bottom-up evaluation, one stratum at a time, over compiled rule plans.

A non-recursive stratum runs each of its rules once. A recursive stratum first runs the
rules that read no relation of the stratum, then makes passes over the delta versions of
its recursive rules: each version reads, for its delta atom, the tuples added to that
relation since the version last ran (the delta), the rest of its body from the full
relations, and contributes only tuples not yet known. New tuples are inserted as soon as
the rule that derived them returns, so later versions in the same pass already use them
(every combination of tuples is still joined once its last tuple arrives). The stratum is
done when no version has a delta left. (A rule with too many recursive atoms to compile
a version for each is one plan over the full relations, run again whenever the stratum
has new rows: naive evaluation, for that rule only.)

The `Limits` of an evaluation are enforced through a `Budget` on the `EvaluationEnv`: the
tuple count after every rule call, the rounds and the deadline after every pass, and
both from inside long rule calls too (see `rune.datalog.limits`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rune.datalog.analysis import Stratum
from rune.datalog.codegen import RuleFunction
from rune.datalog.errors import DatalogError, ErrorCode
from rune.datalog.limits import Budget, Limits
from rune.datalog.plan import Resource, RulePlan, Source
from rune.datalog.relation import Relation, Row
from rune.datalog.runtime import EvaluationEnv, RuntimeFailure

__all__ = ["CompiledRule", "Engine", "EvaluationStats", "Limits", "StratumProgram"]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule plan with its compiled function."""

    plan: RulePlan
    function: RuleFunction

    @property
    def head(self) -> str:
        """The relation the rule derives into."""
        return self.plan.head.relation


@dataclass(frozen=True, slots=True)
class StratumProgram:
    """The compiled rules of one stratum.

    ``initial`` rules read no relation of the stratum and run once; ``recursive`` holds
    the delta versions of the others (each reads the delta of one relation).
    """

    stratum: Stratum
    initial: tuple[CompiledRule, ...]
    recursive: tuple[CompiledRule, ...]


@dataclass(slots=True)
class EvaluationStats:
    """What an evaluation did: rounds per stratum, tuples derived, time taken.

    ``origins``, when not ``None``, collects for each relation the index of the rule
    (in `AnalysedProgram.rules`) that first derived each tuple.
    """

    iterations: dict[int, int] = field(default_factory=dict)
    derived: int = 0
    seconds: float = 0.0
    origins: dict[str, dict[Row, int]] | None = None


class Engine:
    """Runs the strata of a compiled program over a set of relations."""

    def __init__(self, strata: Sequence[StratumProgram]) -> None:
        self.strata = tuple(strata)

    def run(
        self,
        relations: dict[str, Relation],
        limits: Limits,
        env: EvaluationEnv | None = None,
        *,
        track_origins: bool = False,
        budget: Budget | None = None,
    ) -> EvaluationStats:
        """Evaluate every stratum in order, adding derived tuples to ``relations``.

        ``budget`` continues an evaluation's budget (its deadline and tuple count) instead
        of starting a new one from ``limits``.

        Raises:
            DatalogError: (`derivation-limit`) a bound of ``limits`` was hit,
                (`evaluation-error`) a rule failed.
        """
        env = env or EvaluationEnv()
        env.budget = budget or Budget(limits)
        stats = EvaluationStats(origins={} if track_origins else None)
        started = time.perf_counter()
        for stratum in self.strata:
            self.evaluate_stratum(stratum, relations, env, stats)
        stats.seconds = time.perf_counter() - started
        return stats

    def evaluate_stratum(
        self,
        program: StratumProgram,
        relations: dict[str, Relation],
        env: EvaluationEnv,
        stats: EvaluationStats,
    ) -> None:
        """Evaluate one stratum to its fixpoint within ``env.budget``.

        Lower strata must already be evaluated in ``relations``; only the relations of
        this stratum change. When ``stats.origins`` is not ``None``, the rule that first
        derived each new tuple is recorded there (slower; for explanations).
        """
        members = program.stratum.relations
        budget = env.budget
        if budget is not None:
            budget.relations = members
            budget.round(0)  # the deadline only (no round has run yet)
        new: dict[str, set[Row]] = {name: set() for name in members}
        for rule in program.initial:
            arguments, _, _ = _arguments(rule.plan, relations)
            self._run(rule, env, new, relations[rule.head].tuples, arguments, stats)
        for name in members:
            relations[name].insert(new[name])
            stats.derived += len(new[name])
            if budget is not None:
                budget.count(len(new[name]))
        if program.stratum.recursive:
            self._iterate(program, relations, env, stats)

    def _iterate(
        self,
        program: StratumProgram,
        relations: dict[str, Relation],
        env: EvaluationEnv,
        stats: EvaluationStats,
    ) -> None:
        """The semi-naive rounds of a recursive stratum, after its initial rules."""
        members = program.stratum.relations
        budget = env.budget
        # Every delta version first reads everything known so far (facts, inputs, the
        # initial rules). Afterwards each version reads the tuples added to its delta
        # relation since it last ran: new tuples are inserted right after the rule that
        # derived them, so later rules of the same pass already use them.
        versions = []
        readers: dict[str, list[int]] = {name: [] for name in members}
        pending: list[list[set[Row]]] = []
        for number, rule in enumerate(program.recursive):
            arguments, slot, source = _arguments(rule.plan, relations)
            versions.append((rule, rule.function, rule.head, relations[rule.head], arguments, slot))
            if slot < 0:
                # A rule planned whole (too many recursive atoms for a version each): it
                # runs once, then again over the full relations after any new row.
                for name in members:
                    readers[name].append(number)
                pending.append([set()])
                continue
            readers[source].append(number)
            pending.append([set(relations[source].tuples)])
        tracking = stats.origins is not None
        passes = 0
        current: CompiledRule | None = None
        try:
            while any(pending):
                passes += 1
                if budget is not None:
                    budget.round(passes)
                for number, (rule, function, head, relation, arguments, slot) in enumerate(
                    versions
                ):
                    chunks = pending[number]
                    if not chunks:
                        continue
                    pending[number] = []
                    if slot >= 0:
                        arguments[slot] = chunks[0] if len(chunks) == 1 else set().union(*chunks)
                    out: set[Row] = set()
                    current = rule
                    # INVARIANT: `relation.tuples` is not changed while a rule runs, and the
                    # rule adds to `out` only tuples not in it, so `out` is all new.
                    function(env, out, relation.tuples, *arguments)
                    if not out:
                        continue
                    if tracking:
                        assert stats.origins is not None
                        head_origins = stats.origins.setdefault(head, {})
                        for row in out:
                            head_origins[row] = rule.plan.rule.index
                    relation.insert(out)
                    stats.derived += len(out)
                    if budget is not None:
                        budget.count(len(out))
                    for reader in readers[head]:
                        pending[reader].append(out)
        except RuntimeFailure as failure:
            assert current is not None
            raise _failure(current, failure) from None
        stats.iterations[program.stratum.index] = passes

    @staticmethod
    def _run(
        rule: CompiledRule,
        env: EvaluationEnv,
        new: dict[str, set[Row]],
        seen: set[Row],
        arguments: list[Any],
        stats: EvaluationStats,
    ) -> None:
        """Call one rule, recording which tuples it was first to derive if asked."""
        origins = stats.origins
        out = new[rule.head] if origins is None else set()
        try:
            rule.function(env, out, seen, *arguments)
        except RuntimeFailure as failure:
            raise _failure(rule, failure) from None
        if origins is not None:
            fresh = out - new[rule.head]
            relation_origins = origins.setdefault(rule.head, {})
            for row in fresh:
                relation_origins[row] = rule.plan.rule.index
            new[rule.head] |= fresh


def _arguments(plan: RulePlan, relations: dict[str, Relation]) -> tuple[list[Any], int, str]:
    """The resources a plan reads, in parameter order, and where its delta goes."""
    arguments: list[Any] = []
    delta_slot = -1
    delta_relation = ""
    for resource in plan.resources:
        if resource.source is Source.DELTA:
            delta_slot = len(arguments)
            delta_relation = resource.relation
            arguments.append(None)
        else:
            arguments.append(_resolve(resource, relations))
    return arguments, delta_slot, delta_relation


def _resolve(resource: Resource, relations: dict[str, Relation]) -> Any:
    relation = relations[resource.relation]
    if resource.columns is None:
        return relation.tuples
    return relation.index(resource.columns)


def _failure(rule: CompiledRule, failure: RuntimeFailure) -> DatalogError:
    clause = rule.plan.rule.clause
    return DatalogError(
        f"{failure} while evaluating a rule for `{rule.head}`",
        code=ErrorCode.EVALUATION,
        span=clause.span,
    )
