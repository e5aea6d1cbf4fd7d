"""Writes to a live `rune.Engine`: every figure of the live-store issue, on three workloads
of different shapes, each a ratio against a full rebuild of the same state in the same run.

Workloads (10,000 agents each by default):

  teams     `benchmarks/workload.py`: agents in 1-3 teams of a 3-level hierarchy; rules
            derive a `senior` group from an attribute and count each agent's actions in
            the last hour per request.
  projects  agents are members of projects by *facts*, projects sit in a 5-level folder
            tree; rules derive membership (`derived_parent`) from the facts, sum what each
            agent spent today per request (a budget), and tag on-call agents.
  flat      no hierarchy, many attributes; rules derive a tier attribute from numbers and
            keep a per-tool rate limit from history; policies compare attributes only.

Figures per workload (medians; "rebuild" = building an engine on the same state):

  record+h  one `record()` when rules read history         target <= 0.5 ms, >= 300x
  record-h  one `record()` when no rule reads history       target <= 50 us
  write/a   a one-entity write changing an attribute        target <= 1 ms, >= 100x
  write/p   a one-entity write changing parents so that a derived membership moves
  tx        a transaction of 1,000 records                   target >= 20,000 records/s
  after     decisions in the first 1,000 after a write vs steady state: within 2x

and once: history retention over `--history` records (RSS and record latency at the
start and the end, one-hour horizon), durable records per second (SQLite, `full` and
`normal`), and readers under a writer (four threads deciding while a writer records
1,000 actions a second).

Run: `make bench-writes` or `.venv/bin/python benchmarks/engine_writes.py [--quick]`.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rune
import workload

Request = tuple[str, str, str, dict[str, Any]]


@dataclass
class Workload:
    name: str
    policies: str
    entities: list[dict[str, Any]]
    facts: dict[str, list[tuple[Any, ...]]]
    rules: str  # reading history
    rules_without_history: str
    requests: Callable[[int, int], list[Request]]
    # (uid json, attrs, parents) changes for the write figures
    attribute_write: Callable[[int], dict[str, Any]]
    parent_write: Callable[[int], dict[str, Any]]
    record: Callable[[int], tuple[str, str, str]]


def uid(kind: str, name: str) -> dict[str, str]:
    return {"type": kind, "id": name}


# -- teams ------------------------------------------------------------------------------------

TEAMS_RULES = r"""
.decl recent(p: symbol, n: number)
derived_parent(a, "Group::\"senior\"") :- entity(a, "Agent"), attr_num(a, "clearance", l), l >= 3.
recent(p, n) :- request(p, _, _), now(t),
                n = count : { performed(p, _, _, at, _), at > t - 3600 }.
