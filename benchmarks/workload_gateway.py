"""A tool-gateway workload: agents calling tools through an MCP-style gateway.

Its shape differs from `workload.py` on purpose. Several policies apply to every request
(an `unless` forbid on `principal.active && resource.enabled`, an unscoped risk cap);
tools carry entity-valued attributes compared at run time (`principal in
resource.owner_team`, `principal.owner == resource.maintainer`); agents carry sets of
scopes (`contains`, `containsAny`) and optional attributes (`has`); the context holds a
nested `session` record, a source address read with `ip(...)` and a cost read with
`decimal(...)`.

20,000 `Agent` entities, each in 1-2 of 200 teams under 20 departments and 4 orgs, each
owned by one of 2,000 users; 100 `Tool` resources in 10 tool groups; 3 actions. The
1,000-policy variant adds generated policies scoped to teams, departments, tool groups,
tools and single agents, most of which cannot apply to a given request. Deterministic
for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

NAME = "gateway"
AGENTS = 20_000
ACTIONS = ("invoke", "describe", "configure")
ACTION_WEIGHTS = (70, 20, 10)
GROUPS = ("search", "code", "deploy", "data", "network", "chat", "files", "email",
          "browser", "admin")
SCOPES = ("tools:search", "tools:code", "tools:deploy", "tools:data", "net:egress",
          "tools:admin")
MODES = ("interactive", "autonomous", "batch")
TEAMS, DEPARTMENTS, ORGS, USERS, TOOLS = 200, 20, 4, 2_000, 100

BASE_POLICIES = """
@id("inactive-or-disabled")
forbid (principal, action, resource)
unless { principal.active && resource.enabled };

@id("owner-team-invoke")
permit (principal, action == Action::"invoke", resource)
when { principal in resource.owner_team && context.mode == "interactive" };

@id("risk-cap")
forbid (principal, action, resource)
when { context.risk > 90 };

@id("describe-tools")
permit (principal is Agent, action == Action::"describe", resource is Tool);

@id("scoped-invoke")
permit (principal, action == Action::"invoke", resource)
when { principal.scopes.containsAny(resource.required_scopes) && context.session.approved };

@id("maintainer-configure")
permit (principal, action == Action::"configure", resource)
when { principal.owner == resource.maintainer };

@id("session-depth")
forbid (principal, action == Action::"invoke", resource)
when { resource has max_depth && context.session.depth > resource.max_depth };

@id("sandbox-egress")
forbid (principal, action, resource in ToolGroup::"network")
when { principal has sandbox && principal.sandbox &&
       !ip(context.source_ip).isInRange(ip("10.0.0.0/8")) };

@id("cost-cap")
forbid (principal, action == Action::"invoke", resource)
when { decimal(context.cost).greaterThan(decimal("2.50")) && principal.tier < 3 };

@id("admins")
permit (principal in Department::"dept-0", action, resource)
when { principal.scopes.contains("tools:admin") };
"""


def generated_policies(count: int, seed: int = 11) -> str:
    """``count`` policies scoped to the hierarchy: team grants on tool groups, department
    grants on single tools, team forbids, and per-agent grants."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        team = f"team-{rng.randrange(TEAMS)}"
        group = GROUPS[rng.randrange(len(GROUPS))]
        tool = f"tool-{rng.randrange(TOOLS)}"
        kind = i % 20
        if kind < 12:
            out.append(
                f'@id("gen-{i}")\npermit (principal in Team::"{team}", '
                f'action == Action::"invoke", resource in ToolGroup::"{group}")\n'
                f"when {{ principal.tier >= {rng.randrange(1, 5)} && "
                f"context.session.depth < {rng.randrange(2, 9)} }};")
        elif kind < 15:
            dept = f"dept-{rng.randrange(DEPARTMENTS)}"
            scope = SCOPES[rng.randrange(len(SCOPES))]
            out.append(
                f'@id("gen-{i}")\npermit (principal in Department::"{dept}", '
                f'action == Action::"describe", resource == Tool::"{tool}")\n'
                f'when {{ principal.scopes.contains("{scope}") }};')
        elif kind < 18:
            out.append(
                f'@id("gen-{i}")\nforbid (principal in Team::"{team}", action, '
                f'resource in ToolGroup::"{group}")\n'
                f"when {{ context.risk > {rng.randrange(40, 90)} && "
                f'context.mode != "interactive" }};')
        else:
            agent = f"agent-{rng.randrange(AGENTS)}"
            out.append(
                f'@id("gen-{i}")\npermit (principal == Agent::"{agent}", '
                f'action == Action::"configure", resource == Tool::"{tool}")\n'
                f"when {{ principal in resource.owner_team }};")
    return "\n\n".join(out)


def policies(total: int) -> str:
    """The base policies, padded with generated ones to ``total``."""
    extra = max(0, total - 10)
    return BASE_POLICIES + ("\n" + generated_policies(extra) if extra else "")


def _uid(entity_type: str, entity_id: str) -> dict[str, str]:
    return {"type": entity_type, "id": entity_id}


