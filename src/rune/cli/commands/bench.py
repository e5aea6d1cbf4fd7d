"""`rune bench`: how fast a bundle decides a requests file: latency percentiles and
throughput, and with `--plot FILE.png` a latency histogram (needs the `plot` extra,
matplotlib). Requests that cannot be decided are counted and left out. Exit 0, 1 on an
error."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from rune.cli._common import (
    CliError,
    bundle_argument,
    clock_option,
    echo_json,
    format_option,
    load_engine,
)
from rune.cli._requests import read_requests
from rune.cli._tables import percentile, print_table
from rune.cli.main import ExitCode

__all__ = ["command"]


@click.command("bench")
@bundle_argument
@click.option("--requests", "requests_file", required=True, type=click.Path(path_type=Path),
              help="the requests to decide (JSON Lines, or a JSON array)")
@click.option("--decisions", "-n", type=click.IntRange(1, 100_000_000), default=10_000,
              show_default=True, help="how many decisions to time (the file is cycled)")
@click.option("--warmup", type=click.IntRange(0, 10_000_000), default=1_000,
              show_default=True, help="decisions made first and not timed")
@click.option("--plot", type=click.Path(path_type=Path), metavar="FILE.png",
              help="write a latency histogram (needs `pip install 'rune[plot]'`)")
@format_option
@clock_option
def command(bundle: Path, requests_file: Path, decisions: int, warmup: int,
            plot: Path | None, output_format: str, now: str | None) -> int:
    """Time BUNDLE's decisions on the requests of --requests."""
    from rune.errors import RuneError

    if plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CliError("`--plot` needs matplotlib: pip install 'rune[plot]'") from None
    engine = load_engine(bundle, now=now)
    requests = []
    skipped = 0
    for line in read_requests(requests_file):
        if line.error is not None:
            skipped += 1
            continue
        item = (line.principal, line.action, line.resource, line.context)
        try:
            engine.authorize(*item)
        except RuneError:
            skipped += 1
            continue
        requests.append(item)
    if not requests:
        raise CliError(f"no request of `{requests_file}` can be decided")
    authorize = engine.authorize
    count = len(requests)
    for i in range(warmup):
        authorize(*requests[i % count])
    clock = time.perf_counter_ns
    latencies = []
    started = clock()
    for i in range(decisions):
        p, a, r, c = requests[i % count]
        start = clock()
        authorize(p, a, r, c)
        latencies.append((clock() - start) / 1000.0)
    elapsed = (clock() - started) / 1e9
    latencies.sort()
    report: dict[str, Any] = {
        "bundle": str(bundle), "requests": count, "skipped": skipped, "decisions": decisions,
        "latency_us": {name: round(percentile(latencies, q), 2) for name, q in (
            ("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))}
        | {"max": round(latencies[-1], 2), "mean": round(sum(latencies) / decisions, 2)},
        "throughput_per_second": round(decisions / elapsed) if elapsed else None,
    }
    if plot is not None:
        _plot(latencies, plot, report)
        report["plot"] = str(plot)
    if output_format == "json":
        echo_json(report)
        return int(ExitCode.OK)
    lat = report["latency_us"]
    click.echo(f"{decisions} decisions of {count} request(s) from {requests_file}"
               + (f" ({skipped} skipped: not decidable)" if skipped else ""))
    print_table("latency (µs)", ["p50", "p90", "p99", "p99.9", "max", "mean"],
                [(lat["p50"], lat["p90"], lat["p99"], lat["p999"], lat["max"], lat["mean"])],
                right=range(6))
    click.echo(f"throughput: {report['throughput_per_second']} decisions/s (one thread)")
    if plot is not None:
        click.echo(f"histogram: {plot}")
    return int(ExitCode.OK)


def _plot(latencies: list[float], path: Path, report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    # Log-spaced bins on a log axis: the bulk and the tail are both visible.
    low, high = max(latencies[0], 0.01), max(latencies[-1], latencies[0] * 1.01, 0.02)
    edges = [low * (high / low) ** (i / 60) for i in range(61)]
    axes.hist(latencies, bins=edges, color="#4c72b0")
    axes.set_xscale("log")
    for name, q, style in (("p50", 0.5, "-"), ("p99", 0.99, "--")):
        value = percentile(latencies, q)
        axes.axvline(value, color="#c44e52", linestyle=style, label=f"{name} {value:.1f} µs")
    axes.set_xlabel("latency (µs, log scale)")
    axes.set_ylabel("decisions")
    axes.set_title(f"rune bench {report['bundle']}: {report['decisions']} decisions")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
