"""The infra-agent bundle: changes that need a human's approval (critical services,
deletions, anything outside the maintenance window), quotas from history, rate limits and
budgets, and configuration that depends on region and compliance."""

from __future__ import annotations

from typing import Any

import pytest

import rune
from rune.cedar.errors import RequestError
from tests.examples.conftest import EXAMPLES, START, Clock, Request, assert_plain_cedar, load

BUNDLE = EXAMPLES / "infra-agent"
DEPLOYER = 'Agent::"deployer"'  # platform, cleared for EU and US
EU_OPERATOR = 'Agent::"eu-operator"'  # platform, cleared for EU only
ETL = 'Agent::"etl-bot"'  # data team
DEPLOY = 'Action::"deploy"'
SCALE = 'Action::"scale"'
RESTART = 'Action::"restart"'
DELETE = 'Action::"delete_service"'
LOGS = 'Action::"read_logs"'
PROVISION = 'Action::"provision_storage"'
PAYMENTS = 'Service::"payments-eu"'  # critical, prod-eu-1 (gdpr, pci-dss)
SEARCH = 'Service::"search-eu"'  # prod-eu-1
RECORDS = 'Service::"records-us"'  # prod-us-1 (hipaa)
STAGING = 'Service::"search-staging"'  # staging-eu-1
PROD_US = 'Cluster::"prod-us-1"'
HOUR = 3600
QUOTA = "rule:production deploy quota: 3 per hour"
OUTSIDE_WINDOW = "approval:outside maintenance window"


def replicas(n: int) -> dict[str, Any]:
    return {"replicas": n}


@pytest.fixture
def engine(clock: Clock) -> rune.Engine:
    return load("infra-agent", clock)


@pytest.fixture(scope="module")
def shared() -> rune.Engine:
    """One engine for the decision table: its requests stay well within every limit."""
    return load("infra-agent", Clock())


# At START (03:00 UTC), inside production's 02:00-05:00 maintenance window.
DECISIONS: list[tuple[Request, str, tuple[str, ...]]] = [
    ((DEPLOYER, DEPLOY, SEARCH, {"version": "2.4.1"}), "allow", ("change-production",)),
    ((DEPLOYER, DEPLOY, RECORDS, None), "allow", ("change-production",)),
    ((DEPLOYER, DEPLOY, PAYMENTS, None), "ask",
     ("change-critical-production", "approval:critical production service")),
    ((EU_OPERATOR, DEPLOY, SEARCH, None), "allow", ("change-production",)),
    ((EU_OPERATOR, DEPLOY, RECORDS, None), "deny", ("service-jurisdiction-clearance",)),
    ((DEPLOYER, DEPLOY, STAGING, None), "allow", ("operate-staging",)),
    ((ETL, DEPLOY, STAGING, None), "deny", ()),
    ((DEPLOYER, DELETE, STAGING, None), "ask", ("delete-in-staging",
                                                "approval:deleting a service")),
    ((DEPLOYER, DELETE, SEARCH, None), "deny", ("no-deletes-in-production",)),
    ((DEPLOYER, SCALE, SEARCH, replicas(50)), "allow", ("change-production",)),
    ((DEPLOYER, SCALE, SEARCH, replicas(51)), "deny", ("rule:replicas over cluster quota",)),
    ((DEPLOYER, SCALE, STAGING, replicas(11)), "deny", ("rule:replicas over cluster quota",)),
    ((DEPLOYER, LOGS, RECORDS, None), "allow", ("read-logs",)),
    ((ETL, LOGS, RECORDS, None), "deny", ()),
    ((ETL, PROVISION, PROD_US, {"gb": 100}), "allow", ("provision-storage",)),
    ((EU_OPERATOR, PROVISION, PROD_US, {"gb": 100}), "deny",
     ("cluster-jurisdiction-clearance",)),
]


@pytest.mark.parametrize(("request_", "decision", "reasons"), DECISIONS,
                         ids=[f"{r[0].split('::')[1]}-{r[1][9:-1]}-{r[2].split('::')[1]}"
                              f"-{r[3]}" for r, *_ in DECISIONS])
def test_decision(shared: rune.Engine, request_: Request, decision: str,
                  reasons: tuple[str, ...]) -> None:
    d = shared.authorize(*request_)
    assert (d.decision, d.reasons, d.errors) == (decision, reasons, ())


@pytest.mark.parametrize(("offset", "decision"), [
    (-1, "ask"),  # 01:59:59
    (0, "allow"),  # 02:00
    (3 * HOUR - 1, "allow"),  # 04:59:59
    (3 * HOUR, "ask"),  # 05:00
    (12 * HOUR, "ask"),  # 14:00
    (24 * HOUR, "allow"),  # 02:00 the next day
])
def test_production_changes_outside_the_window_need_approval(
        clock: Clock, offset: int, decision: str) -> None:
    clock.now = START - HOUR + offset  # from 02:00
    engine = load("infra-agent", clock)
    d = engine.authorize(DEPLOYER, DEPLOY, SEARCH)
    assert d.decision == decision
    if decision == "ask":
        assert d.reasons == ("change-production", OUTSIDE_WINDOW)
    # Staging has no window.
    assert engine.authorize(DEPLOYER, DEPLOY, STAGING).allowed


