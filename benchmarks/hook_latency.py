"""Cold start of `rune hook claude-code`: Claude Code starts one process per tool call,
so a hook's latency is a whole process's life. Printed against `python -c pass` (the
interpreter's own start-up) measured in the same run, on the same machine load.

Scenarios (each run `--runs` times, one `PreToolUse` payload for `Bash` on stdin):

  python -c pass     the interpreter alone: the floor
  import rune        `python -c "import rune"`
  --bundle           in-process: `rune hook claude-code --bundle examples/claude-code`,
                     the bundle and generated code from RUNE's cache (`rune.bundle.cache`;
                     the warm-up run fills it, in a temporary `RUNE_CACHE_DIR`)
  --bundle --state   the same with a state file (history shared by hook processes)
  --no-cache         `--bundle --no-cache`: everything parsed and compiled again, as the
                     first call after a change to the bundle (or to RUNE) does
  --url              against a running `rune serve examples/claude-code`
  http hook          `POST /v1/hooks/claude-code` on the same server (no process start)

Target: a call under 150 ms (the median, on an idle machine). The scenarios run in turn,
round after round, so that a shared machine's load swings weigh on all of them alike.
Run: `.venv/bin/python benchmarks/hook_latency.py [--runs 30]`.

Processes run as an installed RUNE runs: with bytecode caches (`pip install` compiles
them). `PYTHONDONTWRITEBYTECODE` is removed from their environment, and the warm-up run
of each scenario writes the caches; with `--no-bytecode` every process compiles RUNE's
sources again, as in an environment that sets it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "examples" / "claude-code"
PAYLOAD = json.dumps({
    "session_id": "bench", "transcript_path": "/tmp/t.jsonl", "cwd": "/home/dev/app",
    "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
    "tool_input": {"command": "pytest -q", "description": "Run the tests"},
    "tool_use_id": "toolu_bench"}).encode()


def rune_script() -> list[str]:
    script = Path(sys.executable).parent / "rune"
    return [str(script)] if script.exists() else [
        sys.executable, "-c", "import sys; from rune.cli.main import main; sys.exit(main())"]


ENV = dict(os.environ)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[str, list[float]] = {}  # scenario -> CPU milliseconds of each run


def run_once(name: str, command: list[str], stdin: bytes, samples: list[float] | None
             ) -> None:
    """Run ``command`` once; its wall-clock milliseconds go to ``samples`` (None for a
    warm-up run) and its CPU time (user + system) to `CPU`."""
    before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, input=stdin, capture_output=True, env=ENV)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0 or (stdin and b'"allow"' not in done.stdout):
        raise SystemExit(f"{command} failed: {done.stdout!r} {done.stderr!r}")
    if samples is not None:
        samples.append(elapsed)
        CPU.setdefault(name, []).append((_children_cpu() - before) * 1000)


def post_once(url: str, samples: list[float] | None) -> None:
    started = time.perf_counter()
    request = urllib.request.Request(url, PAYLOAD, {"content-type": "application/json"})
    with urllib.request.urlopen(request) as reply:
        body = reply.read()
    assert b'"allow"' in body
    if samples is not None:
        samples.append((time.perf_counter() - started) * 1000)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("rune serve exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("rune serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-bytecode", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE (every process compiles RUNE)")
    args = parser.parse_args()
    if args.no_bytecode:
        ENV["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    rune = rune_script()
    hook = [*rune, "hook", "claude-code"]
    port = free_port()
    env = {k: v for k, v in ENV.items() if k not in ("RUNE_API_TOKEN", "RUNE_ADMIN_TOKEN")}
    server = subprocess.Popen([*rune, "serve", str(BUNDLE), "--port", str(port),
                               "--no-watch"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scratch:
        ENV["RUNE_CACHE_DIR"] = str(Path(scratch) / "cache")
        state = str(Path(scratch) / "state.db")
        scenarios: list[tuple[str, list[str], bytes]] = [
            ("python -c pass", [sys.executable, "-c", "pass"], b""),
            ("import rune", [sys.executable, "-c", "import rune"], b""),
            ("--bundle", [*hook, "--bundle", str(BUNDLE)], PAYLOAD),
            ("--bundle --state", [*hook, "--bundle", str(BUNDLE), "--state", state], PAYLOAD),
            ("--no-cache", [*hook, "--bundle", str(BUNDLE), "--no-cache"], PAYLOAD),
            ("--url", [*hook, "--url", url], PAYLOAD),
        ]
        rows: list[tuple[str, list[float]]] = [(name, []) for name, _, _ in scenarios]
        rows.append(("http hook", []))
        try:
            wait_ready(port, server)
            # Round-robin, a warm-up round first: every scenario sees the same load
            # swings of a shared machine, so their ratios hold even when times do not.
            for round_number in range(args.runs + 1):
                for (name, command, stdin), (_, samples) in zip(scenarios, rows, strict=False):
                    run_once(name, command, stdin, samples if round_number else None)
                post_once(f"{url}/v1/hooks/claude-code", rows[-1][1] if round_number else None)
        finally:
            server.terminate()
            server.wait()
    floor = statistics.median(rows[0][1])
    cpu_floor = statistics.median(CPU[rows[0][0]])
    print(f"rune hook claude-code, {args.runs} rounds, scenarios in turn (ms; ratio = wall "
          "median / wall median of `python -c pass`; cpu = user + system of the process, "
          "median, and its ratio)")
    print(f"{'scenario':<18} {'median':>8} {'p95':>8} {'ratio':>7} {'cpu':>7} {'cpu x':>7}")
    for name, samples in rows:
        median = statistics.median(samples)
        p95 = statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]
        cpu = cpu_x = f"{'-':>7}"
        if name in CPU:
            cpu_ms = statistics.median(CPU[name])
            cpu, cpu_x = f"{cpu_ms:7.1f}", f"{cpu_ms / cpu_floor:6.2f}x"
        print(f"{name:<18} {median:8.1f} {p95:8.1f} {median / floor:6.2f}x {cpu} {cpu_x}")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; bytecode "
          f"caches: {'no' if args.no_bytecode else 'yes'}")


if __name__ == "__main__":
    main()
