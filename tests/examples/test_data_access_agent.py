"""The data-access bundle: table and row access, column masking, query cost limits and a
daily budget, and permissions inherited through an org chart that rules walk recursively."""

from __future__ import annotations

from typing import Any

import pytest

import rune
from rune.cedar import EntityUID
from tests.examples.conftest import EXAMPLES, Clock, Request, assert_plain_cedar, load

BUNDLE = EXAMPLES / "data-access-agent"
ERIK = 'Agent::"erik-assistant"'  # emea-field team, EMEA sales (EU)
ANA = 'Agent::"ana-assistant"'  # amer-field team, AMER sales (US)
DANA = 'Agent::"dana-assistant"'  # sales leadership, manages erik and ana
HANA = 'Agent::"hana-assistant"'  # payroll, HR (EU), manages hugo
HUGO = 'Agent::"hugo-assistant"'  # payroll, HR
FRED = 'Agent::"fred-assistant"'  # FP&A, finance
SELECT = 'Action::"select"'
EXPORT = 'Action::"export"'
PRODUCTS = 'Table::"public.products"'
EVENTS = 'Table::"analytics.web_events"'
ORDERS = 'Table::"sales.orders"'
CUSTOMERS = 'Table::"sales.customers"'
SALARIES = 'Table::"hr.salaries"'


def cost(n: int, **more: Any) -> dict[str, Any]:
    return {"estimated_cost": n, **more}


def uid(text: str) -> str:
    """A uid as rules and queries see it: `Type::\\"id\\"`."""
    return text.replace('"', '\\"')


@pytest.fixture
def engine(clock: Clock) -> rune.Engine:
    return load("data-access-agent", clock)


@pytest.fixture(scope="module")
def shared() -> rune.Engine:
    """One engine for the decision table: its requests stay well within every limit."""
    return load("data-access-agent", Clock())


DECISIONS: list[tuple[Request, str, tuple[str, ...]]] = [
    ((HUGO, SELECT, PRODUCTS, cost(10)), "allow", ("read-shared-tables",)),
    ((ANA, SELECT, EVENTS, cost(10)), "allow", ("read-shared-tables",)),
    # Confidential: the owning department's whole subtree, and finance.
    ((ERIK, SELECT, ORDERS, cost(100)), "allow", ("read-own-department",)),
    ((DANA, SELECT, CUSTOMERS, cost(100)), "allow", ("read-own-department",)),
    ((FRED, SELECT, ORDERS, cost(100)), "allow", ("finance-reads-confidential",)),
    ((HUGO, SELECT, ORDERS, cost(100)), "deny", ()),
    # Restricted: people managers of the owning department only.
    ((HANA, SELECT, SALARIES, cost(100)), "allow", ("read-restricted-as-manager",)),
    ((HUGO, SELECT, SALARIES, cost(100)), "deny", ()),
    ((DANA, SELECT, SALARIES, cost(100)), "deny", ()),
    # Exports: shared tables only, no personal data, EU data stays with EU agents.
    ((ERIK, EXPORT, PRODUCTS, None), "allow", ("export-shared-tables",)),
    ((ERIK, EXPORT, EVENTS, None), "allow", ("export-shared-tables",)),
    ((ANA, EXPORT, EVENTS, None), "deny", ("eu-data-stays-in-eu",)),
    ((FRED, EXPORT, EVENTS, None), "deny", ("eu-data-stays-in-eu",)),
    ((DANA, EXPORT, CUSTOMERS, None), "deny", ("no-pii-export",)),
    ((ERIK, EXPORT, ORDERS, None), "deny", ()),
    # Cost limits: a query needs an estimate, within the agent's per-query limit.
    ((ERIK, SELECT, ORDERS, None), "deny", ("rule:query cost estimate required",)),
    ((ERIK, SELECT, ORDERS, cost(2000)), "allow", ("read-own-department",)),
    ((ERIK, SELECT, ORDERS, cost(2001)), "deny", ("rule:query cost over per-query limit",)),
    ((HUGO, SELECT, PRODUCTS, cost(501)), "deny", ("rule:query cost over per-query limit",)),
    ((ERIK, SELECT, ORDERS, cost(-5000)), "deny",
     ("rule:query cost estimate must not be negative",)),
    ((FRED, SELECT, ORDERS, cost(15000)), "allow", ("finance-reads-confidential",)),
]


