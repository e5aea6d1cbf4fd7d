"""RUNE's Datalog engine against clingo, in one run, on three workloads.

1. transitive closure of a 500-node chain (124,750 paths);
2. transitive closure of a random graph with 1,000 nodes and 3,000 edges;
3. an org hierarchy of 5,000 employees: a recursive `above` relation, and who can
   approve whom (`above`, excluding managers on leave: stratified negation).

Each engine gets the same rules and facts: RUNE parses the Soufflé program and evaluates
it on facts given as Python tuples; clingo grounds and solves the equivalent ASP program
(facts as text) through its Python API. Both answers are checked to agree. Times are the
best of several runs; the ratio RUNE/clingo below 1.0 means RUNE is faster.

    .venv/bin/python benchmarks/datalog_vs_clingo.py [--repeat N]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import clingo

from rune.datalog import Program

Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class Workload:
    """One benchmark: the same rules in Soufflé and ASP syntax, and the facts."""

    name: str
    souffle: str
    asp: str
    facts: dict[str, Rows]
    answer: str  # the relation whose contents both engines must agree on


TC_SOUFFLE = """
.decl edge(x:number, y:number)
.decl path(x:number, y:number)
path(x, y) :- edge(x, y).
path(x, z) :- path(x, y), edge(y, z).
"""
TC_ASP = """
path(X, Y) :- edge(X, Y).
path(X, Z) :- path(X, Y), edge(Y, Z).
#show path/2.
"""

ORG_SOUFFLE = """
.decl manages(m:number, e:number)
.decl on_leave(e:number)
.decl above(m:number, e:number)
.decl can_approve(m:number, e:number)
above(m, e) :- manages(m, e).
above(m, e) :- above(m, x), manages(x, e).
can_approve(m, e) :- above(m, e), !on_leave(m).
"""
ORG_ASP = """
above(M, E) :- manages(M, E).
above(M, E) :- above(M, X), manages(X, E).
can_approve(M, E) :- above(M, E), not on_leave(M).
#show can_approve/2.
"""


def workloads(seed: int = 7) -> list[Workload]:
    """The three workloads, deterministic for a given seed."""
    rng = random.Random(seed)
    chain = [(i, i + 1) for i in range(499)]
    edges: set[tuple[int, int]] = set()
    while len(edges) < 3000:
        a, b = rng.randrange(1000), rng.randrange(1000)
        if a != b:
            edges.add((a, b))
    manages = [(rng.randrange(max(1, i // 4), i) if i > 4 else 0, i) for i in range(1, 5000)]
    on_leave = [(e,) for e in rng.sample(range(5000), 250)]
    return [
        Workload("tc-chain-500", TC_SOUFFLE, TC_ASP, {"edge": chain}, "path"),
        Workload("tc-random-1000x3000", TC_SOUFFLE, TC_ASP, {"edge": sorted(edges)}, "path"),
        Workload(
            "org-5000-approvals",
            ORG_SOUFFLE,
            ORG_ASP,
            {"manages": manages, "on_leave": on_leave},
            "can_approve",
        ),
    ]


def run_rune(workload: Workload) -> tuple[float, float, set[tuple[Any, ...]]]:
    """Seconds to parse+compile, seconds to evaluate, and the answer relation."""
    started = time.perf_counter()
    program = Program.parse(workload.souffle)
    compiled = time.perf_counter()
    result = program.evaluate(workload.facts)
    finished = time.perf_counter()
    return compiled - started, finished - compiled, set(result[workload.answer])


def run_clingo(workload: Workload) -> tuple[float, set[tuple[Any, ...]]]:
    """Seconds to add facts, ground and solve, and the answer relation."""
    started = time.perf_counter()
    facts = "".join(
        f"{name}({','.join(str(v) for v in row)}).\n"
        for name, rows in workload.facts.items()
        for row in rows
    )
    control = clingo.Control(["--warn=none"])
    control.add("base", [], facts + workload.asp)
    control.ground([("base", [])])
    atoms: list[clingo.Symbol] = []
    control.solve(on_model=lambda model: atoms.extend(model.symbols(shown=True)))
    finished = time.perf_counter()
    answer = {tuple(arg.number for arg in atom.arguments) for atom in atoms}
    return finished - started, answer


def best(repeat: int, function: Callable[[], Any]) -> Any:
    """The run with the smallest first element (the time) among ``repeat`` runs."""
    return min(
        (function() for _ in range(repeat)), key=lambda r: r[0] + (r[1] if len(r) > 2 else 0)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per engine [5]")
    args = parser.parse_args()
    print(
        f"{'workload':24} {'tuples':>8} {'clingo s':>9} {'rune s':>8} "
        f"{'(compile)':>9} {'rune/clingo':>11}"
    )
    for workload in workloads():
        clingo_seconds, clingo_answer = best(args.repeat, lambda w=workload: run_clingo(w))
        compile_seconds, evaluate_seconds, rune_answer = best(
            args.repeat, lambda w=workload: run_rune(w)
        )
        if rune_answer != clingo_answer:
            raise SystemExit(f"{workload.name}: RUNE and clingo disagree")
        rune_seconds = compile_seconds + evaluate_seconds
        print(
            f"{workload.name:24} {len(rune_answer):8} {clingo_seconds:9.3f} "
            f"{rune_seconds:8.3f} {compile_seconds:9.3f} {rune_seconds / clingo_seconds:11.2f}"
        )


if __name__ == "__main__":
    main()
