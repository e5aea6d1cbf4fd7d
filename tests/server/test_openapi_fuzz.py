"""/openapi.json describes every route, and a property-based fuzzer (schemathesis) finds
no server error, no undocumented status or body, and no malformed request accepted.

CI runs a small budget here; `make fuzz-server` runs a long one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from rune.server.app import _ID_ROUTES, _ROUTES
from tests.server.conftest import ADMIN_TOKEN, CODING, Server, copy_bundle

EXCLUDED = ("positive_data_acceptance,use_after_free,ensure_resource_availability,"
            "ignored_auth,object_level_authorization")


def test_every_route_is_documented(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    documented = {(path, method.upper()) for path, item in document["paths"].items()
                  for method in item}
    served = {(route.name, method) for route in [*_ROUTES.values(), *_ID_ROUTES.values()]
              for method in route.methods}
    assert documented == served


def fuzz(tmp_path: Path, examples: int,
         seed: int | None = None) -> subprocess.CompletedProcess[str]:
    root = copy_bundle(CODING, tmp_path / "bundle")
    server = Server(root, "--no-watch", env={"RUNE_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        command = [str(Path(sys.executable).parent / "schemathesis"), "run",
                   f"{server.url}/openapi.json", "-H", f"Authorization: Bearer {ADMIN_TOKEN}",
                   "--max-examples", str(examples), "--checks", "all", "--exclude-checks",
                   EXCLUDED, "--workers", "1", "--generation-database", "none", "--no-color",
                   "--suppress-health-check", "all"]
        if seed is not None:
            command += ["--seed", str(seed)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                              env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    finally:
        server.stop()
    assert "internal error" not in server.output()
    return done


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    examples = int(os.environ.get("RUNE_FUZZ_EXAMPLES", "4"))
    done = fuzz(tmp_path, examples, seed=None if examples > 4 else 7)
    assert done.returncode == 0, done.stdout[-6000:]