@pytest.mark.parametrize(("request_", "decision", "reasons"), DECISIONS,
                         ids=[f"{r[0].split('::')[1]}-{r[1][9:-1]}-{r[2].split('::')[1]}"
                              f"-{(r[3] or {}).get('estimated_cost')}" for r, *_ in DECISIONS])
def test_decision(shared: rune.Engine, request_: Request, decision: str,
                  reasons: tuple[str, ...]) -> None:
    d = shared.authorize(*request_)
    assert (d.decision, d.reasons, d.errors) == (decision, reasons, ())


def test_org_chart_gives_agents_every_unit_above_them(engine: rune.Engine) -> None:
    units = {p for a, p in engine.query("derived_parent(a, p)") if a == uid(ERIK)}
    assert units == {uid('Team::"emea-field"'), uid('Department::"emea-sales"'),
                     uid('Department::"sales"'), uid('Department::"acme"')}
    # A report is not in the manager's team; the manager gets the people-manager role.
    managers = {a for a, p in engine.query("derived_parent(a, p)")
                if p == uid('Role::"people-manager"')}
    assert managers == {uid(DANA), uid(HANA)}
    erik = engine.snapshot.entities[EntityUID("Agent", "erik-assistant")]
    assert erik.attrs["region"] == "EU"


@pytest.mark.parametrize(("agent", "table", "row_filter"), [
    (ERIK, ORDERS, "region = 'EU'"),
    (ANA, CUSTOMERS, "region = 'US'"),
    (DANA, ORDERS, "TRUE"),  # sales leadership sees every region
    (FRED, ORDERS, "TRUE"),
    (ERIK, PRODUCTS, None),  # not a row-scoped table
])
def test_row_filter_follows_the_agents_region(engine: rune.Engine, agent: str, table: str,
                                              row_filter: str | None) -> None:
    d = engine.authorize(agent, SELECT, table, cost(10))
    assert d.allowed
    assert d.config.get("row_filter") == row_filter


def test_query_configuration_and_obligations(engine: rune.Engine) -> None:
    d = engine.authorize(ANA, SELECT, CUSTOMERS, cost(100, purpose="churn analysis"))
    assert dict(d.config) == {"cost_center": "sales", "max_rows": 5000,
                              "purpose": "churn analysis", "row_filter": "region = 'US'"}
    assert d.obligations == (
        rune.Obligation("budget", "warehouse:sales", limit=10000, window_seconds=86400,
                        amount=100),
        rune.Obligation("audit", detail="pii-access"),
        rune.Obligation("mask_column", detail="email"),
        rune.Obligation("mask_column", detail="phone"),
    )


@pytest.mark.parametrize(("agent", "table", "masked"), [
    (ANA, CUSTOMERS, {"email", "phone"}),
    (DANA, CUSTOMERS, set()),  # a people manager of the owning department
    (FRED, CUSTOMERS, {"email", "phone"}),
    (HANA, SALARIES, set()),
    (ERIK, ORDERS, set()),  # no personal data
])
def test_personal_data_is_masked_unless_a_manager_of_the_owner_asks(
        engine: rune.Engine, agent: str, table: str, masked: set[str]) -> None:
    d = engine.authorize(agent, SELECT, table, cost(10))
    assert d.allowed
    assert {o.detail for o in d.obligations if o.kind == "mask_column"} == masked


def test_result_size_and_audit_by_sensitivity(engine: rune.Engine) -> None:
    salaries = engine.authorize(HANA, SELECT, SALARIES, cost(10))
    assert salaries.config["max_rows"] == 500
    assert {o.detail for o in salaries.obligations if o.kind == "audit"} == {
        "pii-access", "restricted-access"}
    assert engine.authorize(HUGO, SELECT, PRODUCTS, cost(10)).config["max_rows"] == 100000


