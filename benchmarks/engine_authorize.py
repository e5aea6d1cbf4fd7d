"""`rune.Engine` vs cedarpy (the reference, Rust): every benchmark workload cold and warm,
then every figure of issue 4's Speed section on the agent workload, RUNE and cedarpy on
the same fresh requests in the same run.

  (w) per workload (`agents`, `gateway`, `files`; `--workload` picks them, default all)
      at 10 and 1,000 policies: `engine.authorize` cold (a fresh engine, every principal
      seen for the first time) and warm (a second pass over the same principals), as in
      `workloads.py`, against issue 10's targets (>= 20x at 10 policies, >= 150x at 1,000)
  (a) 10 policies, uncached decisions through `engine.authorize` with string uids
  (b) the same with 1,000 policies; (b2) 10 policies plus 990 that no request can match
  (c) repeated identical requests served from the decision cache, decisions per second
  (d) a request-scoped rule in the loop deriving a configuration value and a rate limit
  (e) a long run (one million requests by default) reported as p50/p90/p99 and throughput
      per core, the way the PermitNetworks benchmark reports them
  (f) memory for 1,000 policies and 10,000 agents above a bare interpreter

Every timed request is distinct (its context carries a counter), so the cache cannot
answer (a), (b), (d) and (e). cedarpy gets pre-parsed `PolicySet`/`Entities` handles.
Decisions and reasons are checked to agree before anything is timed. Figures are ratios
against cedarpy measured in the same run: absolute times on a shared machine mean little.

Run: `make bench-engine` or `.venv/bin/python benchmarks/engine_authorize.py
[--workload all|agents,gateway,files] [--repeat N] [--only-workloads] [--sample N]
[--requests N] [--cached N]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cedarpy

import rune
import workload
import workloads
from rune.cedar import PolicySet

Request = tuple[str, str, str, dict[str, Any]]

# PermitNetworks' published figures, which issue 4 asks us to report against.
PERMIT_P50_MS, PERMIT_P99_MS, PERMIT_PER_CORE = 0.4, 0.8, 45_000
PERMIT_MEMORY_MB = 12.0

# (d): a configuration value and a rate limit derived per request.
REQUEST_RULES = r"""
config("log_level", "debug") :- request(_, _, r), attr(r, "category", "search").
config_num("max_tokens", 4000) :- request(_, "Action::\"invoke\"", _),
    context_num("risk", k), k < 5.
rate_limit(cat("invoke:", p), 1000000000, 60) :- request(p, "Action::\"invoke\"", _).
"""


# -- requests and timing -------------------------------------------------------------------------

def fresh_requests(n: int, seed: int, start: int = 0) -> list[Request]:
    """``n`` workload requests made distinct by a counter in the context."""
    return [(r.principal, r.action, r.resource, dict(r.context, request_id=start + i))
            for i, r in enumerate(workload.requests(n, seed=seed))]


def request_chunks(total: int, seed: int, size: int = 50_000) -> Iterator[list[Request]]:
    """``total`` fresh requests in chunks, so a million never sit in memory at once."""
    done = 0
    while done < total:
        n = min(size, total - done)
        yield fresh_requests(n, seed=seed + done, start=done)
        done += n


def cedar_form(requests: list[Request]) -> list[dict[str, Any]]:
    return [{"principal": p, "action": a, "resource": r, "context": c}
            for p, a, r, c in requests]


def time_rune(engine: rune.Engine, requests: list[Request], out: array[int]) -> float:
    """Time each decision into ``out`` (ns); return the loop's wall time (s)."""
    authorize = engine.authorize
    clock = time.perf_counter_ns
    append = out.append
    start = time.perf_counter()
    for p, a, r, c in requests:
        t0 = clock()
        authorize(p, a, r, c)
        append(clock() - t0)
    return time.perf_counter() - start


def time_cedarpy(policies: Any, entities: Any, requests: list[dict[str, Any]],
                 out: array[int]) -> float:
    is_authorized = cedarpy.is_authorized
    clock = time.perf_counter_ns
    append = out.append
    start = time.perf_counter()
    for q in requests:
        t0 = clock()
        is_authorized(q, policies, entities)
        append(clock() - t0)
    return time.perf_counter() - start


class Latencies:
    """Sorted per-decision times in microseconds."""

    def __init__(self, ns: array[int]) -> None:
        self.sorted = sorted(ns)
        self.n = len(self.sorted)

    def pct(self, q: float) -> float:
        return self.sorted[min(self.n - 1, int(q * self.n))] / 1000

    @property
    def mean(self) -> float:
        return statistics.fmean(self.sorted) / 1000