def _ref(entity_type: str, entity_id: str) -> dict[str, dict[str, str]]:
    return {"__entity": _uid(entity_type, entity_id)}


def _agent_teams(seed: int, agents: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [rng.sample(range(TEAMS), rng.randint(1, 2)) for _ in range(agents)]


def _tool_owners(seed: int) -> list[int]:
    rng = random.Random(seed + 1)
    return [rng.randrange(TEAMS) for _ in range(TOOLS)]


def entities(seed: int = 1, agents: int = AGENTS) -> list[dict[str, Any]]:
    """The entity graph in Cedar's JSON format."""
    rng = random.Random(seed + 2)
    out: list[dict[str, Any]] = []
    for o in range(ORGS):
        out.append({"uid": _uid("Org", f"org-{o}"), "attrs": {}, "parents": []})
    for d in range(DEPARTMENTS):
        out.append({"uid": _uid("Department", f"dept-{d}"), "attrs": {},
                    "parents": [_uid("Org", f"org-{d % ORGS}")]})
    for t in range(TEAMS):
        out.append({"uid": _uid("Team", f"team-{t}"), "attrs": {},
                    "parents": [_uid("Department", f"dept-{t % DEPARTMENTS}")]})
    for u in range(USERS):
        out.append({"uid": _uid("User", f"user-{u}"), "attrs": {"email": f"u{u}@example.com"},
                    "parents": [_uid("Team", f"team-{u % TEAMS}")]})
    for a, teams in enumerate(_agent_teams(seed, agents)):
        attrs: dict[str, Any] = {
            "active": rng.random() < 0.97,
            "tier": rng.randint(1, 4),
            "scopes": rng.sample(SCOPES, rng.randint(1, 3)),
            "owner": _ref("User", f"user-{rng.randrange(USERS)}"),
        }
        if rng.random() < 0.3:
            attrs["sandbox"] = rng.random() < 0.7
        out.append({"uid": _uid("Agent", f"agent-{a}"), "attrs": attrs,
                    "parents": [_uid("Team", f"team-{t}") for t in teams]})
    for g in GROUPS:
        out.append({"uid": _uid("ToolGroup", g), "attrs": {}, "parents": []})
    for t, owner in enumerate(_tool_owners(seed)):
        group = GROUPS[t % len(GROUPS)]
        attrs = {
            "enabled": rng.random() < 0.96,
            "owner_team": _ref("Team", f"team-{owner}"),
            "maintainer": _ref("User", f"user-{rng.randrange(USERS)}"),
            "category": group,
            "required_scopes": [SCOPES[t % len(SCOPES)]],
            "risk": rng.randrange(10),
        }
        if rng.random() < 0.4:
            attrs["max_depth"] = rng.randrange(3, 9)
        out.append({"uid": _uid("Tool", f"tool-{t}"), "attrs": attrs,
                    "parents": [_uid("ToolGroup", group)]})
    for action in ACTIONS:
        out.append({"uid": _uid("Action", action), "attrs": {}, "parents": []})
    return out


@dataclass(frozen=True)
class Req:
    """One benchmark request with string uids."""

    principal: str
    action: str
    resource: str
    context: dict[str, Any]


_ADDRESSES = tuple(
    [f"10.{i % 7}.{i % 13}.{i}" for i in range(200)]
    + [f"192.168.{i % 4}.{i}" for i in range(30)]
    + [f"203.0.113.{i}" for i in range(26)])


def requests(n: int, seed: int = 3, agents: int = AGENTS, distinct: bool = False
             ) -> list[Req]:
    """``n`` fresh random requests. With ``distinct``, principals run through a shuffled
    list of every agent (each seen once per ``agents`` requests); otherwise they are
    drawn at random. About half the tools asked for belong to one of the agent's teams."""
    rng = random.Random(seed)
    teams = _agent_teams(1, agents)
    owned: dict[int, list[int]] = {}
    for tool, owner in enumerate(_tool_owners(1)):
        owned.setdefault(owner, []).append(tool)
    order = list(range(agents))
    rng.shuffle(order)
    out = []
    for i in range(n):
        agent = order[i % agents] if distinct else rng.randrange(agents)
        mine = [t for team in teams[agent] for t in owned.get(team, ())]
        tool = rng.choice(mine) if mine and rng.random() < 0.5 else rng.randrange(TOOLS)
        action = rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
        context = {
            "mode": rng.choices(MODES, (60, 35, 5))[0],
            "risk": rng.randrange(100),
            "session": {"id": f"s-{rng.randrange(1 << 30)}", "depth": rng.randrange(10),
                        "approved": rng.random() < 0.7},
            "source_ip": _ADDRESSES[rng.randrange(len(_ADDRESSES))],
            "cost": f"{rng.randrange(500) / 100:.2f}",
        }
        out.append(Req(f'Agent::"agent-{agent}"', f'Action::"{action}"',
                       f'Tool::"tool-{tool}"', context))
    return out
