"""`rune serve` under load, beside a trivial JSON echo on the same stack and beside Cerbos.

Everything runs on this machine, on loopback, with `wrk` (Debian's package) as the load
generator, one server at a time, all in one run:

1. the floor: a trivial JSON echo route served by the same stack (granian embedded,
   RSGI, one process, the same settings as `rune serve`), POSTed the AuthZEN body;
2. RUNE's `/access/v1/evaluation`: throughput and its ratio to the echo (goal: at least
   80% of it, and 20,000 decisions a second);
3. the same with a decision log (batched, the default): the slowdown (goal: under 15%);
4. p99 latency at half the maximum rate (each connection paced by wrk's `delay`; goal:
   at most 1 ms);
5. `/access/v1/evaluations` with batches of 100: decisions a second (goal: 200,000);
6. Cerbos 0.55 (the npm package `@cerbos/cerbos-linux-x64`, installed here on first
   use) deciding the equivalent policy over its own AuthZEN endpoints: throughput and
   p99 of single and batched evaluations, side by side with RUNE's.

The policy (both engines): a member may read an active record. The requests send the
attributes as AuthZEN properties (Cerbos is stateless and reads them there); RUNE has
the same entities in its store, so the properties add nothing and the engine's own
path decides.

    .venv/bin/python benchmarks/server.py                 # every figure, ~3 minutes
    .venv/bin/python benchmarks/server.py --duration 5 --skip-cerbos
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CERBOS_VERSION = "0.55.0"
CERBOS_CACHE = Path(os.environ.get("RUNE_BENCH_CACHE", Path.home() / ".cache" / "rune-bench"))
USERS, RECORDS, BATCH = 100, 1000, 100

POLICY = """\
@id("members-read-active-records")
permit(principal is user, action == Action::"read", resource is record)
when { principal.roles.contains("member") && resource.status == "active" };
"""

CERBOS_POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: record
  rules:
    - actions: ["read"]
      effect: EFFECT_ALLOW
      roles: ["*"]
      condition:
        match:
          all:
            of:
              - expr: '"member" in request.principal.attr.roles'
              - expr: request.resource.attr.status == "active"
"""


def subject(i: int) -> dict[str, Any]:
    return {"type": "user", "id": f"user-{i}", "properties": {"roles": ["member"]}}


def record(i: int) -> dict[str, Any]:
    return {"type": "record", "id": f"record-{i}",
            "properties": {"status": "active" if i % 4 else "archived"}}


def single_body() -> bytes:
    return json.dumps({"subject": subject(1), "action": {"name": "read"},
                       "resource": record(1)}).encode()


def batch_body() -> bytes:
    return json.dumps({"subject": subject(1), "action": {"name": "read"},
                       "evaluations": [{"resource": record(i)} for i in range(BATCH)]}).encode()


def write_bundle(root: Path) -> Path:
    (root / "policies").mkdir(parents=True)
    (root / "entities").mkdir()
    (root / "policies" / "records.cedar").write_text(POLICY)
    entities = [{"uid": {"type": "user", "id": f"user-{i}"},
                 "attrs": {"roles": ["member"]}, "parents": []} for i in range(USERS)]
    entities += [{"uid": {"type": "record", "id": f"record-{i}"},
                  "attrs": {"status": record(i)["properties"]["status"]}, "parents": []}
                 for i in range(RECORDS)]
    (root / "entities" / "all.json").write_text(json.dumps(entities))
    return root


# -- servers -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


class Running:
    def __init__(self, command: list[str], port: int, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.port = port
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, cwd=cwd,
                                        env={**os.environ, **(env or {})})
        wait_port(port, self.process)
        time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def echo_server(port: int) -> None:
    """The floor: a JSON echo served by the same stack and settings as `rune serve`."""
    import orjson
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    headers = [("content-type", "application/json")]

    async def app(scope: Any, proto: Any) -> None:
        body = await proto()
        proto.response_bytes(200, headers, orjson.dumps(orjson.loads(body)))

    server = Server(app, address="127.0.0.1", port=port, interface=Interfaces.RSGI,
                    backlog=2048, log_enabled=True, log_level=LogLevels.error)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.serve()

    asyncio.run(main())