class Timed:
    """Run a timed region with the collector off (as the Cedar benchmark does) unless
    ``--with-gc`` asks to keep it."""

    keep_gc = False

    def __enter__(self) -> None:
        gc.collect()
        if not self.keep_gc:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        gc.enable()


# -- checks --------------------------------------------------------------------------------------

def check_agreement(engine: rune.Engine, text: str, ced_policies: Any, ced_entities: Any,
                    requests: list[Request]) -> None:
    """RUNE's decisions and reasons are cedarpy's (policy ids mapped through `@id`)."""
    to_annotation = {p.id: p.annotated_id or p.id for p in PolicySet.from_str(text)}
    for (p, a, r, c), q in zip(requests, cedar_form(requests), strict=True):
        mine = engine.authorize(p, a, r, c)
        theirs = cedarpy.is_authorized(q, ced_policies, ced_entities)
        assert mine.decision == theirs.decision.value.lower(), (q, mine, theirs)
        assert sorted(mine.reasons) == sorted(to_annotation[x]
                                              for x in theirs.diagnostics.reasons), (q, mine)
        assert not mine.errors and not theirs.diagnostics.errors, (q, mine, theirs)


# -- (a), (b), (d): uncached decisions -----------------------------------------------------------

def uncached(policy_count: int, n: int, entity_json: list[dict[str, Any]],
             rules: str | None = None, text: str | None = None) -> dict[str, Any]:
    """Fresh requests (seeded by ``policy_count``) against the workload's first
    ``policy_count`` policies, or against ``text``."""
    text = workload.policies(policy_count) if text is None else text
    engine = rune.Engine(policies=text, entities=entity_json, rules=rules)
    ced_policies = cedarpy.PolicySet.from_str(text)
    ced_entities = cedarpy.Entities.from_json_str(json.dumps(entity_json))
    check_agreement(engine, text, ced_policies, ced_entities,
                    fresh_requests(2_000, seed=10_000 + policy_count, start=10**9))
    requests = fresh_requests(n, seed=policy_count)
    if rules is not None:  # the rules really run: config and a rate limit come out
        probe = engine.authorize('Agent::"agent-1"', 'Action::"invoke"', 'Tool::"tool-0"',
                                 {"hour": 9, "risk": 1, "mode": "x", "request_id": -1})
        assert probe.config["max_tokens"] == 4000, probe
        assert [o.kind for o in probe.obligations] == ["rate_limit"], probe
    ced_ns: array[int] = array("q")
    rune_ns: array[int] = array("q")
    with Timed():
        time_cedarpy(ced_policies, ced_entities, cedar_form(requests), ced_ns)
        time_rune(engine, requests, rune_ns)
    return {"rune": Latencies(rune_ns), "cedarpy": Latencies(ced_ns)}


# -- (c): the decision cache ---------------------------------------------------------------------