config("tier", "busy") :- request(p, _, _), recent(p, n), n > 5.
config("mode", m) :- request(_, _, _), context("mode", m).
"""
TEAMS_RULES_NO_HISTORY = r"""
derived_parent(a, "Group::\"senior\"") :- entity(a, "Agent"), attr_num(a, "clearance", l), l >= 3.
config("mode", m) :- request(_, _, _), context("mode", m).
"""
TEAMS_EXTRA_POLICY = """
@id("seniors-read")
permit(principal in Group::"senior", action == Action::"read", resource);
"""


def teams(agents: int) -> Workload:
    ents = workload.entities(agents=agents)
    rng = random.Random(5)

    def requests(n: int, seed: int) -> list[Request]:
        return [(r.principal, r.action, r.resource, {**r.context, "n": i})
                for i, r in enumerate(workload.requests(n, seed=seed, agents=agents))]

    def attribute_write(i: int) -> dict[str, Any]:
        return {"uid": uid("Agent", f"agent-{i % agents}"),
                "attrs": {"clearance": 1, "role": "agent", "version": i},
                "parents": [uid("Team", f"team-{i % 80}")]}

    def parent_write(i: int) -> dict[str, Any]:
        # Moves the agent in or out of the derived `senior` group and to another team.
        return {"uid": uid("Agent", f"agent-{i % agents}"),
                "attrs": {"clearance": 4 if i % 2 else 0, "role": "agent"},
                "parents": [uid("Team", f"team-{rng.randrange(80)}")]}

    def record(i: int) -> tuple[str, str, str]:
        return (f'Agent::"agent-{i % agents}"', f'Action::"{workload.ACTIONS[i % 4]}"',
                f'Tool::"tool-{i % 100}"')

    return Workload("teams", workload.policies(10) + TEAMS_EXTRA_POLICY, ents, {},
                    TEAMS_RULES, TEAMS_RULES_NO_HISTORY, requests, attribute_write,
                    parent_write, record)


# -- projects ---------------------------------------------------------------------------------

PROJECTS_POLICIES = """
@id("members-edit")
permit(principal, action in [Action::"read", Action::"write"], resource)
when { resource has project && principal in resource.project };
@id("folder-readers")
permit(principal, action == Action::"read", resource in Folder::"f-0")
when { principal.clearance >= 2 };
@id("no-writes-when-frozen")
forbid(principal, action == Action::"write", resource)
when { context has frozen && context.frozen };
@id("oncall-deploys")
permit(principal, action == Action::"deploy", resource)
when { principal.hasTag("oncall") && resource has project && principal in resource.project };
@id("suspended")
forbid(principal, action, resource) when { principal has suspended && principal.suspended };
"""
PROJECTS_RULES = r"""
.decl works_on(agent: symbol, project: symbol)
.decl oncall(agent: symbol)
.decl spent_today(p: symbol, total: number)
derived_parent(a, p) :- works_on(a, p), entity(a, "Agent").
derived_tag(a, "oncall", "yes") :- oncall(a), entity(a, "Agent").
spent_today(p, s) :- request(p, _, _), now(t),
                     s = sum x : { spent(p, x, at, _), at > t - 86400 }.
