"""`rune serve`: serve a bundle over HTTP (AuthZEN 1.0 and RUNE's `/v1` API).

Settings come from the bundle's `rune.toml` (`[server]`), tokens from `RUNE_API_TOKEN` and
`RUNE_ADMIN_TOKEN`; the options override both. Binds 127.0.0.1 unless told otherwise.
Needs the server extra: `pip install 'rune[server]'`. Exit 0 after SIGINT or SIGTERM, 1
on an error (a bad setting, a bundle that does not load, a port in use).

With `--nats URL --node-id ID` the server is a node of a cluster (`rune.cluster.Node`):
writes, approvals and history go through the cluster's JetStream stream, bundles come
from `rune publish`, and rate limits and budgets are global (docs/deployment.md).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from rune.cli._common import CliError, bundle_argument
from rune.cli.main import ExitCode

__all__ = ["command"]

_PATH = click.Path(path_type=Path)


@click.command("serve")
@bundle_argument
@click.option("--host", help="Address to bind [127.0.0.1].")
@click.option("--port", type=int, help="TCP port [8180].")
@click.option("--state", type=_PATH,
              help="State file keeping writes and approvals across restarts.")
@click.option("--tls-cert", type=_PATH, help="PEM certificate chain (with --tls-key).")
@click.option("--tls-key", type=_PATH, help="PEM private key (with --tls-cert).")
@click.option("--decision-log", type=_PATH, help="File of one JSON line per decision.")
@click.option("--decision-log-sync", type=click.Choice(["batched", "always"]),
              help="When log lines reach the disk [batched].")
@click.option("--max-body-bytes", type=int, help="Largest request body [1048576].")
@click.option("--public-url", help="Base URL the AuthZEN metadata advertises.")
@click.option("--watch/--no-watch", default=None,
              help="Reload the bundle when its files change [watch].")
@click.option("--interface", type=click.Choice(["rsgi", "asgi"]),
              help="How granian calls the app [rsgi, the fastest].")
@click.option("--loop", type=click.Choice(["auto", "uvloop", "asyncio"]),
              help="The event loop [auto: uvloop when installed, the fastest].")
@click.option("--nats", "servers", multiple=True, metavar="URL",
              help="Join a cluster through NATS JetStream at nats://HOST:PORT (repeat for "
                   "a NATS cluster's servers); needs the nats extra.")
@click.option("--node-id", help="This node's id in the cluster (with --nats).")
@click.option("--cluster", help="The cluster's name (with --nats) [rune].")
def command(bundle: Path, host: str | None, port: int | None, state: Path | None,
            tls_cert: Path | None, tls_key: Path | None, decision_log: Path | None,
            decision_log_sync: str | None, max_body_bytes: int | None,
            public_url: str | None, watch: bool | None, interface: str | None,
            loop: str | None, servers: tuple[str, ...], node_id: str | None,
            cluster: str | None) -> int:
    """Serve BUNDLE as an AuthZEN policy decision point: /access/v1, RUNE's /v1 API,
    /health, /ready, /metrics and /openapi.json."""
    try:
        from rune.server import create_app, serve
    except ImportError as error:
        raise CliError("`rune serve` needs the server extra (pip install 'rune[server]'): "
                       f"{error}") from None
    from rune.bundle import DecisionLogSync

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A service logs a policy's first run-time failure (one-shot commands keep it quiet).
    logging.getLogger("rune.engine").setLevel(logging.NOTSET)
    sync = None if decision_log_sync is None else DecisionLogSync(decision_log_sync)
    app = create_app(
        bundle, host=host, port=port, state=state, tls_cert=tls_cert, tls_key=tls_key,
        decision_log=decision_log, decision_log_sync=sync, max_body_bytes=max_body_bytes,
        public_url=public_url, watch=watch, interface=interface, loop=loop,
        nats=servers or None, node_id=node_id, cluster=cluster)
    serve(app)
    return int(ExitCode.OK)
