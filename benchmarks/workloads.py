"""RUNE vs cedarpy on every benchmark workload, cold and warm, at 10 and 1,000 policies.

Workloads: `agents` (`workload.py`, the one issues 2 and 4 measured), `gateway`
(`workload_gateway.py`) and `files` (`workload_files.py`); each module gives its
policies (10, or padded to 1,000 with generated scoped ones), its entities and its
requests.

Per workload and policy count:
  * decisions and reasons are checked to agree with cedarpy first, on requests of their
    own and with an engine of their own (so the timed engine starts cold);
  * *cold*: a fresh `rune.Engine` (and a fresh `rune.cedar` policy set and store) decides
    one pass of requests in which every principal is seen for the first time (a shuffled
    list of every agent), with the uid-text cache emptied first: first sightings of
    principals, of resources, of plans, all counted;
  * *warm*: a second pass of fresh requests over the same agents in another order, other
    resources and contexts, every principal now seen;
  * cedarpy decides the same requests with pre-parsed `PolicySet`/`Entities` handles (at
    most ``--cedarpy-max`` of them per pass, spread evenly: at 1,000 policies it needs
    about a millisecond each).
Every request carries a counter in its context, so the decision cache cannot answer.
Ratios are cedarpy's median over RUNE's, measured in the same run on the same requests.

`benchmarks/engine_authorize.py` (`rune.Engine.authorize`) and
`benchmarks/cedar_authorize.py` (`rune.cedar.authorize`) print these figures; this module
holds them, and run alone prints both APIs: `.venv/bin/python benchmarks/workloads.py
[--workload all|agents,gateway,files] [--counts 10,1000] [--repeat N] [--api engine,cedar]`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import shlex
import statistics
import sys
import time
from array import array
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cedarpy

import rune
from rune.cedar import Entities, PolicySet
from rune.cedar import Request as CedarRequest
from rune.cedar import authorize as cedar_authorize
from rune.cedar.request import _UID_CACHE

WORKLOADS = {"agents": "workload", "gateway": "workload_gateway", "files": "workload_files"}
TARGETS = {10: 20.0, 1000: 150.0}  # issue 10: cedarpy's median over RUNE's, at least
Request = tuple[str, str, str, dict[str, Any]]


def fresh(requests: Iterable[Any], start: int) -> list[Request]:
    """The workload's requests, each made distinct by a counter in its context."""
    return [(r.principal, r.action, r.resource, dict(r.context, request_id=start + i))
            for i, r in enumerate(requests)]


def cedar_form(requests: list[Request]) -> list[dict[str, Any]]:
    return [{"principal": p, "action": a, "resource": r, "context": c}
            for p, a, r, c in requests]


def median_us(ns: array[int]) -> float:
    return statistics.median(ns) / 1000


def p99_us(ns: array[int]) -> float:
    ordered = sorted(ns)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] / 1000


class Quiet:
    """The collector off in timed regions, as the other benchmarks do."""

    def __enter__(self) -> None:
        gc.collect()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        gc.enable()


def check_agreement(module: ModuleType, text: str, entity_json: list[dict[str, Any]],
                    ced_policies: Any, ced_entities: Any, n: int) -> None:
    """RUNE's decisions and reasons are cedarpy's (ids mapped through `@id`), with no
    errors on either side, on ``n`` requests of their own."""
    engine = rune.Engine(policies=text, entities=entity_json)
    to_annotation = {p.id: p.annotated_id or p.id for p in PolicySet.from_str(text)}
    requests = fresh(module.requests(n, seed=77_777, distinct=True), start=10**9)
    for (p, a, r, c), q in zip(requests, cedar_form(requests), strict=True):
        mine = engine.authorize(p, a, r, c)
        theirs = cedarpy.is_authorized(q, ced_policies, ced_entities)
        assert mine.decision == theirs.decision.value.lower(), (q, mine, theirs)
        assert sorted(mine.reasons) == sorted(
            to_annotation[x] for x in theirs.diagnostics.reasons), (q, mine)
        assert not mine.errors and not theirs.diagnostics.errors, (q, mine, theirs)


def time_engine(engine: rune.Engine, requests: list[Request]) -> array[int]:
    authorize = engine.authorize
    clock = time.perf_counter_ns
    out: array[int] = array("q")
    append = out.append
    with Quiet():
        for p, a, r, c in requests:
            t0 = clock()
            authorize(p, a, r, c)
            append(clock() - t0)
    return out


def time_cedar(policies: PolicySet, entities: Entities, requests: list[Request]
               ) -> array[int]:
    clock = time.perf_counter_ns
    out: array[int] = array("q")
    append = out.append
    with Quiet():
        for p, a, r, c in requests:
            t0 = clock()
            cedar_authorize(CedarRequest(p, a, r, c), policies, entities)
            append(clock() - t0)
    return out


def time_cedarpy(policies: Any, entities: Any, requests: list[dict[str, Any]]) -> array[int]:
    is_authorized = cedarpy.is_authorized
    clock = time.perf_counter_ns
    out: array[int] = array("q")
    append = out.append
    with Quiet():
        for q in requests:
            t0 = clock()
            is_authorized(q, policies, entities)
            append(clock() - t0)
    return out