budget(cat("spend:", p), 1000000, 86400, 1) :- request(p, "Action::\"deploy\"", _).
config_num("spent_today", s) :- request(p, _, _), spent_today(p, s).
"""
PROJECTS_RULES_NO_HISTORY = r"""
.decl works_on(agent: symbol, project: symbol)
.decl oncall(agent: symbol)
derived_parent(a, p) :- works_on(a, p), entity(a, "Agent").
derived_tag(a, "oncall", "yes") :- oncall(a), entity(a, "Agent").
budget(cat("spend:", p), 1000000, 86400, 1) :- request(p, "Action::\"deploy\"", _).
"""


def projects(agents: int) -> Workload:
    rng = random.Random(11)
    ents: list[dict[str, Any]] = []
    folders = ["f-0"]
    ents.append({"uid": uid("Folder", "f-0"), "attrs": {}, "parents": []})
    for i in range(1, 2000):  # a tree up to 5 levels deep
        parent = folders[rng.randrange(max(1, min(len(folders), 1 + i // 5)))]
        folders.append(f"f-{i}")
        ents.append({"uid": uid("Folder", f"f-{i}"), "attrs": {},
                     "parents": [uid("Folder", parent)]})
    projects_ = [f"p-{i}" for i in range(300)]
    for p in projects_:
        ents.append({"uid": uid("Project", p), "attrs": {}, "parents": []})
    for i in range(agents):
        attrs: dict[str, Any] = {"clearance": rng.randrange(4)}
        if rng.random() < 0.01:
            attrs["suspended"] = True
        ents.append({"uid": uid("Agent", f"ag-{i}"), "attrs": attrs, "parents": []})
    for i in range(5000):
        ents.append({"uid": uid("Doc", f"d-{i}"),
                     "attrs": {"project": {"__entity": uid("Project",
                                                           projects_[i % 300])}},
                     "parents": [uid("Folder", folders[rng.randrange(2000)])]})
    works_on = [(f'Agent::\\"ag-{i}\\"', f'Project::\\"{projects_[rng.randrange(300)]}\\"')
              for i in range(agents) for _ in range(2)]
    oncall = [(f'Agent::\\"ag-{i}\\"',) for i in range(0, agents, 50)]

    def requests(n: int, seed: int) -> list[Request]:
        r = random.Random(seed)
        actions = ("read", "write", "deploy")
        return [(f'Agent::"ag-{r.randrange(agents)}"', f'Action::"{actions[r.randrange(3)]}"',
                 f'Doc::"d-{r.randrange(5000)}"', {"frozen": r.random() < 0.1, "n": i})
                for i in range(n)]

    def attribute_write(i: int) -> dict[str, Any]:
        return {"uid": uid("Agent", f"ag-{i % agents}"),
                "attrs": {"clearance": i % 4, "note": f"v{i}"}, "parents": []}

    def parent_write(i: int) -> dict[str, Any]:
        # A folder moves to another parent: every document below it changes ancestors.
        return {"uid": uid("Folder", f"f-{1000 + i % 1000}"), "attrs": {},
                "parents": [uid("Folder", f"f-{rng.randrange(1, 1000)}")]}

    def record(i: int) -> tuple[str, str, str]:
        return (f'Agent::"ag-{i % agents}"', 'Action::"deploy"', f'Doc::"d-{i % 5000}"')

    return Workload("projects", PROJECTS_POLICIES, ents, {"works_on": works_on, "oncall": oncall},
                    PROJECTS_RULES, PROJECTS_RULES_NO_HISTORY, requests, attribute_write,
                    parent_write, record)


# -- flat -------------------------------------------------------------------------------------

FLAT_POLICIES = """
@id("gold-any")
permit(principal, action, resource) when { principal has tier && principal.tier == "gold" };
@id("silver-read")
permit(principal, action == Action::"read", resource)
when { principal has tier && principal.tier == "silver" && resource.public };
@id("risky")
forbid(principal, action, resource) when { context.risk > principal.risk_limit };
@id("paths")
forbid(principal, action == Action::"write", resource) when { resource.path like "/etc/*" };
"""
FLAT_RULES = r"""
.decl per_tool(r: symbol, n: number)
derived_attr(a, "tier", "gold") :- entity(a, "Agent"), attr_num(a, "score", s), s >= 90.
derived_attr(a, "tier", "silver") :- entity(a, "Agent"), attr_num(a, "score", s), s >= 50, s < 90.
per_tool(r, n) :- request(_, _, r), now(t),
                  n = count : { performed(_, _, r, at, _), at > t - 60 }.
