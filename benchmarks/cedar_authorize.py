"""RUNE's Cedar engine (`rune.cedar.authorize`) vs cedarpy (the reference, Rust) on every
benchmark workload: `agents` (`workload.py`), `gateway` (`workload_gateway.py`) and
`files` (`workload_files.py`), at 10 and 1,000 policies, cold and warm.

Both get pre-parsed policy sets and entity stores; both decide the same fresh requests
with string uids (RUNE's time includes building the `Request`). Decisions and reasons
are checked to agree before anything is timed. *Cold* is a first pass in which every
principal is seen for the first time (uid texts, scope bitsets and plans not cached);
*warm* a second pass of other requests over the same principals. Figures are ratios
against cedarpy measured in the same run (absolute times on a shared machine mean
little); `workloads.py` describes the method.

Run: `make bench` or `.venv/bin/python benchmarks/cedar_authorize.py
[--workload all|agents,gateway,files] [--counts 10,1000] [--repeat N] [--pass-requests N]`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    workloads.add_arguments(parser)
    args = parser.parse_args()
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    print(f"command: {command}")
    print(f"python {sys.version.split()[0]}, cedarpy {metadata.version('cedarpy')}, "
          f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    lines = workloads.report(args, ["cedar"])
    print()
    print("\n".join(lines))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print(f"command: {command}")


if __name__ == "__main__":
    main()