def cached(total: int, entity_json: list[dict[str, Any]]) -> dict[str, float]:
    """Decisions per second for 100 distinct requests repeated, with the workload's
    context (hour, risk, mode) and without a context."""
    text = workload.policies(10)
    engine = rune.Engine(policies=text, entities=entity_json)
    with_context = [(r.principal, r.action, r.resource, r.context)
                    for r in workload.requests(100, seed=99)]
    without_context = [(p, a, r, None) for p, a, r, _ in with_context]
    rounds = max(1, total // len(with_context))
    authorize = engine.authorize
    out = {}
    for name, distinct in (("context", with_context), ("no_context", without_context)):
        for p, a, r, c in distinct:  # fill the cache
            authorize(p, a, r, c)
        assert authorize(*distinct[0]) is authorize(*distinct[0]), "the cache is off"
        with Timed():
            start = time.perf_counter()
            for _ in range(rounds):
                for p, a, r, c in distinct:
                    authorize(p, a, r, c)
            out[f"rune_{name}_per_s"] = rounds * len(distinct) / (time.perf_counter() - start)
    # cedarpy has no cache: the same repeated requests, fewer of them.
    ced_policies = cedarpy.PolicySet.from_str(text)
    ced_entities = cedarpy.Entities.from_json_str(json.dumps(entity_json))
    ced_requests = cedar_form(with_context) * max(1, min(rounds, 20_000 // len(with_context)))
    with Timed():
        start = time.perf_counter()
        for q in ced_requests:
            cedarpy.is_authorized(q, ced_policies, ced_entities)
        out["cedarpy_per_s"] = len(ced_requests) / (time.perf_counter() - start)
    return out


# -- (e): a long run -----------------------------------------------------------------------------

def long_run(total: int, entity_json: list[dict[str, Any]]) -> dict[str, Any]:
    text = workload.policies(10)
    engine = rune.Engine(policies=text, entities=entity_json)
    ced_policies = cedarpy.PolicySet.from_str(text)
    ced_entities = cedarpy.Entities.from_json_str(json.dumps(entity_json))
    rune_ns: array[int] = array("q")
    ced_ns: array[int] = array("q")
    rune_s = ced_s = 0.0
    # Chunks alternate between the two engines so that machine noise hits both alike.
    for chunk in request_chunks(total, seed=1_000_003):
        ced_chunk = cedar_form(chunk)
        with Timed():
            ced_s += time_cedarpy(ced_policies, ced_entities, ced_chunk, ced_ns)
            rune_s += time_rune(engine, chunk, rune_ns)
    return {"rune": Latencies(rune_ns), "cedarpy": Latencies(ced_ns),
            "rune_per_s": total / rune_s, "cedarpy_per_s": total / ced_s}


# -- (f): memory ---------------------------------------------------------------------------------

# Runs in a fresh interpreter (`python -c`), importing nothing it is not asked to, so that
# "bare" really is a bare interpreter. Prints RSS (and traced Python memory) as JSON.
MEMORY_CHILD = r"""
import gc, json, sys
from pathlib import Path

mode, bundle = sys.argv[1], Path(sys.argv[2])
keep = []
traced = None
context = {"hour": 9, "risk": 1, "mode": "interactive"}


def release():
    # Collect garbage and hand freed heap pages back (glibc) so RSS shows live data.
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


if mode == "rune-import":
    import rune
    keep.append(rune)
elif mode in ("rune", "rune-tracemalloc"):
    import tracemalloc
    import rune
    if mode == "rune-tracemalloc":
        tracemalloc.start()
    engine = rune.Engine.load(bundle)
    engine.authorize('Agent::"agent-1"', 'Action::"read"', 'Tool::"tool-1"', context)
    keep.append(engine)
    if mode == "rune-tracemalloc":
        release()
        traced = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
elif mode == "cedarpy":
    import cedarpy
    policies = cedarpy.PolicySet.from_str((bundle / "policies" / "all.cedar").read_text())
    entities = cedarpy.Entities.from_json_str((bundle / "entities" / "all.json").read_text())
    cedarpy.is_authorized({"principal": 'Agent::"agent-1"', "action": 'Action::"read"',
                           "resource": 'Tool::"tool-1"', "context": context},
                          policies, entities)
    keep += [policies, entities]
elif mode != "bare":
    raise SystemExit(f"unknown memory mode {mode}")
release()
status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
rss = int(status["VmRSS"].split()[0]) / 1024
peak = int(status["VmHWM"].split()[0]) / 1024
print(json.dumps({"rss": rss, "peak": peak, "traced": traced}))
"""


def memory(entity_json: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "policies").mkdir()
        (root / "entities").mkdir()
        (root / "policies" / "all.cedar").write_text(workload.policies(1000))
        (root / "entities" / "all.json").write_text(json.dumps(entity_json))
        # Modules are imported from cached bytecode, as from an installed package (pip
        # compiles it at install time) and as the standard library already is. With
        # PYTHONDONTWRITEBYTECODE set (as on our dev machines) every child would compile
        # RUNE's sources afresh, and the compiler's leftovers would count as RUNE's.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        out = {}
        for mode in ("bare", "rune-import", "rune", "rune-tracemalloc", "cedarpy"):
            runs = []
            for _ in range(3):  # the smallest of three: RSS has some noise (and the first
                # run of a mode writes the bytecode cache)
                proc = subprocess.run(
                    [sys.executable, "-c", MEMORY_CHILD, mode, str(root)],
                    check=True, capture_output=True, text=True, env=env)
                runs.append(json.loads(proc.stdout))
            out[mode] = min(runs, key=lambda r: r["rss"])
    return out


# -- report --------------------------------------------------------------------------------------

def row(figure: str, rune_value: str, cedar_value: str, ratio: str, target: str,
        met: bool | str | None) -> str:
    verdict = met if isinstance(met, str) else "" if met is None else ("yes" if met else "NO")
    return (f"{figure:<44} {rune_value:>12} {cedar_value:>12} {ratio:>9} "
            f"{target:>18} {verdict:>4}")


def speed_figures(args: argparse.Namespace, entity_json: list[dict[str, Any]],
                  say: Callable[..., None]) -> list[str]:
    """Measure (a)-(e) and return their report rows."""
    lines: list[str] = []
    say(f"(a) 10 policies, {args.sample} fresh requests ...")
    a = uncached(10, args.sample, entity_json)
    say(f"(b) 1,000 policies, {args.sample} fresh requests ...")
    b = uncached(1000, args.sample, entity_json)
    say(f"(b2) 10 policies + 990 that cannot apply, {args.sample} fresh requests ...")
    b2 = uncached(10, args.sample, entity_json,
                  text=workload.policies(10) + "\n" + workload.unreachable_policies(990))
    say(f"(c) {args.cached} cached decisions ...")
    c = cached(args.cached, entity_json)
    say(f"(d) request-scoped rule, {args.sample} fresh requests ...")
    d = uncached(10, args.sample, entity_json, rules=REQUEST_RULES)
    say(f"(e) {args.requests} fresh requests ...")
    e = long_run(args.requests, entity_json)

    for label, res, p50_target, p99_target, x_target in (
            ("(a) 10 policies", a, 3.0, 15.0, 20.0),
            ("(b) 1,000 policies", b, 5.0, None, 100.0)):
        rl, cl = res["rune"], res["cedarpy"]
        lines.append(row(f"{label}: median per decision", f"{rl.pct(0.5):.2f} us",
                         f"{cl.pct(0.5):.2f} us", f"{cl.pct(0.5) / rl.pct(0.5):.1f}x",
                         f"<= {p50_target:g} us, >= {x_target:g}x",
                         rl.pct(0.5) <= p50_target and cl.pct(0.5) / rl.pct(0.5) >= x_target))
        lines.append(row(f"{label}: p99 per decision", f"{rl.pct(0.99):.2f} us",
                         f"{cl.pct(0.99):.2f} us", f"{cl.pct(0.99) / rl.pct(0.99):.1f}x",
                         f"<= {p99_target:g} us" if p99_target else "",
                         rl.pct(0.99) <= p99_target if p99_target else None))
        lines.append(row(f"{label}: mean per decision", f"{rl.mean:.2f} us",
                         f"{cl.mean:.2f} us", f"{cl.mean / rl.mean:.1f}x", "", None))
    growth = b["rune"].pct(0.5) / a["rune"].pct(0.5)
    lines.append(row("(b)/(a) median, 1,000 vs 10 policies", f"{growth:.2f}x",
                     f"{b['cedarpy'].pct(0.5) / a['cedarpy'].pct(0.5):.2f}x", "",
                     "(more apply)", None))
    rl, cl = b2["rune"], b2["cedarpy"]
    lines.append(row("(b2) 10 + 990 that cannot apply: median", f"{rl.pct(0.5):.2f} us",
                     f"{cl.pct(0.5):.2f} us", f"{cl.pct(0.5) / rl.pct(0.5):.1f}x", "", None))
    unreachable = rl.pct(0.5) / a["rune"].pct(0.5)
    lines.append(row("(b2)/(a) median: growth from policies that cannot apply",
                     f"{unreachable:.2f}x", f"{cl.pct(0.5) / a['cedarpy'].pct(0.5):.2f}x", "",
                     "no growth", unreachable <= 1.25))
    for name, label in (("context", "with context"), ("no_context", "no context")):
        rate = c[f"rune_{name}_per_s"]
        lines.append(row(f"(c) cached identical requests, {label}", f"{rate:,.0f}/s",
                         f"{c['cedarpy_per_s']:,.0f}/s", f"{rate / c['cedarpy_per_s']:.1f}x",
                         ">= 2,000,000/s", rate >= 2_000_000))
    rl, cl = d["rune"], d["cedarpy"]
    lines.append(row("(d) request-scoped config + rate limit: p50", f"{rl.pct(0.5):.2f} us",
                     f"{cl.pct(0.5):.2f} us", f"{cl.pct(0.5) / rl.pct(0.5):.1f}x",
                     "<= 10 us", rl.pct(0.5) <= 10.0))
    lines.append(row("(d) request-scoped config + rate limit: p99", f"{rl.pct(0.99):.2f} us",
                     f"{cl.pct(0.99):.2f} us", f"{cl.pct(0.99) / rl.pct(0.99):.1f}x", "",
                     None))
    rl, cl = e["rune"], e["cedarpy"]
    for q in (0.5, 0.9, 0.99):
        permit = {0.5: f"PN {PERMIT_P50_MS} ms", 0.99: f"PN {PERMIT_P99_MS} ms"}.get(q, "")
        lines.append(row(f"(e) {e['rune'].n:,} requests: p{round(q * 100)}",
                         f"{rl.pct(q) / 1000:.4f} ms", f"{cl.pct(q) / 1000:.4f} ms",
                         f"{cl.pct(q) / rl.pct(q):.1f}x", permit, None))
    lines.append(row(f"(e) {e['rune'].n:,} requests: throughput per core",
                     f"{e['rune_per_s']:,.0f}/s", f"{e['cedarpy_per_s']:,.0f}/s",
                     f"{e['rune_per_s'] / e['cedarpy_per_s']:.1f}x",
                     f"PN {PERMIT_PER_CORE:,}/s", None))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=20_000,
                        help="fresh requests per uncached figure (a), (b), (d)")
    parser.add_argument("--requests", type=int, default=1_000_000,
                        help="requests in the long run (e)")
    parser.add_argument("--cached", type=int, default=1_000_000,
                        help="cached decisions timed for (c)")
    parser.add_argument("--with-gc", action="store_true",
                        help="keep the garbage collector on in timed regions")
    parser.add_argument("--skip-memory", action="store_true", help="skip (f)")
    parser.add_argument("--only-memory", action="store_true",
                        help="measure (f) only, skipping the timed figures (w)-(e)")
    parser.add_argument("--only-workloads", action="store_true",
                        help="measure (w) only, every workload cold and warm")
    parser.add_argument("--skip-workloads", action="store_true", help="skip (w)")
    workloads.add_arguments(parser)
    args = parser.parse_args()
    Timed.keep_gc = args.with_gc

    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    print(f"command: {command}")
    print(f"python {sys.version.split()[0]}, cedarpy {metadata.version('cedarpy')}, "
          f"gc {'on' if args.with_gc else 'off'} in timed regions, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    entity_json = workload.entities()
    print(f"workload: {len(entity_json)} entities (10,000 agents), 100 tools, 4 actions")

    lines = [row("figure", "RUNE", "cedarpy", "speedup", "target (issue 4)", "met"),
             "-" * 104]

    def say(*parts: str) -> None:
        print(*parts, flush=True)

    workload_lines: list[str] = []
    if not args.only_memory and not args.skip_workloads:
        say("(w) every workload, cold and warm ...")
        workload_lines = workloads.report(args, ["engine"])
    if args.only_workloads:
        print()
        print("\n".join(workload_lines))
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        print(f"command: {command}")
        return
    if not args.only_memory:
        lines += speed_figures(args, entity_json, say)
    if not args.skip_memory:
        say("(f) memory, each figure in a fresh interpreter ...")
        m = memory(entity_json)
        bare = m["bare"]["rss"]
        engine_mb = m["rune"]["rss"] - bare
        cedar_mb = m["cedarpy"]["rss"] - bare
        lines.append(row("(f) RSS above a bare interpreter, engine", f"{engine_mb:.1f} MB",
                         f"{cedar_mb:.1f} MB", f"{cedar_mb / engine_mb:.2f}x",
                         f"<= {PERMIT_MEMORY_MB:g} MB (PN)", engine_mb <= PERMIT_MEMORY_MB))
        lines.append(row("(f) of which `import rune` alone",
                         f"{m['rune-import']['rss'] - bare:.1f} MB", "", "", "", None))
        lines.append(row("(f) peak RSS while loading, above bare",
                         f"{m['rune']['peak'] - bare:.1f} MB",
                         f"{m['cedarpy']['peak'] - bare:.1f} MB", "", "", None))
        lines.append(row("(f) tracemalloc: Python objects the engine holds",
                         f"{m['rune-tracemalloc']['traced']:.1f} MB", "", "", "", None))
        lines.append(row("(f) bare interpreter RSS", f"{bare:.1f} MB", "", "", "", None))
        lines.append("(f) modules load from cached bytecode, as from an installed package")

    print()
    if workload_lines:
        print("(w) engine.authorize per workload, cold and warm")
        print("\n".join(workload_lines))
        print()
    print("\n".join(lines))
    print("speedup = cedarpy time / RUNE time (or RUNE rate / cedarpy rate), same requests, "
          "same run; PN = PermitNetworks' published figure")
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes share the "
          "machine: tail latencies include being descheduled)")
    print(f"command: {command}")


if __name__ == "__main__":
    main()