@pytest.mark.parametrize(("agent", "center", "per_query"), [
    (ERIK, "sales", 2000),  # nearest cost center above emea-sales is sales
    (DANA, "sales", 2000),
    (HUGO, "acme", 500),  # HR has none: the company default applies
    (FRED, "finance", 20000),
])
def test_nearest_cost_center_pays_and_sets_the_limit(engine: rune.Engine, agent: str,
                                                     center: str, per_query: int) -> None:
    d = engine.authorize(agent, SELECT, PRODUCTS, cost(per_query))
    assert d.allowed and d.config["cost_center"] == center
    assert not engine.authorize(agent, SELECT, PRODUCTS, cost(per_query + 1)).allowed


def test_daily_budget_is_shared_by_the_cost_center(engine: rune.Engine, clock: Clock) -> None:
    # Sales has 10,000 a day; erik and ana draw on the same budget. Identical requests are
    # served from the decision cache and still count against it.
    for _ in range(3):
        assert engine.authorize(ERIK, SELECT, ORDERS, cost(2000)).allowed
    for _ in range(2):
        assert engine.authorize(ANA, SELECT, ORDERS, cost(2000)).allowed
    spent = engine.authorize(ANA, SELECT, ORDERS, cost(1))
    assert (spent.decision, spent.reasons) == ("deny", ("budget:warehouse:sales",))
    # A negative estimate is refused, and gives nothing back.
    assert not engine.authorize(ANA, SELECT, ORDERS, cost(-2000)).allowed
    assert not engine.authorize(ANA, SELECT, ORDERS, cost(1)).allowed
    # Finance has its own budget.
    assert engine.authorize(FRED, SELECT, ORDERS, cost(2000)).allowed
    clock.advance(86400)
    assert engine.authorize(ERIK, SELECT, ORDERS, cost(2000)).allowed


def test_denied_queries_do_not_spend_the_budget(engine: rune.Engine) -> None:
    for _ in range(10):
        assert not engine.authorize(HUGO, SELECT, ORDERS, cost(500)).allowed
    for _ in range(10):
        assert engine.authorize(HUGO, SELECT, PRODUCTS, cost(500)).allowed
    assert not engine.authorize(HUGO, SELECT, PRODUCTS, cost(1)).allowed


def test_a_reorg_moves_permissions_region_and_budget(engine: rune.Engine) -> None:
    assert engine.authorize(ERIK, SELECT, ORDERS, cost(10)).config["row_filter"] == (
        "region = 'EU'")
    version = engine.write(entities=[{
        "uid": {"type": "Employee", "id": "erik"},
        "attrs": {"team": {"__entity": {"type": "Team", "id": "fpa"}}}, "parents": []}])
    d = engine.authorize(ERIK, SELECT, ORDERS, cost(10))
    assert (d.decision, d.reasons, d.version) == (
        "allow", ("finance-reads-confidential",), version)
    assert (d.config["row_filter"], d.config["cost_center"]) == ("TRUE", "finance")
    assert engine.authorize(ERIK, EXPORT, EVENTS).reasons == ("eu-data-stays-in-eu",)


def test_a_new_hire_inherits_through_the_chart(engine: rune.Engine) -> None:
    engine.write(entities=[
        {"uid": {"type": "Employee", "id": "eva"},
         "attrs": {"team": {"__entity": {"type": "Team", "id": "emea-field"}},
                   "manager": {"__entity": {"type": "Employee", "id": "erik"}}}, "parents": []},
        {"uid": {"type": "Agent", "id": "eva-assistant"},
         "attrs": {"acts_for": {"__entity": {"type": "Employee", "id": "eva"}}},
         "parents": []},
    ])
    eva = engine.authorize('Agent::"eva-assistant"', SELECT, CUSTOMERS, cost(10))
    assert eva.allowed and eva.config["row_filter"] == "region = 'EU'"
    assert {o.detail for o in eva.obligations if o.kind == "mask_column"} == {"email", "phone"}
    # Erik now manages someone: a people manager of sales, who sees personal data.
    erik = engine.authorize(ERIK, SELECT, CUSTOMERS, cost(10))
    assert not [o for o in erik.obligations if o.kind == "mask_column"]


def test_policies_are_plain_cedar() -> None:
    assert_plain_cedar(BUNDLE, [r for r, *_ in DECISIONS])
