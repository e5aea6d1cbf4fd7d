"""Incremental maintenance vs recomputation, and per-request extension, on 100,000 facts.

For each model the program is evaluated from scratch (best of a few runs), then single
input facts are retracted and inserted one update at a time (`Result.update`), each
update checked against the expected change. The figure is the ratio of the full
evaluation time to the median single-fact update time (the goal is at least 100x).
The first update of a result builds the indexes that updates use; it is reported
separately and left out of the median.

1. `forest`: transitive closure over a forest of 100 random trees, 100,000 edges in all;
2. `org`: who can approve whom in 100,000 employees (recursive `above`, stratified
   negation over people on leave; 1% are on leave);
3. `access`: a join-heavy configuration model (users in groups, groups granted
   permissions, permissions covering resources: 100,000 facts), non-recursive;
4. `request`: per-request facts on top of the `access` result (`Result.extended`), the
   way the unified engine evaluates per-request rules; reported in microseconds.

    .venv/bin/python benchmarks/datalog_incremental.py [--updates N] [--only NAME]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rune.datalog import Program, Result

Rows = list[tuple[Any, ...]]

FOREST = """
.decl edge(parent: number, child: number)
.decl path(a: number, b: number)
path(x, y) :- edge(x, y).
path(x, z) :- edge(x, y), path(y, z).
"""

ORG = """
.decl manages(boss: number, report: number)
.decl on_leave(person: number)
.decl above(boss: number, person: number)
.decl approves(boss: number, person: number)
above(b, p) :- manages(b, p).
above(b, p) :- manages(b, m), above(m, p).
approves(b, p) :- above(b, p), !on_leave(b).
"""

ACCESS = """
.decl member(user: symbol, group: symbol)
.decl grant(group: symbol, action: symbol, permission: symbol)
.decl covers(permission: symbol, resource: symbol)
.decl suspended(user: symbol)
.decl can(user: symbol, action: symbol, resource: symbol)
.decl request(user: symbol, action: symbol, resource: symbol)
.decl allowed(user: symbol, action: symbol, resource: symbol)
can(u, a, r) :- member(u, g), grant(g, a, p), covers(p, r), !suspended(u).
allowed(u, a, r) :- request(u, a, r), member(u, g), grant(g, a, p), covers(p, r),
                    !suspended(u).
