"""`rune publish`: store a bundle version in a cluster's JetStream stream.

The bundle is loaded first (a bundle with errors is refused here, exit 3, and nothing is
stored), packed (`rune.cluster.bundles`) and appended to the stream: every node of the
cluster validates it and swaps it in at that stream position; a node refuses a bundle
that does not load or that its writes do not apply to, and keeps the running version.
Needs the `nats` extra. Exit 0 once JetStream acknowledged the version, 1 on an error
(NATS unreachable, no acknowledgement).
"""

from __future__ import annotations

from pathlib import Path

import click

from rune.cli._common import CliError, bundle_argument, echo_json, format_option
from rune.cli.main import ExitCode

__all__ = ["command"]


@click.command("publish")
@bundle_argument
@click.option("--nats", "servers", required=True, multiple=True, metavar="URL",
              help="NATS server URL, nats://HOST:PORT (repeat for a cluster's servers).")
@click.option("--cluster", default="rune", show_default=True,
              help="Cluster name: nodes started with the same name receive the bundle.")
@click.option("--replicas", type=click.IntRange(1, 5), default=1, show_default=True,
              help="Stream replicas, if this command creates the stream.")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=10.0,
              show_default=True, help="Seconds to wait for JetStream's acknowledgement.")
@format_option
def command(bundle: Path, servers: tuple[str, ...], cluster: str, replicas: int,
            timeout: float, output_format: str) -> int:
    """Publish BUNDLE to every node of a cluster (rune serve --nats)."""
    try:
        from rune.cluster import publish
    except ImportError as error:
        raise CliError("`rune publish` needs the nats extra (pip install 'rune[nats]'): "
                       f"{error}") from None
    from rune.bundle import BundleError

    if not bundle.exists():
        raise CliError(f"bundle `{bundle}` does not exist")
    try:
        published = publish(bundle, nats=list(servers), cluster=cluster, replicas=replicas,
                            timeout=timeout)
    except BundleError as failure:
        click.echo(failure.render().rstrip("\n"), err=True)
        click.echo(f"error: `{bundle}` was not published", err=True)
        return int(ExitCode.VALIDATION_FAILED)
    if output_format == "json":
        echo_json({"bundle": published.name, "digest": published.digest,
                   "position": published.position, "bytes": published.size,
                   "cluster": cluster})
    else:
        click.echo(f"published {published.name} ({published.size} bytes, sha256 "
                   f"{published.digest[:12]}) to cluster `{cluster}` at position "
                   f"{published.position}")
    return int(ExitCode.OK)