def cerbos_binary() -> Path | None:
    """The Cerbos binary from its npm package (installed into the cache on first use)."""
    target = CERBOS_CACHE / f"cerbos-{CERBOS_VERSION}"
    binary = target / "node_modules" / "@cerbos" / "cerbos-linux-x64" / "cerbos-linux-x64"
    if binary.exists():
        return binary
    if shutil.which("npm") is None:
        return None
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["npm", "install", "--silent", "--prefix", str(target),
                           f"@cerbos/cerbos-linux-x64@{CERBOS_VERSION}"],
                          capture_output=True, text=True)
    return binary if done.returncode == 0 and binary.exists() else None


def start_cerbos(binary: Path, work: Path) -> Running:
    policies = work / "cerbos-policies"
    policies.mkdir()
    (policies / "record.yaml").write_text(CERBOS_POLICY)
    port, grpc = free_port(), free_port()
    config = work / "cerbos.yaml"
    config.write_text(f"server:\n  httpListenAddr: \"127.0.0.1:{port}\"\n"
                      f"  grpcListenAddr: \"127.0.0.1:{grpc}\"\n"
                      # Cerbos refuses batches over 50 by default; these have 100.
                      f"  requestLimits:\n    maxResourcesPerRequest: {BATCH}\n"
                      f"storage:\n  driver: disk\n  disk:\n    directory: {policies}\n"
                      "    watchForChanges: false\naudit:\n  enabled: false\n"
                      "telemetry:\n  disabled: true\n")
    return Running([str(binary), "server", f"--config={config}", "--log-level=error"], port)


# -- load ----------------------------------------------------------------------------------

