"""Template links in a live `rune.Engine`: what `engine.link` and `engine.unlink` cost as
the policy set grows, against building an engine on the same policies.

A link publishes a new version whose prepared policy set must hold the new policy. The
figures show whether that costs the new link alone (its scope in the index, its one
compiled condition) or a compilation of every policy of the set.

Per policy count (static policies of `workload_gateway.py`, padded with its generated
ones, plus one template and 100 links of it already made):

  link      one `engine.link` of a new id (median over ``--links``)
  unlink    one `engine.unlink` of a link made before (median)
  relink    one `engine.link` replacing an existing link of the same id (median)
  decide    the first decision after a link (the new version's first request)
  rebuild   `rune.Engine(policies=...)` on the same text, for scale

Run: `.venv/bin/python benchmarks/engine_links.py [--counts 10,1000] [--links 50]`.
"""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rune
import workload_gateway as workload

TEMPLATE = """
@id("team-grant")
permit (principal in ?principal, action == Action::"invoke", resource in ?resource)
when { context.session.approved && principal.tier >= 2 };
"""
EXISTING_LINKS = 100


def team(i: int) -> str:
    return f'Team::"team-{i % workload.TEAMS}"'


def group(i: int) -> str:
    return f'ToolGroup::"{workload.GROUPS[i % len(workload.GROUPS)]}"'


def engine_with_links(count: int, entity_json: list[dict[str, Any]]) -> rune.Engine:
    engine = rune.Engine(policies=workload.policies(count) + TEMPLATE, entities=entity_json)
    with engine.transaction() as tx:
        for i in range(EXISTING_LINKS):
            tx.link("team-grant", f"old-{i}", principal=team(i), resource=group(i))
    return engine


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def measure(count: int, links: int, entity_json: list[dict[str, Any]]) -> dict[str, float]:
    engine = engine_with_links(count, entity_json)
    request = ('Agent::"agent-1"', 'Action::"invoke"', 'Tool::"tool-1"',
               {"mode": "interactive", "risk": 1, "cost": "0.10", "source_ip": "10.0.0.1",
                "session": {"id": "s", "depth": 1, "approved": True}})
    link_s, unlink_s, relink_s, decide_s = [], [], [], []
    for i in range(links):
        link_s.append(timed(lambda i=i: engine.link(
            "team-grant", f"new-{i}", principal=team(i + 7), resource=group(i + 3))))
        decide_s.append(timed(lambda i=i: engine.authorize(
            *request[:3], dict(request[3], n=i))))
        relink_s.append(timed(lambda i=i: engine.link(
            "team-grant", f"old-{i}", principal=team(i + 11), resource=group(i + 5))))
        unlink_s.append(timed(lambda i=i: engine.unlink(f"new-{i}")))
    text = workload.policies(count) + TEMPLATE
    rebuild_s = [timed(lambda: rune.Engine(policies=text, entities=entity_json))
                 for _ in range(3)]
    return {"link": median_ms(link_s), "unlink": median_ms(unlink_s),
            "relink": median_ms(relink_s), "decide": median_ms(decide_s),
            "rebuild": median_ms(rebuild_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,1000")
    parser.add_argument("--links", type=int, default=50, help="links timed per count")
    args = parser.parse_args()
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    print(f"command: {command}")
    print(f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
    entity_json = workload.entities()
    print(f"{'policies':>8} {'link':>10} {'unlink':>10} {'relink':>10} {'decide':>10} "
          f"{'rebuild':>10}  (+1 template, {EXISTING_LINKS} links; medians)")
    for count in (int(c) for c in args.counts.split(",")):
        m = measure(count, args.links, entity_json)
        print(f"{count:>8} {m['link']:>8.2f}ms {m['unlink']:>8.2f}ms {m['relink']:>8.2f}ms "
              f"{m['decide']:>8.3f}ms {m['rebuild']:>8.1f}ms", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