def test_a_critical_change_outside_the_window_gives_both_reasons(engine: rune.Engine,
                                                                 clock: Clock) -> None:
    clock.advance(12 * HOUR)
    d = engine.authorize(DEPLOYER, RESTART, PAYMENTS)
    assert d.decision == "ask"
    assert set(d.reasons) == {"change-critical-production", OUTSIDE_WINDOW,
                              "approval:critical production service"}


def test_approval_allows_the_same_change_until_it_expires(engine: rune.Engine,
                                                         clock: Clock) -> None:
    assert engine.authorize(DEPLOYER, DEPLOY, PAYMENTS).decision == "ask"
    version = engine.approve(DEPLOYER, DEPLOY, PAYMENTS, ttl_seconds=1800)
    d = engine.authorize(DEPLOYER, DEPLOY, PAYMENTS, {"version": "7.0.0"})
    assert (d.decision, d.reasons, d.version) == (
        "allow", ("change-critical-production", "approved"), version)
    # Only that agent, action and service.
    assert engine.authorize(DEPLOYER, RESTART, PAYMENTS).decision == "ask"
    assert engine.authorize(EU_OPERATOR, DEPLOY, PAYMENTS).decision == "ask"
    clock.advance(1799)
    assert engine.authorize(DEPLOYER, DEPLOY, PAYMENTS).allowed
    clock.advance(1)
    assert engine.authorize(DEPLOYER, DEPLOY, PAYMENTS).decision == "ask"


def test_approval_covers_a_change_outside_the_window(engine: rune.Engine,
                                                     clock: Clock) -> None:
    clock.advance(12 * HOUR)
    assert engine.authorize(DEPLOYER, DEPLOY, SEARCH).reasons[-1] == OUTSIDE_WINDOW
    engine.approve(DEPLOYER, DEPLOY, SEARCH, ttl_seconds=600)
    assert engine.authorize(DEPLOYER, DEPLOY, SEARCH).reasons == ("change-production",
                                                                  "approved")


def test_an_approved_deletion_in_staging(engine: rune.Engine) -> None:
    engine.approve(DEPLOYER, DELETE, STAGING)
    assert engine.authorize(DEPLOYER, DELETE, STAGING).allowed
    engine.approve(DEPLOYER, DELETE, SEARCH)
    assert engine.authorize(DEPLOYER, DELETE, SEARCH).reasons == ("no-deletes-in-production",)


def deploy_and_record(engine: rune.Engine, resource: str, agent: str = DEPLOYER) -> str:
    """Ask, and if allowed, perform the deploy: the engine hears about it afterwards."""
    d = engine.authorize(agent, DEPLOY, resource)
    if d.allowed:
        engine.record(agent, DEPLOY, resource)
    return d.decision


def test_at_most_three_production_deploys_per_hour(engine: rune.Engine,
                                                   clock: Clock) -> None:
    for service in (SEARCH, RECORDS, SEARCH):
        assert deploy_and_record(engine, service) == "allow"
        clock.advance(600)
    # Staging deploys are not counted; other agents have their own quota.
    assert deploy_and_record(engine, STAGING) == "allow"
    assert deploy_and_record(engine, SEARCH, EU_OPERATOR) == "allow"
    d = engine.authorize(DEPLOYER, DEPLOY, RECORDS)
    assert (d.decision, d.reasons) == ("deny", (QUOTA,))
    # Only deploys count, not other changes.
    assert engine.authorize(DEPLOYER, RESTART, SEARCH).allowed
    # One hour after the first deploy, a slot frees up.
    clock.now = START + HOUR - 1
    assert not engine.authorize(DEPLOYER, DEPLOY, SEARCH).allowed
    clock.now = START + HOUR
    assert deploy_and_record(engine, SEARCH) == "allow"
    assert engine.authorize(DEPLOYER, DEPLOY, SEARCH).reasons == (QUOTA,)


def test_approval_does_not_lift_the_deploy_quota(engine: rune.Engine, clock: Clock) -> None:
    for service in (SEARCH, RECORDS, SEARCH):
        engine.record(DEPLOYER, DEPLOY, service)
        clock.advance(60)
    engine.approve(DEPLOYER, DEPLOY, PAYMENTS)
    assert engine.authorize(DEPLOYER, DEPLOY, PAYMENTS).reasons == (QUOTA,)


def test_restarts_are_rate_limited_per_service(engine: rune.Engine, clock: Clock) -> None:
    limit = rune.Obligation("rate_limit", "restart:search-staging", limit=3,
                            window_seconds=600)
    first = engine.authorize(DEPLOYER, RESTART, STAGING)
    assert first.allowed and first.obligations == (limit,)
    assert engine.authorize(EU_OPERATOR, RESTART, STAGING).allowed
    assert engine.authorize(DEPLOYER, RESTART, STAGING).allowed
    fourth = engine.authorize(DEPLOYER, RESTART, STAGING)
    assert (fourth.decision, fourth.reasons) == ("deny", ("rate-limit:restart:search-staging",))
    assert engine.authorize(DEPLOYER, RESTART, SEARCH).allowed
    clock.advance(600)
    assert engine.authorize(DEPLOYER, RESTART, STAGING).allowed


