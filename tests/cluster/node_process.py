"""A cluster node in its own process, for the fault tests: `python -m tests.cluster.node_process`.

It starts a `rune.cluster.Node`, prints one JSON line per event on stdout, and under
``--write-load`` records an action after another (printing each acknowledged one), and
under ``--decide-load`` decides continuously (counting verdicts and failures). Commands on
stdin, one per line: `state` (position, version, and the recorded resources), `stop`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

BUNDLE = Path(__file__).parent / "bundle"
_print_lock = threading.Lock()


def emit(**event: Any) -> None:
    with _print_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nats", action="append", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--state")
    parser.add_argument("--write-load", action="store_true")
    parser.add_argument("--decide-load", action="store_true")
    parser.add_argument("--replicas", type=int, default=1)
    args = parser.parse_args()

    from rune.cluster import Node
    from rune.errors import RuneError

    node = Node(BUNDLE, nats=args.nats, node_id=args.id, state=args.state,
                replicas=args.replicas, apply_timeout=5.0)
    emit(event="ready", position=node.position, version=node.engine.version)
    stop = threading.Event()
    stats = {"decisions": 0, "allow": 0, "deny": 0, "ask": 0, "failures": 0,
             "write_errors": 0}

    def write_load() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            resource = f'R::"{args.id}-{i}"'
            try:
                node.engine.record('Agent::"w"', 'Action::"write"', resource)
            except RuneError as exc:
                stats["write_errors"] += 1
                emit(event="write-error", i=i, code=exc.code)
                stop.wait(0.05)
                continue
            emit(event="ack", i=i, resource=resource)

    def decide_load() -> None:
        while not stop.is_set():
            for request in (('Agent::"d"', 'Action::"ship"', 'R::"x"'),
                            ('Agent::"d"', 'Action::"act"', 'R::"x"')):
                try:
                    verdict = node.engine.authorize(*request).decision
                    stats[str(verdict)] += 1
                except Exception:
                    stats["failures"] += 1
                stats["decisions"] += 1
            time.sleep(0.0005)

    threads = []
    if args.write_load:
        threads.append(threading.Thread(target=write_load, daemon=True))
    if args.decide_load:
        threads.append(threading.Thread(target=decide_load, daemon=True))
    for thread in threads:
        thread.start()
    for line in sys.stdin:
        command = line.strip()
        if command == "state":
            rows = node.engine.query('performed(p, a, r, at, seq)')
            emit(event="state", position=node.position, version=node.engine.version,
                 resources=sorted(r[2].replace('\\"', '"') for r in rows
                                  if r[1] == 'Action::\\"write\\"'),
                 stats=stats)
        elif command == "stop-load":
            stop.set()
            for thread in threads:
                thread.join()
            emit(event="stopped", stats=stats)
        elif command == "stop":
            break
    stop.set()
    node.close()
    emit(event="closed")


if __name__ == "__main__":
    main()