rate_limit(cat("tool:", r), 1000000, 60) :- request(_, _, r).
config_num("tool_calls_last_minute", n) :- per_tool(_, n).
"""
FLAT_RULES_NO_HISTORY = r"""
derived_attr(a, "tier", "gold") :- entity(a, "Agent"), attr_num(a, "score", s), s >= 90.
derived_attr(a, "tier", "silver") :- entity(a, "Agent"), attr_num(a, "score", s), s >= 50, s < 90.
rate_limit(cat("tool:", r), 1000000, 60) :- request(_, _, r).
"""


def flat(agents: int) -> Workload:
    rng = random.Random(13)
    ents = [{"uid": uid("Agent", f"u-{i}"),
             "attrs": {"score": rng.randrange(100), "risk_limit": rng.randrange(10),
                       "region": rng.choice(["eu", "us", "ap"]), "seats": rng.randrange(50)},
             "parents": []} for i in range(agents)]
    ents += [{"uid": uid("Res", f"r-{i}"),
              "attrs": {"public": rng.random() < 0.5,
                        "path": rng.choice(["/etc/", "/home/", "/srv/"]) + f"x{i}"},
              "parents": []} for i in range(1000)]

    def requests(n: int, seed: int) -> list[Request]:
        r = random.Random(seed)
        return [(f'Agent::"u-{r.randrange(agents)}"', f'Action::"{r.choice(["read", "write"])}"',
                 f'Res::"r-{r.randrange(1000)}"', {"risk": r.randrange(10), "n": i})
                for i in range(n)]

    def attribute_write(i: int) -> dict[str, Any]:
        return {"uid": uid("Agent", f"u-{i % agents}"),
                "attrs": {"score": 10 + i % 30, "risk_limit": 5, "region": "eu", "seats": i},
                "parents": []}

    def parent_write(i: int) -> dict[str, Any]:
        # No hierarchy here: the score moves the derived tier (gold <-> silver).
        return {"uid": uid("Agent", f"u-{i % agents}"),
                "attrs": {"score": 95 if i % 2 else 60, "risk_limit": 5, "region": "eu",
                          "seats": i}, "parents": []}

    def record(i: int) -> tuple[str, str, str]:
        return (f'Agent::"u-{i % agents}"', 'Action::"read"', f'Res::"r-{i % 1000}"')

    return Workload("flat", FLAT_POLICIES, ents, {}, FLAT_RULES, FLAT_RULES_NO_HISTORY, requests,
                    attribute_write, parent_write, record)


WORKLOADS = {"teams": teams, "projects": projects, "flat": flat}


# -- measuring --------------------------------------------------------------------------------

class Clock:
    """The engines' clock: real seconds plus a shift the benchmark can move."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def build(w: Workload, rules: str, clock: Clock) -> rune.Engine:
    return rune.Engine(w.policies, entities=w.entities, rules=rules, facts=w.facts, clock=clock)


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def timed(n: int, step: Callable[[int], Any], offset: int = 0) -> list[float]:
    out = []
    clock = time.perf_counter
    for i in range(n):
        t0 = clock()
        step(offset + i)
        out.append(clock() - t0)
    return out


def decide_all(engine: rune.Engine, requests: list[Request]) -> list[float]:
    out = []
    clock = time.perf_counter
    authorize = engine.authorize
    for p, a, r, c in requests:
        t0 = clock()
        authorize(p, a, r, c)
        out.append(clock() - t0)
    return out


def run_workload(w: Workload, args: argparse.Namespace) -> dict[str, Any]:
    clock = Clock()
    n = args.writes
    fig: dict[str, Any] = {}
    rebuilds = []
    for _ in range(3):
        t0 = time.perf_counter()
        engine = build(w, w.rules, clock)
        rebuilds.append(time.perf_counter() - t0)
    rebuild = statistics.median(rebuilds)
    fig["rebuild_ms"] = rebuild * 1e3

    # Cold: the very first write after a build (maintenance indexes are made on first use).
    t0 = time.perf_counter()
    engine.record(*w.record(0))
    fig["record_first_ms"] = (time.perf_counter() - t0) * 1e3
    samples = timed(n, lambda i: (setattr(clock, "now", clock.now + 0.01),
                                  engine.record(*w.record(i))), 1)
    fig["record_h_us"] = median_us(samples)

    plain = build(w, w.rules_without_history, clock)
    plain.record(*w.record(0))
    fig["record_nh_us"] = median_us(timed(n, lambda i: plain.record(*w.record(i)), 1))

    engine.write(entities=[w.attribute_write(0)])
    fig["write_a_us"] = median_us(timed(n, lambda i: engine.write(
        entities=[w.attribute_write(i)]), 1))
    fig["write_p_us"] = median_us(timed(n, lambda i: engine.write(
        entities=[w.parent_write(i)]), 1))

    txs = []
    for k in range(3):
        t0 = time.perf_counter()
        with engine.transaction() as tx:
            for i in range(1000):
                tx.record(*w.record(k * 1000 + i))
        txs.append(time.perf_counter() - t0)
    fig["tx_per_s"] = 1000 / statistics.median(txs)

    # Decisions right after a write vs steady state, on fresh requests either way.
    warm = w.requests(20_000, 21)
    decide_all(engine, warm)
    steady = decide_all(engine, w.requests(5000, 22))
    after: list[float] = []
    for k in range(5):
        engine.write(entities=[w.parent_write(10_000 + k)])
        after += decide_all(engine, w.requests(1000, 30 + k))
        engine.record(*w.record(20_000 + k))
        after += decide_all(engine, w.requests(1000, 40 + k))
    fig["steady_us"] = median_us(steady)
    fig["after_us"] = median_us(after)
    fig["rebuild"] = rebuild
    return fig