def test_storage_is_budgeted_per_team_per_day(engine: rune.Engine, clock: Clock) -> None:
    d = engine.authorize(ETL, PROVISION, PROD_US, {"gb": 1500})
    assert d.allowed
    assert d.obligations[0] == rune.Obligation("budget", "storage:data", limit=2000,
                                               window_seconds=86400, amount=1500)
    over = engine.authorize(ETL, PROVISION, PROD_US, {"gb": 501})
    assert (over.decision, over.reasons) == ("deny", ("budget:storage:data",))
    negative = engine.authorize(ETL, PROVISION, PROD_US, {"gb": -500})
    assert negative.reasons == ("rule:storage request must be positive",)
    assert engine.authorize(ETL, PROVISION, PROD_US, {"gb": 500}).allowed
    # The platform team's quota is separate (and smaller).
    assert engine.authorize(DEPLOYER, PROVISION, PROD_US, {"gb": 500}).allowed
    assert not engine.authorize(DEPLOYER, PROVISION, PROD_US, {"gb": 1}).allowed
    clock.advance(86400)
    assert engine.authorize(ETL, PROVISION, PROD_US, {"gb": 2000}).allowed


EU_PCI = {"region": "eu-west-1", "data_residency": "EU",
          "backup_region": ("eu-central-1", "eu-west-1"), "encryption": "customer-managed-kms",
          "tls_min_version": "1.3", "log_retention_days": 365}
US_HIPAA = {"region": "us-east-1", "data_residency": "US",
            "backup_region": ("us-east-1", "us-west-2"), "encryption": "customer-managed-kms",
            "tls_min_version": "1.2", "log_retention_days": 2190}
EU_UNREGULATED = {"region": "eu-west-1", "data_residency": "EU",
                  "backup_region": ("eu-central-1", "eu-west-1"),
                  "encryption": "provider-managed", "tls_min_version": "1.2",
                  "log_retention_days": 30}


@pytest.mark.parametrize(("agent", "action", "resource", "context", "config", "audits"), [
    (DEPLOYER, DEPLOY, SEARCH, None, EU_PCI, {"gdpr", "pci-dss"}),
    (DEPLOYER, DEPLOY, RECORDS, None, US_HIPAA, {"hipaa"}),
    (DEPLOYER, DEPLOY, STAGING, None, EU_UNREGULATED, set()),
    (ETL, PROVISION, PROD_US, {"gb": 10}, US_HIPAA, {"hipaa"}),
    (DEPLOYER, LOGS, SEARCH, None, EU_PCI, set()),  # reading logs is not a change
], ids=["eu-pci", "us-hipaa", "staging", "cluster", "read-only"])
def test_configuration_follows_region_and_compliance(
        engine: rune.Engine, agent: str, action: str, resource: str,
        context: dict[str, Any] | None, config: dict[str, Any], audits: set[str]) -> None:
    d = engine.authorize(agent, action, resource, context)
    assert d.allowed
    assert dict(d.config) == config
    assert {o.detail for o in d.obligations if o.kind == "audit_log"} == audits


def test_production_changes_are_announced(engine: rune.Engine) -> None:
    notify = rune.Obligation("notify", detail="#prod-changes")
    assert notify in engine.authorize(DEPLOYER, DEPLOY, SEARCH).obligations
    assert notify not in engine.authorize(DEPLOYER, DEPLOY, STAGING).obligations
    assert notify not in engine.authorize(DEPLOYER, LOGS, SEARCH).obligations


def test_services_inherit_their_clusters_jurisdiction(engine: rune.Engine) -> None:
    assert engine.query("derived_attr(s, n, j)") == [
        ('Service::\\"payments-eu\\"', "jurisdiction", "EU"),
        ('Service::\\"records-us\\"', "jurisdiction", "US"),
        ('Service::\\"search-eu\\"', "jurisdiction", "EU"),
        ('Service::\\"search-staging\\"', "jurisdiction", "EU"),
    ]
    # A new service placed in the US cluster is out of the EU operator's reach.
    engine.write(entities=[{"uid": {"type": "Service", "id": "billing-us"},
                            "attrs": {"name": "billing-us", "tier": "standard"},
                            "parents": [{"type": "Cluster", "id": "prod-us-1"}]}])
    d = engine.authorize(EU_OPERATOR, DEPLOY, 'Service::"billing-us"')
    assert d.reasons == ("service-jurisdiction-clearance",)


def test_the_schema_checks_the_request_context(engine: rune.Engine) -> None:
    with pytest.raises(RequestError):
        engine.authorize(ETL, PROVISION, PROD_US)
    with pytest.raises(RequestError):
        engine.authorize(ETL, PROVISION, PROD_US, {"gb": "ten"})


def test_policies_are_plain_cedar() -> None:
    assert_plain_cedar(BUNDLE, [r for r, *_ in DECISIONS])
