"""A process that decides a bundle's test suites, its bundle loaded fresh or through the
compiled-bundle cache as `rune hook` loads it; prints the decisions as JSON.

    python -m tests.bundle.cache_worker (fresh | cached CACHE_DIR) BUNDLE [REQUESTS]

Each case of `BUNDLE/tests/*.yaml` runs on a new engine over the one loaded bundle (its
setup applied: entities, facts, records, approvals, the time), then records the decided
action and decides again (so maintenance plans run too); REQUESTS (a JSON list of
[principal, action, resource, context]) are decided on one more engine. Printed:
`{"hits": .., "misses": .., "results": [..]}`, each result a decision's JSON with its
explanation's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def main() -> None:
    mode = sys.argv[1]
    caches: Any = None
    if mode == "cached":
        from rune.cli._hook import HookCaches

        caches = HookCaches.open(sys.argv[2])
        assert caches is not None, "the cache directory is refused"
        args = sys.argv[3:]
    else:
        args = sys.argv[2:]
    bundle_path = args[0]
    requests = json.loads(Path(args[1]).read_text()) if len(args) > 1 else []
    if caches is not None:
        bundle = caches.load(bundle_path)
    else:
        from rune.bundle import load_bundle

        bundle = load_bundle(bundle_path)
    results = decide(bundle, Path(bundle_path), requests)
    out = {"hits": 0, "misses": 0, "results": results}
    if caches is not None:
        out["hits"], out["misses"] = caches.bundles.hits, caches.bundles.misses
        caches.save()
        caches.close()
    print(json.dumps(out, default=str, sort_keys=True))


def decide(bundle: Any, root: Path, requests: list[list[Any]]) -> list[Any]:
    from rune.cli._suites import find_suites, read_suite
    from rune.cli.commands.test import _apply, _Clock
    from rune.cli.commands.test import parse_time as when
    from rune.engine import Engine
    from rune.store import MemoryChangeLog

    results: list[Any] = []
    for file in find_suites(root):
        for case in read_suite(file).cases:
            clock = _Clock(None if case.now is None else when(case.now, "now"))
            if case.now is None:
                clock.now = 1_741_082_400.0  # 2025-03-04T10:00:00Z, the same in every run
            engine = Engine.from_bundle(bundle, clock=clock, state=MemoryChangeLog())
            try:
                for setup in case.setup:
                    _apply(engine, setup, clock)
                request = case.request
                row = (request["principal"], request["action"], request["resource"],
                       request.get("context"))
                results.append(outcome(engine, row))
                engine.record(*row[:3])
                results.append(outcome(engine, row))
            except Exception as error:  # the same error on both sides is the same result
                results.append(f"{type(error).__name__}: {error}")
            finally:
                engine.close()
    if requests:
        engine = Engine.from_bundle(bundle, clock=lambda: 1_741_082_400.0,
                                    state=MemoryChangeLog())
        for row in requests:
            results.append(outcome(engine, tuple(row)))
            engine.record(*row[:3])
    return results


def outcome(engine: Any, row: tuple[Any, ...]) -> Any:
    decision = engine.authorize(*row)
    try:
        why: Any = decision.explain().to_json()
    except Exception as error:
        why = f"{type(error).__name__}: {error}"
    return {"decision": decision.to_json(), "explain": why}


if __name__ == "__main__":
    main()
