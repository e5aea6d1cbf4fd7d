"""Prometheus /metrics: decisions by verdict, latency, errors, bundle version, reloads,
cache hit ratio and decision log backlog, in the text format prometheus-client writes."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import CERTIFICATION, Server

GOOD = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
        "resource": {"type": "record", "id": "record-1"}}


def test_metrics(tmp_path: Path) -> None:
    server = Server(CERTIFICATION, "--no-watch", "--decision-log", str(tmp_path / "d.log"))
    try:
        with server.client() as client:
            for _ in range(3):
                client.post("/access/v1/evaluation", json=GOOD)
            client.post("/access/v1/evaluation", json={**GOOD, "action": {"name": "write"},
                                                       "subject": {"type": "user", "id": "bob"}})
            client.post("/v1/decide", json={"principal": 'user::"alice"',
                                            "action": 'Action::"read"',
                                            "resource": 'record::"record-1"'})
            client.post("/access/v1/evaluation", content=b"{", headers={
                "content-type": "application/json"})
            text = client.get("/metrics").text
            assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    finally:
        server.stop()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("rune_decisions_total", (("api", "authzen"), ("verdict", "allow")))] == 3
    assert samples[("rune_decisions_total", (("api", "authzen"), ("verdict", "deny")))] == 1
    assert samples[("rune_decisions_total", (("api", "rune"), ("verdict", "allow")))] == 1
    assert samples[("rune_request_duration_seconds_count",
                    (("route", "/access/v1/evaluation"),))] == 5
    assert samples[("rune_request_errors_total", (("code", "invalid-json"),))] == 1
    assert samples[("rune_bundle_version", ())] == 1
    for name in ("rune_reloads_total", "rune_reload_failures_total", "rune_policy_errors_total",
                 "rune_rule_errors_total", "rune_decision_log_backlog",
                 "rune_decision_log_written_total", "rune_decision_log_failures_total",
                 "rune_decision_cache_hits_total", "rune_decision_cache_misses_total"):
        assert (name, ()) in samples, name
    # Three identical requests: the second and third came from the engine's cache.
    assert samples[("rune_decision_cache_hits_total", ())] >= 2
    assert 0 < samples[("rune_decision_cache_hit_ratio", ())] < 1


def test_latencies_counted_in_bulk_are_exact_at_every_scrape() -> None:
    from rune.server.metrics import BUCKETS, FOLD_AT, Metrics

    metrics = Metrics(version=lambda: 1, runtime_errors=lambda: _NoErrors(),
                      cache=lambda: (0, 0), log=lambda: None)
    hot = metrics.latencies("/hot")
    seconds = [BUCKETS[i % len(BUCKETS)] * 0.9 for i in range(FOLD_AT + 10)]

    def scraped() -> dict[tuple[str, str], float]:
        text = metrics.render().decode()
        return {(s.name, s.labels.get("le", "")): s.value
                for family in text_string_to_metric_families(text) for s in family.samples
                if s.labels.get("route") == "/hot"}

    assert scraped() == {}  # (no request yet: no histogram)
    for number, value in enumerate(seconds, 1):
        hot.append(value)
        if len(hot) >= FOLD_AT:
            metrics.fold("/hot")
        if number in (1, FOLD_AT - 1, FOLD_AT + 10):
            samples = scraped()
            assert samples[("rune_request_duration_seconds_count", "")] == number
            assert abs(samples[("rune_request_duration_seconds_sum", "")]
                       - sum(seconds[:number])) < 1e-9
            assert samples[("rune_request_duration_seconds_bucket", str(BUCKETS[0]))] == \
                sum(1 for s in seconds[:number] if s <= BUCKETS[0])
    metrics.observe("/cold", 0.5)
    assert "/cold" in metrics.render().decode()


class _NoErrors:
    policies: dict[str, int] = {}
    rules = 0
