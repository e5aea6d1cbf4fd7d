"""The MCP gateway's overhead per `tools/call`: the MCP SDK's client calling a tool of the
example `files` server directly, and through `rune mcp-gateway` deciding in process
(`--bundle`) and asking a `rune serve` on a loopback port (`--url`), in the same run.

Each configuration is one session (stdio, the real console scripts); after a warm-up,
`--calls` calls of `read_file` are timed one by one, `--repeats` times; a repeat's figure
is its median call, and the reported figure the median of the repeats. Overhead is the
gateway's median minus the direct median, and the ratio gateway / direct. The decision
path alone (mapping resolution and an in-process decision, no I/O) is timed as well.
Absolute times on a shared machine mean little; the ratios and differences, measured in
one run, are the figures.

Run: `.venv/bin/python benchmarks/mcp_gateway.py [--calls N] [--repeats N]`.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client
from mcp.client.stdio import StdioServerParameters

import rune
from rune.integrations.mcp import Caller, EngineDecisionPoint, default_mapping, resolve

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "examples" / "mcp-gateway"
SERVER = [sys.executable, str(BUNDLE / "server.py")]
RUNE = str(Path(sys.executable).parent / "rune")
ARGUMENTS = {"path": "/docs/readme.md"}


async def _session(parameters: StdioServerParameters, calls: int, repeats: int,
                   warmup: int) -> list[float]:
    """The median call (seconds) of each repeat."""
    medians = []
    async with Client(parameters) as client:
        for _ in range(warmup):
            await client.call_tool("read_file", ARGUMENTS)
        for _ in range(repeats):
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                result = await client.call_tool("read_file", ARGUMENTS)
                times.append(time.perf_counter() - start)
                assert not result.is_error
            medians.append(statistics.median(times))
    return medians


def measure(parameters: StdioServerParameters, args: argparse.Namespace) -> float:
    """The median of the repeats' median calls, in seconds."""
    medians = anyio.run(_session, parameters, args.calls, args.repeats, args.warmup)
    return statistics.median(medians)


def gateway(*options: str) -> StdioServerParameters:
    return StdioServerParameters(command=RUNE, args=[
        "mcp-gateway", "--principal", "alice", "--server-id", "files", *options, "--",
        *SERVER])


def decision_path(count: int) -> float:
    """Seconds per resolve + in-process decision of a `tools/call` (no I/O)."""
    point = EngineDecisionPoint(rune.Engine.load(BUNDLE))
    caller = Caller({"sub": "alice", "aud": "files", "client_id": "bench"})
    mapping = default_mapping("tools/call")
    assert mapping is not None
    params = {"name": "read_file", "arguments": ARGUMENTS}

    async def loop() -> float:
        start = time.perf_counter()
        for _ in range(count):
            outcome = await point.decide(resolve(mapping, params, caller))
            assert outcome.allowed
        return (time.perf_counter() - start) / count

    return float(anyio.run(loop))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="timed calls per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()

    port = _free_port()
    pdp = subprocess.Popen([RUNE, "serve", str(BUNDLE), "--port", str(port), "--no-watch"],
                           stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(f"{url}/ready", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        results: dict[str, Any] = {}
        results["direct"] = measure(StdioServerParameters(command=SERVER[0],
                                                          args=SERVER[1:]), args)
        results["gateway --bundle"] = measure(gateway("--bundle", str(BUNDLE)), args)
        results["gateway --url"] = measure(gateway("--url", url), args)
    finally:
        pdp.terminate()
        pdp.wait()
    per_decision = decision_path(20_000)

    direct = results["direct"]
    print(f"tools/call of read_file, median of {args.repeats} repeats x {args.calls} calls "
          "(stdio, the MCP SDK's client and server)")
    print(f"{'path':<20}{'per call':>12}{'overhead':>12}{'ratio':>8}")
    for name, seconds in results.items():
        overhead = "" if name == "direct" else f"{(seconds - direct) * 1e6:,.0f} µs"
        ratio = f"{seconds / direct:.2f}x"
        print(f"{name:<20}{seconds * 1e3:>9.3f} ms{overhead:>12}{ratio:>8}")
    print(f"the decision alone (resolve the mapping + decide in process): "
          f"{per_decision * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