def lua(path: Path, body: bytes, delay_ms: float | None = None) -> Path:
    script = path.with_suffix(".lua")
    text = ('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body.decode())}\n")
    if delay_ms is not None:
        text += f"function delay()\n  return {delay_ms:.3f}\nend\n"
    script.write_text(text)
    return script


def wrk(url: str, script: Path, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
                          "-s", str(script), url], capture_output=True, text=True,
                         check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rate, "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else -1,
            "non_2xx": float(errors.group(1)) if errors else 0.0}


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    return max(runs, key=lambda r: r["rate"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run [8]")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections [32]")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, best kept [2]")
    parser.add_argument("--skip-cerbos", action="store_true")
    parser.add_argument("--echo-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        echo_server(args.echo_server)
        return 0
    if shutil.which("wrk") is None:
        print("wrk is missing: `apt-get install -y wrk` (Debian's package)", file=sys.stderr)
        return 1
    rune = Path(sys.executable).parent / "rune"
    d, c = args.duration, args.connections
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        bundle = write_bundle(work / "bundle")
        single = lua(work / "single", single_body())
        batch = lua(work / "batch", batch_body())

        def measure(name: str, server: Running, path: str, script: Path) -> None:
            url = f"http://127.0.0.1:{server.port}{path}"
            wrk(url, script, 2, c)  # warm up (fused plans, caches)
            results[name] = best([wrk(url, script, d, c) for _ in range(args.rounds)])
            assert results[name]["non_2xx"] == 0, (name, results[name])

        def paced(name: str, server: Running, path: str, rate: float) -> None:
            # Each connection waits so that the whole load is about ``rate`` a second.
            delay = max(0.0, c / rate * 1000)
            script = lua(work / f"paced-{name}", single_body(), delay_ms=delay)
            results[name] = wrk(f"http://127.0.0.1:{server.port}{path}", script, d, c)

        echo_port = free_port()
        echo = Running([sys.executable, __file__, "--echo-server", str(echo_port)], echo_port)
        try:
            measure("echo", echo, "/", single)
        finally:
            echo.stop()
        port = free_port()
        server = Running([str(rune), "serve", str(bundle), "--no-watch", "--port", str(port)],
                         port)
        try:
            measure("rune", server, "/access/v1/evaluation", single)
            paced("rune-half-rate", server, "/access/v1/evaluation", results["rune"]["rate"] / 2)
            measure("rune-batch", server, "/access/v1/evaluations", batch)
        finally:
            server.stop()
        port = free_port()
        logged = Running([str(rune), "serve", str(bundle), "--no-watch", "--port", str(port),
                          "--decision-log", str(work / "decisions.log")], port)
        try:
            measure("rune-logged", logged, "/access/v1/evaluation", single)
        finally:
            logged.stop()
        binary = None if args.skip_cerbos else cerbos_binary()
        if binary is not None:
            cerbos = start_cerbos(binary, work)
            try:
                answer = subprocess.run(["curl", "-s", f"http://127.0.0.1:{cerbos.port}"
                                         "/access/v1/evaluation", "-H",
                                         "content-type: application/json", "-d",
                                         single_body().decode()], capture_output=True,
                                        text=True).stdout
                assert json.loads(answer) == {"decision": True}, answer
                measure("cerbos", cerbos, "/access/v1/evaluation", single)
                paced("cerbos-half-rate", cerbos, "/access/v1/evaluation",
                      results["cerbos"]["rate"] / 2)
                measure("cerbos-batch", cerbos, "/access/v1/evaluations", batch)
            finally:
                cerbos.stop()
    report(results, args)
    return 0


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    r = results
    print(f"\nwrk -t1 -c{args.connections} -d{args.duration}s (best of {args.rounds}), "
          f"one server at a time, {os.cpu_count()} cores shared with wrk\n")
    print(f"{'':34} {'requests/s':>11} {'decisions/s':>12} {'p99 ms':>8}")
    rows = [("echo (same stack, the floor)", "echo", 1), ("RUNE evaluation", "rune", 1),
            ("RUNE evaluation, decision log", "rune-logged", 1),
            ("RUNE at half its max rate", "rune-half-rate", 1),
            (f"RUNE evaluations (batch of {BATCH})", "rune-batch", BATCH),
            ("Cerbos evaluation", "cerbos", 1),
            ("Cerbos at half its max rate", "cerbos-half-rate", 1),
            (f"Cerbos evaluations (batch of {BATCH})", "cerbos-batch", BATCH)]
    for label, key, per in rows:
        if key in r:
            x = r[key]
            print(f"{label:34} {x['rate']:11,.0f} {x['rate'] * per:12,.0f} {x['p99_ms']:8.2f}")
    print()
    rune, echo = r["rune"]["rate"], r["echo"]["rate"]
    print(f"RUNE / echo: {rune / echo:.2f} (goal >= 0.80); RUNE: {rune:,.0f}/s "
          "(goal >= 20,000)")
    print(f"decision log slowdown: {1 - r['rune-logged']['rate'] / rune:.1%} (goal <= 15%)")
    print(f"p99 at half rate ({r['rune-half-rate']['rate']:,.0f}/s): "
          f"{r['rune-half-rate']['p99_ms']:.2f} ms (goal <= 1 ms)")
    print(f"batch: {r['rune-batch']['rate'] * BATCH:,.0f} decisions/s (goal >= 200,000)")
    if "cerbos" in r:
        print(f"RUNE / Cerbos: single {rune / r['cerbos']['rate']:.2f}x, "
              f"batch {r['rune-batch']['rate'] / r['cerbos-batch']['rate']:.2f}x; p99 at half "
              f"rate {r['rune-half-rate']['p99_ms']:.2f} vs "
              f"{r['cerbos-half-rate']['p99_ms']:.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
