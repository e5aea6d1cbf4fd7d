"""Prometheus metrics of a server, exported through `prometheus-client`.

The request path only adds to plain integers and appends latencies to a list (a
Prometheus `Counter.inc` takes a lock, and a histogram observation several
microseconds); the latencies are counted into their buckets when `/metrics` is scraped
(or when a few thousand wait), and a collector turns everything into metric families
then, so a scrape is exact. Exported:

* `rune_decisions_total{api, verdict}`: decisions made (`api` is `authzen` or `rune`;
  `verdict` is `allow`, `deny` or `ask`);
* `rune_request_duration_seconds{route}`: a histogram of request latency by route;
* `rune_request_errors_total{code}`: requests refused (4xx and 5xx), by error code;
* `rune_policy_errors_total`, `rune_rule_errors_total`: evaluations in which a policy
  failed (and was skipped) or the request rules failed (the engine's counts);
* `rune_bundle_version`: the store version being served;
* `rune_reloads_total`, `rune_reload_failures_total`: bundle reloads, and reloads
  refused because the bundle had errors (the running version kept serving);
* `rune_decision_cache_hits_total`, `rune_decision_cache_misses_total` and
  `rune_decision_cache_hit_ratio`: decisions served from the engine's cache;
* `rune_decision_log_backlog`, `rune_decision_log_written_total`,
  `rune_decision_log_failures_total`: lines waiting, written, and failed writes.
"""

from __future__ import annotations

from bisect import bisect_left as _bisect
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["BUCKETS", "CONTENT_TYPE", "FOLD_AT", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds: decisions take tens of microseconds, searches and writes milliseconds.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
           0.25, 0.5, 1.0, 2.5, 5.0)


# Latencies waiting before they are counted into buckets. A fold costs a bisection per
# latency, whatever their number: a small one keeps the loop's pause short (4,096 made a
# pause of half a millisecond on an idle core, 256 one of 40 microseconds).
FOLD_AT = 256


class _Histogram:
    __slots__ = ("counts", "pending", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.pending: list[float] = []

    def fold(self) -> None:
        """Count the pending latencies into the buckets."""
        counts = self.counts
        total = 0.0
        for seconds in self.pending:
            counts[_bisect(BUCKETS, seconds)] += 1
            total += seconds
        self.total += total
        self.pending.clear()


class Metrics:
    """A server's counters, and a registry that exports them (and only them).

    Args:
        sources: callables read at scrape time: `version()`, `runtime_errors()` (the
            engine's `RuntimeErrors`), `cache()` (hits, misses), `log()` (backlog,
            written, failures) or None without a decision log.
    """

    def __init__(self, *, version: Callable[[], int], runtime_errors: Callable[[], Any],
                 cache: Callable[[], tuple[int, int]],
                 log: Callable[[], tuple[int, int, int] | None]) -> None:
        self.decisions: dict[tuple[str, str], int] = {}
        self.errors: dict[str, int] = {}
        self.durations: dict[str, _Histogram] = {}
        self.reloads = 0
        self.reload_failures = 0
        self._version = version
        self._runtime_errors = runtime_errors
        self._cache = cache
        self._log = log
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # type: ignore[arg-type]

    # -- the request path ------------------------------------------------------------------
    def decided(self, api: str, verdict: str, count: int = 1) -> None:
        """Count ``count`` decisions of ``verdict``."""
        key = (api, verdict)
        self.decisions[key] = self.decisions.get(key, 0) + count

    def refused(self, code: str) -> None:
        """Count a request refused with error ``code``."""
        self.errors[code] = self.errors.get(code, 0) + 1

    def observe(self, route: str, seconds: float) -> None:
        """Record a request's latency."""
        histogram = self.durations.get(route)
        if histogram is None:
            histogram = self.durations[route] = _Histogram()
        pending = histogram.pending
        pending.append(seconds)
        if len(pending) >= FOLD_AT:
            histogram.fold()

    def latencies(self, route: str) -> list[float]:
        """The list a hot route appends its latencies to (`observe` without the lookup);
        the caller calls `fold(route)` when it holds `FOLD_AT` or more."""
        histogram = self.durations.get(route)
        if histogram is None:
            histogram = self.durations[route] = _Histogram()
        return histogram.pending

    def fold(self, route: str) -> None:
        """Count the latencies waiting for ``route`` into its buckets."""
        self.durations[route].fold()

    # -- scraping --------------------------------------------------------------------------
    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """Metric families for `prometheus-client` (the registry calls this)."""
        decisions = CounterMetricFamily("rune_decisions", "Decisions made",
                                        labels=["api", "verdict"])
        for (api, verdict), count in sorted(self.decisions.items()):
            decisions.add_metric([api, verdict], count)
        yield decisions
        latency = HistogramMetricFamily("rune_request_duration_seconds",
                                        "Request latency by route", labels=["route"])
        for route, histogram in sorted(self.durations.items()):
            if not histogram.pending and not histogram.total and not any(histogram.counts):
                continue  # (a hot route's histogram before its first request)
            histogram.fold()
            cumulative = 0
            buckets = []
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), histogram.counts,
                                    strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([route], buckets, histogram.total)
        yield latency
        errors = CounterMetricFamily("rune_request_errors", "Requests refused, by error code",
                                     labels=["code"])
        for code, count in sorted(self.errors.items()):
            errors.add_metric([code], count)
        yield errors
        runtime = self._runtime_errors()
        yield CounterMetricFamily("rune_policy_errors", "Evaluations in which a policy "
                                  "failed and was skipped", value=sum(runtime.policies.values()))
        yield CounterMetricFamily("rune_rule_errors", "Evaluations in which the request "
                                  "rules failed", value=runtime.rules)
        yield GaugeMetricFamily("rune_bundle_version", "Store version being served",
                                value=self._version())
        yield CounterMetricFamily("rune_reloads", "Bundle reloads published",
                                  value=self.reloads)
        yield CounterMetricFamily("rune_reload_failures", "Bundle reloads refused (the "
                                  "running version kept serving)", value=self.reload_failures)
        hits, misses = self._cache()
        yield CounterMetricFamily("rune_decision_cache_hits", "Decisions served from the "
                                  "engine's cache", value=hits)
        yield CounterMetricFamily("rune_decision_cache_misses", "Decisions computed",
                                  value=misses)
        yield GaugeMetricFamily("rune_decision_cache_hit_ratio", "Cache hits over decisions",
                                value=hits / (hits + misses) if hits + misses else 0.0)
        log = self._log()
        if log is not None:
            backlog, written, failures = log
            yield GaugeMetricFamily("rune_decision_log_backlog", "Decision log lines "
                                    "waiting for the writer", value=backlog)
            yield CounterMetricFamily("rune_decision_log_written", "Decision log lines "
                                      "written", value=written)
            yield CounterMetricFamily("rune_decision_log_failures", "Failed decision log "
                                      "writes", value=failures)