def history_run(records: int) -> list[dict[str, float]]:
    """One agent fleet recording ``records`` actions, 20 a simulated second, with a one-hour
    horizon (72,000 live rows once an hour has passed): RSS, live rows and the median
    record latency of the last 10,000 records at checkpoints from 10% of the run (well past
    the first hour) to the end."""
    clock = Clock()
    w = teams(10_000)
    engine = rune.Engine(w.policies, entities=w.entities, rules=w.rules, clock=clock,
                         settings=rune.Settings(history_retention_seconds=3600))
    checkpoints = {records // 10, records // 4, records // 2, records}
    out: list[dict[str, float]] = []
    samples: list[float] = []
    t_clock = time.perf_counter
    for i in range(records):
        if i % 20 == 0:
            clock.now += 1
        t0 = t_clock()
        engine.record(*w.record(i), at=clock.now)
        samples.append(t_clock() - t0)
        if i + 1 in checkpoints:
            gc.collect()
            out.append({"records": i + 1, "rss_mb": rss_mb(),
                        "lat_us": median_us(samples[-10_000:]),
                        "rows": len(engine.snapshot.facts["performed"])})
            samples = samples[-10_000:]
    return out


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def durable_run(n: int) -> dict[str, float]:
    out = {}
    w = teams(1000)
    for sync in ("full", "normal"):
        with tempfile.TemporaryDirectory() as tmp:
            engine = rune.Engine(w.policies, entities=w.entities, rules=w.rules,
                                 state=Path(tmp) / "state.db",
                                 settings=rune.Settings(state_sync=sync))
            engine.record(*w.record(0))
            t0 = time.perf_counter()
            for i in range(n):
                engine.record(*w.record(i))
            out[sync] = n / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            with engine.transaction() as tx:
                for i in range(1000):
                    tx.record(*w.record(i))
            out[f"{sync}_tx"] = 1000 / (time.perf_counter() - t0)
            engine.close()
    return out


def readers_run(seconds: float, w: Workload) -> dict[str, float]:
    """Median decision latency of four reader threads, alone and beside a writer recording
    1,000 actions a second; every decision is checked against its reported version."""
    clock = Clock()
    engine = build(w, w.rules, clock)
    requests = w.requests(50_000, 51)
    decide_all(engine, requests[:20_000])

    def phase(with_writer: bool) -> tuple[float, int, int]:
        stop = threading.Event()
        latencies: list[list[float]] = [[] for _ in range(4)]
        problems: list[str] = []
        written = [0]

        def reader(k: int) -> None:
            clock_ = time.perf_counter
            i = k
            try:
                while not stop.is_set():
                    p, a, r, c = requests[i % len(requests)]
                    t0 = clock_()
                    d = engine.authorize(p, a, r, c)
                    latencies[k].append(clock_() - t0)
                    if i % 97 == 0:  # the decision its version gives
                        again = engine._decide(d.snapshot, d.request)
                        if again[:5] != d[:5] and not d.obligations:
                            problems.append(f"{d} != {again}")
                    i += 4
            except Exception as exc:  # reported below
                problems.append(repr(exc))

        def writer() -> None:
            start = time.perf_counter()
            i = 0
            while not stop.is_set():
                target = start + i / 1000
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                engine.record(*w.record(i))
                i += 1
            written[0] = i

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
        if with_writer:
            threads.append(threading.Thread(target=writer))
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join()
        if problems:
            raise SystemExit(f"readers failed: {problems[:3]}")
        return median_us([x for xs in latencies for x in xs]), written[0], \
            sum(len(x) for x in latencies)

    alone, _, n_alone = phase(False)
    beside, writes, n_beside = phase(True)
    return {"alone_us": alone, "beside_us": beside, "writes_per_s": writes / seconds,
            "decisions_alone": n_alone, "decisions_beside": n_beside}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=300, help="timed writes per figure")
    parser.add_argument("--history", type=int, default=1_000_000,
                        help="records for the retention run (0 skips it)")
    parser.add_argument("--durable", type=int, default=500,
                        help="durable records per sync mode (0 skips)")
    parser.add_argument("--readers", type=float, default=10.0,
                        help="seconds per phase of the readers run (0 skips)")
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append")
    parser.add_argument("--quick", action="store_true",
                        help="small figures for a smoke run (not for quoting)")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.writes, args.history, args.durable, args.readers = \
            2000, 50, 20_000, 50, 1.0
    print(f"rune {rune.__version__}, Python {sys.version.split()[0]}, "
          f"{args.agents} agents, {args.writes} timed writes per figure; medians, "
          "ratios against a full rebuild measured in the same run\n")
    header = (f"{'workload':<9} {'rebuild':>9} {'record+h':>15} {'record-h':>9} "
              f"{'write/a':>15} {'write/p':>15} {'tx rec/s':>9} {'steady':>7} "
              f"{'after':>7} {'first rec':>9}")
    print(header)
    for name in args.only or list(WORKLOADS):
        w = WORKLOADS[name](args.agents)
        f = run_workload(w, args)
        rb = f["rebuild"] * 1e6

        def cell(us: float, rb: float = rb) -> str:
            return f"{us:7.0f}us {rb / us:5.0f}x"

        print(f"{name:<9} {f['rebuild_ms']:7.0f}ms {cell(f['record_h_us'])} "
              f"{f['record_nh_us']:7.1f}us {cell(f['write_a_us'])} {cell(f['write_p_us'])} "
              f"{f['tx_per_s']:9.0f} {f['steady_us']:6.2f}u {f['after_us']:6.2f}u "
              f"{f['record_first_ms']:7.1f}ms", flush=True)
    print("\ntargets: record+h <= 500us and >= 300x; record-h <= 50us; write/a and write/p "
          "<= 1000us and >= 100x; tx >= 20,000/s; after <= 2x steady")
    if args.history:
        points = history_run(args.history)
        print(f"\nretention, {args.history:,} records at 20 per simulated second, one-hour "
              "horizon (RSS, median record latency of the last 10,000, live rows):")
        for h in points:
            print(f"  after {h['records']:>9,.0f}: {h['rss_mb']:6.0f} MB {h['lat_us']:6.0f} us "
                  f"{h['rows']:>8,.0f} rows")
        first, last = points[0], points[-1]
        print(f"  end vs first: RSS {last['rss_mb'] / first['rss_mb']:.2f}x, latency "
              f"{last['lat_us'] / first['lat_us']:.2f}x (flat is 1.00x)")
    if args.durable:
        d = durable_run(args.durable)
        print(f"\ndurable records per second (one record per transaction): "
              f"sync=full {d['full']:.0f}/s, sync=normal {d['normal']:.0f}/s; "
              f"1,000 per transaction: full {d['full_tx']:.0f}/s, normal {d['normal_tx']:.0f}/s")
    if args.readers:
        r = readers_run(args.readers, teams(args.agents))
        print(f"\nreaders: four threads deciding, median {r['alone_us']:.2f} us alone, "
              f"{r['beside_us']:.2f} us beside a writer at {r['writes_per_s']:.0f} records/s "
              f"({r['beside_us'] / r['alone_us']:.2f}x; target <= 2x); "
              f"{r['decisions_beside']:,} decisions checked against their version")


if __name__ == "__main__":
    main()