"""


@dataclass(frozen=True)
class Model:
    """A program, its facts, and a source of single-fact changes to time."""

    name: str
    program: str
    facts: dict[str, Rows]
    # Returns (relation, row, is_insert) for the next single-fact update.
    change: Callable[[random.Random, Result], tuple[str, tuple[Any, ...], bool]]


def forest_model(rng: random.Random) -> Model:
    edges = [(rng.randrange(i - i % 1000, i), i) for i in range(102_000) if i % 1000]
    edges = edges[:100_000]
    present = set(edges)
    next_node = [200_000]

    def change(rng: random.Random, result: Result) -> tuple[str, tuple[Any, ...], bool]:
        if rng.random() < 0.5:
            edge = rng.choice(edges)
            if edge in present:
                present.discard(edge)
                return "edge", edge, False
            present.add(edge)
            return "edge", edge, True
        next_node[0] += 1
        edge = (rng.choice(edges)[1], next_node[0])
        return "edge", edge, True

    return Model("forest", FOREST, {"edge": edges}, change)


def org_model(rng: random.Random) -> Model:
    manages = [(rng.randrange(i - i % 1000, i), i) for i in range(100_100) if i % 1000]
    manages = manages[:99_000]
    leave = rng.sample(range(100_000), 1000)
    on_leave = {(p,) for p in leave}

    def change(rng: random.Random, result: Result) -> tuple[str, tuple[Any, ...], bool]:
        if rng.random() < 0.5:
            row = (rng.randrange(100_000),)
            if row in on_leave:
                on_leave.discard(row)
                return "on_leave", row, False
            on_leave.add(row)
            return "on_leave", row, True
        edge = rng.choice(manages)
        in_result = edge in result["manages"]
        return "manages", edge, not in_result

    facts: dict[str, Rows] = {"manages": manages, "on_leave": sorted(on_leave)}
    return Model("org", ORG, facts, change)


def access_model(rng: random.Random) -> Model:
    users, groups, permissions, resources = 20_000, 2_000, 5_000, 10_000
    actions = ["read", "write", "admin"]
    member = {(f"u{rng.randrange(users)}", f"g{rng.randrange(groups)}") for _ in range(50_000)}
    grant = {
        (f"g{rng.randrange(groups)}", rng.choice(actions), f"p{rng.randrange(permissions)}")
        for _ in range(20_000)
    }
    covers = {
        (f"p{rng.randrange(permissions)}", f"r{rng.randrange(resources)}") for _ in range(29_000)
    }
    suspended = {(f"u{rng.randrange(users)}",) for _ in range(1_000)}
    member_rows = sorted(member)

    def change(rng: random.Random, result: Result) -> tuple[str, tuple[Any, ...], bool]:
        roll = rng.random()
        if roll < 0.4:
            row = rng.choice(member_rows)
            return "member", row, row not in result["member"]
        if roll < 0.7:
            row = (f"u{rng.randrange(users)}", f"g{rng.randrange(groups)}")
            return "member", row, row not in result["member"]
        row = (f"u{rng.randrange(users)}",)
        return "suspended", row, row not in result["suspended"]

    facts: dict[str, Rows] = {
        "member": member_rows,
        "grant": sorted(grant),
        "covers": sorted(covers),
        "suspended": sorted(suspended),
    }
    return Model("access", ACCESS, facts, change)


def best_of(runs: int, action: Callable[[], Any]) -> tuple[float, Any]:
    best = float("inf")
    value = None
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        value = action()
        best = min(best, time.perf_counter() - started)
    return best, value


def measure(model: Model, updates: int, seed: int) -> dict[str, float]:
    program = Program.parse(model.program)
    facts_count = sum(len(rows) for rows in model.facts.values())
    full, result = best_of(3, lambda: program.evaluate(model.facts))
    derived = sum(len(view) for view in result.values())
    rng = random.Random(seed)
    started = time.perf_counter()
    relation, row, insert = model.change(rng, result)
    result = result.update(**{"insert" if insert else "retract": {relation: [row]}})
    first = time.perf_counter() - started
    timings = []
    gc.collect()
    for _ in range(updates):
        relation, row, insert = model.change(rng, result)
        change = {relation: [row]}
        started = time.perf_counter()
        result = result.update(insert=change) if insert else result.update(retract=change)
        timings.append(time.perf_counter() - started)
        assert (row in result[relation]) == insert
    timings.sort()
    median = statistics.median(timings)
    p90 = timings[int(0.9 * (len(timings) - 1))]
    print(
        f"{model.name:8} {facts_count:>8,} facts {derived:>10,} rows | full {full:7.3f} s | "
        f"first update {first * 1e3:7.1f} ms | median update {median * 1e3:6.2f} ms "
        f"(p90 {p90 * 1e3:6.2f} ms, mean {statistics.mean(timings) * 1e3:6.2f} ms) | "
        f"speedup {full / median:8.0f}x"
    )
    return {"full": full, "median": median, "ratio": full / median}


def measure_requests(model: Model, requests: int, seed: int) -> None:
    program = Program.parse(model.program)
    base = program.evaluate(model.facts)
    rng = random.Random(seed)
    can = sorted(base["can"])
    members = model.facts["member"]
    asks = []
    for _ in range(requests):
        if rng.random() < 0.5:
            asks.append(rng.choice(can))
        else:
            asks.append((rng.choice(members)[0], rng.choice(["read", "write"]), "r1"))
    for ask in asks[:200]:  # agreement first, and the indexes the rule uses get built
        assert (ask in base.extended({"request": [ask]})["allowed"]) == (ask in base["can"])
    gc.collect()
    gc.disable()
    try:
        timings = []
        for ask in asks:
            started = time.perf_counter()
            base.extended({"request": [ask]})
            timings.append(time.perf_counter() - started)
    finally:
        gc.enable()
    timings.sort()
    print(
        f"request  extended() with one request fact on the access result: median "
        f"{statistics.median(timings) * 1e6:.1f} us, p90 "
        f"{timings[int(0.9 * (len(timings) - 1))] * 1e6:.1f} us ({requests} requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200, help="single-fact updates per model")
    parser.add_argument("--requests", type=int, default=5000, help="requests for `request`")
    parser.add_argument("--only", choices=["forest", "org", "access", "request"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    builders = {"forest": forest_model, "org": org_model, "access": access_model}
    for name, build in builders.items():
        if args.only in (None, name):
            measure(build(random.Random(args.seed)), args.updates, args.seed)
    if args.only in (None, "request"):
        measure_requests(access_model(random.Random(args.seed)), args.requests, args.seed)


if __name__ == "__main__":
    main()