def measure(module: ModuleType, count: int, entity_json: list[dict[str, Any]],
            ced_entities: Any, args: argparse.Namespace) -> dict[str, float]:
    """Cold and warm medians of each API and of cedarpy, for one workload and count."""
    text = module.policies(count)
    ced_policies = cedarpy.PolicySet.from_str(text)
    check_agreement(module, text, entity_json, ced_policies, ced_entities, args.check)
    n = args.pass_requests or module.AGENTS
    cold = fresh(module.requests(n, seed=count, distinct=True), start=0)
    warm = fresh(module.requests(n, seed=count + 1, distinct=True), start=n)
    step = max(1, -(-n // args.cedarpy_max))
    out: dict[str, float] = {}
    apis = args.api.split(",")
    engine = rune.Engine(policies=text, entities=entity_json) if "engine" in apis else None
    cedar_policies = PolicySet.from_str(text) if "cedar" in apis else None
    cedar_entities = Entities.from_json(entity_json) if "cedar" in apis else None
    if cedar_policies is not None:
        cedar_policies.prepared()  # compiled at load, as an engine does
    for phase, requests in (("cold", cold), ("warm", warm)):
        ced = time_cedarpy(ced_policies, ced_entities, cedar_form(requests[::step]))
        out[f"cedarpy_{phase}"] = median_us(ced)
        if phase == "cold":
            _UID_CACHE.clear()  # no uid text has been seen before the cold pass
        if engine is not None:
            ns = time_engine(engine, requests)
            out[f"engine_{phase}"] = median_us(ns)
            out[f"engine_{phase}_p99"] = p99_us(ns)
        if cedar_policies is not None and cedar_entities is not None:
            if phase == "cold":
                _UID_CACHE.clear()
            ns = time_cedar(cedar_policies, cedar_entities, requests)
            out[f"cedar_{phase}"] = median_us(ns)
            out[f"cedar_{phase}_p99"] = p99_us(ns)
    return out


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.1f}x"
    return f"{statistics.median(values):.1f}x ({min(values):.1f}-{max(values):.1f})"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the workload figures, shared by every script that prints them."""
    parser.add_argument("--workload", default="all",
                        help=f"comma-separated workloads or `all` ({', '.join(WORKLOADS)})")
    parser.add_argument("--counts", default="10,1000", help="policy counts")
    parser.add_argument("--pass-requests", type=int, default=0,
                        help="requests per cold or warm pass (default: one per agent of "
                             "the workload, so that the cold pass sees every one once)")
    parser.add_argument("--cedarpy-max", type=int, default=5_000,
                        help="most requests cedarpy decides per pass (spread evenly)")
    parser.add_argument("--check", type=int, default=2_000,
                        help="requests checked against cedarpy before timing")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each figure")


def report(args: argparse.Namespace, apis: list[str]) -> list[str]:
    """Measure every workload and count asked for with ``apis`` (`engine`, `cedar`),
    printing each row as it comes; return the table (with medians over runs)."""
    args.api = ",".join(apis)
    names = list(WORKLOADS) if args.workload == "all" else args.workload.split(",")
    for name in names:
        if name not in WORKLOADS:
            raise SystemExit(f"unknown workload {name!r}: one of {', '.join(WORKLOADS)}")
    counts = [int(c) for c in args.counts.split(",")]
    header = (f"{'workload':<9} {'policies':>8} {'api':<7} {'cold p50':>9} {'cedarpy':>9} "
              f"{'cold x':>7} {'warm p50':>9} {'cedarpy':>9} {'warm x':>7} "
              f"{'cold p99':>9} {'target':>7}")
    rows: list[str] = []
    summary: list[str] = []
    for name in names:
        module = importlib.import_module(WORKLOADS[name])
        entity_json = module.entities()
        ced_entities = cedarpy.Entities.from_json_str(json.dumps(entity_json))
        for count in counts:
            ratios: dict[str, list[float]] = {}
            for run in range(args.repeat):
                print(f"{name}, {count} policies, run {run + 1} ...", flush=True)
                m = measure(module, count, entity_json, ced_entities, args)
                target = TARGETS.get(count)
                for api in apis:
                    cold_x = m["cedarpy_cold"] / m[f"{api}_cold"]
                    warm_x = m["cedarpy_warm"] / m[f"{api}_warm"]
                    ratios.setdefault(f"{api} cold", []).append(cold_x)
                    ratios.setdefault(f"{api} warm", []).append(warm_x)
                    met = "" if target is None else (
                        "yes" if min(cold_x, warm_x) >= target else "NO")
                    row = (f"{name:<9} {count:>8} {api:<7} {m[f'{api}_cold']:>7.2f}us "
                           f"{m['cedarpy_cold']:>7.1f}us {cold_x:>6.1f}x "
                           f"{m[f'{api}_warm']:>7.2f}us {m['cedarpy_warm']:>7.1f}us "
                           f"{warm_x:>6.1f}x {m[f'{api}_cold_p99']:>7.2f}us "
                           f"{met:>7}")
                    rows.append(row)
                    print(row, flush=True)
            for key, values in ratios.items():
                target = TARGETS.get(count)
                met = "" if target is None else (
                    "yes" if statistics.median(values) >= target else "NO")
                summary.append(f"{name:<9} {count:>8} {key:<12} {spread(values):<22} {met}")
    lines = [header, *rows]
    if args.repeat > 1:
        lines += ["", f"ratio medians over {args.repeat} runs (min-max), vs target:", *summary]
    lines.append("cold = a fresh engine, every principal seen for the first time; warm = a "
                 "second pass, other requests over the same principals")
    lines.append("x = cedarpy median / RUNE median, same requests, same run; target: issue "
                 f"10 ({', '.join(f'{k} policies >= {v:g}x' for k, v in TARGETS.items())})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--api", default="engine,cedar",
                        help="engine (rune.Engine.authorize), cedar (rune.cedar.authorize)")
    args = parser.parse_args()
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    print(f"command: {command}")
    print(f"python {sys.version.split()[0]}, cedarpy {metadata.version('cedarpy')}, "
          f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    lines = report(args, args.api.split(","))
    print()
    print("\n".join(lines))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print(f"command: {command}")


if __name__ == "__main__":
    main()
