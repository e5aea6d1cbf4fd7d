"""RUNE's Cedar engine vs cedarpy (the reference, Rust) on the agent workload.

Both get pre-parsed policy sets and entity stores; both decide the same fresh random
requests with string uids and a context of hour, risk and mode. Decisions and reasons
are checked to agree before anything is timed. Figures are printed as ratios against
cedarpy measured in the same run (absolute times on a shared machine mean little).

Run: `make bench` or `.venv/bin/python benchmarks/cedar_authorize.py [--requests N]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cedarpy

import workload
from rune.cedar import Entities, PolicySet, Request, authorize


def _percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def run(policy_count: int, n: int, entity_json: list[dict[str, object]]) -> dict[str, float]:
    text = workload.policies(policy_count)
    reqs = workload.requests(n, seed=policy_count)
    rune_policies = PolicySet.from_str(text)
    rune_entities = Entities.from_json(entity_json)
    rune_policies.prepared()  # compile once, outside the timed region
    ced_policies = cedarpy.PolicySet.from_str(text)
    ced_entities = cedarpy.Entities.from_json_str(json.dumps(entity_json))
    ced_reqs = [{"principal": r.principal, "action": r.action, "resource": r.resource,
                 "context": r.context} for r in reqs]

    # Agreement first: a fast wrong answer is worthless.
    annotated = {p.id: p.annotated_id for p in rune_policies}
    for r, cr in zip(reqs[:2000], ced_reqs[:2000], strict=True):
        mine = authorize(Request(r.principal, r.action, r.resource, r.context),
                         rune_policies, rune_entities)
        theirs = cedarpy.is_authorized(cr, ced_policies, ced_entities)
        assert str(mine.decision) == theirs.decision.value.lower(), (r, mine, theirs)
        assert sorted(mine.reason) == sorted(theirs.diagnostics.reasons), (r, mine, theirs)
        assert not mine.errors and not theirs.diagnostics.errors
    assert all(annotated.values())

    gc.collect()
    gc.disable()
    try:
        # cedarpy, one call per request (the way an agent calls it)
        ced_ns = []
        for cr in ced_reqs:
            t0 = time.perf_counter_ns()
            cedarpy.is_authorized(cr, ced_policies, ced_entities)
            ced_ns.append(time.perf_counter_ns() - t0)
        # cedarpy batch: amortizes the Python/Rust crossing over all requests
        t0 = time.perf_counter_ns()
        cedarpy.is_authorized_batch(ced_reqs, ced_policies, ced_entities)
        ced_batch = (time.perf_counter_ns() - t0) / n / 1000
        # RUNE, request construction (string uid parsing, context) included
        rune_ns = []
        for r in reqs:
            t0 = time.perf_counter_ns()
            authorize(Request(r.principal, r.action, r.resource, r.context),
                      rune_policies, rune_entities)
            rune_ns.append(time.perf_counter_ns() - t0)
    finally:
        gc.enable()
    ced_ns.sort()
    rune_ns.sort()
    return {
        "policies": policy_count,
        "requests": n,
        "rune_p50_us": _percentile(rune_ns, 0.5),
        "rune_p99_us": _percentile(rune_ns, 0.99),
        "rune_mean_us": statistics.fmean(rune_ns) / 1000,
        "cedarpy_p50_us": _percentile(ced_ns, 0.5),
        "cedarpy_mean_us": statistics.fmean(ced_ns) / 1000,
        "cedarpy_batch_us": ced_batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    entity_json = workload.entities()
    print(f"workload: {len(entity_json)} entities, {args.requests} fresh requests per run")
    print(f"{'policies':>8}  {'RUNE p50':>9}  {'RUNE p99':>9}  {'cedarpy p50':>11}  "
          f"{'speedup p50':>11}  {'speedup mean':>12}  {'vs cedarpy batch':>16}")
    for count in (10, 1000):
        r = run(count, args.requests, entity_json)
        print(f"{count:>8}  {r['rune_p50_us']:>7.2f}us  {r['rune_p99_us']:>7.2f}us  "
              f"{r['cedarpy_p50_us']:>9.2f}us  {r['cedarpy_p50_us'] / r['rune_p50_us']:>10.1f}x  "
              f"{r['cedarpy_mean_us'] / r['rune_mean_us']:>11.1f}x  "
              f"{r['cedarpy_batch_us'] / r['rune_mean_us']:>15.1f}x")
    print("speedup = cedarpy time / RUNE time per decision, same requests, same run")


if __name__ == "__main__":
    main()
